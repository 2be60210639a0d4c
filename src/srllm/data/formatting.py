"""CMD records as training examples: Alpaca (instruction/input/output) and chat messages.

The prompt texts come only from `srllm.prompts`; the Alpaca layout is the same conversation as
the chat messages (system -> instruction, user turn -> input, assistant turn -> output), so both
layouts train on the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from srllm.data.checks import is_placeholder
from srllm.data.schema import CMDRecord
from srllm.errors import InputError
from srllm.prompts import PromptTemplate, build_messages, prompt_and_completion, render_prompt

STYLES = ("alpaca", "messages", "chat")


def _rewrite(record: CMDRecord) -> str:
    if is_placeholder(record.safe_variation):
        raise InputError("has no safe variation, so it cannot be a training example; "
                         "annotate it or drop it", path=record.where(), field="safe_variation")
    return record.safe_variation or ""


def to_messages(record: CMDRecord, template: PromptTemplate | str = "debias") -> list[dict[str, str]]:
    """system / user / assistant messages for one record."""
    return build_messages(record.text, template=template, response=_rewrite(record))


def to_alpaca(record: CMDRecord, template: PromptTemplate | str = "debias") -> dict[str, str]:
    """{"instruction", "input", "output"}: the template's system text, user turn and the rewrite."""
    system, user, assistant = to_messages(record, template)
    return {"instruction": system["content"], "input": user["content"], "output": assistant["content"]}


def to_chat_text(record: CMDRecord, tokenizer: Any, template: PromptTemplate | str = "debias"
                 ) -> dict[str, Any]:
    """The conversation rendered with the tokenizer's chat template, split into prompt/completion."""
    prompt, completion = prompt_and_completion(tokenizer, record.text, _rewrite(record), template=template)
    return {"messages": to_messages(record, template), "prompt": prompt, "completion": completion,
            "text": render_prompt(tokenizer, to_messages(record, template), add_generation_prompt=False)}


def format_records(records: Iterable[CMDRecord], style: str = "alpaca", *,
                   template: PromptTemplate | str = "debias", tokenizer: Any = None,
                   skipped: list[CMDRecord] | None = None) -> Iterator[dict[str, Any]]:
    """Training examples in `style`; records without a rewrite go to `skipped` (when given)."""
    if style not in STYLES:
        raise InputError(f"unknown style '{style}'; use one of {', '.join(STYLES)}", field="style")
    if style == "chat" and tokenizer is None:
        raise InputError("the 'chat' style needs a tokenizer (its chat template renders the text)",
                         field="tokenizer")
    for record in records:
        if is_placeholder(record.safe_variation):
            if skipped is None:
                _rewrite(record)  # raises with file, line and field
            skipped.append(record)
            continue
        if style == "alpaca":
            example: dict[str, Any] = to_alpaca(record, template)
        elif style == "messages":
            example = {"messages": to_messages(record, template)}
        else:
            example = to_chat_text(record, tokenizer, template)
        yield {"id": record.id, **example}
