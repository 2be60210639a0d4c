import pytest

from srllm.errors import InputError
from srllm.models import LoadedModel
from srllm.prompts import PROMPT_VERSION, Demonstration
from srllm.rewrite import GenerationSettings, Rewriter

TEXTS = [
    "Old people like Mr. Chen can never learn new phones.",
    "Hi.",
    "The meeting with Priya moved to 3 pm on Friday, room 204, because the projector broke.",
]


def test_batched_generation_matches_one_by_one(tiny_loaded: LoadedModel) -> None:
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    batched = rewriter.rewrite(TEXTS, batch_size=3)
    single = [rewriter.rewrite([text], batch_size=1)[0] for text in TEXTS]
    # Left padding must not change greedy outputs, and results keep the input order.
    assert [r.text for r in batched] == TEXTS
    assert [r.rewrite for r in batched] == [r.rewrite for r in single]
    assert all(0 < r.generated_tokens <= 8 for r in batched)
    assert batched[0].method == "zero-shot" and batched[0].prompt_version == PROMPT_VERSION
    assert batched[0].adapter is None and batched[0].model.endswith(tiny_loaded.name.split("/")[-1])


def test_budget_scales_with_input() -> None:
    settings = GenerationSettings()
    assert settings.budget(10) < settings.budget(100) <= settings.max_new_tokens_cap
    assert GenerationSettings(max_new_tokens=7).budget(500) == 7


def test_shots_change_the_method_and_prompt(tiny_loaded: LoadedModel) -> None:
    shots = [Demonstration("Girls can't code.", "Anyone can learn to code.")]
    rewriter = Rewriter(tiny_loaded, shots=shots, settings=GenerationSettings(max_new_tokens=4))
    assert rewriter.method == "1-shot"
    assert "Girls can't code." in rewriter.prompt("x")


def test_text_longer_than_context_is_an_error_not_a_truncation(tiny_loaded: LoadedModel) -> None:
    long_text = " ".join(["The committee met on Monday and approved the budget."] * 40)
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    with pytest.raises(InputError, match=r"does not fit the model's context of 256 tokens.*--chunk"):
        rewriter.rewrite([long_text])


def test_chunking_rewrites_long_text_sentence_by_sentence(tiny_loaded: LoadedModel) -> None:
    long_text = " ".join(f"Sentence number {i} talks about the budget." for i in range(40))
    rewriter = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=4), chunk=True)
    result = rewriter.rewrite([long_text])[0]
    assert result.chunks > 1
    assert result.prompt_tokens > rewriter.count_tokens(long_text)


@pytest.mark.parametrize("bad", ["", "   \n"])
def test_empty_text_is_rejected(tiny_loaded: LoadedModel, bad: str) -> None:
    with pytest.raises(InputError, match="empty"):
        Rewriter(tiny_loaded).rewrite(["fine", bad])


def test_seeded_samples_of_a_text_do_not_depend_on_its_batch(tiny_loaded: LoadedModel) -> None:
    import torch

    greedy = Rewriter(tiny_loaded, settings=GenerationSettings(max_new_tokens=8))
    sampler = greedy.sampling(3, temperature=1.0, top_p=1.0, seed=5)
    torch.manual_seed(1)
    alone = sampler.generate([TEXTS[0]], batch_size=1)[0].candidates
    torch.manual_seed(2)  # the global generator must not matter either
    together = sampler.generate(list(reversed(TEXTS)), batch_size=3)[-1].candidates
    assert alone == together
    assert len(set(alone)) > 1  # each sample has its own seed
    reseeded = greedy.sampling(3, temperature=1.0, top_p=1.0, seed=6).generate([TEXTS[0]])[0].candidates
    assert reseeded != alone
