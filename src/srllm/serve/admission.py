"""Who may send a /v1 request: its API key (or, without keys, its client address) and the rate limits.

`AdmittedRoute` runs `Gate.admit` before FastAPI reads and parses the body, so a request without a
valid key gets 401 (and one over a limit 429) whatever it sends: a huge or broken body costs nothing
(the body limit itself is enforced as the body is read, see `middleware.RequestContext`). Routes read
the admitted principal with `principal_dependency`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from srllm.serve.keys import KeyStore
from srllm.serve.metrics import ServeMetrics
from srllm.serve.middleware import ApiError
from srllm.serve.ratelimit import RateLimiter, retry_after_header

BEARER = HTTPBearer(auto_error=False, description="An API key from `srllm keys create`")


class Gate:
    def __init__(self, keys: KeyStore | None, limiter: RateLimiter, auth_failures: RateLimiter,
                 metrics: ServeMetrics) -> None:
        self.keys, self.limiter, self.auth_failures, self.metrics = keys, limiter, auth_failures, metrics

    async def admit(self, request: Request) -> str:
        """The principal (`key:ID`, or `client:ADDRESS` without keys), stored on the request; raises 401/429."""
        address = request.client.host if request.client else "unknown"
        who = f"key:{await self._key_id(request, address)}" if self.keys is not None else f"client:{address}"
        request.scope.setdefault("state", {})["principal"] = who
        if wait := self.limiter.acquire(who):
            self._refuse(wait, "too many requests")
        return who

    async def _key_id(self, request: Request, address: str) -> str:
        assert self.keys is not None
        credentials = await BEARER(request)
        token = credentials.credentials if credentials else None
        if token and (known := await run_in_threadpool(self.keys.known, token)) is not None:
            return known  # verified before: costs no argon2, so the failed-key limit has nothing to save
        # An address that keeps sending bad keys is refused before its next argon2 check: failures
        # cost CPU and memory (argon2 is slow by design), a refusal costs nothing.
        if token and (wait := self.auth_failures.wait(address)):
            self._refuse(wait, "too many failed API keys from this address")
        key_id = await run_in_threadpool(self.keys.verify, token) if token else None
        if key_id is None:
            if token:
                self.auth_failures.acquire(address)
            # Same answer for a missing, unknown, wrong or revoked key: no hint which.
            raise ApiError(401, "unauthorized", "a valid API key is required: send 'Authorization: Bearer "
                                                "KEY' (create one with `srllm keys create`)",
                           headers={"WWW-Authenticate": "Bearer"})
        return key_id

    def _refuse(self, wait: float, why: str) -> NoReturn:
        self.metrics.rate_limited.inc()
        retry = retry_after_header(wait)
        raise ApiError(429, "rate_limited", f"{why}; retry in {retry} s", headers={"Retry-After": retry})


class AdmittedRoute(APIRoute):
    """A route whose requests pass the app's `Gate` (app.state.srllm.gate) before the body is read."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def admitted(request: Request) -> Response:
            await request.app.state.srllm.gate.admit(request)
            return await handler(request)

        return admitted


def principal_dependency(keyed: bool) -> Callable[..., Any]:
    """The admitted principal, for routes. With keys it also declares the bearer scheme in the schema;
    without, the schema declares none: it describes what the server does."""

    async def with_key(request: Request, _: HTTPAuthorizationCredentials | None = Depends(BEARER)) -> str:
        return _admitted(request)

    async def without_key(request: Request) -> str:
        return _admitted(request)

    return with_key if keyed else without_key


def _admitted(request: Request) -> str:
    return str(request.scope["state"]["principal"])
