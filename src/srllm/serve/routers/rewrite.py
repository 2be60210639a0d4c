"""POST /v1/rewrite: rewrite one or many texts through the batcher.

No `from __future__ import annotations` here: FastAPI reads the body model, built per server inside
`router`, from the live annotation.
"""

from typing import Any

from fastapi import APIRouter, Depends, Request

from srllm.serve import schemas
from srllm.serve.admission import principal_dependency
from srllm.serve.batching import DynamicBatcher
from srllm.serve.engine import ServedEngine
from srllm.serve.middleware import request_id_of
from srllm.serve.results import item_fields
from srllm.serve.routers import v1_router
from srllm.serve.settings import ServeSettings
from srllm.serve.state import ServeState, batcher_or_503, engine_or_503, error_responses, get_state


def router(settings: ServeSettings) -> APIRouter:
    routes = v1_router()
    RewriteRequest = schemas.request_models(settings)["rewrite"]
    principal = principal_dependency(keyed=settings.auth_required())

    @routes.post("/v1/rewrite", response_model=schemas.RewriteResponse,
                 responses=error_responses(401, 413, 422, 429, 503, 504), tags=["rewrite"])
    async def rewrite(body: RewriteRequest, request: Request, who: str = Depends(principal),
                      state: ServeState = Depends(get_state), engine: ServedEngine = Depends(engine_or_503),
                      batcher: DynamicBatcher = Depends(batcher_or_503)) -> schemas.RewriteResponse:
        """Rewrite one or many texts; per text: the rewrite, its status, scores and model details."""
        texts: list[str] = body.texts
        state.log_texts(request, texts)
        results = await state.within_timeout(batcher.rewrite(texts), request)
        items = [{"index": i, "text": text, **item_fields(result, engine)}
                 for i, (text, result) in enumerate(zip(texts, results, strict=True))]
        if body.score:
            await score_items(state, items)
        state.metrics.count_statuses([item["status"] for item in items])
        return schemas.RewriteResponse(request_id=request_id_of(request),
                                       results=[schemas.RewriteItem(**item) for item in items])

    return routes


async def score_items(state: ServeState, items: list[dict[str, Any]]) -> None:
    """Fill in scores for rewrites that came without any (no guard ran)."""
    todo = [item for item in items if not item["scores"] and item["rewrite"]]
    names = list(state.settings.rewrite_scorers)
    if not todo or not names:
        return
    details = await state.run_scorers([item["rewrite"] for item in todo], names, [item["text"] for item in todo])
    for item, row in zip(todo, details, strict=True):
        item["scores"] = {name: state.scorers.main_value(name, values) for name, values in row.items()}
