"""`read_json_lines`: the one JSON Lines reader of the commands that stop at the first bad line; every
error names the file and the line, and the callers that used to parse lines themselves go through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from srllm.errors import InputError
from srllm.evaluate.loaders import load_texts
from srllm.prompts import load_demonstrations
from srllm.text.readers import read_json_lines
from srllm.train.preference import read_pairs


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(data)
    return path


def test_objects_come_with_their_line_numbers_and_a_leading_bom_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, b'\xef\xbb\xbf{"text": "a"}\n\n{"text": "b"}\r\n')
    assert list(read_json_lines(path)) == [(1, {"text": "a"}), (3, {"text": "b"})]


@pytest.mark.parametrize("second, message", [
    (b'["a", "b"]', "must be a JSON object"),
    (b"7", "must be a JSON object"),
    (b'{"text": "b",', "malformed JSON"),
    (b'\xef\xbb\xbf{"text": "b"}', "byte-order mark"),  # two files joined with cat
    (b"[" * 200 + b"]" * 200, "nested more than"),
])
def test_a_bad_line_is_an_error_naming_file_and_line(tmp_path: Path, second: bytes, message: str) -> None:
    path = write(tmp_path, b'{"text": "a"}\n' + second + b"\n")
    with pytest.raises(InputError, match=rf"{path.name}, line 2.*{message}"):
        list(read_json_lines(path))


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    path = write(tmp_path, '{"text": "a"}\n'.encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        list(read_json_lines(path))


@pytest.mark.parametrize("read", [load_texts, load_demonstrations, lambda path: read_pairs([str(path)])],
                         ids=["eval texts", "demonstrations", "preference pairs"])
def test_callers_report_a_list_line_with_file_and_line(tmp_path: Path, read) -> None:
    path = write(tmp_path, b'{"text": "a", "safe_variation": "b", "chosen": "b", "rejected": "c"}\n[1]\n')
    with pytest.raises(InputError, match=rf"{path.name}, line 2.*must be a JSON object"):
        read(path)
