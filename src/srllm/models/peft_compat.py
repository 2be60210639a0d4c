"""Work-arounds for peft 0.21 x transformers 5.x with prompt-learning adapters (prefix-tuning).

transformers 5 renamed generate()'s cache kwarg `past_key_values` -> `cache`. peft 0.21's
`PeftModelForCausalLM.prepare_inputs_for_generation` still reads and writes `past_key_values`,
so at generation time the trained prefix is injected under the old name while the model uses
the (empty) `cache` that generate() created: the prefix is silently ignored and a prefix-tuned
model generates exactly like its base. Training is unaffected (forward() passes the prefix).
`fix_prefix_generation` renames the key on the way into and out of peft's hook. peft 0.22 reads the name
from transformers (`peft.import_utils.get_transformers_cache_name`); there the rename would hide the prefix
again, so the fix is a no-op.
"""

from __future__ import annotations

import types
from typing import Any

_PATCHED = "_srllm_prefix_generation_fixed"


def _peft_knows_cache_name() -> bool:
    try:
        from peft.import_utils import get_transformers_cache_name
    except ImportError:  # peft < 0.22 hard-codes `past_key_values`
        return False
    return get_transformers_cache_name() == "cache"


def _needs_fix(model: Any) -> bool:
    import inspect

    if _peft_knows_cache_name():
        return False
    config = getattr(model, "active_peft_config", None)
    if config is None or not getattr(config, "is_prompt_learning", False):
        return False
    if getattr(model.get_base_model().config, "is_encoder_decoder", False):
        return False
    base_prepare = model.get_base_model().prepare_inputs_for_generation
    # transformers versions whose generate() uses `cache` accept it in prepare_inputs_for_generation.
    return "cache" in inspect.signature(base_prepare).parameters


def fix_prefix_generation(model: Any) -> Any:
    """Make a prefix-tuned PeftModel use its prefix in generate(); a no-op where not needed."""
    if getattr(model, _PATCHED, False) or not _needs_fix(model):
        return model
    base_prepare = model.base_model_prepare_inputs_for_generation
    peft_prepare = model.prepare_inputs_for_generation

    def renamed_base_prepare(*args: Any, **kwargs: Any) -> dict[str, Any]:
        model_kwargs = base_prepare(*args, **kwargs)
        if "cache" in model_kwargs:  # let peft see the real cache under the name it knows
            model_kwargs["past_key_values"] = model_kwargs.pop("cache")
        return model_kwargs

    def prepare(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        model_kwargs = peft_prepare(*args, **kwargs)
        if "past_key_values" in model_kwargs:
            model_kwargs["cache"] = model_kwargs.pop("past_key_values")
        return model_kwargs

    model.base_model_prepare_inputs_for_generation = renamed_base_prepare
    model.prepare_inputs_for_generation = types.MethodType(prepare, model)
    # generate() calls the wrapped transformers model's hook, which peft points at its own.
    model.get_base_model().prepare_inputs_for_generation = model.prepare_inputs_for_generation
    setattr(model, _PATCHED, True)
    return model
