"""The ``Idempotency-Key`` header of the routes that make something (a re-render's job, a batch):
read and checked once, a retry answered as ``POST /v1/jobs`` answers one (200 and
``Idempotent-Replayed: true``), a key reused with another body refused (409
``idempotency_key_reused``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Response

from server.http.errors import ApiError
from server.jobs import IdempotencyConflict

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
