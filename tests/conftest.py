"""Shared fixtures: tiny random-weight models with a real tokenizer, for fast mechanics tests.

- `default_tokenizer_dir` (session): the cached smollm2-135m-instruct tokenizer folder
  (`srllm models pull smollm2-135m-instruct` creates it); tests that need it skip without it.
- `tiny_tokenizer` (session): that tokenizer (ChatML chat template, 49k vocabulary).
- `tiny_llama_dir` (session): a saved 2-layer LlamaConfig model (hidden 64) + that tokenizer, a
  directory that `srllm.models.load_causal_lm(path)` and `from_pretrained` open. Load a fresh copy
  per test (~0.2 s) rather than sharing a mutable model object.
- `tiny_llama` (function): (model, tokenizer) freshly loaded from `tiny_llama_dir`.
- `tiny_model_dir` (session): a smaller saved Llama (hidden 32, a 256-token context) + that tokenizer, and
  `tiny_loaded` (session): it loaded once, shared by the engine, rewrite and Ray tests (do not mutate it).
- `tiny_t5_dir` (session): a saved 2-layer T5Config encoder-decoder with the same tokenizer.
- `pairs_jsonl` (session): 24 synthetic CMD records (unsafe text -> safe_variation) as JSONL.
- `dev_jsonl` (session): the 8 distinct pairs, for a quick dev evaluation.
- `server_process(args, env=..., log=...)`: a real `srllm serve` subprocess on a free loopback port,
  returned once /readyz answers; every one still running is stopped after the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TINY_LLAMA = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128, max_position_embeddings=2048, tie_word_embeddings=True)
TINY_T5 = dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4)


def _cached_tokenizer_dir() -> Path | None:
    from srllm.paths import cache_dir

    folder = cache_dir() / "models" / "smollm2-135m-instruct" / "hf"
    return folder if (folder / "tokenizer.json").is_file() else None


@pytest.fixture(scope="session")
def default_tokenizer_dir() -> Path:
    folder = _cached_tokenizer_dir()
    if folder is None:
        pytest.skip("the smollm2-135m-instruct tokenizer is not cached; run `srllm models pull "
                    "smollm2-135m-instruct` once to enable the tiny-model tests")
    return folder


@pytest.fixture(scope="session")
def tiny_tokenizer(default_tokenizer_dir: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(default_tokenizer_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tiny_tokenizer), bos_token_id=tiny_tokenizer.bos_token_id,
                         eos_token_id=tiny_tokenizer.eos_token_id, pad_token_id=tiny_tokenizer.pad_token_id,
                         **TINY_LLAMA)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(str(folder))
    tiny_tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture
def tiny_llama(tiny_llama_dir: Path):
    from srllm.models import load_causal_lm

    loaded = load_causal_lm(str(tiny_llama_dir))
    return loaded.model, loaded.tokenizer


@pytest.fixture(scope="session")
def tiny_model_dir(default_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved 2-layer random Llama (real tokenizer + chat template), loadable as --model DIR."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(default_tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path):
    from srllm.models import load_causal_lm

    return load_causal_lm(str(tiny_model_dir))


@pytest.fixture(scope="session")
def tiny_t5_dir(tiny_tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tiny_tokenizer), pad_token_id=tiny_tokenizer.pad_token_id,
                      eos_token_id=tiny_tokenizer.eos_token_id,
                      decoder_start_token_id=tiny_tokenizer.pad_token_id, **TINY_T5)
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(str(folder))
    tiny_tokenizer.save_pretrained(str(folder))
    return folder


PAIRS = [
    ("Old people can't learn new software, skip them.", "Offer the new software training to everyone."),
    ("Women are too emotional to lead the team.", "Leadership skills vary from person to person."),
    ("That idiot from accounting broke the printer again.", "Someone from accounting had trouble with the printer."),
    ("Immigrants are stealing all our jobs.", "The job market is competitive for many people."),
    ("Only young guys can keep up with this startup.", "This startup looks for people who enjoy a fast pace."),
    ("He's disabled, so don't bother giving him the project.", "Give him the project and ask what support helps."),
    ("Shut up, nobody cares about your stupid opinion.", "I see it differently; let's discuss it."),
    ("People from that neighbourhood are all criminals.", "Crime happens in every neighbourhood."),
]


@pytest.fixture(scope="session")
def pairs_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    rows = [{"id": f"pair-{i:03d}", "text": text, "safe_variation": safe}
            for i, (text, safe) in enumerate(PAIRS * 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def dev_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dev") / "dev.jsonl"
    rows = [{"id": f"dev-{i:03d}", "text": text, "safe_variation": safe} for i, (text, safe) in enumerate(PAIRS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server_process(args: list[str], *, env: dict[str, str] | None = None, port: int | None = None,
                         log: Path | None = None, ready_timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """A real `srllm serve` process on loopback; returns once /readyz answers 200."""
    port = port or free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "srllm.cli.serve", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--no-preload-scorers", *args],
        env=full_env, stdout=out, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"the server exited with {process.returncode}: {detail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return process, url
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready in time")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture
def server_process() -> Iterator[Callable[..., tuple[subprocess.Popen, str]]]:
    """Start real server processes; every one still running is stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], **kwargs: Any) -> tuple[subprocess.Popen, str]:
        process, url = start_server_process(args, **kwargs)
        started.append(process)
        return process, url

    yield start
    for process in started:
        stop_process(process)
