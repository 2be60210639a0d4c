"""Prompts: the only place prompt texts are written and rendered."""

from srllm.prompts.render import (
    Demonstration,
    build_messages,
    load_demonstrations,
    prompt_and_completion,
    render_prompt,
    select_shots,
)
from srllm.prompts.templates import PROMPT_VERSION, TEMPLATES, PromptTemplate, get_template

__all__ = [
    "PROMPT_VERSION",
    "TEMPLATES",
    "Demonstration",
    "PromptTemplate",
    "build_messages",
    "get_template",
    "load_demonstrations",
    "prompt_and_completion",
    "render_prompt",
    "select_shots",
]
