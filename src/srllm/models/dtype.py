"""The dtype a model runs inference in: bf16 where the hardware computes it natively, else fp32.

On a CPU with AVX-512 BF16 or AMX, bf16 weights halve the memory each decode step reads (small
models decode memory-bound) and the matmuls run on native bf16 instructions: the batch-32 rewrite
benchmark goes from ~90 to ~135-165 tok/s on a 2-core Zen 4. On AVX2-only CPUs bf16 matmuls are
emulated and several times slower than fp32, so "auto" keeps fp32 there. Training and the paper's
evaluations load fp32 regardless (see `load_causal_lm`); this is for rewriting and serving.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from srllm.errors import SrllmError

DTYPES = ("auto", "float32", "bfloat16", "float16")


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    import torch

    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(torch.cpu, probe, None)
        if check is not None and check():
            return True
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text(errors="ignore") if cpuinfo.is_file() else ""
    return " avx512_bf16" in flags or " amx_bf16" in flags


def inference_dtype(name: str | Any = "auto") -> Any:
    """A torch dtype from a name ("auto", "float32", "bfloat16", "float16") or a torch dtype."""
    import torch

    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise SrllmError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}")
    if name != "auto":
        return getattr(torch, name)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
