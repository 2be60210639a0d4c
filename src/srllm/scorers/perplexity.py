"""Perplexity under a reference causal LM, and a simple fluency proxy built on it.

The LM is given either as objects (`model=`, `tokenizer=`; tests use a tiny random Llama) or as a
name resolved by `srllm.models.load_causal_lm(name)`, the one place srllm loads models.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from srllm.errors import SrllmError
from srllm.scorers.base import Result, Scorer, register_scorer

WORD_RE = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


class CausalLMPerplexity:
    """Token-level NLL of each text under a causal LM, batched with masked right padding."""

    def __init__(self, model: object | None = None, tokenizer: object | None = None,
                 model_name: str | None = None, max_length: int = 512) -> None:
        if model is None and model_name is None:
            raise SrllmError("perplexity needs a reference LM: pass model= and tokenizer=, or model_name=")
        if model is not None and tokenizer is None:
            raise SrllmError("perplexity got model= without tokenizer=; pass both objects")
        self.model, self.tokenizer, self.model_name = model, tokenizer, model_name
        self.max_length = max_length

    def load(self) -> None:
        if self.model is not None:
            return
        try:
            from srllm.models import load_causal_lm  # type: ignore[attr-defined]
        except ImportError as exc:
            raise SrllmError("srllm.models.load_causal_lm is not available in this install; "
                             "pass model= and tokenizer= objects instead") from exc
        loaded = load_causal_lm(self.model_name)
        self.model, self.tokenizer = loaded.model, loaded.tokenizer

    def token_nll(self, text: str) -> list[tuple[int, int, float]]:
        """(previous token id, token id, NLL in nats of that token given the ones before it) for each token
        of `text` after the first (which has no context)."""
        import torch

        ids = self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]
        if len(ids) < 2:
            return []
        if self.model.training:
            self.model.eval()
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids], device=device)).logits[0, :-1].float()
        target = torch.tensor(ids[1:], device=device)
        nll = -torch.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
        return list(zip(ids[:-1], ids[1:], nll.tolist(), strict=True))

    def nll(self, texts: list[str]) -> list[tuple[float, int]]:
        """(mean NLL in nats per predicted token, number of predicted tokens) per text."""
        import torch

        # Pad by hand (right side, id 0, masked) so the caller's tokenizer is never modified.
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        width = max(1, max(len(ids) for ids in encoded))
        ids = torch.zeros((len(texts), width), dtype=torch.long)
        mask = torch.zeros((len(texts), width), dtype=torch.long)
        for row, seq in enumerate(encoded):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        if self.model.training:  # dropout would make scores random
            self.model.eval()
        device = next(self.model.parameters()).device
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        target_lp = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        target_mask = mask[:, 1:].float()
        counts = target_mask.sum(dim=1)
        sums = -(target_lp * target_mask).sum(dim=1)
        return [(float(s / c) if c > 0 else math.nan, int(c)) for s, c in zip(sums, counts, strict=True)]


@register_scorer("perplexity")
class Perplexity(Scorer):
    """exp(mean token NLL) of each text under a reference causal LM (lower = more expected text)."""

    main_key = "perplexity"
    batch_size = 8

    def __init__(self, model: object | None = None, tokenizer: object | None = None,
                 model_name: str | None = None, max_length: int = 512, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lm = CausalLMPerplexity(model, tokenizer, model_name, max_length)

    def load(self) -> None:
        self.lm.load()

    def _score_batch(self, texts: list[str]) -> list[Result]:
        return [{"perplexity": math.exp(nll) if not math.isnan(nll) else math.nan, "nll": nll,
                 "tokens": float(count)} for nll, count in self.lm.nll(texts)]


@lru_cache(maxsize=1)
def dictionary_words() -> frozenset[str]:
    """Whole-word entries of the all-MiniLM-L6-v2 (BERT uncased) vocabulary: a cheap offline dictionary."""
    from srllm.scorers.embeddings import embedder_path

    vocab = Path(embedder_path()) / "vocab.txt"
    words = vocab.read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha() and not w.startswith("##"))


def dictionary_share(text: str) -> float:
    """Share of alphabetic words found in the dictionary (1.0 for a text with no words)."""
    words = [w.lower().split("'")[0] for w in WORD_RE.findall(text)]
    if not words:
        return 1.0
    known = dictionary_words()
    return sum(w in known for w in words) / len(words)


def repeated_trigram_share(text: str) -> float:
    """Share of word trigrams that already occurred earlier in the text (degenerate loops score high)."""
    words = [w.lower() for w in WORD_RE.findall(text)]
    grams = list(zip(words, words[1:], words[2:], strict=False))
    return 0.0 if not grams else 1.0 - len(set(grams)) / len(grams)


@register_scorer("fluency")
class Fluency(Scorer):
    """A documented proxy in [0, 1]: dictionary-word share x (1 - repeated-trigram share) x LM term.

    The LM term is 1 - log(ppl)/log(max_perplexity), clipped to [0, 1], and only used when a
    reference LM is given (model=/tokenizer= or model_name=); without one, fluency is the
    lexical part only. It flags garbled or looping generations; it is not a grammar checker.
    """

    main_key = "fluency"
    batch_size = 8

    def __init__(self, model: object | None = None, tokenizer: object | None = None,
                 model_name: str | None = None, max_perplexity: float = 10000.0, **kwargs) -> None:
        super().__init__(**kwargs)
        use_lm = model is not None or model_name is not None
        self.lm = CausalLMPerplexity(model, tokenizer, model_name) if use_lm else None
        self.max_perplexity = max_perplexity

    def load(self) -> None:
        dictionary_words()
        if self.lm is not None:
            self.lm.load()

    def _score_batch(self, texts: list[str]) -> list[Result]:
        nlls = self.lm.nll(texts) if self.lm is not None else [(math.nan, 0)] * len(texts)
        results = []
        for text, (nll, _count) in zip(texts, nlls, strict=True):
            result = {"dictionary_share": dictionary_share(text),
                      "repetition": repeated_trigram_share(text)}
            fluency = result["dictionary_share"] * (1.0 - result["repetition"])
            if self.lm is not None and not math.isnan(nll):
                lm_term = min(1.0, max(0.0, 1.0 - nll / math.log(self.max_perplexity)))
                result["perplexity"] = math.exp(nll)
                fluency *= lm_term
            result["fluency"] = fluency
            results.append(result)
        return results
