"""Bad data fails with a sentence naming file, line and field, before any model is loaded."""

from __future__ import annotations

import json

import pytest

from srllm.errors import InputError
from srllm.train import TrainConfig, train

# A base that cannot load: if data checks ran after model loading, the error would be about the model.
NO_MODEL = "/nonexistent/model"


def _run(data: str, dev: str | None = None) -> None:
    train(TrainConfig(method="lora", base=NO_MODEL, data=[data], dev=[dev] if dev else [], out="/tmp/unused",
                      measure_energy=False, progress=False))


def test_missing_safe_variation_names_file_line_field(tmp_path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [{"id": "a", "text": "Old people are slow.", "safe_variation": "Some people take more time."},
            {"id": "b", "text": "Women can't code."}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        _run(str(path))
    assert info.value.path == str(path) and info.value.line == 2 and info.value.field == "safe_variation"
    assert "safe_variation" in str(info.value) and "line 2" in str(info.value)


def test_empty_training_file(tmp_path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="training split is empty") as info:
        _run(str(path))
    assert info.value.path == str(path)


def test_empty_dev_split_part(tmp_path, pairs_jsonl) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"id": "x", "text": "a b", "safe_variation": "c d"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="dev split is empty"):
        _run(str(pairs_jsonl), f"{one}#dev")


def test_missing_file_and_bad_json(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        _run(str(tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x", "safe_variation": "y"}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        _run(str(bad))
    assert info.value.line == 2


def test_unknown_method_and_option(pairs_jsonl) -> None:
    with pytest.raises(InputError, match="unknown training method"):
        train(TrainConfig(method="adapterfusion", base=NO_MODEL, data=[str(pairs_jsonl)]))
    with pytest.raises(InputError, match="no options"):
        train(TrainConfig(method="lora", base=NO_MODEL, data=[str(pairs_jsonl)], method_options={"rank": 4}))
