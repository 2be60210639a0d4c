"""Training throughput: srllm's trainer vs a plain TRL SFTTrainer + PEFT script (the peer).

Same model (smollm2-135m-instruct), same 128 seed examples rendered by srllm.prompts, same batch
size and LoRA config, for `lora` and `qlora`. Each run is a fresh subprocess (clean peak RSS).
Tokens/s counts non-padding tokens over the measured steps (the first step is warm-up).

    .venv/bin/python benchmarks/train_throughput.py [--steps N] [--batch-size 4]

(default steps: one pass over the 128 examples, 32 steps at batch 4)

writes benchmarks/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "train_throughput.json"
SEED_FILES = [ROOT / "data" / "seed" / "cmd_part1.jsonl", ROOT / "data" / "seed" / "cmd_part2.jsonl"]
N_EXAMPLES = 128
LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
LEARNING_RATE = 2e-4


def bench_data(folder: Path) -> Path:
    """The first 128 training-split seed records, as one JSONL both sides read."""
    from srllm.train.config import DataSource
    from srllm.train.data import load_examples

    sources = [DataSource(str(p), split="train") for p in SEED_FILES if p.exists()]
    examples = load_examples(sources, (0.7, 0.1, 0.2), 0, role="benchmark").examples[:N_EXAMPLES]
    path = folder / "bench.jsonl"
    path.write_text("".join(json.dumps({"id": e.id, "text": e.text, "safe_variation": e.response}) + "\n"
                            for e in examples), encoding="utf-8")
    return path


def summarise(seconds: list[float], tokens: list[int]) -> dict:
    measured_s, measured_t = seconds[1:], tokens[1:]  # step 1 pays one-off allocation costs
    return {
        "tokens_per_s": round(sum(measured_t) / sum(measured_s), 2),
        "median_step_s": round(statistics.median(measured_s), 3),
        "tokens_per_step": round(statistics.mean(measured_t), 1),
        "steps_measured": len(measured_s),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_ours(method: str, data: Path, steps: int, batch_size: int, out: Path) -> dict:
    from srllm.train import TrainConfig, train

    result = train(TrainConfig(
        method=method, data=[str(data)], out=str(out), batch_size=batch_size, max_steps=steps,
        learning_rate=LEARNING_RATE, lr_scheduler="constant", warmup_ratio=0.0, save_steps=10_000,
        method_options=dict(LORA), measure_energy=False, progress=False,
    ))
    steps_log = result.manifest["steps"]
    summary = summarise([s["seconds"] for s in steps_log], [s["tokens"] for s in steps_log])
    summary["settings"] = {"group_by_length": True, "packing": False, "sparse_logits": True,
                           "gradient_checkpointing": False,
                           "shared_prompt_head": result.manifest["method"]["shared_prompt_head"]}
    return summary


def run_peer(method: str, data: Path, steps: int, batch_size: int, out: Path) -> dict:
    """A plain TRL script: SFTTrainer on prompt/completion pairs with a peft LoraConfig."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from srllm.data import read_records
    from srllm.models import load_causal_lm
    from srllm.prompts import prompt_and_completion

    loaded = load_causal_lm(quantization="nf4" if method == "qlora" else None)
    model, tokenizer = loaded.model, loaded.tokenizer
    tokenizer.padding_side = "right"
    rows = [dict(zip(("prompt", "completion"), prompt_and_completion(tokenizer, r.text, r.safe_variation),
                     strict=True)) for r in read_records(data)]
    counter = {"tokens": 0}

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.tokens: list[int] = []
            self.started = 0.0
            self.seen = 0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.started)
            self.tokens.append(counter["tokens"] - self.seen)
            self.seen = counter["tokens"]

    timer = Timer()
    config = SFTConfig(
        output_dir=str(out), per_device_train_batch_size=batch_size, max_steps=steps,
        learning_rate=LEARNING_RATE, lr_scheduler_type="constant", logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=True, bf16=False, seed=42, max_length=1024,
    )
    peft_config = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                             target_modules=LORA["target_modules"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=peft_config, callbacks=[timer])
    collate = trainer.data_collator

    def counting_collator(features):
        batch = collate(features)
        counter["tokens"] += int(batch["attention_mask"].sum())
        return batch

    trainer.data_collator = counting_collator
    trainer.train()
    summary = summarise(timer.seconds, timer.tokens)
    summary["settings"] = {"gradient_checkpointing": config.gradient_checkpointing, "bf16": config.bf16,
                           "padding_free": config.padding_free, "packing": config.packing,
                           "completion_only_loss": "default (prompt/completion data)"}
    return summary


def worker(args: argparse.Namespace) -> None:
    runner = run_ours if args.side == "ours" else run_peer
    with tempfile.TemporaryDirectory() as tmp:
        summary = runner(args.method, Path(args.data), args.steps, args.batch_size, Path(tmp) / "out")
    Path(args.result).write_text(json.dumps(summary), encoding="utf-8")


def main(args: argparse.Namespace) -> None:
    import torch

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = bench_data(Path(tmp))
        for method in args.methods:
            # --parallel runs ours and the peer side by side, so both see the same machine load
            # (on a shared machine that matters more than the slowdown each causes the other).
            sides = [("ours",), ("peer",)] if not args.parallel else [("ours", "peer")]
            for group in sides:
                procs = {}
                started = time.perf_counter()
                for side in group:
                    result = Path(tmp) / f"{side}-{method}.json"
                    cmd = [sys.executable, __file__, "--worker", side, "--method", method, "--data", str(data),
                           "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                           "--result", str(result)]
                    procs[side] = (subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                    text=True), result)
                for side, (proc, result) in procs.items():
                    _, stderr = proc.communicate()
                    if proc.returncode != 0:
                        sys.exit(f"{side} {method} failed:\n{stderr[-4000:]}")
                    results[f"{side}_{method}"] = {**json.loads(result.read_text()),
                                                   "wall_s": round(time.perf_counter() - started, 1)}
                    print(side, method, results[f"{side}_{method}"], flush=True)
    ours = statistics.mean(results[f"ours_{m}"]["tokens_per_s"] for m in args.methods)
    peer = statistics.mean(results[f"peer_{m}"]["tokens_per_s"] for m in args.methods)
    report = {
        "ours_tokens_per_s": round(ours, 2),
        "peer_tokens_per_s": round(peer, 2),
        "ratio_vs_peer": round(ours / peer, 3),
        "per_method": {m: {"ours": results[f"ours_{m}"], "peer": results[f"peer_{m}"],
                           "ratio": round(results[f"ours_{m}"]["tokens_per_s"] /
                                          results[f"peer_{m}"]["tokens_per_s"], 3)} for m in args.methods},
        "setup": {"model": "smollm2-135m-instruct", "examples": N_EXAMPLES, "batch_size": args.batch_size,
                  "steps": args.steps, "parallel": args.parallel, "lora": LORA, "learning_rate": LEARNING_RATE,
                  "tokens": "non-padding tokens of the measured steps (step 1 excluded)",
                  "peer": "trl.SFTTrainer + peft LoraConfig, SFTConfig defaults except bf16=False "
                          "(bf16 autocast is ~15x slower on this AVX2 CPU) and the shared settings above",
                  "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                  "torch_threads": torch.get_num_threads(),
                  "load_average_at_end": os.getloadavg()},
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("ours_tokens_per_s", "peer_tokens_per_s", "ratio_vs_peer")}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="default: one pass over the examples")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=["lora", "qlora"])
    parser.add_argument("--parallel", action="store_true", help="Run ours and the peer at the same time.")
    parser.add_argument("--worker", dest="side", choices=["ours", "peer"])
    parser.add_argument("--method", default="lora")
    parser.add_argument("--data")
    parser.add_argument("--result")
    parsed = parser.parse_args()
    if parsed.steps is None:
        parsed.steps = N_EXAMPLES // parsed.batch_size
    worker(parsed) if parsed.side else main(parsed)
