"""The API's documentation pages, working with no network: ``/docs`` (Swagger UI, with "Try it
out") and ``/redoc`` (ReDoc), both reading ``/openapi.json``.

FastAPI's own pages load their scripts from a CDN, so on a machine that is offline (an edit suite,
an air-gapped GPU box) they are blank. Here the scripts, styles and icon come from the installed
``fastapi-offline`` package (it ships Swagger UI's and ReDoc's release files) and are served under
``/docs/assets``, and a content security policy keeps the pages from asking anything of any
other origin. Like ``/openapi.json``, the pages need
no token: they describe the API, and every route they call still checks it.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
#: The pages may load only from this server: ReDoc's sidebar has a logo it fetches from its maker's
#: CDN on every load, which the policy stops before it reaches the network. Inline scripts are the
#: pages' own start-up code; ReDoc's search runs in a blob: worker; styles are injected inline.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
                           "connect-src 'self'; frame-ancestors 'self'")


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from the packaged assets, in place of FastAPI's CDN pages."""
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    replaced = {app.docs_url, app.redoc_url, oauth2_redirect} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in replaced]
    app.docs_url, app.redoc_url = DOCS_URL, REDOC_URL
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    def page(response: HTMLResponse) -> HTMLResponse:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "")  # behind a proxy that mounts the server under a prefix
        return root + ASSETS_URL, root + (app.openapi_url or "/openapi.json")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        assets, openapi = urls(request)
        return page(get_swagger_ui_html(openapi_url=openapi, title=f"{app.title} - API",
                                   oauth2_redirect_url=oauth2_redirect,
                                   swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{assets}/swagger-ui.css",
                                   swagger_favicon_url=f"{assets}/favicon.png",
                                   swagger_ui_parameters=app.swagger_ui_parameters))

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        assets, openapi = urls(request)
        return page(get_redoc_html(openapi_url=openapi, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{assets}/redoc.standalone.js",
                              redoc_favicon_url=f"{assets}/favicon.png", with_google_fonts=False))
