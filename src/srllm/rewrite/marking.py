"""What a marked template's model gets: the text with its harmful spans between marks (prompts.marks).

The spans are the judge's plus the lexicon's coded words that no judge span covers, the same list the
guard checks candidates against (`harmful_spans`). The guard marks the text it hands the model; without
the guard, `MarkedRewriter` judges the texts itself, so the model still gets what it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from srllm.engine.protocol import RewriteResult, WrappedEngine
from srllm.progress import collect_in_order
from srllm.prompts.marks import mark_spans, unmark
from srllm.rewrite.edit import merged_cuts
from srllm.text.lexicon import coded_terms


def harmful_spans(text: str, judge_spans: Sequence[Any]) -> list[Any]:
    """The judge's spans of `text` plus the lexicon's terms (`coded_terms`) that none of them covers, in order."""
    extra = [t for t in coded_terms(text) if not any(s.start <= t.start and t.end <= s.end for s in judge_spans)]
    return sorted([*judge_spans, *extra], key=lambda s: s.start)


def mark_text(text: str, spans: Sequence[Any]) -> str:
    """`text` with its spans between marks, overlapping spans merged first (`merged_cuts`, as the edit does)."""
    return mark_spans(text, merged_cuts(spans))


def marks(engine: Any) -> bool:
    """Whether the engine's prompt template wants its texts marked."""
    return bool(getattr(getattr(engine, "template", None), "marks", False))


def model_inputs(engine: Any, texts: Sequence[str], spans: Sequence[Sequence[Any]]) -> list[str]:
    """The texts as `engine` should get them: marked when its template wants marks, else unchanged."""
    if not marks(engine):
        return list(texts)
    return [mark_text(text, found) for text, found in zip(texts, spans, strict=True)]


class MarkedRewriter(WrappedEngine):
    """A marked-template engine without the guard: each text is judged for its spans, marked, rewritten,
    and the result carries the user's text and an answer without marks. Nothing is checked."""

    def __init__(self, rewriter: Any, judge: Any) -> None:
        self.rewriter = rewriter
        self.judge = judge

    @property
    def loaded(self) -> Any:
        return self.rewriter.loaded

    @property
    def template(self) -> Any:
        return self.rewriter.template

    def input_problem(self, text: str) -> str | None:
        return self.rewriter.input_problem(text)

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[RewriteResult]:
        return collect_in_order(self.rewrite_stream(texts, batch_size=batch_size), len(texts), progress)

    def rewrite_stream(self, texts: Sequence[str], *, batch_size: int = 8) -> Iterator[tuple[int, RewriteResult]]:
        judged = self.judge.judge(list(texts))
        inputs = model_inputs(self.rewriter, texts, [harmful_spans(t, j.spans) for t, j in zip(texts, judged,
                                                                                              strict=True)])
        for i, result in self.rewriter.rewrite_stream(inputs, batch_size=batch_size):
            result.text, result.rewrite = texts[i], unmark(result.rewrite)
            yield i, result


def with_marks(engine: Any, judge: Any = None) -> Any:
    """`engine` itself, or for a marked template wrapped in `MarkedRewriter` (the shipped judge, the one the
    process shares, unless given)."""
    if not marks(engine):
        return engine
    if judge is None:
        from srllm.scorers.judge import shared_judge

        judge = shared_judge()
    return MarkedRewriter(engine, judge)
