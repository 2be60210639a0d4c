"""manifest.json: what a run was (config, data, model, code, seed) and what it produced."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from srllm import provenance
from srllm.paths import source_checkout

LIBRARIES = ("srllm", "torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "datasets",
             "codecarbon", "safetensors", "tokenizers")
MANIFEST_NAME = "manifest.json"


def library_versions() -> dict[str, str | None]:
    return {**provenance.library_versions(LIBRARIES), "python": platform.python_version()}


def git_revision() -> dict[str, Any]:
    """The srllm checkout's commit and whether it had uncommitted changes (None outside git)."""
    root = source_checkout()
    if root is None:  # an installed wheel: the folder above site-packages is no srllm checkout
        return {"commit": None, "dirty": None}
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def model_hash(path: str) -> str | None:
    """sha256 over the config and weight files of a local model directory (None for a hub id)."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    files = sorted(p for p in folder.iterdir()
                   if p.name == "config.json" or p.suffix in (".safetensors", ".bin", ".gguf"))
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda h=handle: h.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest() if files else None


def write_manifest(out: str | Path, manifest: dict[str, Any]) -> Path:
    path = Path(out) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_manifest(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / MANIFEST_NAME).read_text(encoding="utf-8"))
