"""Cheap lexicon/linear scorers: VADER sentiment and alt-profanity-check."""

from __future__ import annotations

from srllm.errors import ModelNotAvailableError
from srllm.scorers.base import Result, Scorer, register_scorer


@register_scorer("sentiment")
class VaderSentiment(Scorer):
    """VADER (Hutto & Gilbert 2014): compound in [-1, 1] plus pos/neu/neg shares."""

    main_key = "compound"
    batch_size = 512

    def load(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()

    def _score_batch(self, texts: list[str]) -> list[Result]:
        results = []
        for text in texts:
            polarity = self.analyzer.polarity_scores(text)
            results.append({key: float(polarity[key]) for key in ("compound", "pos", "neu", "neg")})
        return results


@register_scorer("profanity")
class ProfanityCheck(Scorer):
    """alt-profanity-check (linear SVM on TF-IDF): a second, model-independent opinion on toxicity."""

    main_key = "profanity"
    batch_size = 1024

    def __init__(self, threshold: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold

    def load(self) -> None:
        try:
            from profanity_check import predict_prob
        except ImportError as exc:
            raise ModelNotAvailableError(
                "the 'profanity' scorer needs alt-profanity-check; run `pip install alt-profanity-check`"
            ) from exc
        self.predict_prob = predict_prob

    def _score_batch(self, texts: list[str]) -> list[Result]:
        probs = self.predict_prob(texts)
        return [{"profanity": float(p), "profanity_flag": float(p >= self.threshold)} for p in probs]
