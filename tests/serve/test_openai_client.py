"""The OpenAI-compatible surface as its users reach it: the official `openai` client (and LangChain's
ChatOpenAI) against a real server (uvicorn on a loopback port) on the tiny random model.

Random weights give random tokens (greedy chat replies are often empty on this model, so most checks
sample with a fixed seed): the checks compare the server with itself (streamed vs not, same seed
twice, a stop string taken from an unstopped answer), never with expected words.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from srllm.serve import ServeSettings, create_app

openai = pytest.importorskip("openai", reason="the openai client is not installed (pip install -e '.[dev]')")

PROMPT = [{"role": "user", "content": "Say something kind about your neighbours."}]


@pytest.fixture(scope="module")
def server(tiny_rewriter, serve_live, tmp_path_factory):
    folder = tmp_path_factory.mktemp("openai")
    settings = ServeSettings(keys_path=folder / "keys.sqlite", jobs_db=folder / "jobs.sqlite",
                             scorers=["profanity"], rewrite_scorers=["profanity"], rate_limit_per_minute=0,
                             max_chars=200, max_texts=8)
    with serve_live(create_app(settings, tiny_rewriter)) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="unused-on-loopback", max_retries=0)


@pytest.fixture(scope="module")
def model(client) -> str:
    return client.models.list().data[0].id


def _chat(client, model, **kwargs):
    return client.chat.completions.create(model=model, messages=PROMPT,
                                          **{"max_tokens": 8, "temperature": 1.0, "seed": 11, **kwargs})


def test_chat_create_answers_with_real_usage(client, model):
    out = _chat(client, model, max_tokens=6)
    assert out.object == "chat.completion" and out.model == model and len(out.choices) == 1
    choice = out.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert 0 < out.usage.completion_tokens <= 6 and out.usage.prompt_tokens > 5
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_max_completion_tokens_caps_the_answer(client, model):
    out = client.chat.completions.create(model=model, messages=PROMPT, max_completion_tokens=3)
    assert out.usage.completion_tokens <= 3
    assert out.choices[0].finish_reason == "length" or out.usage.completion_tokens < 3


def test_n_gives_n_choices_and_counts_the_prompt_once(client, model):
    one = _chat(client, model)
    two = _chat(client, model, n=2)
    assert [c.index for c in two.choices] == [0, 1]
    assert two.choices[0].message.content == one.choices[0].message.content  # choice i samples with seed + i
    assert two.choices[1].message.content != one.choices[0].message.content
    assert two.usage.prompt_tokens == one.usage.prompt_tokens
    assert two.usage.completion_tokens > one.usage.completion_tokens // 2


def test_same_seed_same_sample_and_greedy_is_repeatable(client, model):
    first = _chat(client, model, temperature=1.0, top_p=0.9, seed=7).choices[0].message.content
    again = _chat(client, model, temperature=1.0, top_p=0.9, seed=7).choices[0].message.content
    other = _chat(client, model, temperature=1.0, top_p=0.9, seed=8).choices[0].message.content
    assert first == again and first != other
    greedy = [_chat(client, model, temperature=0, seed=None).choices[0].message.content for _ in range(2)]
    assert greedy[0] == greedy[1]


def test_stop_cuts_the_text_where_the_stop_string_starts(client, model):
    full = _chat(client, model, max_tokens=12).choices[0].message.content
    assert len(full) > 6, full
    stop = full[4:6]
    cut = _chat(client, model, max_tokens=12, stop=[stop, "@@never@@"]).choices[0]
    assert cut.message.content == full[: full.find(stop)].rstrip()
    assert cut.finish_reason == "stop"
    assert _chat(client, model, max_tokens=12, stop=stop).choices[0].message.content == cut.message.content


def test_streaming_adds_up_to_the_answer_and_ends_with_usage(client, model):
    whole = _chat(client, model, max_tokens=10)
    chunks = list(_chat(client, model, max_tokens=10, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_streaming_with_stop_strings_never_shows_the_stop(client, model):
    full = _chat(client, model, max_tokens=12).choices[0].message.content
    stop = full[5:8]
    streamed = "".join(c.choices[0].delta.content or "" for c in
                       _chat(client, model, max_tokens=12, stop=[stop], stream=True) if c.choices)
    assert streamed == full[: full.find(stop)].rstrip()


def test_the_raw_stream_is_sse_ending_with_done(server, model):
    with httpx.stream("POST", server + "/v1/chat/completions", timeout=60,
                      json={"model": model, "messages": PROMPT, "max_tokens": 4, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]" and lines.count("data: [DONE]") == 1


def test_text_completions_take_a_prompt_or_a_list_and_stream(client, model):
    one = client.completions.create(model=model, prompt="The neighbours are", max_tokens=5)
    assert one.object == "text_completion" and len(one.choices) == 1 and one.usage.completion_tokens <= 5
    many = client.completions.create(model=model, prompt=["The neighbours are", "Our team"], max_tokens=5, n=2)
    assert [c.index for c in many.choices] == [0, 1, 2, 3]
    assert many.choices[0].text == one.choices[0].text  # greedy: the same prompt, the same text
    streamed = list(client.completions.create(model=model, prompt="The neighbours are", max_tokens=5, stream=True))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == one.choices[0].text


def test_models_list_and_retrieve(client, model):
    assert client.models.retrieve(model).id == model
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-4o")
    assert "gpt-4o" in missing.value.body["message"]


def test_an_unknown_model_is_a_404_naming_it(client):
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=2)
    assert "gpt-4o" in str(error.value)
    assert error.value.body["param"] == "model" and error.value.body["type"] == "invalid_request_error"


@pytest.mark.parametrize("kwargs, named", [
    (dict(logprobs=True), "logprobs"),
    (dict(top_logprobs=2), "top_logprobs"),
    (dict(response_format={"type": "json_object"}), "response_format"),
    (dict(presence_penalty=0.5), "presence_penalty"),
    (dict(frequency_penalty=-1.0), "frequency_penalty"),
    (dict(logit_bias={"42": 5}), "logit_bias"),
    (dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]), "tools"),
    (dict(tool_choice="auto"), "tool_choice"),
    (dict(extra_body={"guided_json": {}}), "guided_json"),
    (dict(stream_options={"include_usage": True}), "stream_options"),
])
def test_an_unsupported_parameter_is_a_400_naming_it(client, model, kwargs, named):
    with pytest.raises(openai.BadRequestError) as error:
        _chat(client, model, **kwargs)
    assert named in error.value.body["message"] and error.value.body["param"] == named


def test_neutral_values_of_unsupported_parameters_pass(client, model):
    out = _chat(client, model, logprobs=False, presence_penalty=0, frequency_penalty=0.0,
                response_format={"type": "text"}, user="someone")
    assert out.choices[0].message.content is not None


def test_text_completion_refuses_what_it_cannot_do(client, model):
    for kwargs, named in ((dict(echo=True), "echo"), (dict(suffix="!"), "suffix"), (dict(best_of=3), "best_of"),
                          (dict(logprobs=2), "logprobs")):
        with pytest.raises(openai.BadRequestError) as error:
            client.completions.create(model=model, prompt="Hi", max_tokens=2, **kwargs)
        assert named in error.value.body["message"]


def test_list_of_text_parts_is_joined_and_other_parts_refused(client, model):
    parts = [{"type": "text", "text": "Say something kind "}, {"type": "text", "text": "about your neighbours."}]
    joined = client.chat.completions.create(model=model, max_tokens=6, temperature=1.0, seed=11,
                                            messages=[{"role": "user", "content": parts}])
    assert joined.choices[0].message.content == _chat(client, model, max_tokens=6).choices[0].message.content
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=model, max_tokens=2, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}])
    assert error.value.body["param"] == "messages[0].content[1]" and "image_url" in error.value.body["message"]


def test_langchain_chat_openai_invokes_and_streams(server, client, model):
    langchain_openai = pytest.importorskip("langchain_openai", reason="langchain-openai is not installed")
    llm = langchain_openai.ChatOpenAI(model=model, base_url=server + "/v1", api_key="unused", max_tokens=6,
                                      temperature=1.0, seed=11, max_retries=0)
    expected = _chat(client, model, max_tokens=6).choices[0].message.content
    assert llm.invoke("Say something kind about your neighbours.").content == expected
    assert "".join(chunk.content for chunk in llm.stream("Say something kind about your neighbours.")) == expected


# -- giving up stops the decoding -------------------------------------------------------------------------
ENDLESS_BUDGET = 1900  # tokens (the tiny model's context is 2048): seconds of decoding
AFTER_THE_END = 100  # decode steps the loop may still take once the answer ended (one is the norm)


@pytest.fixture
def endless(tiny_llama_dir):
    """A Rewriter whose replies never end early, and its model's decode loop."""
    from srllm.engine.continuous import decode_loop
    from srllm.models import load_causal_lm
    from srllm.rewrite import Rewriter

    loaded = load_causal_lm(str(tiny_llama_dir))
    loaded.model.generation_config.eos_token_id = None
    loop = decode_loop(loaded.model, pad_id=loaded.tokenizer.pad_token_id, eos_ids=[])
    return Rewriter(loaded), loop


def _stops(loop, at_end: int) -> None:
    """The loop goes idle within a few steps of `at_end` (the steps when the answer ended), far from the budget."""
    steps = _settles(loop)
    assert loop.decoder.idle() and steps - at_end < AFTER_THE_END and steps < ENDLESS_BUDGET, (at_end, steps)


def _settles(loop, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while not loop.decoder.idle() and time.monotonic() < deadline:
        time.sleep(0.02)
    return loop.decoder.steps


def _endless_server(serve_live, endless_rewriter, tmp_path, timeout_s: float):
    settings = ServeSettings(keys_path=tmp_path / "keys.sqlite", jobs_db=tmp_path / "jobs.sqlite",
                             scorers=["profanity"], rewrite_scorers=["profanity"], rate_limit_per_minute=0,
                             max_chat_tokens=ENDLESS_BUDGET, request_timeout_s=timeout_s)
    return serve_live(create_app(settings, endless_rewriter))


def test_a_stream_whose_client_goes_away_stops_decoding(serve_live, endless, tmp_path):
    rewriter, loop = endless
    with _endless_server(serve_live, rewriter, tmp_path, 600) as url:
        body = {"messages": PROMPT, "max_tokens": ENDLESS_BUDGET, "stream": True}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=30) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")  # the role chunk
            assert '"content"' in next(line for line in lines if line)  # decoding has begun
        _stops(loop, loop.decoder.steps)


def test_a_stream_past_the_timeout_ends_with_an_error_and_stops_decoding(serve_live, endless, tmp_path):
    rewriter, loop = endless
    with _endless_server(serve_live, rewriter, tmp_path, 1.0) as url:
        body = {"messages": PROMPT, "max_tokens": ENDLESS_BUDGET, "stream": True}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=30) as response:
            lines = [line for line in response.iter_lines() if line]
        at_end = loop.decoder.steps
        assert '"timeout"' in lines[-2] and lines[-1] == "data: [DONE]"
        _stops(loop, at_end)


def test_a_completion_past_the_timeout_is_a_504_and_stops_decoding(serve_live, endless, tmp_path):
    rewriter, loop = endless
    with _endless_server(serve_live, rewriter, tmp_path, 1.0) as url:
        response = httpx.post(url + "/v1/completions", timeout=30,
                              json={"prompt": "Once upon a time", "max_tokens": ENDLESS_BUDGET})
        at_end = loop.decoder.steps
        assert response.status_code == 504
        _stops(loop, at_end)


def test_rewrite_streams_ndjson_rows_equal_to_the_plain_answer(server):
    texts = ["Women are too emotional to lead.", "That idiot broke the printer.", "Old people are slow."]
    plain = httpx.post(server + "/v1/rewrite", json={"texts": texts}, timeout=60).json()["results"]
    for request in (dict(json={"texts": texts, "stream": True}),
                    dict(json={"texts": texts}, headers={"Accept": "application/x-ndjson"})):
        with httpx.stream("POST", server + "/v1/rewrite", timeout=60, **request) as response:
            assert response.headers["content-type"].startswith("application/x-ndjson")
            rows = [json.loads(line) for line in response.iter_lines() if line]
        assert sorted(row["index"] for row in rows) == [0, 1, 2]
        assert sorted(rows, key=lambda row: row["index"]) == plain


def test_a_streamed_rewrite_whose_client_goes_away_stops_decoding(serve_live, endless, tmp_path):
    from srllm.rewrite import GenerationSettings, Rewriter

    rewriter, loop = endless
    # The rewrite prompt is longer than a chat's: a smaller budget still fits the 2048-token context.
    long_rewriter = Rewriter(rewriter.loaded, settings=GenerationSettings(max_new_tokens=1500))
    with _endless_server(serve_live, long_rewriter, tmp_path, 600) as url:
        body = {"texts": ["Your report is garbage.", "Old people are slow."], "stream": True}
        with pytest.raises(httpx.ReadTimeout):
            with httpx.stream("POST", url + "/v1/rewrite", json=body, timeout=1.0) as response:
                response.read()
        _stops(loop, loop.decoder.steps)


@pytest.mark.slow
def test_the_default_model_streams_what_it_answers(serve_live, tmp_path):
    from srllm.models import DEFAULT_MODEL
    from srllm.models.pull import is_pulled
    from srllm.rewrite import Rewriter

    if not is_pulled(DEFAULT_MODEL):
        pytest.skip("default model not pulled (scripts/setup.sh pulls it)")
    settings = ServeSettings(keys_path=tmp_path / "keys.sqlite", jobs_db=tmp_path / "jobs.sqlite",
                             scorers=["profanity"], rewrite_scorers=["profanity"], rate_limit_per_minute=0)
    with serve_live(create_app(settings, Rewriter.load())) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        model = client.models.list().data[0].id
        ask = dict(model=model, max_tokens=24,
                   messages=[{"role": "user", "content": "Name three colours of the rainbow."}])
        whole = client.chat.completions.create(**ask)
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**ask, stream=True)
                           if c.choices)
    assert whole.choices[0].message.content.strip() and streamed == whole.choices[0].message.content
