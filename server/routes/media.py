"""A finished job's files: ``GET /v1/jobs/{id}/media/{n}`` and ``GET /v1/jobs/{id}/otio``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Path as PathParam
from fastapi.responses import FileResponse, Response

from server.http.deps import Mapper, done_job_row, require_token
from server.http.errors import ApiError
from server.jobs import JobRow
from server.paths import PathMapper, is_within
from server.schemas import error_responses

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)])

DoneJob = Annotated[JobRow, Depends(done_job_row)]


def _inside_output(row: JobRow, path: str) -> Path:
    """The result file, only if it is still there and inside the job's own folder."""
    p = Path(os.path.realpath(path))
    if not is_within(p, Path(os.path.realpath(row.out_dir))) or not p.is_file():
        raise ApiError(404, "media_gone", f"the result file of job {row.id} is no longer there")
    return p


@router.get("/{job_id}/media/{n}", response_class=FileResponse,
            responses={**error_responses(409), 200: {"content": {"video/quicktime": {}, "video/mp4": {}}}})
def job_media(row: DoneJob, n: Annotated[int, PathParam(ge=0, description="0-based index into result.media")]):
    media = row.result.get("media", [])
    if n >= len(media):
        raise ApiError(404, "media_not_found", f"job {row.id} made {len(media)} media file(s); there is no #{n}")
    path = _inside_output(row, media[n])
    ctype = {".mov": "video/quicktime", ".mp4": "video/mp4"}.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=ctype, filename=path.name)


@router.get("/{job_id}/otio", responses={**error_responses(409), 200: {"content": {"application/json": {}}}})
def job_otio(row: DoneJob, mapper: Mapper):
    path = _inside_output(row, row.result.get("otio") or "")
    text = path.read_text(encoding="utf-8")
    if mapper.rules:
        text = _map_otio_paths(text, mapper)
    return Response(text, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{row.id}.otio"'})


def _map_otio_paths(text: str, mapper: PathMapper) -> str:
    import opentimelineio as otio

    timeline = otio.adapters.read_from_string(text, "otio_json")
    for clip in timeline.find_clips():
        refs = clip.media_references() if hasattr(clip, "media_references") else {"": clip.media_reference}
        for ref in refs.values():
            if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
                ref.target_url = mapper.reference_to_editor(ref.target_url)
    return otio.adapters.write_to_string(timeline, "otio_json")
