"""Takes: list the takes of a timeline or of one slot, read one, re-render one into the same slot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Path as PathParam, Query, Response

from otio_tools.takes import Take, new_slot_matches, plan_slot, rerender_request
from server.http.deps import Manager, Mapper, require_token
from server.http.errors import ApiError
from server.jobs import IdempotencyConflict, JobManager
from server.paths import PathMapper
from server.routes.idempotency import REPLAYED, IdempotencyKey, create_once
from server.schemas import JOB_ID, Rerender, RerenderCreated, TakeList, TakeSlot, error_responses
from server.schemas import Take as TakeModel

router = APIRouter(prefix="/v1/takes", tags=["takes"], dependencies=[Depends(require_token)])

TakeId = Annotated[str, PathParam(pattern=JOB_ID, description="A take id, as a job's result.takes names it")]


def take_model(take: Take, job_id: str, media: str, mapper: PathMapper) -> TakeModel:
    return TakeModel(
        id=take.id, job_id=job_id, operation=take.operation, timeline=take.timeline,
        slot=TakeSlot(**take.slot.to_dict()), engine=take.engine, model=take.model,
        model_revision=take.model_revision, prompt=take.prompt, negative_prompt=take.negative_prompt,
        seed=take.seed, steps=take.steps, guidance=take.guidance, lora=take.lora, placeholder=take.placeholder,
        inpaint=_editor_paths(take.inpaint, mapper), shotforge_version=take.shotforge_version, media=mapper.to_editor(media), url=f"/v1/takes/{take.id}",
        job_url=f"/v1/jobs/{job_id}", rerender_url=f"/v1/takes/{take.id}/rerender")


def _editor_paths(inpaint: dict | None, mapper: PathMapper) -> dict | None:
    """An inpaint take's area with its matte named as the editor's machine names it."""
    if inpaint is None or "mask" not in inpaint:
        return inpaint
    return {**inpaint, "mask": mapper.to_editor(inpaint["mask"])}


def _found(manager: JobManager, take_id: str) -> tuple[Take, str, str]:
    found = manager.takes.get(take_id)
    if found is None:
        raise ApiError(404, "take_not_found", f"there is no take {take_id!r}")
    return found


@router.get("", response_model=TakeList, responses=error_responses())
def list_takes(manager: Manager, mapper: Mapper,
               timeline: Annotated[str | None, Query(description="Name of the request timeline")] = None,
               track: Annotated[int | None, Query(ge=0, description="0-based video track of the slot")] = None,
               record_frame: Annotated[int | None, Query(ge=0, description="First record frame of the slot")] = None,
               frames: Annotated[int | None, Query(ge=1, description="Frame count of the slot")] = None,
               job: Annotated[str | None, Query(pattern=JOB_ID, description="Only the takes of this job")] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> TakeList:
    """Takes, newest first: of a timeline (``timeline``), of one slot (``timeline``, ``track``,
    ``record_frame``, and ``frames`` to tell slots starting on the same frame apart), of a job."""
    rows = manager.takes.list(timeline=timeline, track=track, record_frame=record_frame, frames=frames, job_id=job,
                              limit=limit)
    return TakeList(takes=[take_model(take, job_id, media, mapper) for take, job_id, media in rows])


@router.get("/{take_id}", response_model=TakeModel, responses=error_responses())
def get_take(take_id: TakeId, manager: Manager, mapper: Mapper) -> TakeModel:
    return take_model(*_found(manager, take_id), mapper)


@router.post("/{take_id}/rerender", status_code=202, response_model=RerenderCreated,
             responses={**error_responses(409, 422, 429), 200: {"model": RerenderCreated, "description": REPLAYED}})
async def rerender(take_id: TakeId, body: Rerender, response: Response, manager: Manager,
                   idempotency_key: IdempotencyKey) -> RerenderCreated:
    """A new take of exactly the take's slot, its recipe with the overrides given (seed, prompt,
    negative_prompt, engine, model, steps, guidance). Refused with ``slot_change`` when the body
    names a slot value, or when the timeline's media changed so the take's slot cannot be filled.
    With an ``Idempotency-Key``, a retry of the same take and body gets the first job back (200)."""
    overrides = {**body.model_dump(exclude_none=True), **(body.model_extra or {})}
    # what the key is checked against: the take and body asked for (two takes of one recipe make the same request
    # text, and a retry is answered from the key's job record even once the take it re-rendered has gone)
    meta = {"rerender_of": take_id, "overrides": overrides}

    def submit():
        first = manager.store.by_idempotency_key(idempotency_key) if idempotency_key else None
        if first is not None:
            if first.meta != meta:
                raise IdempotencyConflict(idempotency_key, first.id)
            return first, False
        take, job_id, _ = _found(manager, take_id)
        text = rerender_request(take, overrides)
        made_by = manager.get(job_id)  # a watch-folder request's relative media paths count from its folder
        base_dir = Path(made_by.base_dir) if made_by is not None and made_by.base_dir else None
        name = f"the request of take {take.id}"
        _, _, job_plan = manager.validate(text, source_name=name, base_dir=base_dir)
        new_slot_matches(take, plan_slot(job_plan.plan))
        row, created = manager.submit_once(text, idempotency_key, source="http", source_name=name, base_dir=base_dir,
                                           meta=meta)
        if not created and row.meta != meta:  # the same key sent for another take at the same moment
            raise IdempotencyConflict(idempotency_key, row.id)
        return row, created

    row = await create_once(submit, response)
    return RerenderCreated(id=row.id, state=row.state, url=f"/v1/jobs/{row.id}", events_url=f"/v1/jobs/{row.id}/events",
                           rerender_of=take_id)
