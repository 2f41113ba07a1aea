"""Jobs: submit, list, read, follow (server-sent events) and cancel."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from server.http.deps import JobId, Manager, Mapper, Settings, job_row, require_token
from server.http.errors import ApiError
from server.jobs import JobRow
from server.paths import PathMapper
from server.routes.idempotency import REPLAYED, IdempotencyKey, create_once
from server.schemas import (REQUEST_EXAMPLE, ErrorInfo, Job, JobCreated, JobList, JobResult, JobState,
                            error_responses)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)])

_KEEPALIVE_S = 15.0  # a comment line this often keeps idle event streams (and proxies) open
_CANCEL_WAIT_S = 2.0  # DELETE answers once the job has stopped, or after this long


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds") if t else None


def job_model(row: JobRow, mapper: PathMapper) -> Job:
    """The API's view of a job: result paths as the editor's machine names them, download URLs."""
    result = None
    if row.result:
        r = dict(row.result)
        media = [str(m) for m in r.get("media", [])]
        r["media"] = [mapper.to_editor(m) for m in media]
        r["placements"] = [{**p, "media": mapper.to_editor(str(p.get("media", "")))}
                           for p in r.get("placements", [])]
        if r.get("otio"):
            r["otio"] = mapper.to_editor(str(r["otio"]))
        r["media_urls"] = [f"/v1/jobs/{row.id}/media/{n}" for n in range(len(media))]
        r["otio_url"] = f"/v1/jobs/{row.id}/otio" if row.result.get("otio") else None
        result = JobResult.model_validate(r)
    return Job(id=row.id, state=row.state, progress=row.progress, stage=row.stage,
               error=ErrorInfo(**row.error) if row.error else None, result=result, operation=row.operation,
               description=row.description, source=row.source, created=_iso(row.created),
               started=_iso(row.started), finished=_iso(row.finished), retries=row.retries, url=f"/v1/jobs/{row.id}",
               events_url=f"/v1/jobs/{row.id}/events")


_REQUEST_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "A request: an OpenTimelineIO timeline (OTIO JSON) whose metadata carries "
    "`shotforge` (operation, track, frame, …)", "example": REQUEST_EXAMPLE}}}}}


async def _read_body(request: Request, limit: int) -> bytes:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type",
                       f"send the request OTIO as 'Content-Type: application/json' (got {ctype or 'none'!r})")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "request_too_large", f"the request body is {int(declared)} bytes; the most this "
                                                 f"server accepts is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request_too_large", f"the request body is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("", status_code=202, response_model=JobCreated, openapi_extra=_REQUEST_BODY,
             responses={**error_responses(409, 413, 415, 422, 429, 507), 200: {"model": JobCreated,
                                                                               "description": REPLAYED}})
async def submit(request: Request, response: Response, manager: Manager, settings: Settings,
                 idempotency_key: IdempotencyKey) -> JobCreated:
    body = await _read_body(request, settings.max_body_bytes)
    row = await create_once(lambda: manager.submit_once(body, idempotency_key, source="http"), response)
    return JobCreated(id=row.id, state=row.state, url=f"/v1/jobs/{row.id}", events_url=f"/v1/jobs/{row.id}/events")


@router.get("", response_model=JobList, responses=error_responses())
def list_jobs(manager: Manager, mapper: Mapper, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
              state: Annotated[list[JobState], Query(description="Only jobs in these states")] = []) -> JobList:
    return JobList(jobs=[job_model(r, mapper) for r in manager.list(limit=limit, states=tuple(state))])


@router.get("/{job_id}", response_model=Job, responses=error_responses())
def get_job(row: Annotated[JobRow, Depends(job_row)], mapper: Mapper) -> Job:
    return job_model(row, mapper)


@router.delete("/{job_id}", response_model=Job, responses=error_responses(409))
async def cancel_job(job_id: JobId, manager: Manager, mapper: Mapper) -> Job:
    row = await run_in_threadpool(job_row, job_id, manager)
    if row.state in ("done", "failed"):
        raise ApiError(409, "job_finished", f"job {job_id} is already {row.state}; there is nothing to cancel")
    row = await run_in_threadpool(manager.cancel, job_id)
    deadline = time.monotonic() + _CANCEL_WAIT_S
    while row is not None and not row.terminal and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        row = await run_in_threadpool(manager.get, job_id)
    return job_model(row, mapper)


@router.get("/{job_id}/events", responses={**error_responses(), 200: {
    "content": {"text/event-stream": {}}, "description": "Server-sent events; data is the Job record"}})
async def job_events(request: Request, job_id: JobId, manager: Manager, mapper: Mapper):
    await run_in_threadpool(job_row, job_id, manager)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    manager.hub.subscribe(job_id, loop, queue)

    async def stream():
        try:
            row = await run_in_threadpool(manager.get, job_id)
            last = 0
            yield "retry: 3000\n\n"
            while row is not None:
                if row.version > last:
                    last = row.version
                    yield f"id: {row.version}\ndata: {job_model(row, mapper).model_dump_json()}\n\n"
                if row.terminal:
                    return
                try:
                    row = await asyncio.wait_for(queue.get(), timeout=_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    row = await run_in_threadpool(manager.get, job_id)
        finally:
            manager.hub.unsubscribe(job_id, loop, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
