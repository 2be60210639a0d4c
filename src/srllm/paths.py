"""Where srllm keeps its caches and the files it ships."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Files shipped inside the package (default adapter, word lists, web page assets).
ASSETS_DIR = PACKAGE_DIR / "assets"


def source_checkout(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source checkout srllm runs from (an editable install or PYTHONPATH=src), or None for an installed wheel.

    A wheel's package sits in site-packages: a path computed from the package folder there points inside the
    venv, so defaults that name a checkout's files (data/, ../shared/data, git) must ask this first.
    """
    root = package_dir.parents[1]
    if (root / "pyproject.toml").is_file() and (root / "src" / "srllm") == package_dir:
        return root
    return None


def project_dir() -> Path:
    """Where default data paths (data/cmd/test.jsonl ...) are looked up: the checkout, else the current folder."""
    return source_checkout() or Path.cwd()


def cache_dir() -> Path:
    """The user cache dir: $SRLLM_CACHE, else $XDG_CACHE_HOME/srllm, else ~/.cache/srllm."""
    root = os.environ.get("SRLLM_CACHE")
    if root:
        path = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(xdg).expanduser() / "srllm"
    path.mkdir(parents=True, exist_ok=True)
    return path
