"""One error shape for every failure: ``{"error": {"code": "...", "message": "..."}}``.

Refusals raise :class:`ApiError`; request validation and routing errors are answered in the
same shape by the handlers :func:`install` adds; anything unexpected becomes a 500 with code
``internal`` (its traceback goes to the log, never to the client) from
:class:`InternalErrorMiddleware`, which answers instead of re-raising so the client's
keep-alive connection stays open.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("shotforge.server")

#: HTTP status for each RequestError code; anything else that is wrong with a request is 422.
STATUS_FOR_CODE = {
    "malformed_otio": 400, "not_a_request": 400, "bad_request": 400, "request_missing": 400,
    "media_path_invalid": 400, "media_path_traversal": 403, "media_outside_roots": 403, "media_not_local": 403,
    "too_large": 422, "not_enough_memory": 422, "not_enough_disk": 507,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_json(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def error_bytes(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response in the error shape, for the connection layer (no app involved)."""
    body = JSONResponse({"error": {"code": code, "message": message}}).body
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")
    return head.encode("latin-1") + body


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_json(exc.status, exc.code, exc.message, exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
    return error_json(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
    return error_json(422, "invalid_parameter", "; ".join(parts) or "invalid parameter")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(InternalErrorMiddleware)


class InternalErrorMiddleware:
    """Anything a route raises that nothing else handled: logged with its traceback, answered 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            return  # the client left (or was closed for stalling) mid-request: nobody to answer
        except Exception as exc:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # half a response is out: only closing the connection can say it failed
                raise
            response = error_json(500, "internal", f"the server failed on this request ({type(exc).__name__}); "
                                                   "the server log has the details")
            await response(scope, receive, send)
