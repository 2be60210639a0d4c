"""The `openai` engine: any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama, srllm serve).

The prompt is built here with our templates (so prompt_version stays meaningful) and sent as chat
messages; the remote server does the generation, we clean the answer the same way as locally.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from srllm.engine.args import EngineArgs
from srllm.engine.clean import clean_response
from srllm.engine.protocol import ChatOutput, RewriteResult, public_name
from srllm.errors import SrllmError
from srllm.prompts import build_messages, get_template
from srllm.prompts.render import Message


class OpenAIChatEngine:
    backend = "openai"
    adapter = None
    method = "remote"

    def __init__(self, base_url: str, *, model: str, template: str = "debias", max_tokens: int = 256,
                 api_key: str | None = None, timeout: float = 120.0, concurrency: int = 16,
                 remote_model: str | None = None) -> None:
        """`model`: the name this engine shows; `remote_model`: the name sent to the server (default: `model`)."""
        self.base_url = base_url.rstrip("/")
        self.model = public_name(model) or model
        self._remote_model = remote_model or model
        self.template = get_template(template)
        self.prompt_version = self.template.version
        self.max_tokens = max_tokens
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="srllm-openai")

    def chat(self, messages: list[Message], *, max_tokens: int, temperature: float) -> ChatOutput:
        payload = {"model": self._remote_model, "messages": messages, "max_tokens": max_tokens,
                   "temperature": temperature}
        try:
            response = self._client.post("/chat/completions", json=payload)
        except httpx.HTTPError as exc:
            raise SrllmError(f"the OpenAI-compatible server at {self.base_url} cannot be reached "
                             f"({type(exc).__name__})") from exc
        if response.status_code == 404:  # vLLM and srllm serve name the model they do not serve
            raise SrllmError(f"the OpenAI-compatible server at {self.base_url} does not serve the model "
                             f"{self._remote_model!r} (HTTP 404); name one of its /v1/models with --remote-model")
        if response.status_code != 200:
            raise SrllmError(f"the OpenAI-compatible server at {self.base_url} answered "
                             f"HTTP {response.status_code}")
        body = response.json()
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        return ChatOutput(content=choice["message"]["content"] or "",
                          prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)),
                          finish_reason=choice.get("finish_reason") or "stop")

    def _rewrite_one(self, text: str) -> RewriteResult:
        output = self.chat(build_messages(text, template=self.template), max_tokens=self.max_tokens,
                           temperature=0.0)
        return RewriteResult(text=text, rewrite=clean_response(output.content), model=self.model,
                             adapter=None, method=self.method, prompt_version=self.prompt_version,
                             prompt_tokens=output.prompt_tokens, generated_tokens=output.completion_tokens)

    def rewrite(self, texts: Sequence[str], *, batch_size: int = 8, progress: bool = False) -> list[RewriteResult]:
        # Concurrent requests let the remote server batch them too.
        return list(self._pool.map(self._rewrite_one, texts))

    def close(self) -> None:
        self._client.close()
        self._pool.shutdown(wait=False)


def load(args: EngineArgs) -> OpenAIChatEngine:
    if not args.base_url:
        raise SrllmError("--backend openai needs --base-url, e.g. http://127.0.0.1:8001/v1")
    return OpenAIChatEngine(args.base_url, model=args.model, remote_model=args.remote_model,
                            template=args.template or "debias", max_tokens=args.max_new_tokens or 256,
                            api_key=os.environ.get("SRLLM_REMOTE_API_KEY") or os.environ.get("OPENAI_API_KEY"),
                            concurrency=args.max_batch_size)
