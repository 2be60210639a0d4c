"""OpenAI request and response bodies for /v1/chat/completions, /v1/completions and /v1/models.

Requests are strict and closed (`extra="forbid"`): a field this server does not know is a 400 naming
it (`middleware.validation_handler`), never silently dropped. Parameters clients commonly send but
this server does not implement are declared so that their neutral value (false, 0, empty, "text")
passes, and any other value is a 400 naming them (`unsupported_parameter`). Limits come from the
server's settings, so the request models are built per app (`request_models`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from srllm.serve.settings import ServeSettings

MAX_CHOICES = 8  # `n`: choices per prompt
MAX_STOPS = 4  # stop strings, as OpenAI allows

_STRICT = ConfigDict(extra="forbid", strict=True)
Stop = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool = False


class ContentPart(BaseModel):
    """One part of a message's content; only "text" parts are read (others are refused by name)."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: str = Field(max_length=64)
    text: str | None = None


class SamplingFields(BaseModel):
    """What chat and text completions share: the sampling the decode loop honours, streaming, and the
    parameters accepted only at their neutral value."""

    model_config = _STRICT
    model: str | None = Field(None, max_length=256, description="This server's model id (see /v1/models); "
                                                               "omitted: that model")
    temperature: float | None = Field(0.0, ge=0, le=2, description="0 (the default here): greedy")
    top_p: float | None = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, le=MAX_CHOICES, description="Choices per prompt")
    stop: Stop | Annotated[list[Stop], Field(max_length=MAX_STOPS)] | None = Field(
        None, description="Up to 4 strings; the text ends before the first one (finish_reason stop)")
    seed: int | None = Field(None, ge=-(2**63), lt=2**63, description="Same seed, same sampled output")
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256, description="Your end user's id (logged, not used)")
    # Accepted only at their neutral value (see `unsupported`).
    presence_penalty: float | None = Field(None, description="Not supported: 0 only")
    frequency_penalty: float | None = Field(None, description="Not supported: 0 only")
    logit_bias: dict[str, Any] | None = Field(None, description="Not supported: empty only")


class ChatFields(SamplingFields):
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1, description="The same as max_tokens")
    logprobs: bool | None = Field(None, description="Not supported: false only")
    top_logprobs: int | None = Field(None, description="Not supported")
    response_format: dict[str, Any] | None = Field(None, description='Not supported: {"type": "text"} only')
    tools: list[Any] | None = Field(None, description="Not supported: empty only")
    tool_choice: str | dict[str, Any] | None = Field(None, description='Not supported: "none" only')
    parallel_tool_calls: bool | None = Field(None, description="Ignored (no tools)")
    functions: list[Any] | None = Field(None, description="Not supported: empty only")
    function_call: str | dict[str, Any] | None = Field(None, description='Not supported: "none" only')
    modalities: list[str] | None = Field(None, description='Not supported: ["text"] only')
    audio: dict[str, Any] | None = Field(None, description="Not supported")


class CompletionFields(SamplingFields):
    max_tokens: int | None = Field(None, ge=1, description="Default 16, as OpenAI's")
    echo: bool | None = Field(None, description="Not supported: false only")
    suffix: str | None = Field(None, description="Not supported")
    best_of: int | None = Field(None, description="Not supported: 1 only")
    logprobs: int | None = Field(None, description="Not supported")


def _neutral(name: str, value: Any) -> bool:
    if value is None or value is False or value == 0 or value == [] or value == {}:
        return True
    return ((name == "response_format" and value == {"type": "text"})
            or (name in ("tool_choice", "function_call") and value == "none")
            or (name == "modalities" and value == ["text"])
            or (name == "best_of" and value == 1)
            or name == "parallel_tool_calls")


_UNSUPPORTED = ("presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
                "response_format", "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
                "modalities", "audio", "echo", "suffix", "best_of")


def unsupported(body: BaseModel) -> str | None:
    """The first parameter set to a value this server does not implement, or None."""
    values = body.model_dump(include=set(_UNSUPPORTED))
    return next((name for name in _UNSUPPORTED if name in values and not _neutral(name, values[name])), None)


def request_models(settings: ServeSettings) -> dict[str, type[BaseModel]]:
    """The chat and text completion requests with this server's limits in their schema."""
    content = Annotated[str, StringConstraints(max_length=settings.max_chars * 4)]
    part = create_model("ContentPartIn", __base__=ContentPart, text=(content | None, None))
    message = create_model(
        "ChatMessageIn", __config__=_STRICT,
        role=(Literal["system", "developer", "user", "assistant"], ...),
        content=(content | Annotated[list[part], Field(min_length=1, max_length=32)], ...),  # type: ignore[valid-type]
    )
    tokens = (int | None, Field(None, ge=1, le=settings.max_chat_tokens))
    chat = create_model(
        "ChatCompletionRequest", __base__=ChatFields,
        messages=(Annotated[list[message], Field(min_length=1, max_length=32)], ...),  # type: ignore[valid-type]
        max_tokens=tokens, max_completion_tokens=tokens,
    )
    prompt = Annotated[str, StringConstraints(min_length=1, max_length=settings.max_chars * 4)]
    completion = create_model(
        "CompletionRequest", __base__=CompletionFields,
        prompt=(prompt | Annotated[list[prompt], Field(min_length=1, max_length=settings.max_texts)], ...),
        max_tokens=tokens,
    )
    return {"chat": chat, "completion": completion}


# -- responses ----------------------------------------------------------------------------------------
class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str
    logprobs: None = None


class TextCompletion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
