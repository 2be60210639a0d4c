"""The HTTP service: `create_app(settings, engine=None)`.

Routes call only the library (an engine's `rewrite`, the scorers, the job store); batching,
auth, limits and errors live in their own modules.
"""


import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from srllm.serve import schemas
from srllm.serve.admission import AdmittedRoute, Gate, principal_dependency
from srllm.serve.batching import DynamicBatcher
from srllm.serve.docs import content_security_policy, install_docs
from srllm.serve.jobs import JobInfo, JobRunner, JobStore, to_csv, to_jsonl
from srllm.serve.keys import KeyStore
from srllm.serve.metrics import ServeMetrics
from srllm.serve.middleware import ApiError, RequestContext, install_error_handlers, request_id_of
from srllm.serve.ratelimit import RateLimiter
from srllm.serve.results import item_fields, text_fingerprint
from srllm.serve.settings import ServeSettings, default_jobs_db, default_keys_path

log = logging.getLogger("srllm.serve")
STATIC_DIR = Path(__file__).resolve().parent / "static"
T = TypeVar("T")

_ERRORS = {
    401: "Missing, wrong or revoked API key",
    413: "Request body too large",
    422: "A field breaks a limit or is invalid (the error names it)",
    429: "Rate limit reached; see Retry-After",
    503: "The model is still loading",
    504: "The request took longer than the server's timeout",
}
# Content-Security-Policy for the page: everything comes from this server, no CDN.
_PAGE_CSP = content_security_policy()


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": schemas.ErrorResponse, "description": _ERRORS[code]} for code in codes}


class ServeState:
    """Everything one app instance owns (tests run several apps in one process)."""

    def __init__(self, settings: ServeSettings, engine: Any) -> None:
        from srllm.scorers import ScorerSet

        self.settings = settings
        self.metrics = ServeMetrics()
        self.engine = _as_engine(engine) if engine is not None else None
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
            self.engine = _as_engine(await asyncio.to_thread(load_engine, self.settings))
        except Exception as exc:
            self.load_error = "the model failed to load; see the server log"
            log.exception("loading the model failed: %s", exc)
            return
        await self._start_batching()

    async def _start_batching(self) -> None:
        s = self.settings
        self.batcher = DynamicBatcher(self.engine, max_batch_size=s.max_batch_size, max_wait_ms=s.max_wait_ms,
                                      metrics=self.metrics)
        await self.batcher.start()
        self.runner = JobRunner(self.jobs, self._job_rewrite, chunk_rows=s.job_chunk_rows,
                                on_rows=self.metrics.jobs_rows.inc)
        self.runner.start()
        log.info("ready: model %s (%s backend), batches of up to %d texts, %g ms wait",
                 self.engine.model, self.engine.backend, s.max_batch_size, s.max_wait_ms)

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
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()

    async def within_timeout(self, work: Awaitable[T], request: Request | None = None) -> T:
        """`work`'s result; past the server's timeout (504), or once `request`'s client has gone (499),
        `work` is cancelled, and with it its rows in the decode loop (see `batching`)."""
        task = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(_client_gone(request)) if request is not None else None
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


def _as_engine(engine: Any) -> Any:
    from srllm.serve.engine import as_engine

    return as_engine(engine)


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
    models = schemas.request_models(settings)
    RewriteRequest, ScoreRequest, ChatRequest = models["rewrite"], models["score"], models["chat"]
    # /v1 routes admit a request (key, limits) before its body is read: see `admission`.
    v1 = APIRouter(route_class=AdmittedRoute)
    principal = principal_dependency(keyed=state.auth_required)

    def engine_or_503() -> Any:
        if not state.ready:
            message = state.load_error or "the model is still loading; retry when /readyz answers 200"
            raise ApiError(503, "not_ready", message, headers={"Retry-After": "5"})
        return state.engine

    v1_errors = _errors(401, 413, 422, 429, 503, 504)

    @v1.post("/v1/rewrite", response_model=schemas.RewriteResponse, responses=v1_errors, tags=["rewrite"])
    async def rewrite(body: RewriteRequest, request: Request,  # type: ignore[valid-type]
                      who: str = Depends(principal)) -> schemas.RewriteResponse:
        """Rewrite one or many texts; per text: the rewrite, its status, scores and model details."""
        engine = engine_or_503()
        texts: list[str] = body.texts  # type: ignore[attr-defined]
        _log_texts(request, texts, settings.log_texts)
        assert state.batcher is not None
        results = await state.within_timeout(state.batcher.rewrite(texts), request)
        items = [{"index": i, "text": text, **item_fields(result, engine)}
                 for i, (text, result) in enumerate(zip(texts, results, strict=True))]
        if body.score:  # type: ignore[attr-defined]
            await _score_items(state, items)
        state.metrics.count_statuses([item["status"] for item in items])
        return schemas.RewriteResponse(request_id=request_id_of(request),
                                       results=[schemas.RewriteItem(**item) for item in items])

    @v1.post("/v1/score", response_model=schemas.ScoreResponse, responses=_errors(401, 413, 422, 429, 504),
              tags=["score"])
    async def score(body: ScoreRequest, request: Request,  # type: ignore[valid-type]
                    who: str = Depends(principal)) -> schemas.ScoreResponse:
        """Score texts with the local scorers (pairwise ones compare each text with its original)."""
        texts: list[str] = body.texts  # type: ignore[attr-defined]
        originals: list[str] | None = body.originals  # type: ignore[attr-defined]
        if originals is not None and len(originals) != len(texts):
            raise ApiError(422, "invalid_request", f"originals has {len(originals)} items but texts has "
                                                   f"{len(texts)}; send one original per text", field="originals")
        requested = body.scorers  # type: ignore[attr-defined]
        names = list(dict.fromkeys(requested if requested is not None else settings.scorers))
        # Pairwise scorers compare a text with its original: without originals they are skipped, and said so.
        skipped = {name: "needs originals (one per text)" for name in names
                   if state.scorers.is_pairwise(name) and originals is None}
        names = [name for name in names if name not in skipped]
        _log_texts(request, texts, settings.log_texts)
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

    @v1.get("/v1/models", response_model=schemas.ModelList, responses=_errors(401, 429, 503), tags=["models"])
    async def list_models(who: str = Depends(principal)) -> schemas.ModelList:
        """The model this server rewrites with (OpenAI-style list)."""
        engine = engine_or_503()
        return schemas.ModelList(data=[schemas.ModelCard(id=engine.model, backend=engine.backend,
                                                         adapter=engine.adapter, method=engine.method,
                                                         prompt_version=engine.prompt_version,
                                                         dtype=getattr(engine, "dtype", None))])

    @v1.post("/v1/chat/completions", response_model=schemas.ChatCompletion, tags=["openai"],
              responses=_errors(401, 413, 422, 429, 503, 504))
    async def chat_completions(body: ChatRequest, request: Request,  # type: ignore[valid-type]
                               who: str = Depends(principal)) -> schemas.ChatCompletion:
        """OpenAI-compatible chat completions on this server's model (no streaming)."""
        engine = engine_or_503()
        chat = getattr(engine, "chat", None)
        if body.stream:  # type: ignore[attr-defined]
            raise ApiError(422, "unsupported", "streaming is not supported; send stream: false", field="stream")
        if chat is None:
            raise ApiError(422, "unsupported", "this backend cannot serve chat completions", field="messages")
        messages = [{"role": m.role, "content": m.content} for m in body.messages]  # type: ignore[attr-defined]
        max_tokens = body.max_tokens or settings.max_new_tokens or 256  # type: ignore[attr-defined]
        _log_texts(request, [m["content"] for m in messages], settings.log_texts)
        assert state.batcher is not None
        out = await state.within_timeout(state.batcher.call(
            chat, messages, max_tokens=max_tokens, temperature=body.temperature),  # type: ignore[attr-defined]
            request)
        return schemas.ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()), model=engine.model,
            choices=[schemas.ChatChoice(index=0, message=schemas.ChatMessage(role="assistant", content=out.content),
                                        finish_reason=out.finish_reason)],
            usage=schemas.ChatUsage(prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                                    total_tokens=out.prompt_tokens + out.completion_tokens))

    @v1.post("/v1/jobs", status_code=202, response_model=schemas.JobStatus, tags=["jobs"],
              responses=_errors(401, 413, 422, 429))
    async def create_job(
        file: UploadFile = File(..., description="JSONL, CSV or TXT; one text per row"),
        text_field: str = Form("text", max_length=200, description="Field/column holding the text"),
        id_field: str | None = Form(None, max_length=200, description="Field/column holding the row id"),
        format: Literal["jsonl", "csv", "txt"] | None = Form(None, description="When the file name has no "
                                                                                "usual extension"),
        who: str = Depends(principal),
    ) -> schemas.JobStatus:
        """Upload a file to rewrite in the background; poll the job, then download its results."""
        data = await file.read()
        info = await run_in_threadpool(state.jobs.create, who, file.filename or "upload", data, fmt=format,
                                       text_field=text_field, id_field=id_field or None,
                                       max_rows=settings.max_job_rows)
        if state.runner:
            state.runner.wake()
        log.info("%s job %s: %d rows", "job", info.id, info.rows_total)
        return _job_status(info)

    @v1.get("/v1/jobs", response_model=schemas.JobList, responses=_errors(401, 429), tags=["jobs"])
    async def list_jobs(who: str = Depends(principal)) -> schemas.JobList:
        """Your most recent jobs."""
        infos = await run_in_threadpool(state.jobs.list, who)
        return schemas.JobList(jobs=[_job_status(info) for info in infos])

    @v1.get("/v1/jobs/{job_id}", response_model=schemas.JobStatus, tags=["jobs"],
             responses={**_errors(401, 429), 404: {"model": schemas.ErrorResponse, "description": "No such job"}})
    async def get_job(job_id: str, who: str = Depends(principal)) -> schemas.JobStatus:
        """A job's status and progress."""
        return _job_status(await _own_job(state, job_id, who))

    @v1.get("/v1/jobs/{job_id}/results", tags=["jobs"], response_class=Response,
             responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                          "text/csv": {"schema": {"type": "string"}}},
                              "description": "The rewritten rows, in input order"},
                        **_errors(401, 429),
                        404: {"model": schemas.ErrorResponse, "description": "No such job"},
                        409: {"model": schemas.ErrorResponse, "description": "The job is not done yet"}})
    async def job_results(job_id: str, who: str = Depends(principal),
                          format: Literal["jsonl", "csv"] = Query("jsonl"),
                          csv_escape: bool = Query(True, description="CSV: quote cells a spreadsheet would run "
                                                                     "as formulas (=, +, -, @); false for "
                                                                     "programs")) -> Response:
        """Download a finished job's rows with their rewrites."""
        info = await _own_job(state, job_id, who)
        if info.status != "done":
            raise ApiError(409, "not_done", f"job {job_id} is {info.status} ({info.rows_done}/{info.rows_total} "
                                            "rows); download it when its status is done")
        rows = state.jobs.results(job_id)
        body = await run_in_threadpool(lambda: to_csv(rows, csv_escape) if format == "csv" else to_jsonl(rows))
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        return Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="srllm-{job_id}.{format}"'})

    app.include_router(v1)

    @app.get("/healthz", response_model=schemas.Health, tags=["ops"])
    async def healthz() -> schemas.Health:
        """The process is alive (the model may still be loading)."""
        return schemas.Health(status="ok")

    @app.get("/readyz", response_model=schemas.Health, tags=["ops"],
             responses={503: {"model": schemas.Health, "description": "The model is not loaded (yet)"}})
    async def readyz() -> Any:
        """The model is loaded and requests are served."""
        if not state.ready:
            return JSONResponse(schemas.Health(status="loading").model_dump(), status_code=503)
        return schemas.Health(status="ok", model=state.engine.model, backend=state.engine.backend)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                            headers={"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
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


async def _client_gone(request: Request) -> None:
    """Returns once the client disconnects: with the body read, the server's next message is that."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _log_texts(request: Request, texts: list[str], log_texts: bool) -> None:
    rid = request_id_of(request)
    if log_texts:
        log.info("%s texts=%r", rid, texts)
    else:
        log.info("%s %d texts: %s", rid, len(texts), "; ".join(text_fingerprint(t) for t in texts[:8]))


async def _score_items(state: ServeState, items: list[dict[str, Any]]) -> None:
    """Fill in scores for rewrites that came without any (no guard ran)."""
    todo = [item for item in items if not item["scores"] and item["rewrite"]]
    names = list(state.settings.rewrite_scorers)
    if not todo or not names:
        return
    details = await state.run_scorers([item["rewrite"] for item in todo], names, [item["text"] for item in todo])
    for item, row in zip(todo, details, strict=True):
        item["scores"] = {name: state.scorers.main_value(name, values) for name, values in row.items()}


async def _own_job(state: ServeState, job_id: str, who: str) -> JobInfo:
    info = await run_in_threadpool(state.jobs.get, job_id, who)
    if info is None:
        raise ApiError(404, "not_found", f"no job {job_id!r} for this key", field="job_id")
    return info


def _job_status(info: JobInfo) -> schemas.JobStatus:
    return schemas.JobStatus(
        id=info.id, status=info.status, filename=info.filename, rows_total=info.rows_total,  # type: ignore[arg-type]
        rows_done=info.rows_done, progress=round(info.progress, 4), created=info.created, updated=info.updated,
        error=info.error, results_url=f"/v1/jobs/{info.id}/results" if info.status == "done" else None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("srllm")
    except PackageNotFoundError:
        return "0"
