"""Merge a LoRA adapter into its base model (safetensors), optionally export GGUF for llama.cpp."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from srllm.errors import InputError, SrllmError

CONVERTER = "convert_hf_to_gguf.py"


@dataclass
class MergeResult:
    out: Path
    base: str
    gguf: Path | None = None


def adapter_base(adapter: Path) -> str:
    """The base the adapter was trained on: the run manifest's registry name, else adapter_config."""
    manifest = adapter / "manifest.json"
    if manifest.is_file():
        name = json.loads(manifest.read_text(encoding="utf-8")).get("base_model", {}).get("name")
        if name:
            return str(name)
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    base = config.get("base_model_name_or_path")
    if not base:
        raise InputError("names no base model; pass --base", path=str(adapter / "adapter_config.json"),
                         field="base_model_name_or_path")
    return str(base)


def merge_adapter(adapter: str | Path, out: str | Path, *, base: str | None = None,
                  gguf: bool = False, gguf_type: str = "f16") -> MergeResult:
    """Fold LoRA weights into the base; the result loads with transformers and `srllm rewrite --model`."""
    from srllm.models.load import load_causal_lm

    adapter, out = Path(adapter), Path(out)
    if not (adapter / "adapter_config.json").is_file():
        raise InputError("has no adapter_config.json; pass the --out folder of a LoRA/QLoRA `srllm train` run",
                         path=str(adapter))
    peft_type = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("peft_type")
    if peft_type != "LORA":
        raise SrllmError(f"only LoRA/QLoRA adapters can be merged into the weights; {adapter} is {peft_type} "
                         "(prefix-tuning keeps its virtual tokens: load it with --adapter instead)")
    base = base or adapter_base(adapter)
    loaded = load_causal_lm(base, adapter=adapter)  # full precision, so the merge is exact
    merged = loaded.model
    if hasattr(merged, "merge_and_unload"):  # srllm.models may already have merged it
        merged = merged.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out))
    loaded.tokenizer.save_pretrained(str(out))
    for name in ("manifest.json", "README.md"):
        if (adapter / name).is_file():
            shutil.copy2(adapter / name, out / f"adapter_{name}")
    result = MergeResult(out=out, base=base)
    if gguf:
        result.gguf = export_gguf(out, out / f"{out.name}.{gguf_type}.gguf", outtype=gguf_type)
    return result


def find_converter() -> Path | None:
    """llama.cpp's convert_hf_to_gguf.py: $SRLLM_LLAMA_CPP (a llama.cpp checkout) or on PATH."""
    home = os.environ.get("SRLLM_LLAMA_CPP")
    if home and (Path(home) / CONVERTER).is_file():
        return Path(home) / CONVERTER
    found = shutil.which(CONVERTER)
    return Path(found) if found else None


def export_gguf(model_dir: str | Path, target: str | Path, *, outtype: str = "f16") -> Path:
    converter = find_converter()
    if converter is None:
        raise SrllmError(
            "GGUF export needs llama.cpp's converter (convert_hf_to_gguf.py), which is not installed: the "
            "`gguf` package only reads/writes GGUF files and has no Hugging Face -> GGUF converter. Get a "
            "llama.cpp checkout (https://github.com/ggml-org/llama.cpp) and set SRLLM_LLAMA_CPP=/path/to/"
            "llama.cpp (or put convert_hf_to_gguf.py on PATH), then rerun with --gguf. The merged "
            f"safetensors model in {model_dir} is complete without it."
        )
    cmd = [sys.executable, str(converter), str(model_dir), "--outfile", str(target), "--outtype", outtype]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SrllmError(f"{converter} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return Path(target)
