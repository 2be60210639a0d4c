"""/v1/jobs: upload a file to rewrite in the background, poll it, download its results."""

from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from srllm.serve import schemas
from srllm.serve.admission import principal_dependency
from srllm.serve.jobs import JobInfo, results_body
from srllm.serve.middleware import ApiError
from srllm.serve.routers import v1_router
from srllm.serve.settings import ServeSettings
from srllm.serve.state import ServeState, error_responses, get_state, log

_NO_JOB = {404: {"model": schemas.ErrorResponse, "description": "No such job"}}


def router(settings: ServeSettings) -> APIRouter:
    routes = v1_router()
    principal = principal_dependency(keyed=settings.auth_required())

    @routes.post("/v1/jobs", status_code=202, response_model=schemas.JobStatus, tags=["jobs"],
                 responses=error_responses(401, 413, 422, 429))
    async def create_job(
        file: UploadFile = File(..., description="JSONL, JSON, CSV, TSV, TXT or Parquet; one text per row"),
        text_field: str = Form("text", max_length=200, description="Field/column holding the text"),
        id_field: str | None = Form(None, max_length=200, description="Field/column holding the row id"),
        format: Literal["jsonl", "json", "csv", "tsv", "txt", "parquet"] | None = Form(
            None, description="When the file name has no usual extension"),
        who: str = Depends(principal),
        state: ServeState = Depends(get_state),
    ) -> schemas.JobStatus:
        """Upload a file to rewrite in the background; poll the job, then download its results."""
        data = await file.read()
        info = await run_in_threadpool(state.jobs.create, who, file.filename or "upload", data, fmt=format,
                                       text_field=text_field, id_field=id_field or None,
                                       max_rows=state.settings.max_job_rows)
        if state.runner:
            state.runner.wake()
        log.info("%s job %s: %d rows", "job", info.id, info.rows_total)
        return job_status(info)

    @routes.get("/v1/jobs", response_model=schemas.JobList, responses=error_responses(401, 429), tags=["jobs"])
    async def list_jobs(who: str = Depends(principal), state: ServeState = Depends(get_state)) -> schemas.JobList:
        """Your most recent jobs."""
        infos = await run_in_threadpool(state.jobs.list, who)
        return schemas.JobList(jobs=[job_status(info) for info in infos])

    @routes.get("/v1/jobs/{job_id}", response_model=schemas.JobStatus, tags=["jobs"],
                responses={**error_responses(401, 429), **_NO_JOB})
    async def get_job(job_id: str, who: str = Depends(principal),
                      state: ServeState = Depends(get_state)) -> schemas.JobStatus:
        """A job's status and progress."""
        return job_status(await own_job(state, job_id, who))

    @routes.get("/v1/jobs/{job_id}/results", tags=["jobs"], response_class=Response,
                responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                             "text/csv": {"schema": {"type": "string"}},
                                             "application/vnd.apache.parquet": {"schema": {"type": "string",
                                                                                           "format": "binary"}}},
                                 "description": "The rewritten rows, in input order"},
                           **error_responses(401, 429), **_NO_JOB,
                           409: {"model": schemas.ErrorResponse, "description": "The job is not done yet"}})
    async def job_results(job_id: str, who: str = Depends(principal), state: ServeState = Depends(get_state),
                          format: Literal["jsonl", "csv", "parquet"] = Query("jsonl"),
                          csv_escape: bool = Query(True, description="CSV: quote cells a spreadsheet would run "
                                                                     "as formulas (=, +, -, @); false for "
                                                                     "programs")) -> Response:
        """Download a finished job's rows with their rewrites."""
        info = await own_job(state, job_id, who)
        if info.status != "done":
            raise ApiError(409, "not_done", f"job {job_id} is {info.status} ({info.rows_done}/{info.rows_total} "
                                            "rows); download it when its status is done")
        rows = state.jobs.results(job_id)
        body, media = await run_in_threadpool(results_body, rows, format, csv_escape)
        return Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="srllm-{job_id}.{format}"'})

    return routes


async def own_job(state: ServeState, job_id: str, who: str) -> JobInfo:
    info = await run_in_threadpool(state.jobs.get, job_id, who)
    if info is None:
        raise ApiError(404, "not_found", f"no job {job_id!r} for this key", field="job_id")
    return info


def job_status(info: JobInfo) -> schemas.JobStatus:
    return schemas.JobStatus.model_validate(dict(
        id=info.id, status=info.status, filename=info.filename, rows_total=info.rows_total,
        rows_done=info.rows_done, progress=round(info.progress, 4), created=info.created, updated=info.updated,
        error=info.error, results_url=f"/v1/jobs/{info.id}/results" if info.status == "done" else None))
