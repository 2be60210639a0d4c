"""What a training method is: an options dataclass, defaults, and how it wraps the base model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

from srllm.errors import InputError


@dataclass(frozen=True)
class TrainingMethod:
    """One way to fine-tune (peft's shape: a config dataclass + a function that builds the model).

    `prepare(model, options, init_adapter, gradient_checkpointing)` returns the trainable model.
    """

    name: str
    description: str
    options: type
    prepare: Callable[..., Any]
    learning_rate: float
    epochs: float
    quantization: str | None = None  # passed to srllm.models.quantize.bnb_config
    packing: bool = True  # False when the method keeps per-sequence state (prefix-tuning's cache)
    saves_adapter: bool = True  # False: the run saves a whole model (dense)

    def parse_options(self, raw: dict[str, Any]) -> Any:
        known = {f.name for f in fields(self.options)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InputError(f"method '{self.name}' has no options {unknown}; it takes {sorted(known)}",
                             field="method_options")
        try:
            return self.options(**raw)
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad options for method '{self.name}' ({exc})", field="method_options") from exc


def options_dict(options: Any) -> dict[str, Any]:
    return asdict(options) if is_dataclass(options) else {}


def task_type(model: Any) -> str:
    return "SEQ_2_SEQ_LM" if getattr(model.config, "is_encoder_decoder", False) else "CAUSAL_LM"


def load_trainable_adapter(model: Any, adapter: str) -> Any:
    """Continue training an existing adapter (two-phase training, paper Section 5.2)."""
    from pathlib import Path

    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise InputError("has no adapter_config.json; --init-adapter needs a PEFT adapter directory "
                         "(the --out of an earlier `srllm train`)", path=adapter, field="init_adapter")
    return PeftModel.from_pretrained(model, adapter, is_trainable=True)
