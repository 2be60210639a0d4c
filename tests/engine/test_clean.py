import pytest

from srllm.engine.clean import clean_response


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Sure! Here is the rewritten text: Maria leads the team.", "Maria leads the team."),
        ("Here's the text:\nMaria leads the team.", "Maria leads the team."),
        ("Rewritten text: Maria leads the team.<|im_end|>", "Maria leads the team."),
        ("Rewrite the text to:\nMaria leads the team.", "Maria leads the team."),
        ("<text>Maria leads the team.</text>", "Maria leads the team."),
        ("Maria leads the team.\n\nNote: I removed the stereotype.", "Maria leads the team."),
        ("\"Maria leads the team.\"", "Maria leads the team."),
        ("assistant\nMaria leads the team.", "Maria leads the team."),
    ],
)
def test_meta_text_and_chat_artifacts_are_removed(raw: str, expected: str) -> None:
    assert clean_response(raw) == expected


def test_plain_rewrite_is_untouched() -> None:
    text = 'The "night shift" starts at 10 p.m.: bring your badge.'
    assert clean_response(text) == text
