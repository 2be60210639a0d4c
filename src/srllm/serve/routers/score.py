"""POST /v1/score: the local scorers on texts (pairwise ones against their originals).

No `from __future__ import annotations`: FastAPI reads the per-server body model from the live annotation.
"""

from fastapi import APIRouter, Depends, Request

from srllm.serve import schemas
from srllm.serve.admission import principal_dependency
from srllm.serve.middleware import ApiError, request_id_of
from srllm.serve.routers import v1_router
from srllm.serve.settings import ServeSettings
from srllm.serve.state import ServeState, error_responses, get_state


def router(settings: ServeSettings) -> APIRouter:
    routes = v1_router()
    ScoreRequest = schemas.request_models(settings)["score"]
    principal = principal_dependency(keyed=settings.auth_required())

    @routes.post("/v1/score", response_model=schemas.ScoreResponse, responses=error_responses(401, 413, 422, 429, 504),
                 tags=["score"])
    async def score(body: ScoreRequest, request: Request, who: str = Depends(principal),
                    state: ServeState = Depends(get_state)) -> schemas.ScoreResponse:
        """Score texts with the local scorers (pairwise ones compare each text with its original)."""
        texts: list[str] = body.texts
        originals: list[str] | None = body.originals
        if originals is not None and len(originals) != len(texts):
            raise ApiError(422, "invalid_request", f"originals has {len(originals)} items but texts has "
                                                   f"{len(texts)}; send one original per text", field="originals")
        requested = body.scorers
        names = list(dict.fromkeys(requested if requested is not None else state.settings.scorers))
        # Pairwise scorers compare a text with its original: without originals they are skipped, and said so.
        skipped = {name: "needs originals (one per text)" for name in names
                   if state.scorers.is_pairwise(name) and originals is None}
        names = [name for name in names if name not in skipped]
        state.log_texts(request, texts)
        details = await state.run_scorers(texts, [n for n in names if n != "judge"], originals)
        judged = await state.run_judge(texts) if "judge" in names else [None] * len(texts)
        for row, verdict in zip(details, judged, strict=True):
            if verdict is not None:  # one pass of the judge gives both its numbers and its spans
                row["judge"] = {k: float(verdict[k] or 0.0) for k in ("toxic", "stereotype", "harm")}
        results = [schemas.ScoreItem(index=i, details=row,
                                     scores={name: state.scorers.main_value(name, values)
                                             for name, values in row.items()},
                                     spans=verdict["spans"] if verdict else None,
                                     status=verdict["status"] if verdict else None)
                   for i, (row, verdict) in enumerate(zip(details, judged, strict=True))]
        return schemas.ScoreResponse(request_id=request_id_of(request), scorers=names, skipped=skipped,
                                     results=results)

    return routes
