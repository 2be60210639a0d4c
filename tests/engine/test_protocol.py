"""The engine interface: every engine declares what it is, results have names, the engine's state lives
in the engine module (not on third-party objects), and chat completions run through the decode loop."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from srllm.engine import EngineArgs, Generation, GenerationSettings, RewriteEngine, Rewriter
from srllm.engine.chat import chat_generate
from srllm.engine.continuous import decode_loop
from srllm.engine.local import end_of_turn_ids, tokenizer_lock
from srllm.engine.protocol import ChatEngine
from srllm.models import LoadedModel
from srllm.serve import ServeSettings
from srllm.serve.engine import ServedEngine

TEXTS = ["Women are too emotional to lead.", "The bus leaves at noon."]


def test_the_rewriter_is_a_rewrite_engine_that_can_chat(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=4))
    assert isinstance(rewriter, RewriteEngine) and isinstance(rewriter, ChatEngine)
    assert (rewriter.backend, rewriter.model, rewriter.adapter) == ("transformers", tiny_loaded.name, None)
    [result] = rewriter.rewrite(TEXTS[:1], batch_size=1, progress=False)
    assert (result.model, result.method, result.prompt_version) == (rewriter.model, rewriter.method,
                                                                   rewriter.prompt_version)


@pytest.mark.parametrize("continuous", [True, False])
def test_generate_returns_named_frozen_generations(tiny_loaded: LoadedModel, continuous: bool) -> None:
    settings = GenerationSettings(max_new_tokens=4, continuous=continuous)
    out = Rewriter(tiny_loaded, settings=settings).generate(TEXTS, batch_size=2)
    assert [type(item) for item in out] == [Generation, Generation]
    assert all(len(item.candidates) == 1 and item.prompt_tokens > 0 and item.generated_tokens > 0 for item in out)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out[0].prompt_tokens = 0  # type: ignore[misc]


def test_engine_state_is_not_hung_on_the_model_or_the_tokenizer(tiny_loaded: LoadedModel) -> None:
    Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=2)).rewrite(TEXTS[:1])
    assert not [name for name in vars(tiny_loaded.model) if name.startswith("_srllm")]
    assert not [name for name in vars(tiny_loaded.tokenizer) if name.startswith("_srllm")]
    loop = decode_loop(tiny_loaded.model, pad_id=tiny_loaded.tokenizer.pad_token_id, eos_ids=[])
    assert loop is decode_loop(tiny_loaded.model, pad_id=0, eos_ids=[])  # one loop per model
    assert isinstance(tokenizer_lock(tiny_loaded.tokenizer), type(threading.Lock()))
    assert tokenizer_lock(tiny_loaded.tokenizer) is tokenizer_lock(tiny_loaded.tokenizer)


def test_a_chat_completion_runs_on_the_models_decode_loop(tiny_loaded: LoadedModel) -> None:
    loop = decode_loop(tiny_loaded.model, pad_id=tiny_loaded.tokenizer.pad_token_id,
                       eos_ids=end_of_turn_ids(tiny_loaded))
    steps, prefills = loop.decoder.steps, loop.decoder.prefills
    out = chat_generate(tiny_loaded, [{"role": "user", "content": "Say something."}], max_tokens=3, temperature=0)
    assert loop.decoder.prefills == prefills + 1 and loop.decoder.steps > steps
    assert 1 <= out.completion_tokens <= 3 and out.finish_reason in ("stop", "length")


def test_the_service_takes_only_a_declared_engine(tiny_loaded: LoadedModel) -> None:
    class NoIdentity:
        def rewrite(self, texts: list[str], *, batch_size: int = 8) -> list[str]:
            return list(texts)

    with pytest.raises(TypeError, match="not a RewriteEngine"):
        ServedEngine(NoIdentity())  # type: ignore[arg-type]
    served = ServedEngine(Rewriter(tiny_loaded))
    assert served.model == tiny_loaded.name.rstrip("/").split("/")[-1]  # no local path shown to clients
    assert served.concurrent and served.chat is not None


def test_server_settings_carry_the_engine_args() -> None:
    settings = ServeSettings(model="m", adapter=None, backend="openai", base_url="http://x/v1", port=9,
                             max_batch_size=3)
    args = settings.engine_args()
    assert type(args) is EngineArgs and args.model_dump() == EngineArgs(
        model="m", adapter=None, backend="openai", base_url="http://x/v1", max_batch_size=3).model_dump()
    with pytest.raises(Exception, match="base-url"):
        EngineArgs(backend="openai").check()
