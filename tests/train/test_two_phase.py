"""Two-phase training (paper Section 5.2): phase 2 starts from phase 1's adapter."""

from __future__ import annotations

import json

import pytest

from srllm.errors import InputError
from srllm.train import train


def test_init_adapter_continues_from_phase_one(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    phase1 = train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "p1", max_steps=3))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"id": f"j{i}", "text": "We need a young rockstar ninja.",
                                        "safe_variation": "We need an experienced engineer."}) + "\n"
                            for i in range(8)), encoding="utf-8")
    phase2 = train(tiny_config(tiny_llama_dir, jobs, tmp_path / "p2", max_steps=2,
                               init_adapter=str(tmp_path / "p1")))
    assert phase2.manifest["init_adapter"] == str(tmp_path / "p1")
    # Before its first step, phase 2's model is phase 1's final model: same dev loss.
    start = phase2.manifest["dev"]["evaluations"][0]
    assert start["step"] == 0 and start["eval_loss"] == pytest.approx(phase1.dev_loss, rel=1e-4)


def test_init_adapter_must_be_an_adapter(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    with pytest.raises(InputError, match="adapter_config.json"):
        train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "x", init_adapter=str(tmp_path)))
