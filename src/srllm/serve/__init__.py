"""The HTTP service: `create_app(ServeSettings(...), engine=None)` (FastAPI), served by `srllm serve`."""

from typing import Any

from srllm.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI loads only when an app is made: the CLI reads ServeSettings to build `srllm serve`'s
    # options on every command, and `srllm --help` should not pay for the service.
    if name == "create_app":
        from srllm.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
