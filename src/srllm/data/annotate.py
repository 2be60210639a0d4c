"""Model-assisted annotation: a model proposes labels, biased words and a safe variation.

Any backend works that turns chat messages into a reply: `complete(messages) -> str`.
`OpenAIChat` is one for any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, OpenAI);
`local_chat` wraps a loaded transformers model. Replies are parsed strictly; a reply that is not
the asked-for JSON becomes an entry in the errors list, never a silently dropped row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from srllm.data.schema import CMDRecord, Labels, canonical_label
from srllm.errors import SrllmError
from srllm.prompts.annotate import ANNOTATE_VERSION, build_annotate_messages
from srllm.text.meta import find_meta

Message = dict[str, str]
Complete = Callable[[list[Message]], str]


class ModelAnnotation(BaseModel):
    """The JSON object the annotation prompt asks for; anything else is rejected."""

    model_config = ConfigDict(extra="forbid")

    bias: str
    toxicity: str
    sentiment: str
    harm: str
    target_groups: list[str] = Field(default_factory=list)
    biased_words: list[str] = Field(default_factory=list)
    safe_variation: str = Field(min_length=1)
    rationale: str | None = None

    @field_validator("bias", "toxicity", "sentiment", "harm", mode="before")
    @classmethod
    def _allowed(cls, value: Any, info: Any) -> str:
        label = canonical_label(info.field_name, value)
        if label is None:
            raise ValueError("is empty")
        return label

    @field_validator("safe_variation")
    @classmethod
    def _no_explanation(cls, value: str) -> str:
        leaks = find_meta(value)
        if leaks:
            leak = leaks[0]
            raise ValueError(f"mixes an explanation into the rewrite ({leak.kind}: '{leak.text[:60]}')")
        return value.strip()


class AnnotationFailed(SrllmError):
    """A backend reply that cannot be used (HTTP error, not JSON, wrong keys or values)."""

    def __init__(self, message: str, reply: str | None = None) -> None:
        super().__init__(message)
        self.reply = reply


_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.S)


def parse_annotation(reply: str) -> ModelAnnotation:
    """One JSON object with the annotation keys; a single ```json fence around it is tolerated."""
    body = reply.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise AnnotationFailed(f"reply is not JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(data, dict):
        raise AnnotationFailed("reply is JSON but not an object")
    try:
        return ModelAnnotation.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors())
        raise AnnotationFailed(f"reply does not match the annotation schema ({problems})") from exc


@dataclass(frozen=True)
class AnnotationError:
    id: str
    where: str
    text: str
    error: str
    reply: str | None


@dataclass
class AnnotateResult:
    records: list[CMDRecord] = field(default_factory=list)
    errors: list[AnnotationError] = field(default_factory=list)


def annotate_record(record: CMDRecord, complete: Complete, annotator: str) -> CMDRecord:
    """The record with the model's labels, words, groups, safe variation, rationale and provenance."""
    reply = complete(build_annotate_messages(record.text))
    try:
        parsed = parse_annotation(reply)
    except AnnotationFailed as exc:
        raise AnnotationFailed(str(exc), reply) from exc
    update = {
        "labels": Labels(bias=parsed.bias, toxicity=parsed.toxicity, sentiment=parsed.sentiment,
                         harm=parsed.harm),
        "target_groups": parsed.target_groups, "biased_words": parsed.biased_words,
        "safe_variation": parsed.safe_variation, "rationale": parsed.rationale,
        "annotator": annotator, "meta": {**record.meta, "annotation_prompt": ANNOTATE_VERSION},
    }
    annotated = record.model_copy(update=update)
    if record.origin:
        annotated.with_origin(*record.origin)
    return annotated


def annotate_records(records: Sequence[CMDRecord], complete: Complete, *, annotator: str,
                     on_progress: Callable[[int, int], None] | None = None) -> AnnotateResult:
    """Annotate every record; each failure (backend error or unusable reply) is kept in `errors`."""
    result = AnnotateResult()
    for done, record in enumerate(records, start=1):
        try:
            result.records.append(annotate_record(record, complete, annotator))
        except AnnotationFailed as exc:
            result.errors.append(AnnotationError(record.id, record.where(), record.text, str(exc), exc.reply))
        except Exception as exc:  # a plugged-in backend failing on one row must not lose the others
            result.errors.append(AnnotationError(record.id, record.where(), record.text,
                                                 f"backend failed ({type(exc).__name__}: {exc})", None))
        if on_progress:
            on_progress(done, len(records))
    return result


def texts_to_records(texts: Sequence[str], prefix: str = "text") -> list[CMDRecord]:
    return [CMDRecord(id=f"{prefix}-{i}", text=t) for i, t in enumerate(texts, start=1)]


# ---- backends ------------------------------------------------------------------------------

class OpenAIChat:
    """`complete(messages)` over an OpenAI-compatible POST {base_url}/chat/completions."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, temperature: float = 0.0,
                 timeout: float = 120.0, json_mode: bool = True, max_tokens: int | None = 1024) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.body: dict[str, Any] = {"model": model, "temperature": temperature}
        if max_tokens:
            self.body["max_tokens"] = max_tokens
        if json_mode:
            self.body["response_format"] = {"type": "json_object"}
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers,
                                    transport=httpx.HTTPTransport(retries=2))

    @property
    def annotator(self) -> str:
        """Provenance for records: model and endpoint, never the key."""
        return f"{self.model}@{self.base_url}"

    def __call__(self, messages: list[Message]) -> str:
        import httpx

        try:
            response = self._client.post(f"{self.base_url}/chat/completions",
                                         json={**self.body, "messages": messages})
        except httpx.HTTPError as exc:
            raise AnnotationFailed(f"cannot reach {self.base_url} ({type(exc).__name__}: {exc})") from exc
        if response.status_code != 200:
            raise AnnotationFailed(f"endpoint answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise AnnotationFailed(f"endpoint reply has no choices[0].message.content "
                                   f"({response.text[:200]})") from exc
        if not isinstance(content, str):
            raise AnnotationFailed("endpoint reply content is not text")
        return content

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def local_chat(model: Any, tokenizer: Any, *, max_new_tokens: int = 512) -> Complete:
    """`complete(messages)` over an already loaded transformers model (greedy decoding)."""
    from srllm.prompts.tokens import encode_messages

    def complete(messages: list[Message]) -> str:
        import torch

        # The record's text is plain text: chat markup in it cannot end its turn.
        ids = torch.tensor([encode_messages(tokenizer, messages)], device=model.device)
        with torch.no_grad():
            output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                    do_sample=False, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        return tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True)

    return complete
