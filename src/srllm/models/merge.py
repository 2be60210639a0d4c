"""Merge a LoRA adapter into its base model (safetensors) and export GGUF for llama.cpp.

`merged_gguf(model, adapter)` is what the llama.cpp engine runs: the base model with the adapter folded in,
converted once by llama.cpp's own `convert_hf_to_gguf.py` and cached under the srllm cache dir, keyed by the
model's and the adapter's hashes. The converter comes from the llama-cpp-python sdist of the installed version
(its vendored llama.cpp tree carries the script, `conversion/` and `gguf-py/`): the converter always matches
the llama.cpp that loads the file, and no llama.cpp checkout is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from srllm.errors import InputError, SrllmError

CONVERTER = "convert_hf_to_gguf.py"
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")
# What the converter needs from the sdist's vendor/llama.cpp tree (it imports `conversion` and `gguf-py`).
_CONVERTER_MEMBERS = (CONVERTER, "conversion/", "gguf-py/")


@dataclass
class MergeResult:
    out: Path | None  # the safetensors folder (None: only a GGUF was asked for)
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


def check_lora(adapter: Path) -> None:
    if not (adapter / "adapter_config.json").is_file():
        raise InputError("has no adapter_config.json; pass the --out folder of a LoRA/QLoRA `srllm train` run",
                         path=str(adapter))
    peft_type = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("peft_type")
    if peft_type != "LORA":
        raise SrllmError(f"only LoRA/QLoRA adapters can be merged into the weights; {adapter} is {peft_type} "
                         "(prefix-tuning keeps its virtual tokens: load it with --adapter instead)")


def save_merged(base: str, adapter: Path | None, out: Path) -> Path:
    """The base with `adapter` folded in (fp32, so the merge is exact), saved as a transformers model."""
    from srllm.models.load import load_causal_lm

    loaded = load_causal_lm(base, adapter=adapter)
    merged = loaded.model
    if hasattr(merged, "merge_and_unload"):  # srllm.models may already have merged it
        merged = merged.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out))
    loaded.tokenizer.save_pretrained(str(out))
    return out


def merge_adapter(adapter: str | Path, out: str | Path, *, base: str | None = None,
                  gguf: bool = False, gguf_type: str = "f16") -> MergeResult:
    """Fold LoRA weights into the base; the result loads with transformers and `srllm rewrite --model`."""
    adapter, out = Path(adapter), Path(out)
    check_lora(adapter)
    base = base or adapter_base(adapter)
    save_merged(base, adapter, out)
    for name in ("manifest.json", "README.md"):
        if (adapter / name).is_file():
            shutil.copy2(adapter / name, out / f"adapter_{name}")
    result = MergeResult(out=out, base=base)
    if gguf:
        result.gguf = export_gguf(out, out / f"{out.name}.{gguf_type}.gguf", outtype=gguf_type)
    return result


def llama_cpp_version() -> str | None:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return None


def converter_home(version: str) -> Path:
    from srllm.paths import cache_dir

    return cache_dir() / "llama-cpp" / version


def find_converter() -> Path | None:
    """llama.cpp's convert_hf_to_gguf.py: $SRLLM_LLAMA_CPP (a llama.cpp tree), on PATH, or the one already
    taken from the installed llama-cpp-python's sdist into the cache."""
    home = os.environ.get("SRLLM_LLAMA_CPP")
    if home and (Path(home) / CONVERTER).is_file():
        return Path(home) / CONVERTER
    found = shutil.which(CONVERTER)
    if found:
        return Path(found)
    version = llama_cpp_version()
    if version and (converter_home(version) / CONVERTER).is_file():
        return converter_home(version) / CONVERTER
    return None


def fetch_converter() -> Path:
    """find_converter(), else download the installed llama-cpp-python's sdist (pip) and keep its converter."""
    found = find_converter()
    if found is not None:
        return found
    version = llama_cpp_version()
    if version is None:
        raise SrllmError(
            "GGUF export needs llama.cpp's converter (convert_hf_to_gguf.py). srllm takes it from the sdist of "
            "the installed llama-cpp-python, which is not installed: pip install 'srllm[llamacpp]' (or set "
            "SRLLM_LLAMA_CPP=/path/to/llama.cpp, a checkout with convert_hf_to_gguf.py)."
        )
    home = converter_home(version)
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent) as tmp:
        sdist = _download_sdist(version, Path(tmp))
        _extract_converter(sdist, home)
    return home / CONVERTER


def _download_sdist(version: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"llama-cpp-python=={version}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(dest.glob("llama_cpp_python-*.tar.gz"))
    if not found:
        raise SrllmError(
            f"could not download the llama-cpp-python {version} sdist for its GGUF converter (exit "
            f"{done.returncode}: {done.stderr.strip()[-300:]}). Set SRLLM_LLAMA_CPP=/path/to/llama.cpp (a tree "
            "with convert_hf_to_gguf.py) instead."
        )
    return found[0]


def _extract_converter(sdist: Path, home: Path) -> None:
    """The converter, its `conversion` package and `gguf-py` (which it puts on sys.path itself)."""
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=".extract-"))
    try:
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                parts = member.name.split("/vendor/llama.cpp/", 1)
                if len(parts) != 2 or not parts[1].startswith(_CONVERTER_MEMBERS) or not member.isfile():
                    continue
                target = staging / parts[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as source, open(target, "wb") as sink:  # type: ignore[union-attr]
                    shutil.copyfileobj(source, sink)
        if not (staging / CONVERTER).is_file():
            raise SrllmError(f"{sdist.name} has no vendor/llama.cpp/{CONVERTER}")
        if home.exists():
            shutil.rmtree(home)
        os.replace(staging, home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_gguf(model_dir: str | Path, target: str | Path, *, outtype: str = "f16") -> Path:
    """A transformers model folder -> one GGUF file, by llama.cpp's converter."""
    if outtype not in GGUF_TYPES:
        raise InputError(f"unknown GGUF type {outtype!r}; use one of {', '.join(GGUF_TYPES)}", field="gguf_type")
    converter = find_converter() or fetch_converter()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    cmd = [sys.executable, str(converter), str(model_dir), "--outfile", str(partial), "--outtype", outtype]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise SrllmError(f"{converter} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    os.replace(partial, target)
    return target


def merged_gguf(model: str, adapter: str | Path | None = "auto", *, outtype: str = "f16") -> Path:
    """The GGUF of `model` with `adapter` merged ("auto": the shipped adapter; None: the base alone), built
    on first use and cached by the model's, the adapter's and the converter's identity."""
    from srllm.models.load import default_adapter_for, resolve

    resolved = resolve(model)
    if adapter == "auto":
        adapter = default_adapter_for(resolved.name)
    adapter_dir = Path(adapter) if adapter else None
    if adapter_dir is not None:
        check_lora(adapter_dir)
    key = _cache_key(Path(resolved.path), adapter_dir, outtype)
    target = gguf_cache_dir() / f"{Path(resolved.name).name}-{key}.{outtype}.gguf"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(dir=gguf_cache_dir(), prefix=".merge-") as tmp:
        save_merged(model, adapter_dir, Path(tmp) / "hf")
        return export_gguf(Path(tmp) / "hf", target, outtype=outtype)


def gguf_cache_dir() -> Path:
    from srllm.paths import cache_dir

    folder = cache_dir() / "gguf"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cache_key(model_dir: Path, adapter: Path | None, outtype: str) -> str:
    digest = hashlib.sha256(f"{outtype}|llama-cpp-python={llama_cpp_version()}".encode())
    for folder in (model_dir, adapter):
        digest.update(_folder_digest(folder).encode() if folder is not None else b"none")
    return digest.hexdigest()[:16]


def _folder_digest(folder: Path) -> str:
    """The model files' hashes (weights, config, tokenizer); a pulled model's provenance stands for its weights,
    which were converted from a GGUF of known SHA-256."""
    from srllm.models.pull import MARKER
    from srllm.provenance import file_sha256

    digest = hashlib.sha256()
    if not folder.is_dir():  # a hub id
        return hashlib.sha256(str(folder).encode()).hexdigest()
    marker = folder / MARKER
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for path in files:
        if marker.is_file() and path.suffix == ".safetensors":
            continue
        digest.update(f"{path.name}:{file_sha256(path)}".encode())
    return digest.hexdigest()


def merge_command(adapter: str | Path | None, *, out: str | Path | None = None, gguf: str | Path | None = None,
                  base: str | None = None, gguf_type: str = "f16") -> MergeResult:
    """What `srllm merge` does: ADAPTER (default: the one srllm ships for the base) merged into a safetensors
    folder (`out`) and/or a GGUF file (`gguf`, a copy of the cached `merged_gguf`)."""
    from srllm.models.load import DEFAULT_MODEL, default_adapter_for, resolve

    if out is None and gguf is None:
        raise InputError("say where the merged model goes: --out DIR (safetensors) and/or --gguf FILE.gguf")
    if gguf_type not in GGUF_TYPES:
        raise InputError(f"unknown GGUF type {gguf_type!r}; use one of {', '.join(GGUF_TYPES)}", field="gguf_type")
    if adapter is None:
        base = base or DEFAULT_MODEL
        adapter = default_adapter_for(resolve(base).name)
        if adapter is None:
            raise InputError(f"srllm ships no adapter for {base}; pass the adapter folder to merge", field="adapter")
    adapter = Path(adapter)
    check_lora(adapter)
    base = base or adapter_base(adapter)
    result = merge_adapter(adapter, out, base=base) if out is not None else MergeResult(out=None, base=base)
    if gguf is not None:
        cached = merged_gguf(base, adapter, outtype=gguf_type)
        target = Path(gguf)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target)
        result.gguf = target
    return result
