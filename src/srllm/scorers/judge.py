"""The judge: calibrated `toxic` / `stereotype` probabilities and the harmful spans of a text.

A fine-tuned MiniLM encoder (all-MiniLM-L6-v2, trained by `srllm judge train` on the corpus of
`srllm data build-judge`) with two heads: a sentence head (mean-pooled, one logit per label) and a
token head (O / toxic / stereotype per token) whose runs become character spans. Temperatures fitted
on the judge's dev split calibrate the sentence logits (monotone, so the ranking is the model's).

    from srllm.scorers.judge import load_judge
    judge = load_judge()
    judge.judge(["You are an idiot, Sam."])[0].spans   # [Span(start=8, end=16, label='toxic', ...)]

Statuses: `ok`; `empty` (no text); `no_words` (emoji or punctuation only); `not_english` (mostly
another script or language: scores are not computed, since the judge is English-only); `split`
(too long for one pass: scored by sentence groups, each score is the maximum, spans from every part).
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import ModelNotAvailableError
from srllm.paths import ASSETS_DIR
from srllm.scorers.base import Result, Scorer, register_scorer

LABELS = ("toxic", "stereotype")
TAGS = ("O", "toxic", "stereotype")
JUDGE_DIR = ASSETS_DIR / "judge"
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# English function words: a Latin-script text with none of them among many words is not English.
FUNCTION_WORDS = frozenset(
    "the a an and or but if of to in on at for with from by is are was were be been am do does did not no "
    "you your i me my we our he she it its they them their this that these those there here what who how why "
    "can will would should could have has had so as than then just all any some very too also only get got "
    "don't can't it's i'm".split())


@dataclass
class Span:
    start: int
    end: int
    label: str
    text: str
    score: float


@dataclass
class JudgeResult:
    toxic: float | None
    stereotype: float | None
    spans: list[Span] = field(default_factory=list)
    status: str = "ok"

    @property
    def harm(self) -> float | None:
        return None if self.toxic is None else max(self.toxic, self.stereotype or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"toxic": self.toxic, "stereotype": self.stereotype, "harm": self.harm, "status": self.status,
                "spans": [asdict(s) for s in self.spans]}


def text_status(text: str) -> str | None:
    """A status for text the judge does not score, else None."""
    if not text.strip():
        return "empty"
    words = _WORD.findall(text)
    if not words:
        return "no_words"
    letters = [c for w in words for c in w]
    latin = sum("LATIN" in unicodedata.name(c, "") for c in letters)
    if latin < 0.5 * len(letters):
        return "not_english"
    if len(words) >= 6 and not any(w.lower() in FUNCTION_WORDS for w in words):
        return "not_english"
    return None


def build_model(encoder: Any) -> Any:
    """The judge network around an encoder (a transformers AutoModel)."""
    import torch
    from torch import nn

    class JudgeModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            hidden = encoder.config.hidden_size
            self.dropout = nn.Dropout(0.1)
            self.sentence_head = nn.Linear(hidden, len(LABELS))
            self.token_head = nn.Linear(hidden, len(TAGS))

        def forward(self, input_ids, attention_mask, labels=None, tags=None, **_: Any):  # noqa: ANN001
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            logits = self.sentence_head(self.dropout(pooled))
            tag_logits = self.token_head(self.dropout(states))
            out = {"logits": logits, "tag_logits": tag_logits}
            if labels is not None:
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
                if tags is not None and bool((tags != -100).any()):
                    loss = loss + nn.functional.cross_entropy(tag_logits.reshape(-1, len(TAGS)), tags.reshape(-1),
                                                              ignore_index=-100)
                out["loss"] = loss
            return out

    del torch
    return JudgeModel()


class Judge:
    """A loaded judge: `judge(texts)` for scores with spans, `probabilities(texts)` for the bare numbers."""

    def __init__(self, model: Any, tokenizer: Any, settings: dict[str, Any]) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.settings = settings
        self.max_length = int(settings.get("max_length", 128))
        self.temperatures = [float(t) for t in settings.get("temperatures", [1.0, 1.0])]
        self.span_threshold = float(settings.get("span_threshold", 0.5))
        self.lock = threading.Lock()

    @property
    def threshold(self) -> float:
        """Harm probability above which a text is harmful (chosen on the judge's dev split)."""
        return float(self.settings.get("threshold", 0.5))

    def judge(self, texts: Sequence[str], batch_size: int = 64) -> list[JudgeResult]:
        results: list[JudgeResult | None] = [None] * len(texts)
        parts: list[tuple[int, int, str]] = []  # (text index, offset of the part, part)
        scored = [(i, text) for i, text in enumerate(texts) if not self._skip(i, text, results)]
        lengths = self._lengths([text for _, text in scored])
        for (i, text), length in zip(scored, lengths, strict=True):
            pieces = [(0, text)] if length <= self.max_length else self._split(text)
            parts.extend((i, offset, piece) for offset, piece in pieces)
            results[i] = JudgeResult(0.0, 0.0, [], "split" if len(pieces) > 1 else "ok")
        # Batches of similar length: padding to a batch's longest part was most of the work on short texts.
        order = sorted(range(len(parts)), key=lambda k: len(parts[k][2]))
        for start in range(0, len(order), batch_size):
            chunk = [parts[k] for k in order[start:start + batch_size]]
            for (i, offset, _), (probs, spans) in zip(chunk, self._run([p for _, _, p in chunk]), strict=True):
                result = results[i]
                assert result is not None
                result.toxic = max(result.toxic or 0.0, probs[0])
                result.stereotype = max(result.stereotype or 0.0, probs[1])
                result.spans.extend(Span(s.start + offset, s.end + offset, s.label, s.text, s.score) for s in spans)
        for result in results:
            if result is not None:
                result.spans.sort(key=lambda span: span.start)
        return [r for r in results if r is not None]

    @staticmethod
    def _skip(index: int, text: str, results: list[JudgeResult | None]) -> bool:
        status = text_status(text)
        if status:
            results[index] = JudgeResult(None, None, [], status)
        return bool(status)

    def _lengths(self, texts: list[str]) -> list[int]:
        """Token counts in one tokenizer call (a call per text cost as much as the model on short texts)."""
        if not texts:
            return []
        with self.lock:
            return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=True)["input_ids"]]

    def probabilities(self, texts: Sequence[str]) -> list[tuple[float, float]]:
        return [(r.toxic or 0.0, r.stereotype or 0.0) for r in self.judge(texts)]

    def _split(self, text: str) -> list[tuple[int, str]]:
        """Sentence groups of a too-long text that each fit max_length tokens, with their character offsets."""
        groups: list[tuple[int, str]] = []
        position = 0
        current_start, current = 0, ""
        for sentence in _SENTENCE.split(text):
            at = text.find(sentence, position)
            position = at + len(sentence)
            candidate = text[current_start:position] if current else sentence
            if current and len(self.tokenizer(candidate)["input_ids"]) > self.max_length:
                groups.append((current_start, current))
                current_start, current = at, sentence
            else:
                current_start, current = (current_start if current else at), candidate
        if current:
            groups.append((current_start, current))
        return groups

    def _run(self, texts: list[str]) -> list[tuple[tuple[float, float], list[Span]]]:
        import torch

        with self.lock:
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_offsets_mapping=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping").tolist()
            with torch.inference_mode():
                out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            temps = torch.tensor(self.temperatures)
            probs = torch.sigmoid(out["logits"].float() / temps).tolist()
            tag_probs = torch.softmax(out["tag_logits"].float(), -1)
            # Only tokens that are harmful enough become spans; finding them in torch keeps Python off the rest.
            harmful = ((1 - tag_probs[..., 0]) >= self.span_threshold) & enc["attention_mask"].bool()
            labels = tag_probs[..., 1:].argmax(-1) + 1
            label_probs = tag_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
            hits = [row.nonzero().flatten().tolist() for row in harmful]
            labels_l, scores_l = labels.tolist(), label_probs.tolist()
        return [((p[0], p[1]), self._spans(text, [(k, labels_l[row][k], scores_l[row][k]) for k in hit], offs))
                for row, (text, p, hit, offs) in enumerate(zip(texts, probs, hits, offsets, strict=True))]

    def _spans(self, text: str, tokens: list[tuple[int, int, float]], offsets: list[list[int]]) -> list[Span]:
        """Runs of harmful tokens (position, tag id, score), widened to whole words, joined across spaces."""
        spans: list[Span] = []
        for position, label_id, score in tokens:
            start, end = offsets[position]
            if end <= start:
                continue  # special or padding token
            start, end = _word_bounds(text, start, end)
            last = spans[-1] if spans else None
            if last and last.label == TAGS[label_id] and (start <= last.end or not text[last.end:start].strip()):
                last.end = max(last.end, end)
                last.score = max(last.score, score)
            else:
                spans.append(Span(start, end, TAGS[label_id], "", score))
        for span in spans:
            span.text = text[span.start:span.end]
            span.score = round(span.score, 4)
        return spans


def _word_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


def judge_path(path: str | Path | None = None) -> Path:
    folder = Path(path) if path else JUDGE_DIR
    if not (folder / "judge.json").is_file():
        raise ModelNotAvailableError(
            f"no judge at {folder} (judge.json missing); train one with `srllm judge train` or pass the folder "
            "of a trained judge")
    return folder


def load_judge(path: str | Path | None = None, dtype: str = "auto") -> Judge:
    """Load the shipped judge (src/srllm/assets/judge) or the one in `path`.

    dtype "auto": bf16 where the CPU computes it natively (AVX-512 BF16 / AMX: 2.6x the texts/s of fp32 on
    the ToxiGen benchmark, probabilities within 0.03, AUC unchanged), fp32 elsewhere. Dynamic int8 was
    faster still but moved probabilities by up to 0.5, too much for the guard's thresholds."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from srllm.models.dtype import cpu_has_native_bf16, inference_dtype

    folder = judge_path(path)
    settings = json.loads((folder / "judge.json").read_text(encoding="utf-8"))
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder))
    model = build_model(encoder)
    state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
    model.load_state_dict(state)
    # The judge runs on the CPU: "auto" asks the CPU, not a GPU that may sit beside it.
    model = model.to(inference_dtype(dtype) if dtype != "auto" else
                     torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return Judge(model, AutoTokenizer.from_pretrained(folder), settings)


_CACHE: dict[str, Judge] = {}
_CACHE_LOCK = threading.Lock()


def shared_judge(path: str | Path | None = None) -> Judge:
    """One loaded judge per folder for the process (the guard, the scorer and the service share it)."""
    key = str(judge_path(path).resolve())
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_judge(key)
        return _CACHE[key]


@register_scorer("judge", aliases=("harm",))
class JudgeScorer(Scorer):
    """toxic, stereotype and harm (their max) from the judge; 0.0 for text it does not score."""

    main_key = "harm"
    batch_size = 64

    def __init__(self, batch_size: int | None = None, progress: bool | None = None,
                 path: str | Path | None = None) -> None:
        super().__init__(batch_size, progress)
        self.path = path

    def load(self) -> None:
        self.judge = shared_judge(self.path)

    def _score_batch(self, texts: list[str]) -> list[Result]:
        return [{"toxic": r.toxic or 0.0, "stereotype": r.stereotype or 0.0, "harm": r.harm or 0.0}
                for r in self.judge.judge(texts, batch_size=self.batch_size)]
