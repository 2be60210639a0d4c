"""What to load as the engine: the model, its adapter, the backend that runs it and how it decodes.

`EngineArgs` is the engine half of a server's settings (`serve.ServeSettings` extends it with the
server's own: address, limits, keys, jobs), and what each Ray actor gets to load its engine
(`distributed.ray_engine`): one declaration of these fields for both.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from srllm.errors import SrllmError
from srllm.models import DEFAULT_MODEL


class EngineArgs(BaseModel):
    model: str = DEFAULT_MODEL
    adapter: str | None = "auto"  # "auto" = the shipped adapter; None = raw base model; or a PEFT dir
    backend: str = "transformers"  # transformers | openai | llama-cpp (`engine.loader.ENGINES`)
    base_url: str | None = None  # the OpenAI-compatible server for --backend openai
    remote_model: str | None = None  # the model name sent to that server (default: --model)
    template: str = "debias"
    guard: bool = True  # transformers backend: verify each rewrite, retry, flag (srllm.rewrite.guard)
    max_new_tokens: int | None = None  # None: scaled to each input (GenerationSettings)
    dtype: str = "auto"  # transformers: models.dtype ("auto" = bf16 where native, else fp32); llama-cpp: GGUF type
    # Texts per generation batch (a server merges up to this many from concurrent requests); the
    # openai backend keeps this many requests in flight.
    max_batch_size: int = Field(16, ge=1)

    def engine_args(self) -> EngineArgs:
        """These fields alone (from a subclass such as ServeSettings): what an engine loader takes."""
        return EngineArgs.model_validate(self.model_dump(include=set(EngineArgs.model_fields)))

    def check(self) -> None:
        """Settings that cannot work together fail here, before anything loads."""
        if self.backend == "openai" and not self.base_url:
            raise SrllmError("--backend openai needs --base-url (e.g. http://127.0.0.1:8001/v1)")
