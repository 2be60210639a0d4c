"""Saved adapters reload and change generations; prefix-tuning works at generation time too."""

from __future__ import annotations

import torch

from srllm.models import load_causal_lm
from srllm.models.peft_compat import fix_prefix_generation
from srllm.prompts import build_messages, render_prompt
from srllm.train import train

TEXTS = ["Old people can't learn new software, skip them.", "Women are too emotional to lead the team."]


def _first_step_logits(model, tokenizer) -> torch.Tensor:
    prompts = [render_prompt(tokenizer, build_messages(t)) for t in TEXTS]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=3, do_sample=False, output_logits=True,
                             return_dict_in_generate=True)
    return torch.stack(out.logits), out.sequences[:, batch["input_ids"].shape[1]:]


def _sampled(model, tokenizer) -> torch.Tensor:
    prompts = [render_prompt(tokenizer, build_messages(t)) for t in TEXTS]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=8, do_sample=True, top_k=0, top_p=1.0, temperature=1.0)
    return out[:, batch["input_ids"].shape[1]:]


def _forward_logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer(render_prompt(tokenizer, build_messages(TEXTS[0])), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits[0, -1]


def test_lora_adapter_reloads_and_changes_generations(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path):
    train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "lora"))
    base = load_causal_lm(str(tiny_llama_dir))
    tuned = load_causal_lm(str(tiny_llama_dir), adapter=tmp_path / "lora")
    assert tuned.method == "lora"
    base_logits, _ = _first_step_logits(base.model, base.tokenizer)
    tuned_logits, _ = _first_step_logits(tuned.model, tuned.tokenizer)
    assert (base_logits - tuned_logits).abs().max() > 1e-2
    # A random tiny model greedily repeats one token either way; sampled text shows the change.
    assert not torch.equal(_sampled(base.model, base.tokenizer), _sampled(tuned.model, tuned.tokenizer))


def test_prefix_adapter_is_used_by_generate(tiny_config, tiny_llama_dir, pairs_jsonl, tmp_path):
    train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "prefix", method="prefix", learning_rate=3e-2,
                      method_options={"num_virtual_tokens": 8}, max_steps=3, dev=[]))
    base = load_causal_lm(str(tiny_llama_dir))
    tuned = load_causal_lm(str(tiny_llama_dir), adapter=tmp_path / "prefix")
    assert tuned.method == "prefix_tuning"
    fix_prefix_generation(tuned.model)
    # generate()'s first step must see the prefix exactly as a plain forward pass does ...
    gen_logits, _ = _first_step_logits(tuned.model, tuned.tokenizer)
    forward = _forward_logits(tuned.model, tuned.tokenizer)
    assert torch.allclose(gen_logits[0, 0], forward, atol=1e-4)
    # ... and the trained prefix changes what is generated.
    base_logits, _ = _first_step_logits(base.model, base.tokenizer)
    assert (base_logits - gen_logits).abs().max() > 1e-2


def test_prefix_generation_fix_matches_forward_on_later_steps(tiny_config, tiny_llama_dir, pairs_jsonl,
                                                              tmp_path):
    """Greedy generate() with the prefix equals step-by-step greedy decoding with forward()."""
    train(tiny_config(tiny_llama_dir, pairs_jsonl, tmp_path / "p2", method="prefix", learning_rate=3e-2,
                      method_options={"num_virtual_tokens": 4}, max_steps=2, dev=[]))
    tuned = load_causal_lm(str(tiny_llama_dir), adapter=tmp_path / "p2")
    model, tokenizer = fix_prefix_generation(tuned.model), tuned.tokenizer
    ids = tokenizer(render_prompt(tokenizer, build_messages(TEXTS[1])), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4,
                             do_sample=False, output_logits=True, return_dict_in_generate=True)
        for step in range(4):
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1]
            assert torch.allclose(out.logits[step][0], logits, atol=1e-4)
            ids = torch.cat([ids, logits.argmax().view(1, 1)], dim=1)
