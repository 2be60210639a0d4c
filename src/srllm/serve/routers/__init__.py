"""The service's routes, one `APIRouter` per area; `create_app` only assembles them.

Each module's `router(settings)` builds its router: request bodies carry this server's limits in
their schema (`schemas.request_models`), and /v1 routes admit a request (key, limits) before its
body is read (`admission.AdmittedRoute`). State comes through the dependencies of `serve.state`.
"""

from __future__ import annotations

from fastapi import APIRouter

from srllm.serve.admission import AdmittedRoute


def v1_router() -> APIRouter:
    """A router whose routes pass the app's gate (API key, rate limits) before the body is read."""
    return APIRouter(route_class=AdmittedRoute)
