"""`merged_gguf` / `srllm merge --gguf`: a model + LoRA adapter -> one GGUF by llama.cpp's own converter
(taken from the installed llama-cpp-python's sdist), cached by the model's and the adapter's hashes.

A tiny random Llama (the real tokenizer) and a random LoRA keep it fast; the GGUF must load in llama.cpp and
give the logits transformers gives for the merged model. (Named test_merge_gguf.py: tests/train/test_merge.py
keeps the safetensors merge tests, and two test_merge modules cannot share the rootdir import mode.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'srllm[llamacpp]')")

from srllm.cli.train import app  # noqa: E402
from srllm.models import load_causal_lm  # noqa: E402
from srllm.models.merge import fetch_converter, merged_gguf  # noqa: E402


@pytest.fixture(scope="session")
def converter_dir() -> Path:
    """The converter from the sdist, fetched once into the user's cache (tests then point at it)."""
    return fetch_converter().parent


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, converter_dir: Path) -> Path:
    monkeypatch.setenv("SRLLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SRLLM_LLAMA_CPP", str(converter_dir))
    return tmp_path / "cache"


def random_lora(model_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with random (non-zero) A and B on the attention projections."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = load_causal_lm(str(model_dir)).model
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(out))
    return out


def llama_logits(path: Path, ids: list[int]) -> np.ndarray:
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=1)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


def test_merged_gguf_gives_the_logits_of_the_merged_model(tiny_model_dir, tmp_path, isolated_cache) -> None:
    adapter = random_lora(tiny_model_dir, tmp_path / "lora", seed=1)
    path = merged_gguf(str(tiny_model_dir), adapter, outtype="f32")
    assert path.is_file() and path.parent == isolated_cache / "gguf"
    ids = [1, 17, 423, 9, 2048, 77, 5]
    merged = load_causal_lm(str(tiny_model_dir), adapter=adapter).model
    base = load_causal_lm(str(tiny_model_dir)).model
    with torch.no_grad():
        expected = merged(input_ids=torch.tensor([ids])).logits[0].numpy()
        unadapted = base(input_ids=torch.tensor([ids])).logits[0].numpy()
    got = llama_logits(path, ids)
    assert np.abs(expected - unadapted).max() > 1e-3  # the adapter changes the model ...
    np.testing.assert_allclose(got, expected, atol=2e-3)  # ... and the GGUF carries the change
    assert (got.argmax(-1) == expected.argmax(-1)).all()


def test_the_gguf_is_cached_by_model_and_adapter(tiny_model_dir, tmp_path, isolated_cache) -> None:
    first = random_lora(tiny_model_dir, tmp_path / "a", seed=1)
    second = random_lora(tiny_model_dir, tmp_path / "b", seed=2)
    path = merged_gguf(str(tiny_model_dir), first, outtype="f32")
    stamp = path.stat().st_mtime_ns
    assert merged_gguf(str(tiny_model_dir), first, outtype="f32") == path
    assert path.stat().st_mtime_ns == stamp  # not converted again
    other = merged_gguf(str(tiny_model_dir), second, outtype="f32")
    assert other != path and other.is_file()


def test_merge_cli_writes_the_gguf(tiny_model_dir, tmp_path, isolated_cache) -> None:
    adapter = random_lora(tiny_model_dir, tmp_path / "lora", seed=3)
    target = tmp_path / "out" / "merged.gguf"
    result = CliRunner().invoke(app, ["merge", str(adapter), "--base", str(tiny_model_dir), "--gguf", str(target),
                                      "--gguf-type", "f32"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["gguf"] == str(target)
    assert target.read_bytes()[:4] == b"GGUF"


def test_merge_cli_needs_a_destination_and_a_known_type(tmp_path) -> None:
    runner = CliRunner()
    nowhere = runner.invoke(app, ["merge"])
    assert nowhere.exit_code == 2 and "--out DIR" in nowhere.output
    bad_type = runner.invoke(app, ["merge", "--gguf", str(tmp_path / "x.gguf"), "--gguf-type", "q3"])
    assert bad_type.exit_code == 2 and "q8_0" in bad_type.output
