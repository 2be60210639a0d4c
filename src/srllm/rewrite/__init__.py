"""Rewriting: batched generation, output cleaning, resumable file jobs."""

from srllm.rewrite.engine import GenerationSettings, Rewriter, RewriteResult

__all__ = ["GenerationSettings", "RewriteResult", "Rewriter"]
