"""The HTTP service: `create_app(settings, engine=None)` assembles it.

Routes live in `serve/routers/` (one `APIRouter` per area) and reach the app's `ServeState`
through FastAPI dependencies (`serve/state.py`); batching, auth, limits and errors live in their
own modules. Here: the state, the lifespan, the middleware, the error handlers and the routers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from srllm.serve.docs import install_docs
from srllm.serve.middleware import RequestContext, install_error_handlers
from srllm.serve.routers import jobs, openai, ops, rewrite, score
from srllm.serve.settings import ServeSettings
from srllm.serve.state import ServeState


def create_app(settings: ServeSettings | None = None, engine: Any = None, *,
               preload_scorers: bool = False) -> FastAPI:
    """The service. Pass `engine` (a Rewriter, a guard, or a backend engine) to skip loading one."""
    settings = settings or ServeSettings()
    settings.check()
    state = ServeState(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start(preload_scorers)
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="srllm",
        version=_version(),
        summary="Rewrite biased or toxic text into a safe version that keeps its facts (SR-LLM).",
        lifespan=lifespan,
        docs_url=None,  # install_docs serves both pages on local assets
        redoc_url=None,
    )
    install_docs(app, "srllm")
    app.state.srllm = state
    install_error_handlers(app)
    _add_middleware(app, state)
    for area in (rewrite, score, openai, jobs):
        app.include_router(area.router(settings))
    app.include_router(ops.router)
    app.mount("/static", StaticFiles(directory=ops.STATIC_DIR), name="static")
    return app


def _add_middleware(app: FastAPI, state: ServeState) -> None:
    settings = state.settings
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], expose_headers=["X-Request-ID"])

    def body_limit(scope: dict) -> int:
        if scope.get("path") == "/v1/jobs" and scope.get("method") == "POST":
            return settings.max_upload_bytes
        return settings.max_body_bytes

    app.add_middleware(RequestContext, metrics=state.metrics, body_limit=body_limit)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("srllm")
    except PackageNotFoundError:
        return "0"
