"""Continuous batching (`srllm.engine.continuous`) changes speed only: greedy rewrites equal the
generate() path's, finished rows leave the batch at once, and concurrent callers share steps."""

from __future__ import annotations

import threading
import time

import pytest

from srllm.engine.continuous import (
    Cancelled,
    ContinuousDecoder,
    DecodeLoop,
    Request,
    Sampling,
    cancel_on,
    decode_loop,
)
from srllm.engine.local import end_of_turn_ids
from srllm.models import LoadedModel
from srllm.rewrite import GenerationSettings, Rewriter

TEXTS = [
    "Women are too emotional to lead the team.",
    "Old people like Mr. Chen, 78, cannot use phones and never will, says the memo from Ohio.",
    "Your report is garbage.",
    "Those people from the east side are all lazy.",
    "The library on Pine Street opens at 9 a.m.",
]


def _decoder(loaded: LoadedModel, slots: int) -> ContinuousDecoder:
    tokenizer = loaded.tokenizer
    return ContinuousDecoder(loaded.model, pad_id=tokenizer.pad_token_id, eos_ids=[tokenizer.eos_token_id],
                             slots=slots)


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_greedy_rewrites_equal_the_generate_path(tiny_loaded: LoadedModel, batch_size: int) -> None:
    settings = GenerationSettings(max_new_tokens=10)
    continuous = Rewriter(tiny_loaded, settings=settings)
    batched = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=10, continuous=False))
    assert continuous.continuous and not batched.continuous
    ours, theirs = continuous.rewrite(TEXTS, batch_size=batch_size), batched.rewrite(TEXTS, batch_size=5)
    assert [r.rewrite for r in ours] == [r.rewrite for r in theirs]
    assert [r.generated_tokens for r in ours] == [r.generated_tokens for r in theirs]
    assert [r.prompt_tokens for r in ours] == [r.prompt_tokens for r in theirs]


def test_finished_rows_leave_and_waiting_rows_take_their_slot(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded)
    head = rewriter.head_length()
    budgets = [2, 9, 3, 7, 1, 5]
    requests = [Request(rewriter._prompt_ids(TEXTS[i % len(TEXTS)]), budget, i, head=head)
                for i, budget in enumerate(budgets)]
    decoder = _decoder(tiny_loaded, slots=2)
    decoder.eos_ids = set()  # a random model may end early; here every row runs its full budget
    widths: list[int] = []
    finished = {}
    while not decoder.idle() or not finished:
        if not finished:
            for request in requests:
                decoder.submit(request)
        for item in decoder.step():
            finished[item.key] = item
        assert decoder.live <= 2
        if decoder.live:
            widths.append(decoder._mask.shape[1])
    assert {key: len(item.tokens) for key, item in finished.items()} == dict(enumerate(budgets))
    assert all(item.reason == "length" for item in finished.values())
    # A row is decoded once per token after its first (which comes from its prefill) and never after
    # it is done: static batching would also step finished rows until the longest one ends.
    assert decoder.rows_stepped == sum(budget - 1 for budget in budgets)
    # Columns left behind by finished rows are cut, so the cache does not grow with the queue.
    longest_prompt = max(len(request.ids) for request in requests)
    assert max(widths) <= longest_prompt + max(budgets) + 16


def test_rows_with_sampling_do_not_disturb_greedy_rows(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded)
    ids = [rewriter._prompt_ids(text) for text in TEXTS[:3]]
    greedy = [Request(row, 8, ("greedy", i)) for i, row in enumerate(ids)]
    alone = {item.key: item.tokens for item in _decoder(tiny_loaded, 8).run(greedy)}
    hot = Sampling(do_sample=True, temperature=1.5, top_p=0.9)
    mixed = greedy + [Request(row, 8, ("sampled", i), hot) for i, row in enumerate(ids)]
    together = {item.key: item.tokens for item in _decoder(tiny_loaded, 8).run(mixed)}
    assert {key: together[key] for key in alone} == alone
    assert all(1 <= len(together[("sampled", i)]) <= 8 for i in range(3))


def test_concurrent_callers_share_decode_steps(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=12))
    expected = [r.rewrite for r in rewriter.rewrite(TEXTS, batch_size=8)]
    loop = decode_loop(tiny_loaded.model, pad_id=tiny_loaded.tokenizer.pad_token_id,
                       eos_ids=end_of_turn_ids(tiny_loaded))
    steps, rows = loop.decoder.steps, loop.decoder.rows_stepped
    outputs: dict[int, str] = {}
    start = threading.Barrier(len(TEXTS))

    def one(index: int) -> None:
        start.wait()
        outputs[index] = rewriter.rewrite([TEXTS[index]], batch_size=8)[0].rewrite

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(TEXTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [outputs[i] for i in range(len(TEXTS))] == expected
    # Five one-text calls that overlap are decoded together: more than one row per step on average.
    assert (loop.decoder.rows_stepped - rows) / (loop.decoder.steps - steps) > 1.5


def test_an_error_reaches_the_caller_and_the_loop_keeps_working(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=6))
    loop = decode_loop(tiny_loaded.model, pad_id=tiny_loaded.tokenizer.pad_token_id,
                       eos_ids=end_of_turn_ids(tiny_loaded))
    vocab = tiny_loaded.model.config.vocab_size
    with pytest.raises(IndexError):
        loop.generate([Request([1, 2, vocab + 5], 4)])
    assert loop.decoder.idle()
    assert rewriter.rewrite(TEXTS[:2], batch_size=2)[0].generated_tokens > 0


def test_the_widest_call_in_flight_sets_the_slots(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=12))
    loop = decode_loop(tiny_loaded.model, pad_id=tiny_loaded.tokenizer.pad_token_id,
                       eos_ids=end_of_turn_ids(tiny_loaded))
    widths: list[int] = []
    start = threading.Barrier(2)

    def call(batch_size: int) -> None:
        start.wait()
        rewriter.generate(TEXTS, batch_size=batch_size)
        widths.append(loop.decoder.slots)

    threads = [threading.Thread(target=call, args=(size,)) for size in (2, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert 6 in widths  # while both ran, the narrow call did not shrink the wide one to 2
    rewriter.generate(TEXTS[:1], batch_size=3)
    assert loop.decoder.slots == 3  # alone again, a call gets exactly its own width


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_a_cancelled_call_leaves_the_batch_at_once_and_others_go_on(tiny_loaded: LoadedModel) -> None:
    loop = DecodeLoop(_decoder(tiny_loaded, slots=8))
    loop.decoder.eos_ids = set()  # every row would run its whole budget
    ids = Rewriter(tiny_loaded)._prompt_ids(TEXTS[0])
    budget = 100_000
    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def call(name: str, requests: list[Request], **kwargs: object) -> None:
        try:
            outcome[name] = loop.generate(requests, **kwargs)
        except Cancelled as exc:
            outcome[name] = exc

    doomed = threading.Thread(target=call, args=("doomed", [Request(ids, budget, i) for i in range(3)]),
                              kwargs={"cancel": cancel})
    doomed.start()
    _wait_for(lambda: loop.decoder.steps >= 3)
    other = threading.Thread(target=call, args=("other", [Request(ids, 40, "other")]))
    other.start()
    _wait_for(lambda: loop.decoder.live == 4)  # the other caller shares the doomed rows' steps
    cancel.set()
    doomed.join(timeout=30)
    assert isinstance(outcome["doomed"], Cancelled)
    steps_when_cancelled = loop.decoder.steps
    assert loop.decoder.live <= 1  # the cancelled rows left the batch (and the KV cache) at once
    other.join(timeout=60)
    (finished,) = outcome["other"]
    assert finished.reason == "length" and len(finished.tokens) == 40
    _wait_for(loop.decoder.idle)
    # Nothing decoded the cancelled rows after they were dropped: only the other call's 40 tokens remained.
    assert loop.decoder.steps <= steps_when_cancelled + 40 < budget
    (again,) = loop.generate([Request(ids, 5, "again")])  # the loop keeps serving
    assert len(again.tokens) == 5


def test_rows_submitted_inside_cancel_on_stop_when_the_event_is_set(tiny_loaded: LoadedModel,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    budget = 80  # the tiny model's context (256) holds the prompt (~150 tokens), the text and this
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=budget))
    loop = decode_loop(tiny_loaded.model, pad_id=tiny_loaded.tokenizer.pad_token_id,
                       eos_ids=end_of_turn_ids(tiny_loaded))
    monkeypatch.setattr(loop.decoder, "eos_ids", set())  # every row would run its whole budget
    cancel = threading.Event()
    cancel.set()
    steps = loop.decoder.steps
    with cancel_on(cancel), pytest.raises(Cancelled):
        rewriter.rewrite(TEXTS[2:4])  # a caller that already gave up starts nothing
    assert loop.decoder.steps == steps and loop.decoder.idle()
    cancel.clear()
    outcome: list[BaseException] = []

    def rewrite() -> None:  # how the service runs an engine call: the event is ambient, not an argument
        with cancel_on(cancel):
            try:
                rewriter.rewrite(TEXTS[2:4])
            except Cancelled as exc:
                outcome.append(exc)

    worker = threading.Thread(target=rewrite)
    worker.start()
    _wait_for(lambda: loop.decoder.steps >= steps + 3)
    cancel.set()
    worker.join(timeout=30)
    assert outcome and isinstance(outcome[0], Cancelled)
    _wait_for(loop.decoder.idle)
    assert loop.decoder.steps - steps < budget - 10  # stopped midway, not at the budget


def test_a_stream_yields_each_row_as_it_finishes_with_generate_s_tokens(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded)
    head = rewriter.head_length()
    budgets = [2, 9, 3, 7, 1, 5]
    requests = [Request(rewriter._prompt_ids(TEXTS[i % len(TEXTS)]), budget, f"r{i}", head=head)
                for i, budget in enumerate(budgets)]
    decoder = _decoder(tiny_loaded, slots=6)
    decoder.eos_ids = set()  # every row runs its full budget, so the finishing order is known
    loop = DecodeLoop(decoder)
    streamed = list(loop.stream(requests, slots=6))
    assert [index for index, _ in streamed] == sorted(range(6), key=lambda i: budgets[i])  # as they finish
    assert all(item.key == requests[index].key for index, item in streamed)
    together = loop.generate(requests, slots=6)
    assert {index: item.tokens for index, item in streamed} == {i: item.tokens for i, item in enumerate(together)}


def test_closing_a_stream_early_drops_its_rows_and_the_loop_goes_on(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded)
    decoder = _decoder(tiny_loaded, slots=2)
    decoder.eos_ids = set()
    loop = DecodeLoop(decoder)
    requests = [Request(rewriter._prompt_ids(text), 1 if i == 0 else 200, i) for i, text in enumerate(TEXTS)]
    stream = loop.stream(requests, slots=2)
    first, _ = next(stream)
    stream.close()  # the caller stops reading (a job interrupted after its first row)
    assert first == 0 and decoder.idle()
    [after] = loop.generate([Request(rewriter._prompt_ids(TEXTS[0]), 3, "after")])
    assert len(after.tokens) == 3
