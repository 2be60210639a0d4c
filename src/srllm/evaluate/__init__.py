"""srllm.evaluate: scorers (toxicity, bias, retention, similarity, perplexity, sentiment...)."""

from srllm.evaluate.scorers import Scorer, ScorerNotConfiguredError, get_scorer, list_scorers, register_scorer

__all__ = ["Scorer", "ScorerNotConfiguredError", "get_scorer", "list_scorers", "register_scorer"]
