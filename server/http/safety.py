"""Host and Origin checks before anything else: DNS rebinding and cross-site requests."""

from __future__ import annotations

from server.http.errors import error_json
from server.settings import ServerSettings

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


class SafetyMiddleware:
    def __init__(self, app, settings: ServerSettings):
        self.app = app
        self.check_host = settings.token_value is None or settings.loopback
        self.hosts = {h.lower() for h in _LOOPBACK_NAMES | set(settings.allowed_hosts)}
        if settings.host not in ("0.0.0.0", "::", ""):
            self.hosts.add(settings.host.lower())
        self.origins = set(settings.cors_origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.lower()
        if self.check_host and name not in self.hosts:
            resp = error_json(400, "host_not_allowed",
                              f"requests for host {host!r} are refused; add it to allowed_hosts or set a token")
            return await resp(scope, receive, send)
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins and "*" not in self.origins:
            same = origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower())
            if not same:
                resp = error_json(403, "origin_not_allowed",
                                  f"requests from web origin {origin!r} are not allowed; add it to cors_origins in "
                                  "the server settings (a CEP panel page sends 'null')")
                return await resp(scope, receive, send)
        return await self.app(scope, receive, send)
