"""Models: the registry of named models and the only place models are loaded."""

from srllm.models.load import (
    DEFAULT_MODEL,
    LoadedModel,
    ResolvedModel,
    adapter_template,
    apply_adapter,
    default_adapter_for,
    load_causal_lm,
    resolve,
)
from srllm.models.registry import ModelSpec, get_spec, list_specs, register_model

__all__ = [
    "DEFAULT_MODEL",
    "LoadedModel",
    "ModelSpec",
    "ResolvedModel",
    "adapter_template",
    "apply_adapter",
    "default_adapter_for",
    "get_spec",
    "list_specs",
    "load_causal_lm",
    "register_model",
    "resolve",
]
