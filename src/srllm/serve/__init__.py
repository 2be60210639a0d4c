"""The HTTP service: `create_app(ServeSettings(...), engine=None)` (FastAPI), served by `srllm serve`."""

from srllm.serve.app import create_app
from srllm.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
