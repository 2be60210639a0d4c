"""Turn a text (plus optional demonstrations) into chat messages and a model prompt."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.lines import split_lines
from srllm.prompts.templates import PromptTemplate, get_template

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


def prompt_and_completion(
    tokenizer: Any, text: str, response: str, *, template: PromptTemplate | str = "debias"
) -> tuple[str, str]:
    """Split a training example into the prompt (masked from the loss) and the completion."""
    prompt = render_prompt(tokenizer, build_messages(text, template=template))
    full = render_prompt(
        tokenizer, build_messages(text, template=template, response=response),
        add_generation_prompt=False,
    )
    if not full.startswith(prompt):
        # Some templates rewrite earlier turns; then the completion is the response + EOS.
        return prompt, response + (tokenizer.eos_token or "")
    return prompt, full[len(prompt):]


def load_demonstrations(path: str | Path) -> list[Demonstration]:
    """Read a JSONL file of {"text", "safe_variation"|"rewrite"} demonstrations."""
    path = Path(path)
    demos: list[Demonstration] = []
    try:
        lines = split_lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read demonstrations ({exc})", path=str(path)) from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg})", path=str(path), line=number) from exc
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
