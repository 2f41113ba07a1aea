"""Batches: a whole timeline in one request (POST /v1/batches), each item its own job."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path as PathParam, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import opentimelineio as otio

from otio_tools.errors import RequestError
from server.batch import Batch as BatchRecord
from server.batch import Batches
from server.http.deps import ServerState, Settings, get_state, require_token
from server.http.errors import ApiError
from server.jobs import IdempotencyConflict, JobManager
from server.routes.idempotency import REPLAYED, IdempotencyKey, conflict, create_once, replayed
from server.routes.jobs import _read_body
from server.schemas import JOB_ID, Batch, BatchCreate, error_responses

router = APIRouter(prefix="/v1/batches", tags=["batches"], dependencies=[Depends(require_token)])

BatchId = Annotated[str, PathParam(pattern=JOB_ID, description="A batch id as POST /v1/batches returned it")]


def batch_model(batch: BatchRecord, batches: Batches) -> Batch:
    items = []
    made = {m["item"] for m in (batch.result or {}).get("items", [])}
    failed = {f["item"]: {"code": f["code"], "message": f["message"]} for f in (batch.result or {}).get("failed", [])}
    for item, job in zip(batch.items, batches.item_jobs(batch)):
        error = item["error"] or (job.error if job is not None else failed.get(item["key"]))
        if job is not None:
            state = job.state
        else:  # refused before queuing, or its record pruned after the batch finished (its result says)
            state = "done" if item["key"] in made else "failed"
        items.append({"key": item["key"], "where": item["where"], "operation": item["operation"],
                      "job_id": item["job_id"], "state": state,
                      "progress": job.progress if job is not None else 1.0, "error": error})
    result = None
    if batch.result:
        result = {"otio": batch.result["otio"], "placements": batch.result["placements"]}
    return Batch(id=batch.id, state=batch.state, progress=1.0 if batch.state == "done" else batches.progress(batch),
                 items=items, problems=batch.problems, result=result, url=f"/v1/batches/{batch.id}")


def _batches(state: Annotated[ServerState, Depends(get_state)]) -> Batches:
    return state.batches


@router.post("", status_code=202, response_model=Batch,
             responses={**error_responses(409, 413, 415, 422, 429), 200: {"model": Batch, "description": REPLAYED}})
async def create_batch(request: Request, response: Response, settings: Settings,
                       batches: Annotated[Batches, Depends(_batches)], idempotency_key: IdempotencyKey) -> Batch:
    """Every gap of at most ``fill_gaps_up_to`` frames between clips filled, every clip with an ``sf extend
    tail|head N`` marker extended, every duration marker noted ``sf generate: <prompt>`` generated over its
    range; each item is a job (``items[].job_id``). ``result`` (result.otio with every result) once all are done.
    With an ``Idempotency-Key``, a retry of the same body gets the first batch back (200)."""
    raw = await _read_body(request, settings.max_body_bytes)
    try:
        first = await run_in_threadpool(batches.replay, idempotency_key, raw)  # before reading the timeline again
    except IdempotencyConflict as exc:
        raise conflict(exc) from None
    if first is not None:
        replayed(response)
        return batch_model(first, batches)
    try:
        JobManager.check_json(raw.decode("utf-8", "replace"), "the batch body")
        body = BatchCreate.model_validate_json(raw)
    except RequestError as exc:
        raise ApiError(400, exc.code, exc.message) from None
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        raise ApiError(422, "invalid_parameter", "; ".join(parts)) from None
    try:
        timeline = otio.adapters.read_from_string(json.dumps(body.timeline), "otio_json")
    except Exception as exc:
        raise ApiError(400, "malformed_otio", f"the batch timeline is not valid OTIO JSON: {exc}") from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise ApiError(400, "malformed_otio", "the batch timeline holds no OTIO timeline")
    batch = await create_once(lambda: batches.create_once(timeline, idempotency_key, raw,
                                                          fill_gaps_up_to=body.fill_gaps_up_to, tracks=body.tracks,
                                                          engine=body.engine), response)
    return batch_model(batch, batches)


@router.get("/{batch_id}", response_model=Batch, responses=error_responses())
def get_batch(batch_id: BatchId, batches: Annotated[Batches, Depends(_batches)]) -> Batch:
    batch = batches.get(batch_id)
    if batch is None:
        raise ApiError(404, "batch_not_found", f"there is no batch {batch_id!r}")
    return batch_model(batch, batches)
