"""The OpenAI-compatible routes: /v1/models and /v1/chat/completions.

No `from __future__ import annotations`: FastAPI reads the per-server body model from the live annotation.
"""

import time
import uuid

from fastapi import APIRouter, Depends, Request

from srllm.serve import schemas
from srllm.serve.admission import principal_dependency
from srllm.serve.batching import DynamicBatcher
from srllm.serve.engine import ServedEngine
from srllm.serve.middleware import ApiError
from srllm.serve.routers import v1_router
from srllm.serve.settings import ServeSettings
from srllm.serve.state import ServeState, batcher_or_503, engine_or_503, error_responses, get_state


def router(settings: ServeSettings) -> APIRouter:
    routes = v1_router()
    ChatRequest = schemas.request_models(settings)["chat"]
    principal = principal_dependency(keyed=settings.auth_required())

    @routes.get("/v1/models", response_model=schemas.ModelList, responses=error_responses(401, 429, 503),
                tags=["models"])
    async def list_models(who: str = Depends(principal),
                          engine: ServedEngine = Depends(engine_or_503)) -> schemas.ModelList:
        """The model this server rewrites with (OpenAI-style list)."""
        return schemas.ModelList(data=[schemas.ModelCard(id=engine.model, backend=engine.backend,
                                                         adapter=engine.adapter, method=engine.method,
                                                         prompt_version=engine.prompt_version, dtype=engine.dtype)])

    @routes.post("/v1/chat/completions", response_model=schemas.ChatCompletion, tags=["openai"],
                 responses=error_responses(401, 413, 422, 429, 503, 504))
    async def chat_completions(body: ChatRequest, request: Request, who: str = Depends(principal),
                               state: ServeState = Depends(get_state), engine: ServedEngine = Depends(engine_or_503),
                               batcher: DynamicBatcher = Depends(batcher_or_503)) -> schemas.ChatCompletion:
        """OpenAI-compatible chat completions on this server's model (no streaming)."""
        if body.stream:
            raise ApiError(422, "unsupported", "streaming is not supported; send stream: false", field="stream")
        if engine.chat is None:
            raise ApiError(422, "unsupported", "this backend cannot serve chat completions", field="messages")
        messages = [{"role": m.role, "content": m.content} for m in body.messages]
        max_tokens = body.max_tokens or settings.max_new_tokens or 256
        state.log_texts(request, [m["content"] for m in messages])
        out = await state.within_timeout(batcher.call(engine.chat, messages, max_tokens=max_tokens,
                                                      temperature=body.temperature), request)
        return schemas.ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()), model=engine.model,
            choices=[schemas.ChatChoice(index=0, message=schemas.ChatMessage(role="assistant", content=out.content),
                                        finish_reason=out.finish_reason)],
            usage=schemas.ChatUsage(prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                                    total_tokens=out.prompt_tokens + out.completion_tokens))

    return routes
