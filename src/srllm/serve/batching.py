"""Dynamic batching: concurrent requests queue up and run together in one batched generation.

One asyncio task collects queued requests (until `max_batch_size` texts or `max_wait_ms` after the
first arrived) and hands them to one worker thread that owns the model, so the event loop never
blocks and the model is never used from two threads at once. Requests that pile up while the model
is busy are merged into the next call: throughput grows with load instead of serialising.

Engines that decode continuously (`engine.concurrent`: the transformers Rewriter, see
`engine.continuous`) take overlapping calls: each collected batch is dispatched at once on its own
worker thread and joins the running generation at the next decode step, so a request no longer
waits for the batch before it to finish. `max_batch_size` then also caps the rows decoded together.
With `max_batch_size` 1 (the naive peer) every request still runs alone, one after another.

When every request of a call is gone (timed out, or its client disconnected: its future is
cancelled), the call's cancel event is set and its rows leave the decode loop at the next step
(`engine.continuous.cancel_on`) instead of decoding to their budget for nobody.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from srllm.engine.continuous import cancel_on
from srllm.errors import InputError
from srllm.serve.metrics import ServeMetrics

T = TypeVar("T")


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)


class DynamicBatcher:
    def __init__(self, engine: Any, *, max_batch_size: int, max_wait_ms: float, metrics: ServeMetrics) -> None:
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.metrics = metrics
        self.batches_run = 0  # engine calls made: tests check that requests were merged
        self.workers = max_batch_size if getattr(engine, "concurrent", False) and max_batch_size > 1 else 1
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="srllm-model")
        self._slots: asyncio.Semaphore | None = None
        self._running: set[asyncio.Task] = set()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.workers)
        self._task = asyncio.create_task(self._collect_forever(), name="srllm-batcher")

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        # Whoever still waits (a job thread) hears about the shutdown instead of waiting forever.
        while self._queue is not None and not self._queue.empty():
            _settle(self._queue.get_nowait().future, error=RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def rewrite(self, texts: list[str]) -> list[Any]:
        """Results for `texts`, in order, computed in some merged batch."""
        if self._queue is None or self.loop is None:
            raise RuntimeError("the batcher is not started")
        future: asyncio.Future = self.loop.create_future()
        await self._queue.put(_Pending(list(texts), future))
        self.metrics.queue_depth.inc(len(texts))
        return await future

    def rewrite_from_thread(self, texts: list[str], timeout: float | None = None) -> list[Any]:
        """For worker threads (batch jobs): queue with everyone else and wait."""
        if self.loop is None:
            raise RuntimeError("the batcher is not started")
        return asyncio.run_coroutine_threadsafe(self.rewrite(texts), self.loop).result(timeout)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run anything else that needs the model (chat completions) on the model thread; it stops
        decoding (`cancel_on`) when the caller is cancelled."""
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        work = loop.run_in_executor(self._executor, _with_cancel, cancel, lambda: fn(*args, **kwargs))
        try:
            return await work
        except asyncio.CancelledError:
            cancel.set()
            raise

    async def _collect_forever(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0].texts)
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch_size:
                try:
                    if self._queue.empty():
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        item = await asyncio.wait_for(self._queue.get(), left)
                    else:
                        item = self._queue.get_nowait()
                except (asyncio.TimeoutError, asyncio.QueueEmpty):
                    break
                batch.append(item)
                size += len(item.texts)
            self.metrics.queue_depth.dec(size)
            live = [item for item in batch if not item.future.done()]  # drop timed-out / gone clients
            if not live:
                continue
            if self.workers == 1:
                await self._run(live)
                continue
            assert self._slots is not None
            await self._slots.acquire()
            task = asyncio.create_task(self._run_and_release(live))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_and_release(self, batch: list[_Pending]) -> None:
        assert self._slots is not None
        try:
            await self._run(batch)
        finally:
            self._slots.release()

    async def _run(self, batch: list[_Pending]) -> None:
        texts = [text for item in batch for text in item.texts]
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        cancel = _cancel_when_abandoned(batch)
        try:
            results = await loop.run_in_executor(self._executor, _with_cancel, cancel, lambda: self._generate(texts))
        except InputError as exc:
            if len(batch) == 1:
                _settle(batch[0].future, error=exc)
                return
            # One request's bad text must not fail the others it was merged with.
            for item in batch:
                await self._run([item])
            return
        except Exception as exc:  # the engine failed: every waiting request gets the error
            for item in batch:
                _settle(item.future, error=exc)
            return
        self.metrics.generation_seconds.observe(time.monotonic() - started)
        self.metrics.batches.inc()
        self.metrics.batch_size.observe(len(texts))
        self.metrics.batch_requests.observe(len(batch))
        cursor = 0
        for item in batch:
            _settle(item.future, value=results[cursor: cursor + len(item.texts)])
            cursor += len(item.texts)

    def _generate(self, texts: list[str]) -> list[Any]:
        self.batches_run += 1
        return self.engine.rewrite(texts, batch_size=self.max_batch_size)


def _cancel_when_abandoned(batch: list[_Pending]) -> threading.Event:
    """An event set once every request of `batch` was cancelled: nobody waits for the call any more."""
    cancel = threading.Event()

    def check(_: asyncio.Future) -> None:
        if all(item.future.cancelled() for item in batch):
            cancel.set()

    for item in batch:
        item.future.add_done_callback(check)
    return cancel


def _with_cancel(cancel: threading.Event, work: Callable[[], T]) -> T:
    with cancel_on(cancel):
        return work()


def _settle(future: asyncio.Future, *, value: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
