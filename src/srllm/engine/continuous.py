"""Continuous batching for a decoder-only model: rows join and leave the batch at every step.

`generate()` runs a batch until its longest row is done, so at batch 32 most steps carry rows
that already finished (rewrites are 20-60 tokens; a few run to the budget), and a request that
arrives during a batch waits for all of it. Here each decode step runs only the live rows; a
finished row is dropped from the KV cache at once and a waiting prompt is prefilled into the
free slot.

`DecodeLoop` runs one `ContinuousDecoder` per model on its own thread. Every caller (a batch job,
each request of the service, the guard's sampled retries) submits its prompts there and waits, so
callers that overlap in time share decode steps: a request that arrives mid-generation starts
within one step instead of one batch.

The KV cache is a transformers `DynamicCache` whose layers keep spare columns (`SpareLayer`), so a
step writes its token in place instead of copying the whole cache (`DynamicLayer` concatenates:
at 32 rows that copy was ~40 % of a step). Rows are gathered to drop finished ones, groups of rows
are concatenated along the batch, and columns that no live row uses are cut. Rows are
``[prompt head][padding][tail + generated]``; padding is masked and position ids come from the
mask, so every token sees exactly what it would see alone: greedy output equals `generate()`'s.

A caller that gives up (the service's request timed out, or its client went away) sets its cancel
event (`generate(cancel=...)`, or `cancel_on(event)` around code that reaches the loop): its rows
leave the batch before the next step, like finished rows, and the caller gets `Cancelled`.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from srllm.engine.prefix_cache import PrefixCache, cache_kwarg, layout

# Spare columns each layer allocates beyond what it holds; a step that runs out reallocates.
SPARE_COLUMNS = 64
# Cut masked columns once this many have piled up: each cut copies the cache, each kept
# column costs attention at every step.
TRIM_AFTER_COLUMNS = 16
# Prompt heads whose KV is kept (one per template / shot set in use).
HEADS_KEPT = 4


class Cancelled(Exception):
    """The caller gave up on its rows (its cancel event was set); they were dropped unfinished."""


# The cancel event of the code running on this thread (the service sets it per engine call), so the
# rewriter and the guard need not pass it through every call between the request and the loop.
_CANCEL: ContextVar[threading.Event | None] = ContextVar("srllm_decode_cancel", default=None)


@contextmanager
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Rows that code in this block submits to a decode loop stop once `event` is set."""
    token = _CANCEL.set(event)
    try:
        yield
    finally:
        _CANCEL.reset(token)


def current_cancel() -> threading.Event | None:
    """The event set by the innermost `cancel_on` around this code, if any."""
    return _CANCEL.get()


@dataclass(frozen=True)
class Sampling:
    """Greedy when `do_sample` is false (the paper's decoding); otherwise temperature + top-p."""

    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.95


GREEDY = Sampling()


@dataclass
class Request:
    """One prompt to continue. The first `head` ids are a prefix many prompts share (see
    `prefix_cache`); `key` is the caller's handle, returned with the result; `stop`: the tokens that end
    this row (None: the loop's end-of-turn tokens); `seed`: this row samples from its own generator, so
    the same seed gives the same tokens whatever else shares the batch; `watch(tokens)`: called on the
    decode thread after each new token (streaming, stop strings), True ends the row ("stop")."""

    ids: Sequence[int]
    max_new_tokens: int
    key: Any = None
    sampling: Sampling = GREEDY
    head: int = 0
    stop: frozenset[int] | None = None
    seed: int | None = None
    watch: Callable[[list[int]], bool] | None = None


@dataclass
class Finished:
    key: Any
    tokens: list[int]
    prompt_tokens: int
    reason: str  # "stop" (an end-of-turn token) or "length" (the budget ran out)


@dataclass
class _Row:
    request: Request
    tokens: list[int] = field(default_factory=list)
    generator: Any = None  # a torch.Generator for a seeded row


def _row(request: Request) -> _Row:
    if request.seed is None or not request.sampling.do_sample:
        return _Row(request)
    import torch

    return _Row(request, generator=torch.Generator().manual_seed(request.seed))


class ContinuousDecoder:
    """Decode requests with at most `slots` live rows per step; see the module docstring.

    `submit` may be called from any thread; `step` and `run` from one thread at a time.
    """

    def __init__(self, model: Any, *, pad_id: int, eos_ids: Iterable[int], slots: int = 32) -> None:
        self.model = model
        self.pad_id = pad_id
        self.eos_ids = {int(token) for token in eos_ids}
        self.slots = max(1, slots)
        self._heads: OrderedDict[tuple[int, ...], PrefixCache] = OrderedDict()
        self._pending: deque[Request] = deque()
        self._lock = threading.Lock()
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None
        self._last: Any = None  # the token each live row feeds next, shape [rows, 1]
        self.steps = 0
        self.prefills = 0
        self.rows_stepped = 0  # sum over steps of live rows: rows_stepped / steps = mean batch

    # -- the queue -----------------------------------------------------------------------------
    def submit(self, request: Request) -> None:
        with self._lock:
            self._pending.append(request)

    @property
    def live(self) -> int:
        return len(self._rows)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._pending)

    def idle(self) -> bool:
        return not self._rows and not self.waiting

    def run(self, requests: Iterable[Request]) -> Iterator[Finished]:
        """Decode all `requests`, yielding each as it finishes (not in input order)."""
        for request in requests:
            self.submit(request)
        while not self.idle():
            yield from self.step()

    def reset(self) -> None:
        """Forget every live row and waiting prompt (after an error)."""
        with self._lock:
            self._pending.clear()
        self._forget_rows()

    def drop(self, gone: Callable[[Any], bool]) -> int:
        """Forget the waiting prompts and live rows whose key `gone` accepts (a caller that gave up):
        live rows leave the KV cache at once, like finished ones. From the stepping thread. The count."""
        with self._lock:
            kept = deque(request for request in self._pending if not gone(request.key))
            dropped = len(self._pending) - len(kept)
            self._pending = kept
        live = [i for i, row in enumerate(self._rows) if not gone(row.request.key)]
        if len(live) < len(self._rows):
            dropped += len(self._rows) - len(live)
            self._keep(live)
        return dropped

    def _forget_rows(self) -> None:
        self._rows, self._cache, self._mask, self._last = [], None, None, None

    # -- one step ----------------------------------------------------------------------------------
    def step(self) -> list[Finished]:
        """Admit waiting prompts into free slots, then decode one token for every live row."""
        import torch

        finished: list[Finished] = []
        with torch.inference_mode():
            finished += self._admit()
            if self._rows:
                finished += self._decode()
        return finished

    def _admit(self) -> list[Finished]:
        with self._lock:
            room = self.slots - len(self._rows)
            taken = [self._pending.popleft() for _ in range(min(max(room, 0), len(self._pending)))]
        groups: dict[tuple[int, ...], list[Request]] = {}
        for request in taken:
            groups.setdefault(tuple(request.ids[: _head_length(request)]), []).append(request)
        finished: list[Finished] = []
        for head, group in groups.items():
            cache, mask, logits = self._prefill(head, group)
            rows = [_row(request) for request in group]
            self.prefills += 1
            self._merge(rows, cache, mask)
            first = self._choose(logits, rows)
            finished += self._advance(first, start=len(self._rows) - len(rows))
        return finished

    def _prefill(self, head: tuple[int, ...], group: list[Request]) -> tuple[Any, Any, Any]:
        import torch
        from transformers import DynamicCache

        rows = [list(request.ids) for request in group]
        ids, mask = layout(rows, len(head), self.pad_id)
        ids_t, mask_t = torch.tensor(ids), torch.tensor(mask)
        cache = self._head_cache(head).batch(head, len(rows)) if head else DynamicCache()
        positions = (mask_t.cumsum(-1) - 1).clamp(min=0)[:, len(head):]
        output = self.model(
            input_ids=ids_t[:, len(head):], attention_mask=mask_t, position_ids=positions,
            use_cache=True, logits_to_keep=1, **{cache_kwarg(): cache},
        )
        return cache, mask_t, output.logits[:, -1, :]

    def _head_cache(self, head: tuple[int, ...]) -> PrefixCache:
        if head in self._heads:
            self._heads.move_to_end(head)
        else:
            self._heads[head] = PrefixCache(self.model)
            while len(self._heads) > HEADS_KEPT:
                self._heads.popitem(last=False)
        return self._heads[head]

    def _decode(self) -> list[Finished]:
        import torch

        positions = self._mask.sum(-1, keepdim=True)
        self._mask = torch.cat([self._mask, self._mask.new_ones(len(self._rows), 1)], dim=1)
        output = self.model(
            input_ids=self._last, attention_mask=self._mask, position_ids=positions, use_cache=True,
            logits_to_keep=1, **{cache_kwarg(): self._cache},
        )
        self.steps += 1
        self.rows_stepped += len(self._rows)
        return self._advance(self._choose(output.logits[:, -1, :], self._rows), start=0)

    # -- token choice and bookkeeping ----------------------------------------------------------
    def _choose(self, logits: Any, rows: list[_Row]) -> Any:
        import torch

        chosen = logits.argmax(dim=-1)
        samplings = [row.request.sampling for row in rows]
        # Unseeded rows with the same sampling draw together from the global generator.
        shared = [i for i, row in enumerate(rows) if samplings[i].do_sample and row.generator is None]
        for sampling in {samplings[i] for i in shared}:
            group = torch.tensor([i for i in shared if samplings[i] == sampling])
            scores = _warp(logits[group].float(), sampling)
            chosen[group] = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        for i, row in enumerate(rows):
            if row.generator is not None:
                scores = _warp(logits[i: i + 1].float(), samplings[i])
                chosen[i] = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1,
                                              generator=row.generator)[0, 0]
        return chosen

    def _advance(self, tokens: Any, *, start: int) -> list[Finished]:
        """Append each row's new token (rows from `start` on); drop the rows that are done."""
        import torch

        last = tokens.view(-1, 1)
        self._last = last if start == 0 else torch.cat([self._last[:start], last], dim=0)
        finished: list[Finished] = []
        keep: list[int] = []
        for offset, token in enumerate(tokens.tolist()):
            index = start + offset
            row = self._rows[index]
            row.tokens.append(token)
            watch = row.request.watch
            if token in (self.eos_ids if row.request.stop is None else row.request.stop):
                finished.append(Finished(row.request.key, row.tokens, len(row.request.ids), "stop"))
            elif watch is not None and watch(row.tokens):
                finished.append(Finished(row.request.key, row.tokens, len(row.request.ids), "stop"))
            elif len(row.tokens) >= row.request.max_new_tokens:
                finished.append(Finished(row.request.key, row.tokens, len(row.request.ids), "length"))
            else:
                keep.append(index)
        if finished:
            self._keep(list(range(start)) + keep)
        return finished

    # -- cache surgery -----------------------------------------------------------------------------
    def _keep(self, indices: list[int]) -> None:
        import torch

        if not indices:
            self._forget_rows()
            return
        index = torch.tensor(indices)
        self._rows = [self._rows[i] for i in indices]
        self._mask = self._mask[index]
        self._last = self._last[index]
        used = self._mask.any(dim=0)
        # Cut the columns no live row attends to (left by rows that finished) in the same copy.
        columns = used.nonzero().squeeze(1) if int((~used).sum()) >= TRIM_AFTER_COLUMNS else None
        if columns is not None:
            self._mask = self._mask[:, columns]
        for layer in self._cache.layers:
            keys, values = layer.keys[index], layer.values[index]
            if columns is not None:
                keys, values = keys.index_select(2, columns), values.index_select(2, columns)
            layer.set([keys], [values], keys.shape[2])

    def _merge(self, rows: list[_Row], cache: Any, mask: Any) -> None:
        """Append a freshly prefilled group (a plain `DynamicCache`) to the live rows, left-padding
        the shorter side; the live cache is rebuilt in one copy."""
        import torch

        if not self._rows:
            self._rows, self._cache, self._mask = rows, _with_spare_columns(cache), mask
            return
        width = max(self._mask.shape[1], mask.shape[1])
        self._mask = torch.cat([_pad_left(self._mask, width - self._mask.shape[1]),
                                _pad_left(mask, width - mask.shape[1])], dim=0)
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.set([old.keys, new.keys], [old.values, new.values], width)
        self._rows = self._rows + rows


class DecodeLoop:
    """One decoder per model on a daemon thread; `generate` may be called from any thread."""

    def __init__(self, decoder: ContinuousDecoder) -> None:
        self.decoder = decoder
        self._wake = threading.Condition()
        self._waiters: dict[Any, _Waiter] = {}
        self._slots: dict[int, int] = {}
        self._thread: threading.Thread | None = None
        self._next = 0

    def generate(
        self, requests: Sequence[Request], *, slots: int | None = None,
        on_result: Callable[[int], None] | None = None, cancel: threading.Event | None = None,
    ) -> list[Finished]:
        """Results for `requests`, in their order, decoded alongside whatever else is running.

        `on_result(i)` is called (on the decode thread) as request i finishes: progress bars.
        Once `cancel` (default: the one `cancel_on` set) is set, the rows stop and `Cancelled` is raised.
        """
        if not requests:
            return []
        waiter = _Waiter(len(requests), on_result, cancel or current_cancel())
        call = self._submit(requests, slots, waiter)
        waiter.done.wait()
        self._forget(call)
        if waiter.error is not None:
            raise waiter.error
        return [Finished(requests[i].key, f.tokens, f.prompt_tokens, f.reason)
                for i, f in sorted(waiter.results.items())]

    def stream(self, requests: Sequence[Request], *, slots: int | None = None,
               cancel: threading.Event | None = None) -> Iterator[tuple[int, Finished]]:
        """(i, result of request i) as each request finishes, on the caller's thread: what a file job
        writes row by row. The rows are submitted at once, exactly as `generate` submits them, so a row's
        tokens do not depend on which of the two is used. Closing the iterator early drops the rows left."""
        if not requests:
            return
        finished: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        waiter = _Waiter(len(requests), finished.put, cancel or current_cancel(), on_fail=lambda: finished.put(None))
        call = self._submit(requests, slots, waiter)
        try:
            for _ in range(len(requests)):
                index = finished.get()
                if index is None:
                    raise waiter.error or Cancelled("the decode loop stopped")
                item = waiter.results[index]
                yield index, Finished(requests[index].key, item.tokens, item.prompt_tokens, item.reason)
        finally:
            if not waiter.done.is_set():  # the caller stopped reading: its rows need no more steps
                waiter.abandon()
                with self._wake:
                    self._wake.notify()
                waiter.done.wait()  # the loop drops them before its next step
            self._forget(call)

    def _submit(self, requests: Sequence[Request], slots: int | None, waiter: _Waiter) -> int:
        if waiter.cancel is not None and waiter.cancel.is_set():
            raise Cancelled("the caller gave up before its rows started")
        with self._wake:
            self._next += 1
            call = self._next
            self._waiters[call] = waiter
            if slots:
                self._slots[call] = max(1, slots)
                # The widest call in flight sets the width: a narrow call never squeezes a wide one.
                self.decoder.slots = max(self._slots.values())
            for index, request in enumerate(requests):
                self.decoder.submit(replace(request, key=(call, index)))
            self._ensure_thread()
            self._wake.notify()
        return call

    def _forget(self, call: int) -> None:
        with self._wake:
            self._waiters.pop(call, None)
            self._slots.pop(call, None)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="srllm-decode", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self.decoder.idle():
                    self._wake.wait()
                gone = {call: waiter for call, waiter in self._waiters.items() if waiter.cancelled}
            if gone:
                self._drop(gone)
                continue  # the loop may be idle now
            try:
                finished = self.decoder.step()
            except BaseException as exc:  # noqa: BLE001 - every waiting caller must hear about it
                self.decoder.reset()
                with self._wake:
                    for waiter in self._waiters.values():
                        waiter.fail(exc)
                continue
            with self._wake:
                for item in finished:
                    call, index = item.key
                    waiter = self._waiters.get(call)
                    if waiter is not None:
                        waiter.add(index, item)


    def _drop(self, gone: dict[int, _Waiter]) -> None:
        """Stop the rows of calls whose caller gave up, so no step is spent on them."""
        self.decoder.drop(lambda key: key[0] in gone)
        with self._wake:
            for waiter in gone.values():
                waiter.fail(Cancelled("the caller gave up; its rows were dropped unfinished"))


class _Waiter:
    def __init__(self, expected: int, on_result: Callable[[int], None] | None = None,
                 cancel: threading.Event | None = None, on_fail: Callable[[], None] | None = None) -> None:
        self.expected = expected
        self.on_result = on_result
        self.on_fail = on_fail
        self.cancel = cancel
        self.abandoned = False
        self.results: dict[int, Finished] = {}
        self.error: BaseException | None = None
        self.done = threading.Event()

    def add(self, index: int, item: Finished) -> None:
        self.results[index] = item
        if self.on_result is not None:
            self.on_result(index)
        if len(self.results) >= self.expected:
            self.done.set()

    @property
    def cancelled(self) -> bool:
        gave_up = self.abandoned or (self.cancel is not None and self.cancel.is_set())
        return gave_up and not self.done.is_set()

    def abandon(self) -> None:
        """The caller stopped waiting (a stream closed early): drop its rows like a cancelled call's."""
        self.abandoned = True

    def fail(self, error: BaseException) -> None:
        if self.done.is_set():  # every row already arrived: the caller has its results
            return
        self.error = error
        self.done.set()
        if self.on_fail is not None:
            self.on_fail()


# Each model's loop, kept here rather than as an attribute of the (third-party) model object. The
# decoder holds its model and the loop's daemon thread lives with the process, so a model that has
# decoded stays loaded, as it did when the loop hung on it.
_LOOPS: weakref.WeakKeyDictionary[Any, DecodeLoop] = weakref.WeakKeyDictionary()
_LOOPS_LOCK = threading.Lock()


def decode_loop(model: Any, *, pad_id: int, eos_ids: Iterable[int]) -> DecodeLoop:
    """The model's shared decode loop (created on first use by whoever asks first: later callers
    share it, its pad and end-of-turn ids included)."""
    with _LOOPS_LOCK:
        loop = _LOOPS.get(model)
        if loop is None:
            loop = _LOOPS[model] = DecodeLoop(ContinuousDecoder(model, pad_id=pad_id, eos_ids=eos_ids))
        return loop


def _head_length(request: Request) -> int:
    # Keep one token per row to run the model on: the first new token comes from its logits.
    return max(0, min(request.head, len(request.ids) - 1))


def _spare_layer_type() -> type:
    from transformers.cache_utils import DynamicLayer

    class SpareLayer(DynamicLayer):
        """A `DynamicLayer` whose keys/values are views into buffers with spare columns."""

        def set(self, keys: Sequence[Any], values: Sequence[Any], width: int) -> None:
            """Hold the rows of `keys`/`values` (groups stacked along the batch), each group
            right-aligned to `width` columns, in new buffers with spare columns after them."""
            self._k, self._v = _spare_buffer(keys, width), _spare_buffer(values, width)
            self._length = width
            self.keys, self.values = self._k[:, :, :width], self._v[:, :, :width]
            self.device, self.is_initialized = self._k.device, True

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            end = self._length + key_states.shape[-2]
            if end > self._k.shape[2]:
                self.set([self.keys], [self.values], self._length)
            self._k[:, :, self._length:end] = key_states
            self._v[:, :, self._length:end] = value_states
            self._length = end
            self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
            return self.keys, self.values

    return SpareLayer


_SPARE_LAYER: type | None = None


def _with_spare_columns(cache: Any) -> Any:
    """Swap each `DynamicLayer` of `cache` for a `SpareLayer` holding the same tensors."""
    global _SPARE_LAYER
    if _SPARE_LAYER is None:
        _SPARE_LAYER = _spare_layer_type()
    for index, layer in enumerate(cache.layers):
        spare = _SPARE_LAYER()
        spare.set([layer.keys], [layer.values], layer.keys.shape[2])
        cache.layers[index] = spare
    return cache


def _spare_buffer(parts: Sequence[Any], width: int) -> Any:
    """`parts` stacked along the batch, each right-aligned to `width` columns, then SPARE_COLUMNS
    unwritten columns. The left padding is zeroed: it is masked, but garbage there (NaN) would
    still poison attention's weighted sum."""
    import torch

    batch, (_, heads, _, dim) = sum(part.shape[0] for part in parts), parts[0].shape
    buffer = torch.empty((batch, heads, width + SPARE_COLUMNS, dim), dtype=parts[0].dtype, device=parts[0].device)
    row = 0
    for part in parts:
        pad = width - part.shape[2]
        buffer[row: row + part.shape[0], :, :pad] = 0
        buffer[row: row + part.shape[0], :, pad:width] = part
        row += part.shape[0]
    return buffer


def _pad_left(mask: Any, columns: int) -> Any:
    """`columns` masked-out columns before a [rows, width] attention mask."""
    import torch

    if columns == 0:
        return mask
    return torch.cat([mask.new_zeros((mask.shape[0], columns)), mask], dim=1)


def _warp(scores: Any, sampling: Sampling) -> Any:
    """Temperature and top-p with transformers' own warpers (what generate(do_sample=True) uses)."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    processors = LogitsProcessorList()
    if sampling.temperature and sampling.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(sampling.temperature))
    if sampling.top_p is not None and sampling.top_p < 1.0:
        processors.append(TopPLogitsWarper(sampling.top_p))
    return processors(None, scores)
