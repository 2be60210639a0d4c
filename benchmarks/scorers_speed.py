"""Throughput of the local scorers (texts or pairs per second), written to benchmarks/results/.

    python benchmarks/scorers_speed.py [--n 512] [--shared ../shared]

Texts come from ParaDetox (toxic sentence -> first neutral paraphrase) when ../shared is there,
else from a fixed synthetic list, so the numbers are comparable between runs on one machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from srllm.scorers import get_scorer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "scorers_speed.json"
SINGLE = ("toxicity", "profanity", "sentiment", "bias", "fluency")
PAIRWISE = ("similarity", "retention")


def load_pairs(shared: Path, n: int) -> tuple[list[str], list[str]]:
    tsv = shared / "data" / "paradetox" / "paradetox.tsv"
    if tsv.is_file():
        with tsv.open(encoding="utf-8", newline="") as handle:
            rows = [r for r in csv.DictReader(handle, delimiter="\t") if r.get("neutral1")]
        rows = (rows * (n // max(1, len(rows)) + 1))[:n]
        return [r["toxic"] for r in rows], [r["neutral1"] for r in rows]
    base = [("You are a stupid idiot and nobody likes you.", "I disagree with you."),
            ("Women are not as good in STEM as men.", "People of every gender can excel in STEM."),
            ("Kevin owes $4,500 since May, the lazy bum.", "Kevin owes $4,500 since May.")]
    rows = (base * (n // len(base) + 1))[:n]
    return [a for a, _ in rows], [b for _, b in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--shared", default="../shared")
    args = parser.parse_args()
    sources, targets = load_pairs(Path(args.shared), args.n)
    import torch

    # Record how busy the machine was: on a shared box the embedding scorers slow down many-fold.
    results = {"n": len(sources), "machine": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "load_average_1m_before": round(os.getloadavg()[0], 2), "scorers": {}}
    for name in SINGLE + PAIRWISE:
        scorer = get_scorer(name, progress=False)
        started = time.perf_counter()
        (scorer.score_pairs(sources[:8], targets[:8]) if name in PAIRWISE else scorer.score(sources[:8]))
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        (scorer.score_pairs(sources, targets) if name in PAIRWISE else scorer.score(sources))
        elapsed = time.perf_counter() - started
        results["scorers"][name] = {"load_and_first_batch_s": round(load_s, 2),
                                    "per_second": round(len(sources) / elapsed, 1)}
        print(name, results["scorers"][name])
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
