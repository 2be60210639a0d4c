"""Which GGUF the llama.cpp backend runs (`engine.llama_cpp.gguf_for`); needs no llama.cpp itself."""

from pathlib import Path

import pytest

from srllm.engine.llama_cpp import gguf_for
from srllm.models import DEFAULT_MODEL, get_spec
from srllm.models.pull import gguf_path, is_pulled


@pytest.fixture()
def no_export(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Fails the test's expectations if the merge-and-export path runs: it records each call (a spy, since the
    test is that the export never happens) rather than starting llama.cpp's converter."""
    calls: list[tuple] = []

    def export(model: str, adapter: object, *, outtype: str) -> Path:
        calls.append((model, adapter, outtype))
        return Path("exported.gguf")

    monkeypatch.setattr("srllm.models.merge.merged_gguf", export)
    return calls


def test_a_registry_model_without_an_adapter_runs_the_gguf_it_ships_as(no_export: list[tuple]) -> None:
    if not is_pulled(DEFAULT_MODEL):
        pytest.skip("default model not pulled (scripts/setup.sh pulls it)")
    shipped = gguf_path(get_spec(DEFAULT_MODEL))
    assert shipped is not None and shipped.suffix == ".gguf"
    assert gguf_for(DEFAULT_MODEL, None) == (shipped, None)
    assert no_export == []
