"""Turn a text (plus optional demonstrations) into chat messages and a model prompt."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from srllm.errors import InputError, SrllmError
from srllm.prompts.templates import PromptTemplate, get_template
from srllm.text.readers import read_json_lines

Message = dict[str, str]


@dataclass(frozen=True)
class Demonstration:
    """One worked example for k-shot prompting: an unsafe text and its safe rewrite."""

    text: str
    rewrite: str


def build_messages(
    text: str,
    *,
    template: PromptTemplate | str = "debias",
    shots: Sequence[Demonstration] = (),
    response: str | None = None,
) -> list[Message]:
    """System + (demonstration turns) + user turn (+ assistant turn when training)."""
    tpl = get_template(template) if isinstance(template, str) else template
    messages: list[Message] = [{"role": "system", "content": tpl.system}]
    for shot in shots:
        messages.append({"role": "user", "content": tpl.user_message(shot.text)})
        messages.append({"role": "assistant", "content": shot.rewrite})
    messages.append({"role": "user", "content": tpl.user_message(text)})
    if response is not None:
        messages.append({"role": "assistant", "content": response})
    return messages


def render_prompt(tokenizer: Any, messages: list[Message], *, add_generation_prompt: bool = True) -> str:
    """Render through the tokenizer's own chat template (falls back to a plain layout)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    # Models without a chat template (tiny test configs, base LMs) get a plain layout.
    parts = [f"### {m['role'].capitalize()}:\n{m['content']}\n" for m in messages]
    if add_generation_prompt:
        parts.append("### Assistant:\n")
    return "\n".join(parts)


class Piece(NamedTuple):
    """A stretch of a rendered prompt: a message's `content` (the user's text, a demonstration, the
    instruction) or the chat template's own markup (`content` False)."""

    text: str
    content: bool


# Each message's content is rendered as a private-use marker, padded with an em space on both sides:
# a template that trims its content (Llama 3's `| trim`) drops the pads, and then so do we.
_PAD = "\u2003"
_MARK = re.compile(f"({_PAD}?)\ue000(\\d+)\ue001({_PAD}?)")


def render_pieces(tokenizer: Any, messages: list[Message], *, add_generation_prompt: bool = True) -> list[Piece]:
    """`render_prompt`, cut into the template's markup and the messages' contents (`prompts.tokens`
    encodes the contents as plain text, so no content can spell a special token)."""
    marked = [{**message, "content": f"{_PAD}\ue000{i}\ue001{_PAD}"} for i, message in enumerate(messages)]
    skeleton = render_prompt(tokenizer, marked, add_generation_prompt=add_generation_prompt)
    pieces: list[Piece] = []
    order: list[int] = []
    end = 0
    for match in _MARK.finditer(skeleton):
        index = int(match.group(2))
        content = messages[index]["content"]
        content = content if match.group(1) else content.lstrip()
        content = content if match.group(3) else content.rstrip()
        pieces += [Piece(skeleton[end:match.start()], False), Piece(content, True)]
        order.append(index)
        end = match.end()
    pieces.append(Piece(skeleton[end:], False))
    if order != list(range(len(messages))):
        raise SrllmError("the tokenizer's chat template drops, repeats or reorders message contents, so "
                         "srllm cannot tell the user's text from the template's markup; use a model whose "
                         "template writes each message once, in order")
    return [piece for piece in pieces if piece.text]


def join(pieces: Sequence[Piece]) -> str:
    return "".join(piece.text for piece in pieces)


def split_pieces(pieces: Sequence[Piece], at: int) -> tuple[list[Piece], list[Piece]]:
    """The pieces before and after character `at` of their joined text (a piece across it is cut)."""
    head: list[Piece] = []
    tail: list[Piece] = []
    position = 0
    for piece in pieces:
        cut = min(max(at - position, 0), len(piece.text))
        if cut:
            head.append(Piece(piece.text[:cut], piece.content))
        if cut < len(piece.text):
            tail.append(Piece(piece.text[cut:], piece.content))
        position += len(piece.text)
    return head, tail


def prompt_and_completion_pieces(
    tokenizer: Any, text: str, response: str, *, template: PromptTemplate | str = "debias"
) -> tuple[list[Piece], list[Piece]]:
    """A training example as the prompt (masked from the loss) and the completion, in pieces."""
    prompt = render_pieces(tokenizer, build_messages(text, template=template))
    full = render_pieces(tokenizer, build_messages(text, template=template, response=response),
                         add_generation_prompt=False)
    prompt_text = join(prompt)
    if not join(full).startswith(prompt_text):
        # Some templates rewrite earlier turns; then the completion is the response + EOS.
        return prompt, [Piece(response, True), Piece(tokenizer.eos_token or "", False)]
    return prompt, split_pieces(full, len(prompt_text))[1]


def prompt_and_completion(
    tokenizer: Any, text: str, response: str, *, template: PromptTemplate | str = "debias"
) -> tuple[str, str]:
    """Split a training example into the prompt (masked from the loss) and the completion."""
    prompt, completion = prompt_and_completion_pieces(tokenizer, text, response, template=template)
    return join(prompt), join(completion)


def load_demonstrations(path: str | Path) -> list[Demonstration]:
    """Read a JSONL file of {"text", "safe_variation"|"rewrite"} demonstrations."""
    path = Path(path)
    demos: list[Demonstration] = []
    for number, row in read_json_lines(path):
        rewrite = row.get("safe_variation", row.get("rewrite"))
        if not row.get("text") or not rewrite:
            field = "text" if not row.get("text") else "safe_variation"
            raise InputError("missing or empty", path=str(path), line=number, field=field)
        demos.append(Demonstration(text=row["text"], rewrite=rewrite))
    return demos


def select_shots(demos: Sequence[Demonstration], k: int, *, seed: int = 0) -> list[Demonstration]:
    """A fixed, seeded choice of k demonstrations (the paper's 2- and 5-shot baselines)."""
    if k <= 0:
        return []
    if k > len(demos):
        raise InputError(f"asked for {k} shots but only {len(demos)} demonstrations exist", field="shots")
    return random.Random(seed).sample(list(demos), k)
