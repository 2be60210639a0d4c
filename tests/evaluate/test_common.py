"""The helpers experiments share: one rewriter for the one-method experiments (style, toxigen-groups),
and one variant -> outputs step for the comparisons (methods, jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srllm.errors import InputError
from srllm.evaluate.experiments.base import RunContext
from srllm.evaluate.experiments.common import (
    ModelPool,
    OneRewriterConfig,
    first_rewriter,
    parse_variants,
    variant_outputs,
)
from srllm.evaluate.experiments.style import StyleConfig
from srllm.evaluate.experiments.toxigen_groups import ToxiGenGroupsConfig

TEXTS = ["Old people are slow.", "The bus leaves at noon."]


def test_one_rewriter_experiments_share_the_variant_options() -> None:
    for config in (StyleConfig, ToxiGenGroupsConfig):
        assert issubclass(config, OneRewriterConfig)
        assert config().variant == ["sr-llm", "zero-shot"] and config().demonstrations is None


def test_the_first_variant_that_can_rewrite_is_used_and_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    ctx = RunContext(tmp_path)
    # "original" is what gets rewritten, not a method; a K-shot variant without demonstrations is skipped.
    config = OneRewriterConfig(model=str(tiny_model_dir), variant=["original", "2-shot", "zero-shot"],
                               demonstrations=str(tmp_path / "none.jsonl"), max_new_tokens=4)
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    rewriter, variant = first_rewriter(ModelPool(config.model, ctx), config, TEXTS)
    assert variant.name == "zero-shot" and rewriter.method == "zero-shot"
    assert any("rewrites made by variant 'zero-shot'" in note for note in ctx.notes)
    with pytest.raises(InputError, match="none of the variants can rewrite"):
        first_rewriter(ModelPool(config.model, ctx), config.model_copy(update={"variant": ["original"]}), TEXTS)


def test_variant_outputs_are_the_texts_for_original_and_rewrites_otherwise(tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    ctx = RunContext(tmp_path)
    config = OneRewriterConfig(model=str(tiny_model_dir), max_new_tokens=4)
    pool = ModelPool(config.model, ctx)
    original, zero_shot = parse_variants(["original", "zero-shot"], ctx, model=config.model)
    assert variant_outputs(pool, original, TEXTS, config) == TEXTS
    rewrites = variant_outputs(pool, zero_shot, TEXTS, config, chunk=True)
    assert rewrites is not None and len(rewrites) == 2 and all(isinstance(r, str) for r in rewrites)
