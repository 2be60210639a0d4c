"""Where srllm keeps its caches and the files it ships."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Files shipped inside the package (default adapter, word lists, web page assets).
ASSETS_DIR = PACKAGE_DIR / "assets"


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
