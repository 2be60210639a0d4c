"""Request and response bodies. Limits come from the settings, so the models are built per app
and the OpenAPI schema shows the real limits (the fuzz test generates from it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from srllm.serve.settings import ServeSettings


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error kind, e.g. unauthorized, rate_limited")
    message: str = Field(description="What went wrong and how to fix it")
    field: str | None = Field(None, description="The request field at fault, when there is one")
    request_id: str = Field(description="Quote this id when reporting a problem (also in X-Request-ID)")


class ErrorResponse(BaseModel):
    error: ErrorBody


class RewriteItem(BaseModel):
    index: int
    text: str
    rewrite: str | None
    status: str = Field("ok", description="ok | flagged | unchanged (from the guard, when one runs)")
    scores: dict[str, Any] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    spans: list[dict[str, Any]] = Field(default_factory=list, description="The judge's harmful spans of the input "
                                                                          "(character offsets), when the guard ran")
    model: str
    adapter: str | None
    method: str
    prompt_version: str


class RewriteResponse(BaseModel):
    request_id: str
    results: list[RewriteItem]


class ScoreItem(BaseModel):
    index: int
    scores: dict[str, float | None] = Field(description="Each scorer's main value (e.g. toxicity -> toxic)")
    details: dict[str, dict[str, float]] = Field(description="Every value each scorer returned")
    spans: list[dict[str, Any]] | None = Field(None, description="The judge's harmful spans (start, end, label, "
                                                                 "text, score); null when the judge did not run")
    status: str | None = Field(None, description="The judge's status: ok, split, empty, no_words, not_english")


class ScoreResponse(BaseModel):
    request_id: str
    scorers: list[str] = Field(description="The scorers that ran")
    skipped: dict[str, str] = Field(default_factory=dict, description="Scorers not run, with the reason")
    results: list[ScoreItem]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    owned_by: str = "srllm"
    backend: str
    adapter: str | None
    method: str
    prompt_version: str
    dtype: str | None = None  # the local model's inference dtype (None: a remote backend)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class JobStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    filename: str
    rows_total: int
    rows_done: int
    progress: float
    created: float
    updated: float
    error: str | None = None
    results_url: str | None = None


class JobList(BaseModel):
    jobs: list[JobStatus]


class Health(BaseModel):
    status: Literal["ok", "loading"]
    model: str | None = None
    backend: str | None = None


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessage
    finish_reason: str


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage


def request_models(settings: ServeSettings) -> dict[str, type[BaseModel]]:
    """Request bodies with this server's limits in their schema."""
    Text = Annotated[str, StringConstraints(min_length=1, max_length=settings.max_chars, pattern=r"\S")]
    Texts = Annotated[list[Text], Field(min_length=1, max_length=settings.max_texts)]
    # Strict: 0 is not a bool and "5" not an int; the server takes exactly what its schema says.
    strict = ConfigDict(extra="forbid", strict=True)
    names = sorted(set(settings.scorers)) or ["none"]
    ScorerName = Literal.__getitem__(tuple(names))  # the enum in the schema lists this server's scorers
    rewrite = create_model(
        "RewriteRequest", __config__=strict,
        texts=(Texts, Field(description=f"1 to {settings.max_texts} texts of at most {settings.max_chars} "
                                        "characters each")),
        score=(bool, Field(False, description="Also score each rewrite (toxicity, bias, meaning kept) when "
                                              "the rewrite did not come with scores")),
    )
    score = create_model(
        "ScoreRequest", __config__=strict,
        texts=(Texts, Field(description="Texts to score (e.g. rewrites)")),
        originals=(Texts | None, Field(None, description="Originals, one per text, for pairwise scorers")),
        scorers=(list[ScorerName] | None, Field(None, max_length=16,  # type: ignore[valid-type]
                                         description="Scorers to run (default: all enabled on this server)")),
    )
    content = Annotated[str, StringConstraints(max_length=settings.max_chars * 4)]
    message = create_model("ChatMessageIn", __config__=ConfigDict(extra="ignore", strict=True),
                           role=(Literal["system", "user", "assistant"], ...), content=(content, ...))
    chat = create_model(
        "ChatCompletionRequest", __config__=ConfigDict(extra="ignore", strict=True),
        model=(str | None, None),
        messages=(Annotated[list[message], Field(min_length=1, max_length=32)], ...),  # type: ignore[valid-type]
        max_tokens=(int | None, Field(None, ge=1, le=settings.max_chat_tokens)),
        temperature=(float, Field(0.0, ge=0, le=2)),
        stream=(bool, Field(False, description="Streaming is not supported: false only")),
    )
    return {"rewrite": rewrite, "score": score, "chat": chat}
