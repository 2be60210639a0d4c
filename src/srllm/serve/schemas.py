"""Request and response bodies of srllm's own routes (the OpenAI ones: `serve/openai/protocol.py`).
Limits come from the settings, so the models are built per app
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
    # OpenAI's error shape, so its clients read our errors: `param` is `field`.
    type: str = Field(description="OpenAI's error type: invalid_request_error, authentication_error, "
                                  "rate_limit_error or server_error")
    param: str | None = Field(None, description="The same as field")


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
    created: int = Field(0, description="When this server started (Unix seconds)")
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
        stream=(bool, Field(False, description="Stream the rows as NDJSON, one line per text as it finishes "
                                               "(also with Accept: application/x-ndjson)")),
    )
    score = create_model(
        "ScoreRequest", __config__=strict,
        texts=(Texts, Field(description="Texts to score (e.g. rewrites)")),
        originals=(Texts | None, Field(None, description="Originals, one per text, for pairwise scorers")),
        scorers=(list[ScorerName] | None, Field(None, max_length=16,  # type: ignore[valid-type]
                                         description="Scorers to run (default: all enabled on this server)")),
    )
    return {"rewrite": rewrite, "score": score}
