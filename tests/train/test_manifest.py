"""Every run writes manifest.json with the fields a reader needs to reproduce and cost it."""

from __future__ import annotations

import json

from srllm.train import train

REQUIRED = {
    "config", "method", "precision", "base_model", "data", "libraries", "git", "seed", "steps", "dev",
    "wall_time_s", "tokens_per_s", "train_tokens", "memory", "energy", "prompt_template", "init_adapter",
    "resumed_from", "global_step", "trainable_parameters",
}


def test_manifest_has_every_field(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    config = tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "run", max_steps=3, measure_energy=True,
                         device_watts=100.0)
    train(config)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert REQUIRED <= set(manifest)
    assert manifest["config"]["method"] == "lora" and manifest["seed"] == 42
    source = manifest["data"]["train_sources"][0]
    assert source["path"] == str(pairs_jsonl) and len(source["sha256"]) == 64 and source["used"] == 24
    assert manifest["base_model"]["sha256"] and len(manifest["base_model"]["sha256"]) == 64
    assert manifest["libraries"]["torch"] and manifest["libraries"]["transformers"] and manifest["libraries"]["peft"]
    assert "commit" in manifest["git"]
    assert [s["step"] for s in manifest["steps"]] == [1, 2, 3]
    assert all(s["loss"] > 0 for s in manifest["steps"])
    assert manifest["dev"]["evaluations"] and manifest["dev"]["final_loss"] > 0
    assert manifest["wall_time_s"] > 0 and manifest["tokens_per_s"] > 0
    assert manifest["memory"]["peak_rss_mb"] > 0
    energy = manifest["energy"]
    # Appendix D: watts x hours x 0.4 kgCO2e/kWh, from the declared 100 W.
    assert energy["formula_device_watts"] == 100.0
    expected_kwh = 100.0 * manifest["wall_time_s"] / 3600 / 1000
    assert abs(energy["formula_kwh"] - expected_kwh) / expected_kwh < 0.05
    assert abs(energy["formula_kg_co2e"] - 0.4 * energy["formula_kwh"]) < 1e-12
    # codecarbon either measured or says why not; it never fails the run.
    assert energy["codecarbon_status"] == "measured" or energy["codecarbon_status"].startswith("failed")


def test_manifests_record_adapters_without_this_machines_paths(tmp_path, monkeypatch) -> None:
    from srllm.paths import ASSETS_DIR
    from srllm.train.common import portable_adapter

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "a").mkdir(parents=True)
    assert portable_adapter(ASSETS_DIR / "adapters" / "smollm2-135m-instruct") == \
        "srllm:assets/adapters/smollm2-135m-instruct"
    assert portable_adapter(tmp_path / "runs" / "a") == "runs/a"
    assert portable_adapter("runs/a") == "runs/a"
    assert portable_adapter("/elsewhere/adapter") == "/elsewhere/adapter"
    assert portable_adapter(None) is None
