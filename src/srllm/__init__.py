"""srllm: Safe and Responsible LLM toolkit (arXiv 2404.01399).

    from srllm import Rewriter
    Rewriter.load().rewrite(["..."])
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["GuardedRewriter", "Rewriter", "get_scorer", "load_rewriter"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import srllm` (and the CLI's --help) does not import torch.
    if name in ("Rewriter", "GuardedRewriter", "load_rewriter"):
        from srllm import rewrite

        return getattr(rewrite, name)
    if name == "get_scorer":
        from srllm.scorers import get_scorer

        return get_scorer
    raise AttributeError(f"module 'srllm' has no attribute {name!r}")
