"""The HTTP API's typed bodies (what OpenAPI at ``/docs`` shows), one place for every route."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "done", "failed", "canceled"]

#: a job id as :func:`server.jobs.new_job_id` makes them (and nothing that could be a path)
JOB_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable word, e.g. 'no_clip_at_frame'")
    message: str = Field(description="What is wrong, in an editor's words")


class ErrorResponse(BaseModel):
    """Every failure, from a bad request to an unexpected server fault, has this body."""

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
    takes: list[str] = Field(default_factory=list, description="Ids of the takes this job made (GET /v1/takes/{id})")
    media_urls: list[str] = Field(default_factory=list, description="Download URLs for `media`, same order")
    otio_url: str | None = Field(None, description="Download URL of result.otio with editor-side paths")
    notes: list[str] = Field(default_factory=list,
                             description="What the editor should know of the result: frames a transition shows "
                                         "that the media could not cover, a dissolve a placement cannot carry")


class Job(BaseModel):
    id: str
    state: JobState
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
    retries: int = Field(0, description="Times the job ran again: its render farm worker was lost, or the "
                                        "server stopped under it")
    url: str
    events_url: str


class JobCreated(BaseModel):
    id: str
    state: str = "queued"
    url: str
    events_url: str


class JobList(BaseModel):
    jobs: list[Job]


class TakeSlot(BaseModel):
    """Where a take sits; a re-render fills exactly this slot."""

    track: int = Field(description="0-based video track index")
    record_frame: int = Field(description="Timeline frame of the take's first frame (global start excluded)")
    frames: int = Field(description="How many frames the take covers")
    rate: str = Field(description="The timeline rate as an exact fraction, e.g. '30000/1001'")
    width: int
    height: int


class Take(BaseModel):
    """A result and its recipe: what made it, and the request it was made from."""

    id: str
    job_id: str = Field(description="The job that made the take")
    operation: str
    timeline: str = Field(description="Name of the request timeline")
    slot: TakeSlot
    engine: str
    model: str = Field(description="Model folder name; 'classical' for the classical engine")
    model_revision: str = Field(description="'hf:<commit>', 'sha256:<fingerprint of the model folder>', or the "
                                            "ShotForge version for the classical engine")
    prompt: str
    negative_prompt: str
    seed: int
    steps: int | None = None
    guidance: float | None = None
    lora: str | None = None
    placeholder: bool = Field(description="A stand-in (slate) made to be re-rendered by a real model")
    inpaint: dict[str, Any] | None = Field(None, description="Inpaint only: what was replaced, `region` (and "
                                           "`region_end`) or `mask` (as the editor's machine names it) with its "
                                           "`mask_sha256`")
    shotforge_version: str
    media: str = Field(description="The take's media file, as the editor's machine names it")
    url: str
    job_url: str
    rerender_url: str


class TakeList(BaseModel):
    takes: list[Take]


class Rerender(BaseModel):
    """What a re-render changes; anything left out is as the take was made. The slot (track, record
    frame, frame count, rate, size) is never changed: a body naming it is refused with ``slot_change``."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"seed": 8}})
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    prompt: str | None = None
    negative_prompt: str | None = None
    engine: Literal["classical", "diffusers"] | None = None
    model: str | None = Field(None, description="A model folder name (diffusers engine)")
    steps: int | None = Field(None, ge=1, le=500)
    guidance: float | None = Field(None, ge=0, le=50)


class RerenderCreated(JobCreated):
    rerender_of: str = Field(description="The take re-rendered; the job's result names the new take")


class BatchCreate(BaseModel):
    """A whole timeline in one batch: short gaps filled, marked clips extended, generate markers rendered."""

    model_config = ConfigDict(extra="forbid")
    timeline: dict[str, Any] = Field(description="The timeline, OTIO JSON (no metadata.shotforge needed)")
    fill_gaps_up_to: int = Field(0, ge=0, le=36000, description="Fill every gap between clips of at most N frames")
    tracks: list[int] | None = Field(None, description="Only these 0-based video tracks (default: all)")
    engine: Literal["auto", "classical", "diffusers"] = "auto"


class BatchItem(BaseModel):
    key: str = Field(description="Stable name of the item, e.g. 'fill_gap V1 55'")
    where: str = Field(description="The gap, clip or marker the item is for, in an editor's words")
    operation: str
    job_id: str | None = Field(None, description="Its job (none when the item was refused before queuing)")
    state: JobState
    progress: float = Field(ge=0, le=1)
    error: ErrorInfo | None = None


class MarkerProblem(BaseModel):
    where: str
    reason: str


class BatchResult(BaseModel):
    otio: str = Field(description="result.otio: the timeline with every item's result")
    placements: list[Placement] = Field(description="One per new clip, as for a job; tracks as placed together")


class Batch(BaseModel):
    id: str
    state: Literal["running", "done"]
    progress: float = Field(ge=0, le=1)
    items: list[BatchItem]
    problems: list[MarkerProblem] = Field(description="Markers that ask for something that cannot be done")
    result: BatchResult | None = None
    url: str


class ClusterNode(BaseModel):
    node_id: str = Field(description="The Ray node's id")
    address: str = Field(description="The node's IP address")
    hostname: str = ""
    cpus: float
    gpus: float
    workers: int = Field(description="This server's engine workers on the node (one per GPU, one per "
                                     "ray_classical_cpus CPUs)")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    workers: int
    queued: int
    running: int
    max_queue: int
    uptime_s: float
    auth: bool = Field(description="Whether a bearer token is required")
    backend: Literal["local", "ray"] = Field("local", description="Where the engines run: in the server's "
                                                                  "process, or on a Ray cluster")
    nodes: list[ClusterNode] = Field(default_factory=list, description="The Ray cluster's live nodes (backend "
                                     "'ray' only; when the server has a token, only with the token)")


class EngineInfo(BaseModel):
    name: str
    usable: bool
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)


class EngineList(BaseModel):
    engines: list[EngineInfo]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer (400-404 always)."""
    return {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, *statuses)}


REQUEST_EXAMPLE = {
    "OTIO_SCHEMA": "Timeline.1", "name": "request",
    "metadata": {"shotforge": {"version": 1, "operation": "extend", "track": 0, "frame": 10, "side": "tail",
                               "frames": 24}},
    "tracks": {"OTIO_SCHEMA": "Stack.1", "children": []},
}
