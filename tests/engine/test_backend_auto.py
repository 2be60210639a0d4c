"""`--backend auto` (the default): the llama.cpp engine where it is installed and can run the model on this
CPU without a download, else the transformers engine (srllm.engine.loader.resolve_backend)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from srllm.engine.args import EngineArgs
from srllm.engine.loader import resolve_backend
from srllm.models import DEFAULT_MODEL


def llama_cpp_ready() -> bool:
    from srllm.models.merge import find_converter

    return importlib.util.find_spec("llama_cpp") is not None and find_converter() is not None


def test_the_default_backend_is_auto_and_named_backends_stay() -> None:
    assert EngineArgs().backend == "auto"
    for name in ("transformers", "llama-cpp", "openai"):
        assert resolve_backend(name, DEFAULT_MODEL) == name


def test_auto_runs_a_model_folder_and_chunked_text_on_transformers(tiny_model_dir: Path) -> None:
    # A folder may hold any architecture; --chunk is a transformers option.
    assert resolve_backend("auto", str(tiny_model_dir)) == "transformers"
    assert resolve_backend("auto", DEFAULT_MODEL, chunk=True) == "transformers"


def test_auto_without_llama_cpp_installed_is_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    assert resolve_backend("auto", DEFAULT_MODEL) == "transformers"
    assert resolve_backend("auto", "model.gguf") == "transformers"


@pytest.mark.skipif(not llama_cpp_ready(), reason="llama-cpp-python (srllm[llamacpp]) or its cached converter "
                                                  "is not on this machine")
def test_auto_takes_llama_cpp_for_a_registry_model_where_it_is_installed() -> None:
    import torch

    expected = "transformers" if torch.cuda.is_available() else "llama-cpp"
    assert resolve_backend("auto", DEFAULT_MODEL) == expected
    assert resolve_backend("auto", "some/model.gguf") == expected
