"""LoRA weights merged once, kept on disk: the merge is not redone at every start.

`merge_and_unload` computes B @ A for every adapted layer (210 in the default model) and adds it to the
base weight: ~12 s of a cold `srllm rewrite` on 2 CPU cores, for the same result every time. After the
first merge the adapted layers' merged weights are saved (safetensors) under the cache dir, keyed by
what they are made of: the adapter's files, the base model's weight files (name, size, mtime) and the
dtype. A later load copies them into the freshly loaded base model: bit-for-bit the weights a merge gives.
Only the adapted layers are stored (the embeddings and norms are the base model's own).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from srllm.paths import cache_dir

# peft names the wrapped model's modules under this prefix; the merged model does not.
_PEFT_PREFIX = "base_model.model."
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def merged_path(model: Any, adapter: Path) -> Path | None:
    """Where the merged layers of `adapter` on `model` are (or will be) cached; None when the base
    weights' files cannot be told apart (a model not loaded from a local folder or file)."""
    base = _base_files(model)
    if base is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in adapter.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(base, sort_keys=True).encode())
    digest.update(str(next(model.parameters()).dtype).encode())
    return cache_dir() / "merged" / f"{digest.hexdigest()[:32]}.safetensors"


def _base_files(model: Any) -> list[tuple[str, int, int]] | None:
    source = Path(str(getattr(model.config, "_name_or_path", "") or ""))
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = [p for p in source.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)]
    else:
        return None
    if not files:
        return None
    return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(files)]


def adapted_layers(peft_model: Any) -> list[str]:
    """The merged model's names of the layers a LoRA adapter changes (before merge_and_unload)."""
    return [name.removeprefix(_PEFT_PREFIX) for name, module in peft_model.named_modules()
            if hasattr(module, "lora_A") and hasattr(module, "base_layer")]


def save_merged(model: Any, layers: list[str], path: Path) -> None:
    """The merged weights of `layers`, written atomically (a crash leaves no half file to load)."""
    from safetensors.torch import save_file

    tensors = {f"{name}.weight": model.get_submodule(name).weight.detach().contiguous() for name in layers}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_merged(model: Any, path: Path) -> bool:
    """Copy the cached merged weights into `model`; False (model untouched) when the file is unusable."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
        params = {name: model.get_parameter(name) for name in tensors}
    except (OSError, SafetensorError, AttributeError):
        return False
    if not tensors or any(params[name].shape != tensor.shape for name, tensor in tensors.items()):
        return False
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor)
    return True
