"""What one app instance owns (`ServeState`) and how routes reach it: FastAPI dependencies.

Routes never close over the app: they ask for `get_state`, `engine_or_503` or `batcher_or_503`
(`Depends`), and the state is the one `create_app` hung on `app.state.srllm` (tests run several
apps in one process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Depends, Request

from srllm.serve import schemas
from srllm.serve.admission import Gate
from srllm.serve.batching import DynamicBatcher
from srllm.serve.engine import ServedEngine, as_engine
from srllm.serve.jobs import JobRunner, JobStore
from srllm.serve.keys import KeyStore
from srllm.serve.metrics import ServeMetrics
from srllm.serve.middleware import ApiError, request_id_of
from srllm.serve.ratelimit import RateLimiter
from srllm.serve.results import item_fields, text_fingerprint
from srllm.serve.settings import ServeSettings, default_jobs_db, default_keys_path

log = logging.getLogger("srllm.serve")
T = TypeVar("T")

_ERRORS = {
    400: "A parameter this server does not support (the error names it)",
    401: "Missing, wrong or revoked API key",
    404: "No such model",
    413: "Request body too large",
    422: "A field breaks a limit or is invalid (the error names it)",
    429: "Rate limit reached; see Retry-After",
    503: "The model is still loading",
    504: "The request took longer than the server's timeout",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route that can answer these error codes."""
    return {code: {"model": schemas.ErrorResponse, "description": _ERRORS[code]} for code in codes}


class ServeState:
    """Everything one app instance owns: settings, engine, batcher, keys, limits, scorers, jobs."""

    def __init__(self, settings: ServeSettings, engine: Any) -> None:
        from srllm.scorers import ScorerSet

        self.settings = settings
        self.metrics = ServeMetrics()
        self.engine: ServedEngine | None = as_engine(engine) if engine is not None else None
        self.load_error: str | None = None
        self.batcher: DynamicBatcher | None = None
        self.auth_required = settings.auth_required()
        self.keys = KeyStore(settings.keys_path or default_keys_path()) if self.auth_required else None
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.auth_failures = RateLimiter(settings.auth_failures_per_minute, settings.auth_failure_burst)
        self.gate = Gate(self.keys, self.limiter, self.auth_failures, self.metrics)
        self.scorers = ScorerSet(sorted(set(settings.scorers) | set(settings.rewrite_scorers)))
        self.scorer_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srllm-scorers")
        self.jobs = JobStore(settings.jobs_db or default_jobs_db())
        self.runner: JobRunner | None = None

    @property
    def ready(self) -> bool:
        return self.engine is not None and self.batcher is not None

    async def start(self, preload_scorers: bool) -> None:
        if self.engine is None:
            asyncio.get_running_loop().create_task(self._load_engine())
        else:
            await self._start_batching()
        if preload_scorers:
            asyncio.get_running_loop().run_in_executor(self.scorer_executor, self._preload_scorers)

    def _preload_scorers(self) -> None:
        try:
            self.scorers.load()
        except Exception:  # a scorer that cannot load fails its own requests later, with its message
            log.exception("preloading the scorers failed")

    async def _load_engine(self) -> None:
        from srllm.serve.engine import load_engine

        try:
            self.engine = as_engine(await asyncio.to_thread(load_engine, self.settings))
        except Exception as exc:
            self.load_error = "the model failed to load; see the server log"
            log.exception("loading the model failed: %s", exc)
            return
        await self._start_batching()

    async def _start_batching(self) -> None:
        s, engine = self.settings, self.engine
        assert engine is not None
        self.batcher = DynamicBatcher(engine, max_batch_size=s.max_batch_size, max_wait_ms=s.max_wait_ms,
                                      metrics=self.metrics)
        await self.batcher.start()
        self.runner = JobRunner(self.jobs, self._job_rewrite, chunk_rows=s.job_chunk_rows,
                                on_rows=self.metrics.jobs_rows.inc)
        self.runner.start()
        log.info("ready: model %s (%s backend), batches of up to %d texts, %g ms wait",
                 engine.model, engine.backend, s.max_batch_size, s.max_wait_ms)

    def _job_rewrite(self, texts: list[str]) -> list[dict[str, Any]]:
        assert self.batcher is not None
        results = self.batcher.rewrite_from_thread(texts)
        items = [item_fields(result, self.engine) for result in results]
        self.metrics.count_statuses([item["status"] for item in items])
        return items

    async def stop(self) -> None:
        if self.runner:
            self.runner.stop(timeout=2.0)
        if self.batcher:
            await self.batcher.stop()
        self.scorer_executor.shutdown(wait=False, cancel_futures=True)
        if self.engine is not None:
            self.engine.close()

    async def within_timeout(self, work: Awaitable[T], request: Request | None = None) -> T:
        """`work`'s result; past the server's timeout (504), or once `request`'s client has gone (499),
        `work` is cancelled, and with it its rows in the decode loop (see `batching`)."""
        task = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(client_gone(request)) if request is not None else None
        try:
            watched = {task} if gone is None else {task, gone}
            done, _ = await asyncio.wait(watched, timeout=self.settings.request_timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this handler itself is cancelled (shutdown)
            for pending in (task, gone):
                if pending is not None:
                    pending.cancel()
        if task in done:
            return task.result()
        if gone in done:
            raise ApiError(499, "client_closed", "the client closed the connection before the answer was ready")
        raise ApiError(504, "timeout", f"the request took longer than {self.settings.request_timeout_s:g} s; "
                                       "send fewer or shorter texts, or use /v1/jobs")

    async def run_scorers(self, texts: list[str], names: list[str], originals: list[str] | None) -> list[dict]:
        loop = asyncio.get_running_loop()
        return await self.within_timeout(loop.run_in_executor(
            self.scorer_executor, lambda: self.scorers.score(texts, names, originals)))

    async def run_judge(self, texts: list[str]) -> list[dict]:
        loop = asyncio.get_running_loop()
        return await self.within_timeout(loop.run_in_executor(
            self.scorer_executor, lambda: [r.to_dict() for r in self.scorers.judged(texts)]))

    def log_texts(self, request: Request, texts: list[str]) -> None:
        """The request's texts in the log only when the server was told to; otherwise fingerprints."""
        rid = request_id_of(request)
        if self.settings.log_texts:
            log.info("%s texts=%r", rid, texts)
        else:
            log.info("%s %d texts: %s", rid, len(texts), "; ".join(text_fingerprint(t) for t in texts[:8]))


async def client_gone(request: Request) -> None:
    """Returns once the client disconnects: with the body read, the server's next message is that."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


# -- dependencies -----------------------------------------------------------------------------------
def get_state(request: Request) -> ServeState:
    state = request.app.state.srllm
    assert isinstance(state, ServeState)
    return state


def engine_or_503(state: ServeState = Depends(get_state)) -> ServedEngine:
    """The loaded engine, or 503 with Retry-After while it loads (or names why it failed)."""
    if not state.ready or state.engine is None:
        message = state.load_error or "the model is still loading; retry when /readyz answers 200"
        raise ApiError(503, "not_ready", message, headers={"Retry-After": "5"})
    return state.engine


def batcher_or_503(state: ServeState = Depends(get_state), _: ServedEngine = Depends(engine_or_503)) -> DynamicBatcher:
    """The batcher every model call goes through (it exists once the engine is ready)."""
    assert state.batcher is not None
    return state.batcher
