"""The engine that `EngineArgs` describe, behind the guard where they ask for it: what `srllm serve` and
each Ray actor run. The guard sits above the scorers, which sit above the engine layer, so the
wrapping happens here rather than in `engine.loader`."""

from __future__ import annotations

from srllm.engine.args import EngineArgs
from srllm.engine.loader import load_engine
from srllm.engine.protocol import RewriteEngine
from srllm.rewrite.guard import Guard, GuardedRewriter
from srllm.rewrite.marking import with_marks

# Engines that run the model here and can draw samples for the guard's retries (`sampling().generate`).
GUARDED_BACKENDS = ("transformers", "llama-cpp")


def load_guarded(args: EngineArgs) -> RewriteEngine:
    """A local model (the transformers or llama-cpp backend) is guarded unless args.guard is off: verify each
    rewrite, retry, flag. The guard's scorers load first, so a missing one fails before the model loads."""
    if not (args.guard and args.backend in GUARDED_BACKENDS):
        return with_marks(load_engine(args)) if args.backend in GUARDED_BACKENDS else load_engine(args)
    guard = Guard().load()
    return GuardedRewriter(load_engine(args), guard)
