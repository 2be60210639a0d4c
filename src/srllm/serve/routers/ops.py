"""Operations and the page: /healthz, /readyz, /metrics, / and its static assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from srllm.serve import schemas
from srllm.serve.docs import content_security_policy
from srllm.serve.state import ServeState, get_state

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Content-Security-Policy for the page: everything comes from this server, no CDN.
_PAGE_CSP = content_security_policy()

router = APIRouter()


@router.get("/healthz", response_model=schemas.Health, tags=["ops"])
async def healthz() -> schemas.Health:
    """The process is alive (the model may still be loading)."""
    return schemas.Health(status="ok")


@router.get("/readyz", response_model=schemas.Health, tags=["ops"],
            responses={503: {"model": schemas.Health, "description": "The model is not loaded (yet)"}})
async def readyz(state: ServeState = Depends(get_state)) -> Any:
    """The model is loaded and requests are served."""
    if not state.ready or state.engine is None:
        return JSONResponse(schemas.Health(status="loading").model_dump(), status_code=503)
    return schemas.Health(status="ok", model=state.engine.model, backend=state.engine.backend)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: ServeState = Depends(get_state)) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-cache"})
