"""Many sequences decoded together on one llama.cpp context (llama-cpp-python's low-level batch API).

llama-cpp-python's `Llama` generates one sequence at a time. This loop owns the context instead and
puts every running sequence into each `llama_decode` call (a `llama_batch` whose tokens carry their own
`seq_id` and position), like the transformers engine's continuous batching (`engine.continuous`):
- the prompt head (system prompt + instruction, the same for every text) is decoded once into sequence 0
  and shared with each new sequence by `llama_memory_seq_cp`; in a unified KV cache that adds the
  sequence id to the head's cells rather than copying them, so only each text's own tokens are prefilled;
- a sequence that ends (end-of-generation token, budget, or its caller's cancel event: a timed-out or
  disconnected request, `engine.continuous.cancel_on`) leaves at once (`llama_memory_seq_rm`) and a
  waiting prompt takes its slot in the next step; prompt tails are prefilled in the same batches as the
  running sequences' next tokens;
- greedy is the argmax of the logits, sampling is temperature then top-p on them (numpy, seeded per
  sequence): the Rewriter's settings.

One thread runs the loop while there is work; callers in any thread `submit` and wait on futures, so
overlapping calls (the service's requests) share decode steps.
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from srllm.errors import SrllmError


@dataclass(frozen=True)
class Sampling:
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0


class Group:
    """The sequences of one call: at most `limit` of them run at once (the caller's batch size)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.running = 0


@dataclass(eq=False)  # a job is itself: removed from lists by identity
class Job:
    prompt: list[int]
    budget: int
    sampling: Sampling
    head: int  # leading prompt tokens shared through sequence 0 (0: none)
    group: Group
    cancel: threading.Event | None = None  # set: the caller is gone (timeout, disconnect); stop at the next step
    future: Future = field(default_factory=Future)
    seq: int = -1
    fed: int = 0  # prompt tokens in the KV cache
    tokens: list[int] = field(default_factory=list)
    rng: np.random.Generator | None = None

    def need(self) -> int:
        """KV cells this sequence may take beyond the shared head."""
        return len(self.prompt) - self.head + self.budget


class BatchLoop:
    """The decode loop on `llm`'s context, created with `slots` + 1 sequences and a unified KV cache."""

    def __init__(self, llm: Any, *, slots: int) -> None:
        import llama_cpp

        self.api = llama_cpp
        self.llm = llm
        self.ctx = llm._ctx.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.vocab = llm._model.vocab
        self.n_vocab = llm.n_vocab()
        self.n_ctx = llm.n_ctx()
        self.n_batch = llm.n_batch
        self.slots = slots
        self.free = list(range(slots, 0, -1))  # sequence 0 holds the head
        self.head: list[int] = []
        self.waiting: deque[Job] = deque()
        self.active: list[Job] = []
        self.reserved = 0
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.lock = threading.Condition()
        self.running = False

    def submit(self, jobs: list[Job]) -> list[Future]:
        for job in jobs:
            if job.need() + job.head > self.n_ctx:
                raise SrllmError(f"a prompt of {len(job.prompt)} tokens with {job.budget} new tokens does not fit "
                                 f"the llama.cpp context of {self.n_ctx} tokens")
        with self.lock:
            if self.batch is None:
                raise SrllmError("this llama.cpp engine is closed")
            self.waiting.extend(jobs)
            if not self.running:
                self.running = True
                threading.Thread(target=self._run, name="srllm-llama-batch", daemon=True).start()
        return [job.future for job in jobs]

    def is_eog(self, token: int) -> bool:
        return bool(self.api.llama_vocab_is_eog(self.vocab, token))

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.waiting and not self.active:
                    self.running = False
                    return
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error, the loop lives on
                self._fail_all(exc)

    def _fail_all(self, exc: Exception) -> None:
        with self.lock:
            jobs = list(self.active) + list(self.waiting)
            self.active.clear()
            self.waiting.clear()
            self.free = list(range(self.slots, 0, -1))
            self.reserved = 0
        self.api.llama_memory_clear(self.memory, True)
        self.head = []
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(exc)

    def _admit(self) -> None:
        """Waiting jobs take free sequences while their KV cells fit; a head change re-decodes sequence 0."""
        with self.lock:
            skipped: deque[Job] = deque()
            while self.waiting and self.free:
                job = self.waiting.popleft()
                if job.group.running >= job.group.limit:
                    skipped.append(job)
                    continue
                head = job.prompt[:job.head]
                fits = self.reserved + job.need() + max(len(head), len(self.head)) <= self.n_ctx
                if not fits and self.active:
                    skipped.append(job)
                    break
                if head and head != self.head:
                    self._set_head(head)
                job.seq = self.free.pop()
                job.fed = job.head
                job.group.running += 1
                job.rng = np.random.default_rng(job.sampling.seed)
                self.reserved += job.need()
                if job.head:
                    self.api.llama_memory_seq_cp(self.memory, 0, job.seq, -1, -1)
                self.active.append(job)
            skipped.extend(self.waiting)
            self.waiting = skipped

    def _set_head(self, head: list[int]) -> None:
        """Sequence 0 := `head`; sequences already copied from the old head keep their cells."""
        self.api.llama_memory_seq_rm(self.memory, 0, -1, -1)
        for start in range(0, len(head), self.n_batch):
            chunk = head[start:start + self.n_batch]
            self._fill([(token, start + i, 0, False) for i, token in enumerate(chunk)])
            self._decode()
        self.head = list(head)

    def _drop_cancelled(self) -> None:
        """Sequences nobody waits for any more leave the batch (and the KV cache) like finished ones."""
        with self.lock:
            gone = [job for job in self.active if job.cancel is not None and job.cancel.is_set()]
            waiting = [job for job in self.waiting if job.cancel is not None and job.cancel.is_set()]
            self.waiting = deque(job for job in self.waiting if job not in waiting)
        for job in gone:
            self._finish(job)
        for job in waiting:
            job.future.cancel()

    def _step(self) -> None:
        self._drop_cancelled()
        self._admit()
        entries: list[tuple[int, int, int, bool]] = []
        readers: list[tuple[Job, int]] = []
        for job in self.active:  # running sequences: their last token
            if job.fed == len(job.prompt) and job.tokens:
                readers.append((job, len(entries)))
                entries.append((job.tokens[-1], len(job.prompt) + len(job.tokens) - 1, job.seq, True))
        for job in self.active:  # prompts still to prefill, as far as the batch takes them
            room = self.n_batch - len(entries)
            if job.fed == len(job.prompt) or room <= 0:
                continue
            take = job.prompt[job.fed: job.fed + room]
            last = job.fed + len(take) == len(job.prompt)
            for offset, token in enumerate(take):
                logits = last and offset == len(take) - 1
                if logits:
                    readers.append((job, len(entries)))
                entries.append((token, job.fed + offset, job.seq, logits))
            job.fed += len(take)
        if not entries:
            return
        self._fill(entries)
        self._decode()
        for job, index in readers:
            self._advance(job, self._pick(job, index))

    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        batch = self.batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)

    def _decode(self) -> None:
        code = self.api.llama_decode(self.ctx, self.batch)
        if code != 0:
            raise SrllmError(f"llama_decode failed with code {code} (1: no room in the KV cache)")

    def _pick(self, job: Job, index: int) -> int:
        pointer = self.api.llama_get_logits_ith(self.ctx, index)
        logits = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))
        sampling = job.sampling
        if not sampling.do_sample or sampling.temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / sampling.temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        if sampling.top_p < 1.0:
            order = np.argsort(-probs)
            cumulative = np.cumsum(probs[order])
            keep = order[: int(np.searchsorted(cumulative, sampling.top_p)) + 1]
            kept = probs[keep] / probs[keep].sum()
            assert job.rng is not None
            return int(keep[job.rng.choice(len(keep), p=kept)])
        assert job.rng is not None
        return int(job.rng.choice(self.n_vocab, p=probs))

    def _advance(self, job: Job, token: int) -> None:
        job.tokens.append(token)
        if self.is_eog(token) or len(job.tokens) >= job.budget:
            self._finish(job)

    def _finish(self, job: Job) -> None:
        self.api.llama_memory_seq_rm(self.memory, job.seq, -1, -1)
        with self.lock:
            self.active.remove(job)
            self.free.append(job.seq)
            self.reserved -= job.need()
            job.group.running -= 1
        if not job.future.done():
            job.future.set_result(job.tokens)

    def close(self) -> None:
        """Free the batch unless the loop still runs (at shutdown a leak beats freeing it under llama_decode)."""
        with self.lock:
            if self.running or self.batch is None:
                return
            batch, self.batch = self.batch, None
        self.api.llama_batch_free(batch)
