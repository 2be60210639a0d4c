from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.errors import ModelNotAvailableError, SrllmError
from srllm.models import DEFAULT_MODEL, get_spec, list_specs, resolve
from srllm.models.pull import gguf_path
from srllm.provenance import file_sha256

runner = CliRunner()


def test_default_model_is_registered_with_pinned_hashes() -> None:
    spec = get_spec(DEFAULT_MODEL)
    assert spec is not None and spec.source == "pypi-wheel" and spec.license == "Apache-2.0"
    assert len(spec.wheel_sha256) == 64 and len(spec.gguf_sha256) == 64
    assert DEFAULT_MODEL in [s.name for s in list_specs()]


def test_resolve_local_dir_gguf_and_hub_id(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert resolve(str(tiny_model_dir)).kind == "local"
    assert resolve("meta-llama/Llama-3.2-1B-Instruct").kind == "hub"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrllmError, match="no config.json"):
        resolve(str(tmp_path / "empty"))
    with pytest.raises(ModelNotAvailableError, match="neither a registered name"):
        resolve("./does/not/exist")


def test_cached_gguf_matches_its_pinned_hash_and_resolves() -> None:
    spec = get_spec(DEFAULT_MODEL)
    path = gguf_path(spec)
    if path is None:
        pytest.skip("default model not pulled")
    assert file_sha256(path) == spec.gguf_sha256
    resolved = resolve(str(path))
    assert resolved.kind == "gguf" and resolved.gguf_file == path.name


def test_hub_model_offline_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, ["rewrite", "hello", "--model", "someone/not-cached-model"])
    assert result.exit_code == 2
    assert "srllm models pull" in result.output and "Traceback" not in result.output
