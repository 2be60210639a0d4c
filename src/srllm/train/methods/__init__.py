"""Training methods: one small module each, registered with one line below."""

from __future__ import annotations

from srllm.errors import InputError
from srllm.train.methods import dense, lora, prefix, qlora
from srllm.train.methods.base import TrainingMethod

METHODS: dict[str, TrainingMethod] = {}


def register_method(method: TrainingMethod) -> TrainingMethod:
    if method.name in METHODS:
        raise ValueError(f"training method {method.name!r} is registered twice")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> TrainingMethod:
    if name not in METHODS:
        raise InputError(f"unknown training method '{name}'; use one of {', '.join(sorted(METHODS))}",
                         field="method")
    return METHODS[name]


register_method(qlora.METHOD)
register_method(lora.METHOD)
register_method(prefix.METHOD)
register_method(dense.METHOD)

__all__ = ["METHODS", "TrainingMethod", "get_method", "register_method"]
