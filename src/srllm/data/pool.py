"""The self-training pool: unlabelled harmful inputs (issue 14), built from a mix declaration.

The pool is a training mix with its targets thrown away: the same sources, weights, caps, licenses
and leakage check as `srllm data build-train` (evaluation sets never enter), written as
`{"id", "text", "kind", "source"}` rows. Self-training (`srllm.train.selftrain`) samples rewrites
for these inputs and keeps only those the guard passes, so no human target is needed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from srllm.data.corpus.mix import build_mix, load_mix, manifest_path, write_json
from srllm.provenance import file_sha256
from srllm.text.writers import write_jsonl

DEFAULT_POOL_MIX = "data/pool_mix.json"


def pool_rows(records: list[Any]) -> list[dict[str, str]]:
    """Input side only: the record's id, text, kind and source (its rewrite is never used)."""
    return [{"id": r.id, "text": r.text, "kind": str(r.meta.get("kind") or "unknown"), "source": r.source or ""}
            for r in records]


def build_pool(mix_path: str | Path, out: str | Path, *, on_leak: str = "drop", seed: int | None = None,
               root: str | Path | None = None) -> dict[str, Any]:
    """Write the pool (JSONL) and its manifest; return the manifest.

    Leaking records are dropped by default (listed in the manifest): a pool is sampled from, and
    one near-duplicate of a ParaDetox sentence in ToxiGen must not stop the whole build.
    """
    from srllm.data.corpus.leakage import LeakageError

    result = build_mix(load_mix(mix_path, root=root), on_leak=on_leak, seed=seed)
    if not result.leakage.passed and on_leak == "fail":
        raise LeakageError(result.leakage, str(out))
    rows = pool_rows(result.train)
    out = Path(out)
    write_jsonl(rows, out)
    manifest = {
        **result.manifest(),
        "created_by": "srllm data build-pool",
        "about": "unlabelled inputs for self-training; targets dropped",
        "pool": {"rows": len(rows), "by_kind": dict(Counter(r["kind"] for r in rows)),
                 "path": str(out), "sha256": file_sha256(out)},
    }
    write_json(manifest, manifest_path(out))
    return manifest


__all__ = ["DEFAULT_POOL_MIX", "build_pool", "pool_rows"]
