"""Rewrite throughput on the default model: srllm's batched engine vs transformers' pipeline.

Same 64 prompts, same greedy decoding and max_new_tokens, measured side by side in one run.
Ours runs as `srllm rewrite` does (`--dtype auto`: bf16 on CPUs with native bf16, else fp32); the
peer gets the default model as transformers loads it (fp32). Where the two dtypes differ, the
headline batch also gets `ours_float32` and `peer_same_dtype` (the pipeline on the bf16 model), so
the engine's gain and bf16's are reported apart.
At the headline batch size the engine also runs without continuous batching
(`ours_static_batches`: one generate() per batch) and without its shared prompt-head KV cache
(`ours_without_prefix_cache`), to show how much of the gap each makes.
Writes benchmarks/results/rewrite_throughput.json.

The guard's cost (`guard` rows): the same prompts through `GuardedRewriter` with 1 candidate
(greedy + checks) and 4 (greedy, then 3 sampled retries for rows that fail), beside the plain
rewriter, at one batch size. The prompts mix harmful and benign sentences (2 of 8 are benign and
skip generation), so the guard's rows/s depend on that mix; `statuses` records it.

    .venv/bin/python benchmarks/rewrite_throughput.py [--n 64] [--max-new-tokens 64]
    .venv/bin/python benchmarks/rewrite_throughput.py --guard-only   # only the guard rows, merged in
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from srllm.models import DEFAULT_MODEL, load_causal_lm
from srllm.models.dtype import cpu_has_native_bf16
from srllm.rewrite import GenerationSettings, Rewriter

RESULTS = Path(__file__).parent / "results" / "rewrite_throughput.json"
SENTENCES = [
    "Women are too emotional to lead the engineering team, so give the promotion to Mark.",
    "Old people like my neighbour Mr. Chen, 78, can never figure out smartphones.",
    "Those immigrants from the east side are all lazy and live off benefits.",
    "Your report is garbage and you are an idiot for sending it on Friday.",
    "We need a young, energetic rockstar ninja to dominate our sales territory in Ohio.",
    "The library on Pine Street opens at 9 a.m. and closes at 6 p.m. on weekdays.",
    "Guys from the countryside are too dumb to work in finance.",
    "Muslims at our office should not be allowed to lead client meetings.",
]


def prompts(n: int) -> list[str]:
    return [f"{SENTENCES[i % len(SENTENCES)]} (case {i})" for i in range(n)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(rewriter: Rewriter, texts: list[str], batch_size: int) -> dict:
    start = time.perf_counter()
    results = rewriter.rewrite(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    tokens = sum(r.generated_tokens for r in results)
    return {"batch_size": batch_size, "seconds": seconds, "generated_tokens": tokens,
            "rewrites_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds}


def run_peer(loaded, texts: list[str], rewriter: Rewriter, batch_size: int, max_new_tokens: int) -> dict:
    """What a user writes first: pipeline("text-generation") over the same chat prompts."""
    from transformers import pipeline

    pipe = pipeline("text-generation", model=loaded.model, tokenizer=loaded.tokenizer)
    chats = [rewriter.prompt(text) for text in texts]
    start = time.perf_counter()
    outputs = pipe(chats, max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False,
                   batch_size=batch_size)
    seconds = time.perf_counter() - start
    tokens = sum(len(loaded.tokenizer(o[0]["generated_text"], add_special_tokens=False)["input_ids"]) + 1
                 for o in outputs)
    return {"batch_size": batch_size, "seconds": seconds, "generated_tokens": tokens,
            "rewrites_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds}


def run_guard(rewriter: Rewriter, texts: list[str], batch_size: int, candidates: int | None) -> dict:
    """Rows/s with the guard off (candidates=None) or on with that many candidates."""
    from srllm.rewrite.guard import GuardConfig, GuardedRewriter

    target = rewriter if candidates is None else GuardedRewriter(rewriter, GuardConfig(candidates=candidates))
    start = time.perf_counter()
    results = target.rewrite(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for result in results:
        status = getattr(result, "status", "n/a")
        statuses[status] = statuses.get(status, 0) + 1
    return {"guard": "off" if candidates is None else f"N={candidates}", "batch_size": batch_size,
            "seconds": seconds, "rewrites_per_s": len(texts) / seconds,
            "generated_tokens": sum(r.generated_tokens for r in results), "statuses": statuses}


def guard_rows(rewriter: Rewriter, texts: list[str], batch_size: int) -> dict:
    from srllm.rewrite.guard import Guard

    started = time.perf_counter()
    Guard().load()  # loading the scorers once (they are cached) is a start-up cost, reported apart
    load_seconds = time.perf_counter() - started
    rows = [run_guard(rewriter, texts, batch_size, n) for n in (None, 1, 4)]
    off = rows[0]["seconds"]
    for row in rows:
        row["slowdown_vs_off"] = row["seconds"] / off
    for row in rows:
        print(json.dumps(row), flush=True)
    return {"guard_scorer_load_seconds": load_seconds, "guard": rows}


def same_dtype_ratios(row: dict) -> dict:
    return {"ratio_vs_peer_same_dtype": row["ours_tokens_per_s_median"] / row["peer_same_dtype"]["tokens_per_s"],
            "ratio_float32_engine_vs_peer": row["ours_float32"]["tokens_per_s"] / row["peer_tokens_per_s_median"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--guard-batch-size", type=int, default=8)
    parser.add_argument("--dtype", default="auto", help="our engine's dtype (auto: bf16 where native, else fp32)")
    parser.add_argument("--guard-only", action="store_true",
                        help="measure only the guard rows and merge them into the existing results")
    args = parser.parse_args()
    texts = prompts(args.n)
    # Ours as `srllm rewrite` runs it (dtype auto: bf16 where the CPU computes it natively); the
    # peer on the default model as transformers loads it (the GGUF dequantizes to fp32).
    loaded = load_causal_lm(DEFAULT_MODEL, adapter=None, dtype=args.dtype)
    peer_loaded = load_causal_lm(DEFAULT_MODEL, adapter=None) if loaded.dtype != "float32" else loaded
    rewriter = Rewriter(loaded, settings=GenerationSettings(max_new_tokens=args.max_new_tokens))
    rewriter.rewrite(texts[:2], batch_size=2)  # warm-up
    if args.guard_only:
        previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        previous.update(guard_rows(rewriter, texts, args.guard_batch_size), guard_prompts=args.n,
                        guard_max_new_tokens=args.max_new_tokens, torch_threads=torch.get_num_threads())
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(previous, indent=2))
        return
    rows = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        ours = [run_ours(rewriter, texts, batch_size) for _ in range(args.repeats)]
        peer = [run_peer(peer_loaded, texts, rewriter, batch_size, args.max_new_tokens)
                for _ in range(args.repeats)]
        row = {"batch_size": batch_size,
               "ours": min(ours, key=lambda r: r["seconds"]), "peer": min(peer, key=lambda r: r["seconds"]),
               "ours_tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in ours),
               "peer_tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in peer)}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "ours" and k != "peer"}), flush=True)
    largest = rows[-1]
    # Ablations at the headline batch: the engine without continuous batching (one generate() per
    # batch, as before) and without the shared prompt-head cache.
    for name, change in (("ours_static_batches", {"continuous": False}),
                         ("ours_without_prefix_cache", {"prefix_cache": False})):
        ablated = Rewriter(loaded, settings=GenerationSettings(max_new_tokens=args.max_new_tokens, **change))
        largest[name] = run_ours(ablated, texts, largest["batch_size"])
        print(json.dumps({name: largest[name]["tokens_per_s"]}), flush=True)
    if peer_loaded is not loaded:
        # Same dtype on both sides: the engine's own gain, apart from bf16's.
        fp32 = Rewriter(peer_loaded, settings=GenerationSettings(max_new_tokens=args.max_new_tokens))
        largest["ours_float32"] = run_ours(fp32, texts, largest["batch_size"])
        largest["peer_same_dtype"] = run_peer(loaded, texts, rewriter, largest["batch_size"], args.max_new_tokens)
        print(json.dumps({k: largest[k]["tokens_per_s"] for k in ("ours_float32", "peer_same_dtype")}), flush=True)
    result = {
        "model": DEFAULT_MODEL, "prompts": args.n, "max_new_tokens": args.max_new_tokens,
        "peer": "transformers pipeline('text-generation'), same prompts, greedy, same max_new_tokens",
        "batch_size_for_headline": largest["batch_size"],
        "ours_tokens_per_s": largest["ours_tokens_per_s_median"],
        "peer_tokens_per_s": largest["peer_tokens_per_s_median"],
        "ratio_vs_peer": largest["ours_tokens_per_s_median"] / largest["peer_tokens_per_s_median"],
        "ratio_vs_peer_at_its_default_batch_1": largest["ours_tokens_per_s_median"]
        / rows[0]["peer_tokens_per_s_median"],
        "ours_dtype": loaded.dtype, "peer_dtype": peer_loaded.dtype,
        "cpu_native_bf16": cpu_has_native_bf16(),
        **(same_dtype_ratios(largest) if "ours_float32" in largest else {}),
        "rows": rows,
        **guard_rows(rewriter, texts, args.guard_batch_size),
        "peak_rss_mb": peak_rss_mb(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("ours_tokens_per_s", "peer_tokens_per_s", "ratio_vs_peer")}))


if __name__ == "__main__":
    main()
