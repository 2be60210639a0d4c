"""Rewriting: batched generation, output cleaning, the guard loop, resumable file jobs."""

from srllm.engine.rewriter import GenerationSettings, Rewriter, RewriteResult
from srllm.rewrite.guard import GuardConfig, GuardedRewriter, load_rewriter

__all__ = ["GenerationSettings", "GuardConfig", "GuardedRewriter", "RewriteResult", "Rewriter", "load_rewriter"]
