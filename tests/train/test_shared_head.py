"""Running the shared prompt head once per batch must give the same losses as running it per row."""

from __future__ import annotations

import pytest

from srllm.train import train


@pytest.mark.parametrize("method", ["lora", "dense"])
def test_shared_head_matches_per_row_training(method, tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    options = {"r": 8, "alpha": 16, "dropout": 0.0} if method == "lora" else {}
    runs = {}
    for shared in (True, False):
        config = tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / f"{method}-{shared}", method=method,
                             method_options=options, share_prompt_head=shared,
                             learning_rate=1e-2 if method == "lora" else 3e-3)
        runs[shared] = train(config).manifest
    head = runs[True]["method"]["shared_prompt_head"]
    assert head["tokens"] > 20 and head["batches"] >= 4  # the path was taken for every training step
    assert runs[False]["method"]["shared_prompt_head"] == {"tokens": 0, "batches": 0}
    with_head = [step["loss"] for step in runs[True]["steps"] if "loss" in step]
    per_row = [step["loss"] for step in runs[False]["steps"] if "loss" in step]
    assert len(with_head) == len(per_row) == 4
    # Same data order, same updates: the losses agree up to float summation order.
    assert with_head == pytest.approx(per_row, rel=2e-3, abs=2e-4)
    assert runs[True]["dev"]["evaluations"][-1]["eval_loss"] == pytest.approx(
        runs[False]["dev"]["evaluations"][-1]["eval_loss"], rel=2e-3)
