"""The HTTP API: FastAPI routes over the job manager. OpenAPI (and a try-it page) at ``/docs``.

Routes (all JSON; every error, an unexpected one included, is ``{"error": {"code": "...",
"message": "..."}}``; an unexpected one has code ``internal`` and its traceback in the log). The
routes live in :mod:`server.routes` (one router per area), their bodies in :mod:`server.schemas`,
the error shape, safety checks and dependencies in :mod:`server.http`:

=====================================  ==========================================================
``GET /v1/health``                     liveness, version, queue counts, backend and farm nodes (no token needed)
``GET /v1/engines``                    engines and whether each can run here, and why not
``POST /v1/jobs``                      body: the request OTIO JSON → 202 ``{id, state, url, events}``;
                                       with ``Idempotency-Key: K`` a retry of the same body → 200, the
                                       first job (``Idempotent-Replayed: true``)
``GET /v1/jobs``                       recent jobs, newest first (``?limit=&state=``); lists never
                                       read request bodies
``GET /v1/jobs/{id}``                  the job record
``GET /v1/jobs/{id}/events``           server-sent events: the record at every change
``DELETE /v1/jobs/{id}``               cancel; answers the record once the job has stopped (≤ ~2 s)
``GET /v1/jobs/{id}/media/{n}``        download the n-th result media file (0-based)
``GET /v1/jobs/{id}/otio``             result.otio, media paths mapped to the editor's view
``GET /v1/takes``                      takes, newest first (``?timeline=&track=&record_frame=&frames=&job=``)
``GET /v1/takes/{id}``                 one take: its slot and recipe
``POST /v1/takes/{id}/rerender``       body: overrides (seed, prompt, engine, model, ...) → 202, a new
                                       job making a take of exactly the same slot; with
                                       ``Idempotency-Key`` a retry → 200, the first job
``POST /v1/batches``                   body: ``{timeline, fill_gaps_up_to, tracks, engine}`` → 202, the
                                       batch: short gaps, ``sf extend``/``sf generate`` markers, one job
                                       each; with ``Idempotency-Key`` a retry → 200, the first batch
``GET /v1/batches/{id}``               the batch: items and their jobs, progress, result.otio when done
=====================================  ==========================================================

Status codes: 400 malformed/invalid request (``malformed_otio`` also for NaN, Infinity, NUL
characters or nesting over 128 levels; ``not_a_request``, ``bad_request``,
``media_path_invalid``, ``bad_idempotency_key``), 401 token missing, 403 token wrong / media
outside the roots / ``..`` in a media path / origin not allowed, 404 unknown job, take or batch,
409 cancel of a finished job or ``idempotency_key_reused`` (the key came with another body),
413 body too large, 415 body not JSON, 422 a request that is well formed but cannot be done (no
clip at that frame, missing media, ``media_not_video`` for a playlist, list, text or still;
``too_large`` for frames, picture size or prompt beyond the settings ``max_frames``,
``max_canvas_side``, ``max_prompt_chars``; ``not_enough_memory`` beyond ``max_job_memory_gb``;
``slot_change`` for a re-render that would not fill its take's slot), 429 queue full or
``too_many_wrong_tokens`` (both with ``Retry-After``), 507 ``not_enough_disk`` (the output folder
would keep less than ``min_free_disk_gb`` free), 500 ``internal``. A job whose media is counted by
decoding it (no frame count in its container) is queued before that count; bad media then fails
the job with the same codes (:mod:`server.jobs`). From the connection layer
(:mod:`server.http.connections`): 400 ``bad_http``, 408 ``request_timeout`` (a header or body
slower than ``header_timeout`` / ``body_timeout``), 503 ``too_many_connections``.

Server-sent events: each event is ``id: <version>`` and ``data: <job record JSON>`` (the same
object ``GET /v1/jobs/{id}`` returns), the default event type ``message``; the first event is
the current record, one follows every state/stage/progress change (progress at most every
0.1 s or 1 %), and the stream ends after the record with a terminal state (done, failed,
canceled). A comment line keeps idle streams alive every 15 s. An ``EventSource`` client should
close itself on a terminal state (browsers reconnect to a closed stream).

Safety: the token (``Authorization: Bearer <token>``) is checked on every route but
``/v1/health``, ``/docs`` and ``/openapi.json``; off loopback it must have 16 characters or more,
and wrong tokens are throttled per client address (:mod:`server.http.throttle`). Without a token
the server only answers requests whose ``Host`` is a loopback name (or one in ``allowed_hosts``),
which stops DNS-rebinding pages. Browser requests carrying an ``Origin`` are refused unless that origin is in
``cors_origins`` (or is the server itself, for ``/docs``); the list is **empty by default**. A
CEP panel page is served from ``file://`` and sends ``Origin: null``; ``null`` is what any
sandboxed iframe on any web site sends too, so it is accepted only when configured
(``cors_origins = ["null"]``, ``--cors-origin null``); pair it with a token. A CEP panel that
uses Node's ``http`` module (``--enable-nodejs``) sends no Origin and needs no CORS at all.
POST bodies must be ``application/json`` (or ``*+json``), which keeps cross-site form posts out.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from server import shotforge_version
from server.http import docs, errors
from server.http.deps import ServerState
from server.http.safety import SafetyMiddleware
from server.jobs import FolderLock, JobManager, JobStore
from server.limits import Limits
from server.paths import MediaPolicy, PathMapper
from server.retention import Retention
from server.routes import batches, jobs, media, system, takes
from server.settings import ServerSettings


def build_manager(settings: ServerSettings, renderer: Any = None) -> tuple[JobManager, PathMapper]:
    mapper = PathMapper.from_settings(settings)
    policy = MediaPolicy(settings.effective_media_roots(), mapper)
    store = JobStore(settings.database_dir / "jobs.sqlite")
    manager = JobManager(store, settings.output, locate_media=policy.locate, workers=settings.workers,
                         max_queue=settings.max_queue, limits=Limits.from_settings(settings),
                         output_format=settings.output_format, renderer=renderer,
                         cancel_grace=settings.cancel_grace_s)
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
    retention = Retention.from_settings(manager, settings, mapper)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        manager.start()
        await run_in_threadpool(state.batches.resume_all)  # items a crash interrupted are queued again
        await run_in_threadpool(retention.prune)  # then each time a job finishes
        retention.attach()
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

    app = FastAPI(title="ShotForge render server", version=shotforge_version(), lifespan=lifespan,
                  description="Generative extend, gap fill, outpaint, inpaint and B-roll for video editors. A job is a "
                              "request OTIO timeline with `metadata.shotforge`; see docs/request.md for the contract.")
    app.state.shotforge = state
    for router in (system.router, jobs.router, media.router, takes.router, batches.router):
        app.include_router(router)
    docs.install(app)  # /docs and /redoc from packaged assets, never a CDN
    errors.install(app)  # innermost middleware: a 500 still gets the CORS headers below
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "Idempotency-Key"],
                       expose_headers=["Retry-After", "Content-Disposition"], max_age=600)
    app.add_middleware(SafetyMiddleware, settings=settings)
    return app


