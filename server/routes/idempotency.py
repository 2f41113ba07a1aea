"""The ``Idempotency-Key`` header of the routes that make something (a re-render's job, a batch):
read and checked once, a retry answered as ``POST /v1/jobs`` answers one (200 and
``Idempotent-Replayed: true``), a key reused with another body refused (409
``idempotency_key_reused``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Response
from starlette.concurrency import run_in_threadpool

from otio_tools.errors import RequestError
from server.http.errors import STATUS_FOR_CODE, ApiError
from server.jobs import IdempotencyConflict, QueueFull

Made = TypeVar("Made")

_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7f))  # visible ASCII: what a header carries intact

#: what the 200 answer of a replayed create means, for the routes' OpenAPI ``responses``
REPLAYED = "What an earlier request with the same Idempotency-Key and body made (header Idempotent-Replayed: true)"


def idempotency_key(idempotency_key: Annotated[str | None, Header(
        description="Any unique string (1-255 visible ASCII characters, e.g. a UUID) naming this request: a retry "
                    "with the same key and body gets the first answer back, not a second one")] = None) -> str | None:
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 255 and set(idempotency_key) <= _KEY_CHARS):
        raise ApiError(400, "bad_idempotency_key", "the Idempotency-Key header must be 1 to 255 visible ASCII "
                                                   "characters (a UUID is a good one)")
    return idempotency_key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


def replayed(response: Response) -> None:
    """Answer a retry: the first record as it is now, 200 instead of 202."""
    response.status_code = 200
    response.headers["Idempotent-Replayed"] = "true"


def conflict(exc: IdempotencyConflict) -> ApiError:
    return ApiError(409, "idempotency_key_reused", str(exc))


async def create_once(create: Callable[[], tuple[Made, bool]], response: Response) -> Made:
    """Run a create (``create() -> (record, created)``) off the event loop, its refusals as the API's
    errors; a retry answered as :func:`replayed` says. What every creating route shares."""
    try:
        record, created = await run_in_threadpool(create)
    except RequestError as exc:
        raise ApiError(STATUS_FOR_CODE.get(exc.code, 422), exc.code, exc.message) from None
    except QueueFull as exc:
        raise ApiError(429, "queue_full", str(exc), {"Retry-After": "5"}) from None
    except IdempotencyConflict as exc:
        raise conflict(exc) from None
    if not created:  # a retry: the first record, as it is now
        replayed(response)
    return record
