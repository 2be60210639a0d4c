"""What an OpenAI request does: check it, turn it into `CompletionParams`, run it through the
batcher on the engine's decode loop, and answer as JSON or as server-sent events.

Streaming (`stream: true`): the engine reports each choice's new text from the decode thread
(`on_text`); the pieces go through an asyncio queue to `data: {chunk}` events, ended by
`data: [DONE]`. A client that disconnects (Starlette cancels the response) or a stream past the
server's timeout cancels the engine call, and with it its rows in the decode loop at the next step.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from srllm.engine.protocol import Choice, Completion, CompletionParams, OnText
from srllm.errors import InputError, SrllmError
from srllm.prompts.render import Message
from srllm.serve.engine import ServedEngine
from srllm.serve.middleware import ApiError, error_body, request_id_of
from srllm.serve.openai import protocol
from srllm.serve.state import ServeState

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
COMPLETIONS_DEFAULT_TOKENS = 16  # OpenAI's default max_tokens for /v1/completions


def check_model(engine: ServedEngine, name: str | None) -> None:
    """A request or path naming a model this server does not serve is a 404, like vLLM's."""
    if name is not None and name != engine.model:
        raise ApiError(404, "model_not_found", f"The model `{name}` does not exist; this server serves "
                                               f"`{engine.model}` (see /v1/models).", field="model")


def check_supported(body: BaseModel) -> None:
    """400 naming the first parameter this server would otherwise have to drop."""
    if name := protocol.unsupported(body):
        raise ApiError(400, "unsupported_parameter", f"{name} is not supported by this server; leave it out "
                                                     "(see docs/serving.md for what is)", field=name)
    if getattr(body, "stream_options", None) is not None and not getattr(body, "stream", False):
        raise ApiError(400, "invalid_request", "stream_options is only allowed when stream is true",
                       field="stream_options")


def params_of(body: Any, max_tokens: int) -> CompletionParams:
    stop = body.stop if isinstance(body.stop, list) else [body.stop] if body.stop else []
    return CompletionParams(max_tokens=max_tokens, temperature=body.temperature or 0.0,
                            top_p=1.0 if body.top_p is None else body.top_p, n=body.n, stop=tuple(stop),
                            seed=body.seed)


def chat_messages(body: Any) -> list[Message]:
    """The messages as the engine takes them; list content is its text parts joined, other parts a 400."""
    messages: list[Message] = []
    for i, message in enumerate(body.messages):
        content = message.content
        if not isinstance(content, str):
            for j, part in enumerate(content):
                if part.type != "text" or part.text is None:
                    raise ApiError(400, "unsupported_content", f"content parts of type {part.type!r} are not "
                                   "supported; send text parts only", field=f"messages[{i}].content[{j}]")
            content = "".join(part.text for part in content)
        role = "system" if message.role == "developer" else message.role  # OpenAI's newer name for system
        messages.append({"role": role, "content": content})
    return messages


def engine_call(engine: ServedEngine, kind: str) -> Callable[..., Completion]:
    """The engine's `complete`, or for an engine with only `chat` (llama.cpp, a remote server) a
    one-choice adapter that refuses what it cannot honour."""
    if engine.complete is not None:
        return engine.complete
    if engine.chat is None or kind != "chat":
        raise ApiError(422, "unsupported", f"the {engine.backend} backend cannot serve {kind} completions",
                       field="messages" if kind == "chat" else "prompt")
    chat = engine.chat

    def complete(prompts: list[list[Message]], params: CompletionParams, *, on_text: OnText | None = None
                 ) -> Completion:
        out = chat(prompts[0], max_tokens=params.max_tokens, temperature=params.temperature)
        if on_text is not None and out.content:
            on_text(0, out.content)
        return Completion([Choice(out.content, out.finish_reason, out.completion_tokens)], out.prompt_tokens)

    return complete


def check_chat_only(engine: ServedEngine, params: CompletionParams) -> None:
    """An engine without `complete` takes one greedy-or-sampled choice and nothing else."""
    if engine.complete is not None:
        return
    for name, honoured in (("n", params.n == 1), ("stop", not params.stop), ("seed", params.seed is None),
                           ("top_p", params.top_p == 1.0)):
        if not honoured:
            raise ApiError(400, "unsupported_parameter", f"{name} is not supported by the {engine.backend} "
                                                         "backend; leave it out", field=name)


@dataclass
class Job:
    """One OpenAI request ready to run: what to send the engine and how to answer."""

    kind: str  # "chat" or "text"
    engine: ServedEngine
    prompts: list[str] | list[list[Message]]
    params: CompletionParams
    include_usage: bool
    id: str
    created: int

    @classmethod
    def build(cls, kind: str, engine: ServedEngine, body: Any, prompts: Any, max_tokens: int) -> Job:
        check_model(engine, body.model)
        check_supported(body)
        params = params_of(body, max_tokens)
        engine_call(engine, kind)  # refused here, before a stream starts, when the engine cannot do it
        check_chat_only(engine, params)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        return cls(kind, engine, prompts, params, include_usage, f"{prefix}-{uuid.uuid4().hex}", int(time.time()))

    def run(self, on_text: OnText | None = None) -> Completion:
        return engine_call(self.engine, self.kind)(self.prompts, self.params, on_text=on_text)

    def answer(self, out: Completion) -> BaseModel:
        usage = protocol.Usage(prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                               total_tokens=out.prompt_tokens + out.completion_tokens)
        if self.kind == "chat":
            return protocol.ChatCompletion(
                id=self.id, created=self.created, model=self.engine.model, usage=usage,
                choices=[protocol.ChatChoice(index=i, message=protocol.ChatMessage(content=c.text),
                                             finish_reason=c.finish_reason) for i, c in enumerate(out.choices)])
        return protocol.TextCompletion(
            id=self.id, created=self.created, model=self.engine.model, usage=usage,
            choices=[protocol.CompletionChoice(index=i, text=c.text, finish_reason=c.finish_reason)
                     for i, c in enumerate(out.choices)])

    # -- stream chunks --------------------------------------------------------------------------
    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        body: dict[str, Any] = {"id": self.id, "object": obj, "created": self.created, "model": self.engine.model,
                                "choices": choices}
        if self.include_usage:
            body["usage"] = usage  # null on every chunk but the last, as OpenAI sends it
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def delta(self, index: int, text: str | None, finish: str | None = None, first: bool = False) -> dict[str, Any]:
        if self.kind == "chat":
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else {}
            if text:
                delta["content"] = text
            return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {"index": index, "text": text or "", "finish_reason": finish, "logprobs": None}

    @property
    def choices(self) -> int:
        return len(self.prompts) * self.params.n


async def respond(state: ServeState, job: Job, request: Request, stream: bool) -> Any:
    """The answer to `job`: JSON once done, or a stream of server-sent events as it decodes."""
    assert state.batcher is not None
    if not stream:
        out = await state.within_timeout(state.batcher.call(job.run), request)
        return job.answer(out)
    return StreamingResponse(_events(state, job, request), media_type="text/event-stream", headers=SSE_HEADERS)


async def _events(state: ServeState, job: Job, request: Request) -> AsyncIterator[str]:
    assert state.batcher is not None
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()

    def on_text(index: int, text: str) -> None:  # on the decode thread
        if not loop.is_closed():  # a server shutting down: nobody reads the pieces any more
            loop.call_soon_threadsafe(pieces.put_nowait, (index, text))

    work = asyncio.ensure_future(state.batcher.call(job.run, on_text))
    work.add_done_callback(lambda _: pieces.put_nowait(None))
    deadline = loop.time() + state.settings.request_timeout_s
    try:
        if job.kind == "chat":  # the role comes first, as OpenAI sends it
            yield job.chunk([job.delta(i, None, first=True) for i in range(job.choices)])
        while (piece := await asyncio.wait_for(pieces.get(), max(0.0, deadline - loop.time()))) is not None:
            yield job.chunk([job.delta(piece[0], piece[1])])
        out = work.result()
        yield job.chunk([job.delta(i, None, c.finish_reason) for i, c in enumerate(out.choices)])
        if job.include_usage:
            yield job.chunk([], {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                                 "total_tokens": out.prompt_tokens + out.completion_tokens})
    except asyncio.TimeoutError:
        yield _error_event(request, 504, "timeout", "the request took longer than "
                           f"{state.settings.request_timeout_s:g} s; ask for fewer tokens")
    except (InputError, SrllmError) as exc:  # the headers are sent: the error becomes the last event
        invalid = isinstance(exc, InputError)
        yield _error_event(request, 422 if invalid else 502, "invalid_input" if invalid else "backend_error",
                           str(exc), getattr(exc, "field", None))
    finally:  # also when Starlette cancels the stream because the client went away
        if not work.done():
            work.cancel()
    yield "data: [DONE]\n\n"


def _error_event(request: Request, status: int, code: str, message: str, field: str | None = None) -> str:
    return f"data: {json.dumps(error_body(code, message, request_id_of(request), field, status))}\n\n"
