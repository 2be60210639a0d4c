"""One behaviour battery over every registered scorer, engine and training method (test_registries.py
checks their declared shapes): each is built the way users build it and run through the same checks.

A scorer scores two texts (or two pairs): one result per input, in order, with its main key a finite
number. An engine rewrites two texts: one `RewriteResult` per text, in order, carrying the engine's own
identity. A training method trains two steps of a tiny model and writes its adapter and manifest. An
entry that needs what this machine lacks (an API key, a package) must say so in a `SrllmError`, and is
skipped with that sentence; a new entry is covered the moment it is registered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from srllm.engine import EngineArgs, RewriteEngine
from srllm.engine.loader import ENGINES, load_engine
from srllm.errors import SrllmError
from srllm.scorers.base import SCORERS, Scorer
from srllm.train import TrainConfig, train
from srllm.train.methods import METHODS

TEXTS = ["Old people can't learn new software.", "The bus leaves at noon."]
REWRITES = ["Anyone can learn new software.", "The bus leaves at 12:00."]


def build_scorer(name: str, tiny_llama_dir: Path) -> Scorer:
    # A scorer that needs a reference model is given the tiny one; the rest are built with no arguments.
    options: dict[str, Any] = {"perplexity": {"model_name": str(tiny_llama_dir)}}.get(name, {})
    try:
        return SCORERS.get(name)(**options)
    except SrllmError as exc:
        pytest.skip(f"{name} cannot run here: {exc}")


@pytest.mark.parametrize("name", SCORERS.names())
def test_every_scorer_scores_in_order_with_its_main_key(name: str, tiny_llama_dir: Path) -> None:
    scorer = build_scorer(name, tiny_llama_dir)
    try:
        results = scorer.score_pairs(TEXTS, REWRITES) if scorer.pairwise else scorer.score(TEXTS)
        single = scorer.score_pairs(TEXTS[1:], REWRITES[1:]) if scorer.pairwise else scorer.score(TEXTS[1:])
    except SrllmError as exc:  # e.g. a remote scorer whose service is not reachable from here
        pytest.skip(f"{name} cannot score here: {exc}")
    assert len(results) == 2 and all(isinstance(r, dict) for r in results)
    for result in results:
        value = result[scorer.main_key]
        assert isinstance(value, (int, float)) and math.isfinite(value), (name, result)
    # Batching never mixes rows up: the second input scored alone gets the score it got in the batch.
    # Relative as well as absolute: a padded batch rounds differently on AVX2 than on AVX-512 (a random tiny
    # model's perplexity of ~48,000 moved by 0.05), while a row mix-up moves it by far more.
    assert single[0][scorer.main_key] == pytest.approx(results[1][scorer.main_key], rel=1e-5, abs=1e-4)


def engine_args(name: str, tiny_llama_dir: Path, server_process: Callable[..., Any], tmp_path: Path) -> EngineArgs:
    """What each engine needs on this machine: the tiny model, or a real srllm server serving it."""
    if name == "transformers":
        return EngineArgs(model=str(tiny_llama_dir), adapter=None, guard=False, max_new_tokens=6)
    if name == "openai":
        _, url = server_process(["--model", str(tiny_llama_dir), "--no-adapter", "--no-guard", "--max-new-tokens", "6",
                                 "--jobs-db", str(tmp_path / "jobs.sqlite"), "--scorers", "profanity",
                                 "--rate-limit", "0"],
                                env={"SRLLM_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"})
        # The server refuses model names it does not serve (like vLLM): name the one it serves.
        return EngineArgs(backend="openai", base_url=url + "/v1", model="tiny-remote",
                          remote_model=tiny_llama_dir.name, max_new_tokens=6)
    return EngineArgs(backend=name, max_new_tokens=6)  # the default model, where this machine has it


@pytest.mark.parametrize("name", ENGINES.names())
def test_every_engine_rewrites_in_order_as_itself(name: str, tiny_llama_dir: Path, server_process: Any,
                                                   tmp_path: Path) -> None:
    args = engine_args(name, tiny_llama_dir, server_process, tmp_path)
    try:
        engine = load_engine(args)
    except SrllmError as exc:
        pytest.skip(f"{name} cannot load here: {exc}")
    try:
        assert isinstance(engine, RewriteEngine) and engine.backend == name
        results = engine.rewrite(TEXTS, batch_size=2, progress=False)
        assert [r.text for r in results] == TEXTS
        for result in results:
            assert isinstance(result.rewrite, str)
            assert (result.model, result.adapter, result.method, result.prompt_version) == (
                engine.model, engine.adapter, engine.method, engine.prompt_version)
    finally:
        close = getattr(engine, "close", None)
        if close:
            close()


@pytest.mark.parametrize("name", METHODS.names())
def test_every_training_method_trains_and_writes_its_adapter(name: str, tiny_llama_dir: Path, pairs_jsonl: Path,
                                                             tmp_path: Path) -> None:
    config = TrainConfig(method=name, base=str(tiny_llama_dir), data=[str(pairs_jsonl)], out=str(tmp_path / "run"),
                         batch_size=4, max_steps=2, eval_steps=2, save_steps=2, measure_energy=False,
                         progress=False, keep_checkpoints=False)
    try:
        result = train(config)
    except SrllmError as exc:
        pytest.skip(f"{name} cannot train here: {exc}")
    manifest = json.loads((result.out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"]["name"] == name and manifest["global_step"] == 2
    assert all(math.isfinite(step["loss"]) for step in manifest["steps"])
    assert any(result.out.glob("*.safetensors")) or any(result.out.glob("*/*.safetensors"))
