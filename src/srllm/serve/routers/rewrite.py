"""POST /v1/rewrite: rewrite one or many texts through the batcher.

No `from __future__ import annotations` here: FastAPI reads the body model, built per server inside
`router`, from the live annotation.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from srllm.errors import InputError
from srllm.serve import schemas
from srllm.serve.admission import principal_dependency
from srllm.serve.batching import DynamicBatcher
from srllm.serve.engine import ServedEngine
from srllm.serve.middleware import error_body, request_id_of
from srllm.serve.results import item_fields
from srllm.serve.routers import v1_router
from srllm.serve.settings import ServeSettings
from srllm.serve.state import ServeState, batcher_or_503, engine_or_503, error_responses, get_state

NDJSON = "application/x-ndjson"


def router(settings: ServeSettings) -> APIRouter:
    routes = v1_router()
    RewriteRequest = schemas.request_models(settings)["rewrite"]
    principal = principal_dependency(keyed=settings.auth_required())

    @routes.post("/v1/rewrite", response_model=schemas.RewriteResponse, tags=["rewrite"],
                 responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}},
                                  "description": "The rewrites; streamed (stream: true or Accept: "
                                                 f"{NDJSON}): one JSON row per line as each finishes"},
                            **error_responses(401, 413, 422, 429, 503, 504)})
    async def rewrite(body: RewriteRequest, request: Request, who: str = Depends(principal),
                      state: ServeState = Depends(get_state), engine: ServedEngine = Depends(engine_or_503),
                      batcher: DynamicBatcher = Depends(batcher_or_503)) -> Any:
        """Rewrite one or many texts; per text: the rewrite, its status, scores and model details."""
        texts: list[str] = body.texts
        state.log_texts(request, texts)
        if body.stream or NDJSON in request.headers.get("accept", ""):
            return StreamingResponse(_rows(state, engine, batcher, texts, body.score, request),
                                     media_type=NDJSON, headers={"Cache-Control": "no-cache"})
        results = await state.within_timeout(batcher.rewrite(texts), request)
        items = [{"index": i, "text": text, **item_fields(result, engine)}
                 for i, (text, result) in enumerate(zip(texts, results, strict=True))]
        if body.score:
            await score_items(state, items)
        state.metrics.count_statuses([item["status"] for item in items])
        return schemas.RewriteResponse(request_id=request_id_of(request),
                                       results=[schemas.RewriteItem(**item) for item in items])

    return routes


async def _rows(state: ServeState, engine: ServedEngine, batcher: DynamicBatcher, texts: list[str], score: bool,
                request: Request) -> AsyncIterator[str]:
    """One line per text as its rewrite finishes (each text is its own batcher call, so rows that
    finish early are not held back by the slowest of the request). Past the server's timeout, a last
    line carries the error; a client that goes away (Starlette cancels this stream) cancels the rest,
    and with them their rows in the decode loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.settings.request_timeout_s
    calls = {asyncio.ensure_future(batcher.rewrite([text])): index for index, text in enumerate(texts)}
    pending = set(calls)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                yield _line(error_body("timeout", f"the request took longer than {state.settings.request_timeout_s:g}"
                                                  " s; the rows above are done; send the rest again or use /v1/jobs",
                                       request_id_of(request), status=504))
                return
            for call in sorted(done, key=calls.__getitem__):
                index = calls[call]
                try:
                    [result] = call.result()
                except InputError as exc:
                    yield _line({"index": index, **error_body("invalid_input", str(exc), request_id_of(request),
                                                              exc.field, status=422)})
                    continue
                item = {"index": index, "text": texts[index], **item_fields(result, engine)}
                if score:
                    await score_items(state, [item])
                state.metrics.count_statuses([item["status"]])
                yield _line(schemas.RewriteItem(**item).model_dump())
    finally:
        for call in pending:
            call.cancel()


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


async def score_items(state: ServeState, items: list[dict[str, Any]]) -> None:
    """Fill in scores for rewrites that came without any (no guard ran)."""
    todo = [item for item in items if not item["scores"] and item["rewrite"]]
    names = list(state.settings.rewrite_scorers)
    if not todo or not names:
        return
    details = await state.run_scorers([item["rewrite"] for item in todo], names, [item["text"] for item in todo])
    for item, row in zip(todo, details, strict=True):
        item["scores"] = {name: state.scorers.main_value(name, values) for name, values in row.items()}
