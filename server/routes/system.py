"""``GET /v1/health`` (no token; with a render farm, its nodes, shown only to token holders when the
server has a token: they name the studio's machines) and ``GET /v1/engines``."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from server.http.deps import Bearer, Manager, ServerState, Settings, get_state, holds_token, require_token
from server.schemas import ClusterNode, EngineInfo, EngineList, Health, error_responses

router = APIRouter(prefix="/v1", tags=["server"])

_ENGINES_TTL = 30.0  # seconds an engine census is reused: loading engines to ask can be slow


@router.get("/health", response_model=Health)
def health(request: Request, manager: Manager, settings: Settings,
           state: Annotated[ServerState, Depends(get_state)], credentials: Bearer) -> Health:
    counts = manager.store.counts()
    farm = manager.backend
    return Health(version=request.app.version, workers=manager.workers, queued=counts["queued"],
                  running=counts["running"], max_queue=manager.max_queue,
                  uptime_s=round(time.time() - manager.started_at, 3), auth=settings.token_value is not None,
                  backend="local" if farm is None else "ray",
                  nodes=[ClusterNode(**node) for node in farm.nodes()] if farm and holds_token(state, credentials)
                  else [])


@router.get("/engines", response_model=EngineList, dependencies=[Depends(require_token)],
            responses=error_responses())
def engines(state: Annotated[ServerState, Depends(get_state)]) -> EngineList:
    cached = state.engines_cache
    if cached and time.monotonic() - cached[0] < _ENGINES_TTL:
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


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
