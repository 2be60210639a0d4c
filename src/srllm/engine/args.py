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
    # Each description is also the help of the `srllm serve` option generated from the field.
    model: str = Field(DEFAULT_MODEL, description="Registry name, local model dir, .gguf file or hub id.")
    adapter: str | None = Field("auto", description="PEFT adapter dir; auto = the shipped adapter (--no-adapter: "
                                                    "the raw base model).")
    backend: str = Field("transformers", description="transformers, llama-cpp or openai (engine.loader.ENGINES).")
    base_url: str | None = Field(None, description="OpenAI-compatible server for --backend openai (…/v1).")
    remote_model: str | None = Field(None, description="Model name sent to --base-url (default: --model).")
    template: str | None = Field(None, description="Prompt template: debias, debias-marked, job or a JSON file "
                                                   "(default: the one the adapter was trained with, else debias).")
    guard: bool = Field(True, description="Verify each rewrite, retry and flag (status, scores, reasons); "
                                          "transformers and llama-cpp backends.")
    max_new_tokens: int | None = Field(None, description="Fixed token budget per rewrite (default: scaled to "
                                                         "each input).")
    dtype: str = Field("auto", description="Inference dtype: auto (bf16 where the CPU/GPU computes it natively, "
                                           "else fp32), float32, bfloat16, float16; llama-cpp: the merged "
                                           "GGUF's type (auto = f16, bfloat16, q8_0).")
    # A server merges up to this many texts from concurrent requests; the openai backend keeps this
    # many requests in flight.
    max_batch_size: int = Field(16, ge=1, description="Most texts merged into one generation.")

    def engine_args(self) -> EngineArgs:
        """These fields alone (from a subclass such as ServeSettings): what an engine loader takes."""
        return EngineArgs.model_validate(self.model_dump(include=set(EngineArgs.model_fields)))

    def check(self) -> None:
        """Settings that cannot work together fail here, before anything loads."""
        if self.backend == "openai" and not self.base_url:
            raise SrllmError("--backend openai needs --base-url (e.g. http://127.0.0.1:8001/v1)")
