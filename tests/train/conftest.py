"""Fixtures for the training tests (shared tiny models live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from srllm.train import TrainConfig


@pytest.fixture
def tiny_config(dev_jsonl: Path) -> Callable[..., TrainConfig]:
    """A builder of few-step configs on a tiny model: no energy tracking, no progress bar."""

    def build(base: Path, data: Path, out: Path, **overrides: Any) -> TrainConfig:
        values: dict[str, Any] = dict(
            method="lora", base=str(base), data=[str(data)], dev=[str(dev_jsonl)], out=str(out),
            batch_size=4, eval_batch_size=8, max_steps=4, eval_steps=4, save_steps=4,
            learning_rate=1e-2, measure_energy=False, progress=False, eval_on_start=True,
            method_options={"r": 8, "alpha": 16, "dropout": 0.0},
        )
        values.update(overrides)
        return TrainConfig(**values)

    return build
