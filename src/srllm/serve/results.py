"""Turn whatever the rewrite call returned (a RewriteResult, a guard's result, a dict) into API fields."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, is_dataclass
from typing import Any

from srllm.engine.protocol import public_name


def result_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return dict(vars(result))


def item_fields(result: Any, engine: Any) -> dict[str, Any]:
    """The per-text fields; status, scores and reasons pass through from a guard when it ran."""
    data = result_dict(result)
    return {
        "rewrite": data.get("rewrite"),
        "status": str(data.get("status") or "ok"),
        "scores": _jsonable(data.get("scores") or {}),
        "reasons": [str(reason) for reason in (data.get("reasons") or [])],
        "spans": _jsonable(data.get("spans") or []),
        "model": public_name(data.get("model")) or engine.model,
        "adapter": public_name(data.get("adapter")) if "adapter" in data else engine.adapter,
        "method": str(data.get("method") or engine.method),
        "prompt_version": str(data.get("prompt_version") or engine.prompt_version),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return value


def text_fingerprint(text: str) -> str:
    """What the logs say about a text by default: its length and a short hash, never its words."""
    return f"len={len(text)} sha256={hashlib.sha256(text.encode()).hexdigest()[:12]}"
