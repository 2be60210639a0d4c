"""What a benchmark records about the machine it ran on (the CPU flags a speed claim depends on)."""

from __future__ import annotations

from pathlib import Path


def cpu_flags() -> list[str]:
    """The vector-unit flags of /proc/cpuinfo (avx*, amx*, fma, sse4*): AVX2-only vs AVX-512 BF16 decides
    which dtypes run natively."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags.split(":")[1].split() if f.startswith(("avx", "amx", "fma", "sse4")))
