"""StereoSet intrasentence scoring speed: the default model must score the dev set in <= 5 min on 2 cores.

Usage: python benchmarks/stereoset_speed.py [--data ../shared/data/stereoset/dev.json] [--threads 2] [--limit N]
(--limit scores N items, stratified by domain, and extrapolates from CPU time: for busy machines.)
Writes benchmarks/results/stereoset_speed.json (timing, sentences/s, the resulting scores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "stereoset_speed.json"
BUDGET_SECONDS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="StereoSet dev.json (default: ../shared/data/stereoset)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the budget is for 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None,
                        help="score only the first N items per domain and extrapolate (for busy machines)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from srllm.evaluate.experiments.stereoset import score_items, stereoset_report, stratified_head
    from srllm.evaluate.loaders import load_stereoset
    from srllm.models import load_causal_lm

    all_items = load_stereoset(args.data)
    items = stratified_head(all_items, args.limit) if args.limit else all_items
    clock = time.perf_counter()
    loaded = load_causal_lm(args.model)
    load_seconds = time.perf_counter() - clock
    clock, cpu = time.perf_counter(), time.process_time()
    load_before = os.getloadavg()[0]
    scores = score_items(loaded.model, loaded.tokenizer, items, batch_size=args.batch_size)
    score_seconds = time.perf_counter() - clock
    cpu_seconds = time.process_time() - cpu
    report = stereoset_report(items, scores)
    result = {
        "benchmark": "stereoset intrasentence scoring",
        "model": args.model, "items": len(items), "sentences": len(scores), "dev_items": len(all_items),
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "batch_size": args.batch_size,
        "load_seconds": round(load_seconds, 2), "score_seconds": round(score_seconds, 2),
        # CPU time of all threads: on a machine shared with other jobs, wall time measures the
        # others too; cpu_seconds / threads is what the scoring costs on idle cores.
        "cpu_seconds": round(cpu_seconds, 2),
        "idle_estimate_seconds": round(cpu_seconds / torch.get_num_threads(), 1),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "sentences_per_second": round(len(scores) / score_seconds, 1),
        # The full dev set's cost at the measured CPU time per item, spread over 2 cores (assumes the
        # two cores scale linearly, which batched matmuls nearly do on idle cores).
        "full_dev_estimate_seconds_2_cores": round(cpu_seconds / len(items) * len(all_items) / 2, 1),
        "budget_seconds": BUDGET_SECONDS,
        # Wall time answers the question only for the whole dev set on an otherwise idle machine.
        "within_budget_wall": None if args.limit else score_seconds + load_seconds <= BUDGET_SECONDS,
        "within_budget_cpu_estimate": cpu_seconds / len(items) * len(all_items) / 2 + load_seconds <= BUDGET_SECONDS,
        "overall": report["overall"],
        "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
