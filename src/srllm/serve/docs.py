"""The API reference pages (/docs: Swagger UI, /redoc: ReDoc) with their assets served by this app.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, on the origin whose sessionStorage holds
the API key: a compromised CDN file could read it. The `fastapi-offline` package ships the same
assets; they are served from /docs-assets, and every page gets a Content-Security-Policy that
allows nothing but this server (plus, by hash, the one inline script or style FastAPI's page holds).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
FAVICON_URL = "/static/favicon.svg"
# Swagger UI's default sends the schema's URL to validator.swagger.io for a badge: an outside request.
SWAGGER_PARAMETERS = {"validatorUrl": None}
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def content_security_policy(*, scripts: Iterable[str] = (), styles: Iterable[str] = (),
                            workers: str = "'none'") -> str:
    """Everything from this server only; `scripts` / `styles` are CSP sources for inline blocks."""
    script_src = " ".join(["'self'", *scripts])
    style_src = " ".join(["'self'", *styles])
    return (f"default-src 'self'; script-src {script_src}; style-src {style_src}; img-src 'self' data:; "
            f"connect-src 'self'; worker-src {workers}; object-src 'none'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'")


def install_docs(app: FastAPI, title: str) -> None:
    """/docs and /redoc on local assets. Build `app` with docs_url=None and redoc_url=None."""
    assets = Path(str(files("fastapi_offline") / "static"))
    app.mount(ASSETS_URL, StaticFiles(directory=assets), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    swagger = get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} - API reference",
                                  swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                  swagger_css_url=f"{ASSETS_URL}/swagger-ui.css", swagger_favicon_url=FAVICON_URL,
                                  swagger_ui_parameters=SWAGGER_PARAMETERS)
    # ReDoc's styled-components writes <style> elements and its bundle offers no way to give them a
    # nonce, so its page allows inline styles (never inline scripts). Its search runs in a blob: Worker.
    redoc = get_redoc_html(openapi_url=openapi_url, title=f"{title} - API reference",
                           redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=FAVICON_URL,
                           with_google_fonts=False)
    pages = {"/docs": _locked(swagger), "/redoc": _locked(redoc, inline_styles=True, workers="blob:")}
    for path, (html, csp) in pages.items():
        app.add_api_route(path, _serve(html, csp), methods=["GET"], include_in_schema=False)


def _locked(page: HTMLResponse, *, inline_styles: bool = False, workers: str = "'none'") -> tuple[str, str]:
    """The page and a CSP that admits exactly its own inline blocks (by SHA-256), or with
    `inline_styles` any inline style (a hash in the list would make browsers ignore 'unsafe-inline')."""
    html = bytes(page.body).decode()
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    styles = ["'unsafe-inline'"] if inline_styles else hashes["style"]
    return html, content_security_policy(scripts=hashes["script"], styles=styles, workers=workers)


def _serve(html: str, csp: str) -> Callable[[], Awaitable[HTMLResponse]]:
    async def endpoint() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"})

    return endpoint
