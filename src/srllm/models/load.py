"""Resolve a model name or path and load it (the only place a model is loaded)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srllm.errors import ModelNotAvailableError, SrllmError
from srllm.models.pull import pull
from srllm.models.registry import get_spec
from srllm.paths import ASSETS_DIR

DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference turned into something `from_pretrained` can open."""

    name: str
    path: str  # a local directory, or a hub id
    gguf_file: str | None = None
    kind: str = "local"  # registry | local | gguf | hub


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    adapter: str | None = None
    method: str = "base"
    dtype: str = "float32"


def resolve(name_or_path: str = DEFAULT_MODEL, *, auto_pull: bool = True) -> ResolvedModel:
    """Registry name -> cached dir (pulled on first use); local dir; local .gguf; else a hub id."""
    spec = get_spec(name_or_path)
    if spec is not None:
        if not spec.is_language_model:
            raise ModelNotAvailableError(f"{spec.name} holds a scorer's weights, not a language model; see "
                                         "`srllm models list` for the language models")
        if not auto_pull and spec.source != "hub":
            from srllm.models.pull import converted_dir, is_pulled

            if not is_pulled(spec.name):
                raise ModelNotAvailableError(f"{spec.name} is not pulled yet; run `srllm models pull {spec.name}`")
            return ResolvedModel(spec.name, str(converted_dir(spec.name)), kind="registry")
        return ResolvedModel(spec.name, str(pull(spec)), kind="registry")
    path = Path(name_or_path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ResolvedModel(str(path), str(path.parent), gguf_file=path.name, kind="gguf")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise SrllmError(f"{path} is a directory but has no config.json; it is not a Hugging Face model")
        return ResolvedModel(str(path), str(path), kind="local")
    if path.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        raise ModelNotAvailableError(
            f"model {name_or_path!r} is neither a registered name (see `srllm models list`), a local "
            "model directory, a .gguf file, nor a hub id of the form owner/name"
        )
    return ResolvedModel(name_or_path, name_or_path, kind="hub")


def default_adapter_for(model_name: str) -> Path | None:
    """The adapter srllm ships for a registry model, if one exists."""
    path = ASSETS_DIR / "adapters" / model_name
    return path if (path / "adapter_config.json").is_file() else None


def adapter_template(adapter: str | Path | None) -> str:
    """The built-in prompt template an adapter was trained with (its manifest's `prompt_template`), so a
    marked adapter gets marked texts; "debias" for no adapter, no manifest, or a template file."""
    from srllm.prompts import TEMPLATES

    manifest = Path(adapter) / "manifest.json" if adapter else None
    if manifest is None or not manifest.is_file():
        return "debias"
    try:
        name = json.loads(manifest.read_text(encoding="utf-8")).get("prompt_template")
    except (OSError, ValueError):
        return "debias"
    return name if isinstance(name, str) and name in TEMPLATES else "debias"


def _quiet_transformers() -> None:
    """Per-tensor progress bars and load reports are noise for our users."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_tokenizer(resolved: ResolvedModel) -> Any:
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, resolved)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Decoder-only batched generation needs the prompts aligned at the right edge.
    tokenizer.padding_side = "left"
    return tokenizer


def _from_pretrained(cls: Any, resolved: ResolvedModel, **kwargs: Any) -> Any:
    if resolved.gguf_file:
        kwargs["gguf_file"] = resolved.gguf_file
    try:
        return cls.from_pretrained(resolved.path, **kwargs)
    except OSError as exc:
        if resolved.kind != "hub":
            raise SrllmError(f"cannot load model from {resolved.path}: {exc}") from exc
        raise ModelNotAvailableError(
            f"{resolved.path} is not available locally and the Hugging Face hub cannot be reached "
            "(offline). Use the offline default with `srllm models pull smollm2-135m-instruct`, or "
            "pass a local model directory or .gguf file with --model."
        ) from exc


def load_causal_lm(
    name_or_path: str = DEFAULT_MODEL,
    *,
    adapter: str | Path | None = None,
    quantization: str | None = None,
    dtype: Any = None,
) -> LoadedModel:
    """Load a causal LM + tokenizer; `adapter` is a PEFT adapter dir or "default" (shipped one).

    `dtype`: a torch dtype or a name (`models.dtype`: "auto" picks bf16 on hardware that computes
    it natively); None means fp32, what training and the paper's evaluations use. The model loads
    in fp32 and a LoRA adapter is merged before the cast, so the merge does not round twice.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from srllm.models.dtype import inference_dtype

    _quiet_transformers()
    resolved = resolve(name_or_path)
    target = inference_dtype(dtype) if dtype is not None else torch.float32
    kwargs: dict[str, Any] = {"dtype": target if quantization else torch.float32}
    if quantization:
        from srllm.models.quantize import bnb_config

        kwargs["quantization_config"] = bnb_config(quantization)
    model = _from_pretrained(AutoModelForCausalLM, resolved, **kwargs)
    tokenizer = load_tokenizer(resolved)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    loaded = LoadedModel(model=model, tokenizer=tokenizer, name=resolved.name)
    if adapter == "default":
        adapter = default_adapter_for(resolved.name)
    if adapter:
        loaded = apply_adapter(loaded, adapter)
    if not quantization and target != torch.float32:
        loaded.model = loaded.model.to(target)
    loaded.dtype = str(target).removeprefix("torch.")
    model.eval()
    return loaded


def apply_adapter(loaded: LoadedModel, adapter: str | Path, *, merge: bool = True) -> LoadedModel:
    """Apply a saved PEFT adapter (LoRA or prefix-tuning) to the base model.

    For inference a LoRA adapter is merged into the weights: generation then costs the same as
    the base model instead of two extra matmuls per adapted layer.
    """
    import json

    from srllm.models.merged_cache import adapted_layers, load_merged, merged_path, save_merged

    path = Path(adapter)
    if not (path / "adapter_config.json").is_file():
        raise SrllmError(f"{path} has no adapter_config.json; it is not a PEFT adapter directory")
    peft_type = str(json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("peft_type", ""))
    mergeable = merge and peft_type.upper() == "LORA" and not getattr(loaded.model, "is_loaded_in_4bit", False)
    cached = merged_path(loaded.model, path) if mergeable else None
    if cached is not None and cached.is_file() and load_merged(loaded.model, cached):
        # The merge's result, from disk (srllm.models.merged_cache); peft (and the bitsandbytes it imports,
        # ~2.5 s) is not even imported.
        loaded.model.eval()
        return LoadedModel(model=loaded.model, tokenizer=loaded.tokenizer, name=loaded.name,
                           adapter=str(path), method="lora")
    from peft import PeftConfig, PeftModel

    config = PeftConfig.from_pretrained(str(path))
    model = PeftModel.from_pretrained(loaded.model, str(path))
    if mergeable:
        layers = adapted_layers(model)
        model = model.merge_and_unload()
        if cached is not None:
            try:
                save_merged(model, layers, cached)
            except OSError:  # a read-only or full cache costs the next start a merge, nothing more
                pass
    else:
        # peft 0.21 + transformers 5 ignore a prefix at generate() time unless patched.
        from srllm.models.peft_compat import fix_prefix_generation

        model = fix_prefix_generation(model)
    model.eval()
    return LoadedModel(model=model, tokenizer=loaded.tokenizer, name=loaded.name,
                       adapter=str(path), method=str(config.peft_type.value).lower())
