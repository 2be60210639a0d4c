"""Preference optimization (DPO/ORPO through TRL) on a tiny model: inputs checked, chosen gains on rejected, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srllm.errors import InputError
from srllm.train import TrainConfig, train
from srllm.train.preference import read_pairs

PAIRS = [
    ("Women are too emotional to lead the team.", "Leadership skills vary from person to person.",
     "Women are too emotional to lead."),
    ("That idiot from accounting broke the printer again.", "Someone from accounting had trouble with the printer.",
     "That idiot broke the printer."),
    ("Immigrants are stealing all our jobs.", "The job market is competitive for many people.",
     "Immigrants are stealing jobs."),
    ("Shut up, nobody cares about your stupid opinion.", "I see it differently; let's discuss it.",
     "Nobody cares about your stupid opinion."),
]


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "prefs.jsonl"
    rows = [{"id": f"q{i}", "text": t, "chosen": c, "rejected": r} for i, (t, c, r) in enumerate(PAIRS * 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(base: Path, pairs: Path, out: Path, stage: str, **extra) -> TrainConfig:
    values = dict(method="lora", base=str(base), stage=stage, pairs=[str(pairs)], out=str(out), batch_size=4,
                  max_steps=6, save_steps=3, learning_rate=5e-3, max_length=256, measure_energy=False,
                  progress=False, method_options={"r": 8, "alpha": 16, "dropout": 0.0})
    values.update(extra)
    return TrainConfig(**values)


def _margin(model, tokenizer) -> float:
    """Mean log p(chosen) - log p(rejected), completion tokens only, under the debias prompt."""
    import torch

    from srllm.prompts import prompt_and_completion

    total = 0.0
    for text, chosen, rejected in PAIRS:
        scores = []
        for answer in (chosen, rejected):
            prompt, completion = prompt_and_completion(tokenizer, text, answer, template="debias")
            p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            c = tokenizer(completion, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p + c])
            with torch.no_grad():
                logp = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
            targets = ids[0, 1:]
            scores.append(float(logp[len(p) - 1:].gather(1, targets[len(p) - 1:, None]).sum()))
        total += scores[0] - scores[1]
    return total / len(PAIRS)


def test_pair_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"text": "a", "chosen": "b", "rejected": "c"}\n{"text": "a", "chosen": "b"}\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_pairs([str(path)])
    assert err.value.line == 2 and err.value.field == "rejected"
    path.write_text('{"text": "a", "chosen": "b", "rejected": "b"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="two different answers"):
        read_pairs([str(path)])
    with pytest.raises(InputError, match="no preference pairs"):
        read_pairs([])


@pytest.mark.parametrize("stage", ["dpo", "orpo"])
def test_preference_training_raises_chosen_over_rejected(tiny_llama_dir: Path, pairs_file: Path, tmp_path: Path,
                                                         stage: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    before = _margin(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), tokenizer)
    # ORPO's odds-ratio term is weighted by lambda (beta here) beside its SFT loss; at TRL's 0.1 six steps
    # mostly fit the chosen text, so the test weights the preference term fully.
    result = train(_config(tiny_llama_dir, pairs_file, tmp_path / stage, stage, beta=1.0 if stage == "orpo" else 0.1))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), str(result.out))
    after = _margin(model.eval(), tokenizer)
    assert after > before + 0.5, (before, after)
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["preference"]["stage"] == stage and manifest["preference"]["pairs_used"] == 8
    assert manifest["preference"]["pairs"][0]["sha256"] and manifest["global_step"] == 6
    assert "ref" not in json.dumps(sorted(p.name for p in result.out.iterdir()))


def test_dpo_resumes_from_its_checkpoint(tiny_llama_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "dpo"
    train(_config(tiny_llama_dir, pairs_file, out, "dpo", max_steps=3))
    resumed = train(_config(tiny_llama_dir, pairs_file, out, "dpo", max_steps=6, resume=True))
    assert resumed.manifest["resumed_from"].endswith("checkpoint-3")
    assert resumed.manifest["global_step"] == 6


def test_a_marked_template_marks_the_pair_texts_as_rewriting_does() -> None:
    from srllm.train.preference import PreferencePair, mark_pairs

    pairs = [PreferencePair("a", "Dana, you useless idiot, the Berlin invoice was due on March 3.",
                            "Dana, the Berlin invoice was due on March 3.", "Dana, you idiot, the invoice was due.",
                            "f:1")]
    [marked] = mark_pairs(pairs, "debias-marked", dropout=0.0, seed=0)
    assert "[[" in marked.text and "idiot" in marked.text  # marked, not removed
    assert (marked.chosen, marked.rejected) == (pairs[0].chosen, pairs[0].rejected)  # answers carry no marks
    assert mark_pairs(pairs, "debias", dropout=0.0, seed=0) == pairs
