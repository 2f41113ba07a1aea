"""What routes depend on (FastAPI ``Depends``): the settings, the job manager, the batches, the
path mapper, the token check and the job a path names."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Path as PathParam, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.batch import Batches
from server.http.errors import ApiError
from server.http.throttle import TokenThrottle
from server.jobs import JobManager, JobRow
from server.paths import PathMapper
from server.schemas import JOB_ID
from server.settings import ServerSettings


class ServerState:
    """Everything one app instance serves from (``app.state.shotforge``)."""

    def __init__(self, settings: ServerSettings, manager: JobManager, mapper: PathMapper):
        self.settings = settings
        self.manager = manager
        self.mapper = mapper
        self.engines_cache: tuple[float, list[Any]] | None = None
        self.watcher = None
        self.batches = Batches(manager)
        self.throttle = TokenThrottle()


def get_state(request: Request) -> ServerState:
    return request.app.state.shotforge


def get_settings(state: Annotated[ServerState, Depends(get_state)]) -> ServerSettings:
    return state.settings


def get_manager(state: Annotated[ServerState, Depends(get_state)]) -> JobManager:
    return state.manager


def get_mapper(state: Annotated[ServerState, Depends(get_state)]) -> PathMapper:
    return state.mapper


Settings = Annotated[ServerSettings, Depends(get_settings)]
Manager = Annotated[JobManager, Depends(get_manager)]
Mapper = Annotated[PathMapper, Depends(get_mapper)]

_bearer = HTTPBearer(auto_error=False, description="The server's token, when one is configured")


def require_token(request: Request, state: Annotated[ServerState, Depends(get_state)],
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """The token check; wrong tokens are throttled per client address (:mod:`server.http.throttle`)."""
    token = state.settings.token_value
    if token is None:
        return
    address = request.client.host if request.client else ""
    wait = state.throttle.retry_after(address)
    if wait is not None:
        raise ApiError(429, "too_many_wrong_tokens", f"too many wrong tokens from {address}; try again in {wait} s",
                       {"Retry-After": str(wait)})
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "token_required", "this server requires 'Authorization: Bearer <token>'",
                       {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        state.throttle.failed(address)
        raise ApiError(403, "token_invalid", "the bearer token is not this server's token")
    state.throttle.succeeded(address)


def holds_token(state: ServerState, credentials: HTTPAuthorizationCredentials | None) -> bool:
    """Whether a caller of an open route may also see what only token holders see: always when the
    server has no token, else only with the right bearer token (no throttling: nothing is refused)."""
    token = state.settings.token_value
    if token is None:
        return True
    return (credentials is not None and credentials.scheme.lower() == "bearer"
            and hmac.compare_digest(credentials.credentials.encode(), token.encode()))


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


JobId = Annotated[str, PathParam(pattern=JOB_ID, description="A job id as returned by POST /v1/jobs")]


def job_row(job_id: JobId, manager: Manager) -> JobRow:
    row = manager.get(job_id)
    if row is None:
        raise ApiError(404, "job_not_found", f"there is no job {job_id!r}")
    return row


def done_job_row(row: Annotated[JobRow, Depends(job_row)]) -> JobRow:
    if row.state != "done" or not row.result:
        raise ApiError(409, "job_not_done", f"job {row.id} is {row.state}; it has no result yet")
    return row
