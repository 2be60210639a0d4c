"""An interrupted run resumed with --resume sees the same batches, in the same order."""

from __future__ import annotations

import pytest
from transformers import TrainerCallback

from srllm.errors import SrllmError
from srllm.train import train


class StopAt(TrainerCallback):
    """Simulates an interruption right after the checkpoint at `step` is written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def test_resume_continues_with_the_same_data_order(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    # Two epochs (24 records, batch 8 -> 3 steps each), LoRA dropout on: the resumed part must
    # replay the sampler and the RNG exactly, across the epoch boundary too.
    common = dict(max_steps=6, batch_size=8, eval_steps=2, save_steps=2, dev=[], eval_on_start=False,
                  method_options={"r": 8, "alpha": 16, "dropout": 0.1}, learning_rate=5e-3)
    full = train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "full", **common))
    interrupted = train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "cut", **common),
                        callbacks=[StopAt(2)])
    assert interrupted.manifest["global_step"] == 2
    resumed = train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "cut", resume=True, **common))
    assert resumed.manifest["resumed_from"].endswith("checkpoint-2")
    assert resumed.manifest["global_step"] == 6
    assert len(resumed.losses) == 6  # the manifest keeps the steps before the interruption
    assert resumed.losses == pytest.approx(full.losses, rel=1e-4)


def test_resume_without_checkpoint_is_a_clear_error(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    with pytest.raises(SrllmError, match="no checkpoint found"):
        train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "fresh", resume=True))
