"""The OpenAI-compatible routes: /v1/models, /v1/models/{id}, /v1/chat/completions, /v1/completions.

The bodies are in `serve/openai/protocol.py`, what a request does in `serve/openai/serving.py`.
No `from __future__ import annotations`: FastAPI reads the per-server body models from the live annotations.
"""

import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from srllm.serve import schemas
from srllm.serve.admission import principal_dependency
from srllm.serve.engine import ServedEngine
from srllm.serve.openai import protocol
from srllm.serve.openai.serving import COMPLETIONS_DEFAULT_TOKENS, Job, chat_messages, check_model, respond
from srllm.serve.routers import v1_router
from srllm.serve.settings import ServeSettings
from srllm.serve.state import ServeState, engine_or_503, error_responses, get_state


def _streamed(what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                  "description": f"The {what}; with stream: true, server-sent events (data: chunk ... data: [DONE])"}}


def router(settings: ServeSettings) -> APIRouter:
    routes = v1_router()
    models = protocol.request_models(settings)
    ChatRequest, CompletionRequest = models["chat"], models["completion"]
    principal = principal_dependency(keyed=settings.auth_required())
    started = int(time.time())

    def card(engine: ServedEngine) -> schemas.ModelCard:
        return schemas.ModelCard(id=engine.model, created=started, backend=engine.backend, adapter=engine.adapter,
                                 method=engine.method, prompt_version=engine.prompt_version, dtype=engine.dtype)

    @routes.get("/v1/models", response_model=schemas.ModelList, responses=error_responses(401, 429, 503),
                tags=["models"])
    async def list_models(who: str = Depends(principal),
                          engine: ServedEngine = Depends(engine_or_503)) -> schemas.ModelList:
        """The model this server rewrites with (OpenAI-style list)."""
        return schemas.ModelList(data=[card(engine)])

    @routes.get("/v1/models/{model_id:path}", response_model=schemas.ModelCard, tags=["models"],
                responses=error_responses(401, 404, 429, 503))
    async def get_model(model_id: str, who: str = Depends(principal),
                        engine: ServedEngine = Depends(engine_or_503)) -> schemas.ModelCard:
        """One model by id; any other id is a 404."""
        check_model(engine, model_id)
        return card(engine)

    @routes.post("/v1/chat/completions", response_model=protocol.ChatCompletion, tags=["openai"],
                 responses={**_streamed("chat completion"), **error_responses(400, 401, 404, 413, 422, 429, 503, 504)})
    async def chat_completions(body: ChatRequest, request: Request, who: str = Depends(principal),
                               state: ServeState = Depends(get_state),
                               engine: ServedEngine = Depends(engine_or_503)) -> Any:
        """OpenAI-compatible chat completions on this server's model, streamed on request."""
        messages = chat_messages(body)
        max_tokens = body.max_completion_tokens or body.max_tokens or settings.max_new_tokens or 256
        job = Job.build("chat", engine, body, [messages], max_tokens)
        state.log_texts(request, [m["content"] for m in messages])
        return await respond(state, job, request, body.stream)

    @routes.post("/v1/completions", response_model=protocol.TextCompletion, tags=["openai"],
                 responses={**_streamed("text completion"), **error_responses(400, 401, 404, 413, 422, 429, 503, 504)})
    async def completions(body: CompletionRequest, request: Request, who: str = Depends(principal),
                          state: ServeState = Depends(get_state),
                          engine: ServedEngine = Depends(engine_or_503)) -> Any:
        """OpenAI-compatible text completions: the prompt (or each of a list) continued as it is."""
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        job = Job.build("text", engine, body, prompts, body.max_tokens or COMPLETIONS_DEFAULT_TOKENS)
        state.log_texts(request, prompts)
        return await respond(state, job, request, body.stream)

    return routes
