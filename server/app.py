"""The HTTP API: FastAPI routes over the job manager. OpenAPI (and a try-it page) at ``/docs``.

Routes (all JSON; errors are ``{"error": {"code": "...", "message": "..."}}``):

=====================================  ==========================================================
``GET /v1/health``                     liveness, version, queue counts (no token needed)
``GET /v1/engines``                    engines and whether each can run here, and why not
``POST /v1/jobs``                      body: the request OTIO JSON → 202 ``{id, state, url, events}``
``GET /v1/jobs``                       recent jobs, newest first (``?limit=&state=``)
``GET /v1/jobs/{id}``                  the job record
``GET /v1/jobs/{id}/events``           server-sent events: the record at every change
``DELETE /v1/jobs/{id}``               cancel; answers the record once the job has stopped (≤ ~2 s)
``GET /v1/jobs/{id}/media/{n}``        download the n-th result media file (0-based)
``GET /v1/jobs/{id}/otio``             result.otio, media paths mapped to the editor's view
=====================================  ==========================================================

Status codes: 400 malformed/invalid request (``malformed_otio``, ``not_a_request``,
``bad_request``), 401 token missing, 403 token wrong / media outside the roots / ``..`` in a
media path / origin not allowed, 404 unknown job, 409 cancel of a finished job, 413 body too
large, 415 body not JSON, 422 a request that is well formed but cannot be done (no clip at
that frame, missing media, too many frames...), 429 queue full (with ``Retry-After``).

Server-sent events: each event is ``id: <version>`` and ``data: <job record JSON>`` (the same
object ``GET /v1/jobs/{id}`` returns), the default event type ``message``; the first event is
the current record, one follows every state/stage/progress change (progress at most every
0.1 s or 1 %), and the stream ends after the record with a terminal state (done, failed,
canceled). A comment line keeps idle streams alive every 15 s. An ``EventSource`` client should
close itself on a terminal state (browsers reconnect to a closed stream).

Safety: the token (``Authorization: Bearer <token>``) is checked on every route but
``/v1/health``, ``/docs`` and ``/openapi.json``. Without a token the server only answers requests
whose ``Host`` is a loopback name (or one in ``allowed_hosts``), which stops DNS-rebinding
pages. Browser requests carrying an ``Origin`` are refused unless that origin is in
``cors_origins`` (or is the server itself, for ``/docs``); the list is **empty by default**. A
CEP panel page is served from ``file://`` and sends ``Origin: null``; ``null`` is what any
sandboxed iframe on any web site sends too, so it is accepted only when configured
(``cors_origins = ["null"]``, ``--cors-origin null``); pair it with a token. A CEP panel that
uses Node's ``http`` module (``--enable-nodejs``) sends no Origin and needs no CORS at all.
POST bodies must be ``application/json`` (or ``*+json``), which keeps cross-site form posts out.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from otio_tools.errors import RequestError
from server.jobs import FolderLock, JobManager, JobRow, JobStore, QueueFull
from server.paths import MediaPolicy, PathMapper, is_within
from server.settings import ServerSettings

log = logging.getLogger("shotforge.server")

JOB_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}

#: HTTP status for each RequestError code; anything else that is wrong with a request is 422.
STATUS_FOR_CODE = {
    "malformed_otio": 400, "not_a_request": 400, "bad_request": 400, "request_missing": 400,
    "media_path_traversal": 403, "media_outside_roots": 403, "media_not_local": 403,
    "too_large": 422,
}


# ---------------------------------------------------------------------------------- models
class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable word, e.g. 'no_clip_at_frame'")
    message: str = Field(description="What is wrong, in an editor's words")


class ErrorResponse(BaseModel):
    error: ErrorInfo


class Placement(BaseModel):
    model_config = ConfigDict(extra="allow")
    media: str = Field(description="Absolute path of the media file, as the editor's machine names it")
    track: int = Field(description="0-based video track index (len(video tracks) = a new track above)")
    record_frame: int = Field(description="Timeline frame of the first placed frame (global start excluded)")
    source_in: int = Field(description="0-based index in the media file of the first frame to place")
    frames: int = Field(description="How many frames to place")


class JobResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    media: list[str] = Field(description="Media files made, as the editor's machine names them")
    placements: list[Placement]
    otio: str | None = Field(None, description="Path of result.otio (the request timeline with the new clips)")
    engine: str | None = None
    model: str | None = None
    placeholder: bool = Field(False, description="True when the media is a stand-in to re-render with a real model")
    media_urls: list[str] = Field(default_factory=list, description="Download URLs for `media`, same order")
    otio_url: str | None = Field(None, description="Download URL of result.otio with editor-side paths")


class Job(BaseModel):
    id: str
    state: Literal["queued", "running", "done", "failed", "canceled"]
    progress: float = Field(ge=0, le=1)
    stage: str = Field(description="What the job is doing now: queued, planning, decoding, rendering, …")
    error: ErrorInfo | None = None
    result: JobResult | None = None
    operation: str
    description: str
    source: str = Field(description="'http' or 'watch:<request file>'")
    created: str
    started: str | None = None
    finished: str | None = None
    url: str
    events_url: str


class JobCreated(BaseModel):
    id: str
    state: str = "queued"
    url: str
    events_url: str


class JobList(BaseModel):
    jobs: list[Job]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    workers: int
    queued: int
    running: int
    max_queue: int
    uptime_s: float
    auth: bool = Field(description="Whether a bearer token is required")


class EngineInfo(BaseModel):
    name: str
    usable: bool
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)


class EngineList(BaseModel):
    engines: list[EngineInfo]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _error_json(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds") if t else None


_REQUEST_EXAMPLE = {
    "OTIO_SCHEMA": "Timeline.1", "name": "request",
    "metadata": {"shotforge": {"version": 1, "operation": "extend", "track": 0, "frame": 10, "side": "tail",
                               "frames": 24}},
    "tracks": {"OTIO_SCHEMA": "Stack.1", "children": []},
}

_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404)}


# ---------------------------------------------------------------------------------- middleware
class SafetyMiddleware:
    """Host and Origin checks before anything else (DNS rebinding, cross-site requests)."""

    def __init__(self, app, settings: ServerSettings):
        self.app = app
        self.check_host = settings.token_value is None or settings.loopback
        self.hosts = {h.lower() for h in _LOOPBACK_NAMES | set(settings.allowed_hosts)}
        if settings.host not in ("0.0.0.0", "::", ""):
            self.hosts.add(settings.host.lower())
        self.origins = set(settings.cors_origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.lower()
        if self.check_host and name not in self.hosts:
            resp = _error_json(400, "host_not_allowed",
                               f"requests for host {host!r} are refused; add it to allowed_hosts or set a token")
            return await resp(scope, receive, send)
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins and "*" not in self.origins:
            same = origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower())
            if not same:
                resp = _error_json(403, "origin_not_allowed",
                                   f"requests from web origin {origin!r} are not allowed; add it to cors_origins in "
                                   "the server settings (a CEP panel page sends 'null')")
                return await resp(scope, receive, send)
        return await self.app(scope, receive, send)


# ---------------------------------------------------------------------------------- the app
class ServerState:
    def __init__(self, settings: ServerSettings, manager: JobManager, mapper: PathMapper):
        self.settings = settings
        self.manager = manager
        self.mapper = mapper
        self.engines_cache: tuple[float, list[EngineInfo]] | None = None
        self.watcher = None


def build_manager(settings: ServerSettings, renderer: Any = None) -> tuple[JobManager, PathMapper]:
    mapper = PathMapper.from_settings(settings)
    policy = MediaPolicy(settings.effective_media_roots(), mapper)
    store = JobStore(settings.database_dir / "jobs.sqlite")
    manager = JobManager(store, settings.output, locate_media=policy.locate, workers=settings.workers,
                         max_queue=settings.max_queue, max_frames=settings.max_frames,
                         output_format=settings.output_format, renderer=renderer)
    return manager, mapper


def create_app(settings: ServerSettings, *, renderer: Any = None, manager: JobManager | None = None) -> FastAPI:
    """The ASGI app. Its lifespan takes the data-folder lock, recovers and starts the workers
    (and the watch folder when ``settings.watch`` is set), and stops them on shutdown."""
    settings.output.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(settings.database_dir / "server.lock")
    lock.acquire()
    if manager is None:
        manager, mapper = build_manager(settings, renderer)
    else:
        mapper = PathMapper.from_settings(settings)
    state = ServerState(settings, manager, mapper)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        manager.start()
        if settings.watch:
            from server.watch import WatchFolder

            state.watcher = WatchFolder(settings.watch, manager)
            state.watcher.start()
        try:
            yield
        finally:
            if state.watcher:
                state.watcher.stop()
            await run_in_threadpool(manager.stop, 10.0)
            lock.release()

    app = FastAPI(
        title="ShotForge render server",
        version=_version(),
        description="Generative extend, gap fill, outpaint and B-roll for video editors. A job is a request "
                    "OTIO timeline with `metadata.shotforge`; see DESIGN.md for the contract.",
        lifespan=lifespan,
    )
    app.state.shotforge = state
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
                       expose_headers=["Retry-After", "Content-Disposition"], max_age=600)
    app.add_middleware(SafetyMiddleware, settings=settings)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error_json(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return _error_json(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return _error_json(422, "invalid_parameter", "; ".join(parts) or "invalid parameter")

    bearer = HTTPBearer(auto_error=False, description="The server's token, when one is configured")
    token = settings.token_value

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "token_required", "this server requires 'Authorization: Bearer <token>'",
                           {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise ApiError(403, "token_invalid", "the bearer token is not this server's token")

    def job_model(row: JobRow) -> Job:
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
                   started=_iso(row.started), finished=_iso(row.finished), url=f"/v1/jobs/{row.id}",
                   events_url=f"/v1/jobs/{row.id}/events")

    def get_row(job_id: str) -> JobRow:
        row = manager.get(job_id)
        if row is None:
            raise ApiError(404, "job_not_found", f"there is no job {job_id!r}")
        return row

    JobId = PathParam(pattern=JOB_ID, description="A job id as returned by POST /v1/jobs")

    @app.get("/v1/health", response_model=Health, tags=["server"])
    def health() -> Health:
        counts = manager.store.counts()
        return Health(version=app.version, workers=manager.workers, queued=counts["queued"],
                      running=counts["running"], max_queue=manager.max_queue,
                      uptime_s=round(time.time() - manager.started_at, 3), auth=token is not None)

    @app.get("/v1/engines", response_model=EngineList, tags=["server"], dependencies=[Depends(require_token)],
             responses=_ERRORS)
    def engines() -> EngineList:
        cached = state.engines_cache
        if cached and time.monotonic() - cached[0] < 30:
            return EngineList(engines=cached[1])
        from server.engines import engine_names, load_engine
        from server.engines.base import EngineUnavailable

        out = []
        for name in engine_names():
            try:
                avail = load_engine(name).availability()
                out.append(EngineInfo(name=name, usable=avail.usable, reason=avail.reason,
                                      details=_jsonable(avail.details)))
            except EngineUnavailable as exc:
                out.append(EngineInfo(name=name, usable=False, reason=exc.reason))
            except Exception as exc:  # an engine that cannot even say why is unusable, not a 500
                out.append(EngineInfo(name=name, usable=False, reason=f"{type(exc).__name__}: {exc}"))
        state.engines_cache = (time.monotonic(), out)
        return EngineList(engines=out)

    @app.post("/v1/jobs", status_code=202, response_model=JobCreated, tags=["jobs"],
              dependencies=[Depends(require_token)],
              responses={**_ERRORS, 413: {"model": ErrorResponse}, 415: {"model": ErrorResponse},
                         422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "description": "A request: an OpenTimelineIO timeline (OTIO JSON) whose "
                  "metadata carries `shotforge` (operation, track, frame, …)", "example": _REQUEST_EXAMPLE}}}}})
    async def submit(request: Request) -> JobCreated:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise ApiError(415, "unsupported_media_type",
                           f"send the request OTIO as 'Content-Type: application/json' (got {ctype or 'none'!r})")
        limit = settings.max_body_bytes
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
        body = b"".join(chunks)
        try:
            row = await run_in_threadpool(manager.submit, body, source="http")
        except RequestError as exc:
            raise ApiError(STATUS_FOR_CODE.get(exc.code, 422), exc.code, exc.message) from None
        except QueueFull as exc:
            raise ApiError(429, "queue_full", str(exc), {"Retry-After": "5"}) from None
        return JobCreated(id=row.id, state=row.state, url=f"/v1/jobs/{row.id}", events_url=f"/v1/jobs/{row.id}/events")

    @app.get("/v1/jobs", response_model=JobList, tags=["jobs"], dependencies=[Depends(require_token)],
             responses=_ERRORS)
    def list_jobs(limit: int = Query(50, ge=1, le=1000),
                  state_: list[Literal["queued", "running", "done", "failed", "canceled"]] = Query(
                      [], alias="state", description="Only jobs in these states")) -> JobList:
        return JobList(jobs=[job_model(r) for r in manager.list(limit=limit, states=tuple(state_))])

    @app.get("/v1/jobs/{job_id}", response_model=Job, tags=["jobs"], dependencies=[Depends(require_token)],
             responses=_ERRORS)
    def get_job(job_id: str = JobId) -> Job:
        return job_model(get_row(job_id))

    @app.delete("/v1/jobs/{job_id}", response_model=Job, tags=["jobs"], dependencies=[Depends(require_token)],
                responses={**_ERRORS, 409: {"model": ErrorResponse}})
    async def cancel_job(job_id: str = JobId) -> Job:
        row = await run_in_threadpool(get_row, job_id)
        if row.state in ("done", "failed"):
            raise ApiError(409, "job_finished", f"job {job_id} is already {row.state}; there is nothing to cancel")
        row = await run_in_threadpool(manager.cancel, job_id)
        deadline = time.monotonic() + 2.0
        while row is not None and not row.terminal and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            row = await run_in_threadpool(manager.get, job_id)
        return job_model(row)

    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"], dependencies=[Depends(require_token)],
             responses={**_ERRORS, 200: {"content": {"text/event-stream": {}},
                                         "description": "Server-sent events; data is the Job record"}})
    async def job_events(request: Request, job_id: str = JobId):
        await run_in_threadpool(get_row, job_id)
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
                        yield f"id: {row.version}\ndata: {job_model(row).model_dump_json()}\n\n"
                    if row.terminal:
                        return
                    try:
                        row = await asyncio.wait_for(queue.get(), timeout=15.0)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        row = await run_in_threadpool(manager.get, job_id)
            finally:
                manager.hub.unsubscribe(job_id, loop, queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def done_row(job_id: str) -> JobRow:
        row = get_row(job_id)
        if row.state != "done" or not row.result:
            raise ApiError(409, "job_not_done", f"job {job_id} is {row.state}; it has no result yet")
        return row

    def inside_output(row: JobRow, path: str) -> Path:
        p = Path(os.path.realpath(path))
        if not is_within(p, Path(os.path.realpath(row.out_dir))) or not p.is_file():
            raise ApiError(404, "media_gone", f"the result file of job {row.id} is no longer there")
        return p

    @app.get("/v1/jobs/{job_id}/media/{n}", tags=["jobs"], dependencies=[Depends(require_token)],
             response_class=FileResponse, responses={**_ERRORS, 409: {"model": ErrorResponse},
                                                     200: {"content": {"video/quicktime": {}, "video/mp4": {}}}})
    def job_media(job_id: str = JobId, n: int = PathParam(ge=0, description="0-based index into result.media")):
        row = done_row(job_id)
        media = row.result.get("media", [])
        if n >= len(media):
            raise ApiError(404, "media_not_found", f"job {job_id} made {len(media)} media file(s); there is no #{n}")
        path = inside_output(row, media[n])
        ctype = {".mov": "video/quicktime", ".mp4": "video/mp4"}.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=ctype, filename=path.name)

    @app.get("/v1/jobs/{job_id}/otio", tags=["jobs"], dependencies=[Depends(require_token)],
             responses={**_ERRORS, 409: {"model": ErrorResponse}, 200: {"content": {"application/json": {}}}})
    def job_otio(job_id: str = JobId):
        row = done_row(job_id)
        path = inside_output(row, row.result.get("otio") or "")
        text = path.read_text(encoding="utf-8")
        if mapper.rules:
            text = _map_otio_paths(text, mapper)
        return Response(text, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{row.id}.otio"'})

    return app


def _map_otio_paths(text: str, mapper: PathMapper) -> str:
    import opentimelineio as otio

    timeline = otio.adapters.read_from_string(text, "otio_json")
    for clip in timeline.find_clips():
        refs = clip.media_references() if hasattr(clip, "media_references") else {"": clip.media_reference}
        for ref in refs.values():
            if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
                ref.target_url = mapper.reference_to_editor(ref.target_url)
    return otio.adapters.write_to_string(timeline, "otio_json")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("shotforge")
    except Exception:
        return "0.1.0"

