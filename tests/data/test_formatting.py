"""Records as Alpaca examples and chat messages, rendered through a real tokenizer's chat template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from srllm.data import CMDRecord, format_records, to_alpaca, to_chat_text, to_messages
from srllm.errors import InputError
from srllm.prompts import get_template

RECORD = CMDRecord(id="r1", text="Old people can't learn new tech.",
                   safe_variation="People of any age can learn new tech.")


def test_messages_come_from_the_prompt_template() -> None:
    tpl = get_template("debias")
    messages = to_messages(RECORD)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"] == tpl.system
    assert messages[1]["content"] == tpl.user_message(RECORD.text)
    assert messages[2]["content"] == RECORD.safe_variation


def test_alpaca_is_the_same_conversation() -> None:
    example = to_alpaca(RECORD)
    system, user, assistant = to_messages(RECORD)
    assert example == {"instruction": system["content"], "input": user["content"],
                       "output": assistant["content"]}


def test_template_replaced_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"system": "Be kind.", "user": "Fix: {text}"}), encoding="utf-8")
    example = to_alpaca(RECORD, template=str(path))
    assert example["instruction"] == "Be kind." and example["input"] == f"Fix: {RECORD.text}"


def test_rendered_with_the_tokenizer_chat_template(chat_tokenizer: Any) -> None:
    example = to_chat_text(RECORD, chat_tokenizer)
    assert example["prompt"].startswith("<|system|> ")
    assert example["prompt"].endswith("<|assistant|> ")
    assert example["completion"].startswith(RECORD.safe_variation)
    assert example["text"] == example["prompt"][: -len("<|assistant|> ")] + \
        f"<|assistant|> {RECORD.safe_variation} <|end|> "
    ids = chat_tokenizer(example["text"])["input_ids"]
    assert chat_tokenizer.convert_tokens_to_ids("<|assistant|>") in ids


def test_records_without_a_rewrite_are_skipped_or_named() -> None:
    empty = CMDRecord(id="e", text="No rewrite.", safe_variation="TOREMOVE").with_origin("in.jsonl", 7)
    skipped: list[CMDRecord] = []
    out = list(format_records([RECORD, empty], "messages", skipped=skipped))
    assert [e["id"] for e in out] == ["r1"] and skipped == [empty]
    with pytest.raises(InputError, match=r"in\.jsonl:7.*safe_variation"):
        list(format_records([empty], "alpaca"))


def test_chat_style_needs_a_tokenizer() -> None:
    with pytest.raises(InputError, match="tokenizer"):
        list(format_records([RECORD], "chat"))
