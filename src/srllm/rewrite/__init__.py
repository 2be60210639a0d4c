"""Rewriting: the guard loop, resumable file jobs, and the public `Rewriter` API.

`Rewriter`, `RewriteResult` and `GenerationSettings` live in the engine layer (`srllm.engine`) and are
re-exported here, so `from srllm.rewrite import Rewriter; Rewriter.load().rewrite([...])` keeps working.
"""

from srllm.engine.protocol import RewriteResult
from srllm.engine.rewriter import GenerationSettings, Rewriter
from srllm.rewrite.guard import GuardConfig, GuardedRewriter, load_rewriter
from srllm.rewrite.loader import load_guarded

__all__ = ["GenerationSettings", "GuardConfig", "GuardedRewriter", "RewriteResult", "Rewriter", "load_guarded",
           "load_rewriter"]
