"""Registry of text scorers: `get_scorer(name, **kwargs)`, `list_scorers()`.

Importing this package registers every built-in scorer; the modules import their heavy
dependencies (torch, sentence-transformers, h5py...) only when a scorer first loads.
"""

from srllm.evaluate.scorers import bias, embeddings, jigsaw, judge, lexical, perplexity, remote, retention  # noqa: F401
from srllm.evaluate.scorers.base import Result, Scorer, get_scorer, list_scorers, register_scorer, scorer_class
from srllm.evaluate.scorers.remote import ScorerNotConfiguredError

__all__ = [
    "Result",
    "Scorer",
    "ScorerNotConfiguredError",
    "get_scorer",
    "list_scorers",
    "register_scorer",
    "scorer_class",
]
