"""Registry of text scorers: `get_scorer(name, **kwargs)`, `list_scorers()`, and `ScorerSet` (named
scorers built once and shared).

Importing this package registers every built-in scorer; the modules import their heavy
dependencies (torch, sentence-transformers, h5py...) only when a scorer first loads.
"""

from srllm.scorers import bias, embeddings, jigsaw, judge, lexical, perplexity, remote, retention  # noqa: F401
from srllm.scorers.base import Result, Scorer, get_scorer, list_scorers, register_scorer, scorer_class
from srllm.scorers.remote import ScorerNotConfiguredError
from srllm.scorers.set import ScorerSet

__all__ = [
    "Result",
    "Scorer",
    "ScorerNotConfiguredError",
    "ScorerSet",
    "get_scorer",
    "list_scorers",
    "register_scorer",
    "scorer_class",
]
