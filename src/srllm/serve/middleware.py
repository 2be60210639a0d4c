"""Request ids, body-size limits, metrics, access logs and JSON errors for every response.

Errors are `{"error": {"code", "message", "field", "request_id"}}`; an unexpected exception is
logged with its traceback on the server and answered with a bare 500: no stack trace or internal
path ever reaches a client.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from srllm.errors import InputError, SrllmError
from srllm.serve.logs import service_log
from srllm.serve.metrics import ServeMetrics

log = service_log()  # control characters in what it logs are escaped (no forged lines)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


_OPENAI_TYPES = {401: "authentication_error", 429: "rate_limit_error"}


def error_body(code: str, message: str, request_id: str, field: str | None = None,
               status: int = 400) -> dict[str, Any]:
    """Our error, readable as OpenAI's too (`type`, and `param` = `field`)."""
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"code": code, "message": message, "field": field, "request_id": request_id,
                      "type": kind, "param": field}}


def request_id_of(request: Request) -> str:
    return getattr(request.state, "request_id", "") or "unknown"


def _json_error(request: Request, status: int, code: str, message: str, field: str | None = None,
                headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, request_id_of(request), field, status), status_code=status,
                        headers=headers)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _json_error(request, exc.status, exc.code, exc.message, exc.field, exc.headers)


async def input_error_handler(request: Request, exc: Exception) -> JSONResponse:
    field = exc.field if isinstance(exc, InputError) else None
    return _json_error(request, 422, "invalid_input", str(exc), field)


async def srllm_error_handler(request: Request, exc: Exception) -> JSONResponse:
    return _json_error(request, 502, "backend_error", str(exc))


def _field_name(loc: tuple[Any, ...]) -> str | None:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header", "form")]
    if not parts:
        return None
    name = parts[0]
    for part in parts[1:]:
        name += f"[{part}]" if part.isdigit() else f".{part}"
    return name


async def validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _field_name(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        message = "the body is not valid JSON"
    elif field:
        message = f"{field}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    if (extra := _openai_extra_field(request, errors)) is not None:
        return _json_error(request, 400, "unsupported_parameter", f"{extra} is not supported by this server; "
                                                                  "leave it out (see docs/serving.md)", extra)
    return _json_error(request, 422, "invalid_request", message, field)


def _openai_extra_field(request: Request, errors: Sequence[Any]) -> str | None:
    """On the OpenAI routes a field this server does not know is a 400 naming it, as OpenAI answers."""
    route = request.scope.get("route")
    if "openai" not in (getattr(route, "tags", None) or []):
        return None
    extra = next((error for error in errors if error.get("type") == "extra_forbidden"), None)
    return _field_name(tuple(extra.get("loc", ()))) if extra is not None else None


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "body_too_large"}


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = dict(exc.headers or {})
    if exc.status_code == 400:  # FastAPI's "error parsing the body": undecodable bytes, a broken form
        return _json_error(request, 422, "invalid_request", "the request body cannot be parsed (not UTF-8 "
                                                            "JSON, or a broken form upload)")
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return _json_error(request, exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), message,
                       headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method of every route on this path (Starlette names only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def install_error_handlers(app: Any) -> None:
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(InputError, input_error_handler)
    app.add_exception_handler(SrllmError, srllm_error_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)


class _BodyTooLarge(StarletteHTTPException):
    """An HTTPException, so FastAPI's body parser lets it through as a 413 instead of a 400."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        super().__init__(413, f"the request body is {declared} bytes; this server takes at most {limit}"
                         if declared is not None else
                         f"the request body is larger than this server's limit of {limit} bytes")


class RequestContext:
    """Pure ASGI middleware (streams bodies, so a chunked upload is cut off at the limit too)."""

    def __init__(self, app: ASGIApp, *, metrics: ServeMetrics, body_limit: Callable[[Scope], int]) -> None:
        self.app, self.metrics, self.body_limit = app, metrics, body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.monotonic()
        status = {"code": 500, "started": False}
        limit = self.body_limit(scope)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                headers = list(message.get("headers", []))
                headers += [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                message = {**message, "headers": headers}
            await send(message)

        try:
            # The limit is checked when the body is read, not here: a request refused before its body
            # (401, 429: `admission`) gets that answer, whatever it declares.
            await self.app(scope, _limited(receive, limit, _content_length(scope)), send_wrapper)
        except _BodyTooLarge as exc:
            if not status["started"]:
                await _send_error(send_wrapper, 413, "body_too_large", str(exc.detail), request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            if not status["started"]:
                await _send_error(send_wrapper, 500, "internal_error",
                                  "internal error; quote the request id when reporting it", request_id)
        finally:
            route = _route_label(scope)
            elapsed = time.monotonic() - started
            self.metrics.requests.labels(route=route, method=scope["method"], status=str(status["code"])).inc()
            self.metrics.latency.labels(route=route).observe(elapsed)
            principal = scope.get("state", {}).get("principal", "-")
            log.info("%s %s %s %d %.1fms %s", request_id, scope["method"], scope["path"], status["code"],
                     elapsed * 1000, principal)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limited(receive: Receive, limit: int, declared: int | None) -> Receive:
    """`receive`, refusing a body declared larger than `limit` before reading any of it, and one that
    turns out larger (chunked) as soon as it passes the limit."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        if declared is not None and declared > limit:
            raise _BodyTooLarge(limit, declared)
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge(limit)
        return message

    return wrapped


async def _send_error(send: Send, status: int, code: str, message: str, request_id: str) -> None:
    body = json.dumps(error_body(code, message, request_id, status=status)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _route_label(scope: Scope) -> str:
    """The route template (/v1/jobs/{job_id}), never raw paths: ids would explode the label set."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    return "static" if str(scope.get("path", "")).startswith(("/static", "/docs-assets")) else "unmatched"
