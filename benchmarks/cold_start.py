"""Cold start of the CLI, in fresh processes: `srllm --help` and one `srllm rewrite "..."` (the guard on,
the shipped model and adapter), median of N runs, plus where one cold rewrite's time goes.

    python benchmarks/cold_start.py [--runs 5]

Writes benchmarks/results/cold_start.json and .md. Every run is a new Python process (nothing
imported, no model in memory); the OS file cache is warm, as it is for a user's second command.
The merged LoRA weights are cached on disk after the first start (srllm.models.merged_cache);
`merged_cache_before` says whether the runs found it. Wall time on a busy machine is inflated by
other processes: the CPU time (user + sys) and the load average are recorded beside it.
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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_flags  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TEXT = "Old people are useless with computers and should retire."

# One cold rewrite, phase by phase, as `srllm rewrite` runs it (srllm.rewrite.guard.load_rewriter).
PHASES = f"""
import json, time
start = time.perf_counter(); marks = {{}}
import torch
marks["import torch"] = time.perf_counter() - start
from srllm.models import DEFAULT_MODEL
from srllm.rewrite.guard import Guard, GuardedRewriter
from srllm.engine.rewriter import Rewriter
marks["import srllm"] = time.perf_counter() - start - sum(marks.values())
guard = Guard().load(warm_up=False)
marks["load the guard's scorers"] = time.perf_counter() - start - sum(marks.values())
rewriter = Rewriter.load(DEFAULT_MODEL)
marks["load the model + adapter"] = time.perf_counter() - start - sum(marks.values())
GuardedRewriter(rewriter, guard).rewrite([{TEXT!r}], batch_size=1)
marks["first rewrite (guarded)"] = time.perf_counter() - start - sum(marks.values())
print(json.dumps(marks))
"""


def timed(argv: list[str]) -> dict[str, float]:
    """Wall and CPU seconds of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def summary(runs: list[dict[str, float]]) -> dict[str, object]:
    return {"median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
            "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from srllm.paths import cache_dir

    srllm = [sys.executable, "-m", "srllm.cli.main"]
    merged_before = any((cache_dir() / "merged").glob("*.safetensors"))
    load_before = os.getloadavg()[0]
    helps = [timed([*srllm, "--help"]) for _ in range(args.runs)]
    rewrites = [timed([*srllm, "rewrite", TEXT]) for _ in range(args.runs)]
    phases = json.loads(subprocess.run([sys.executable, "-c", PHASES], capture_output=True, text=True, check=True,
                                       env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout.strip().splitlines()[-1])
    import torch

    result = {
        "cold_rewrite_backend": "transformers",  # what `srllm rewrite` runs by default
        "cpu_flags": cpu_flags(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "runs": args.runs, "text": TEXT,
        "load_average_1m_before": round(load_before, 2), "load_average_1m_after": round(os.getloadavg()[0], 2),
        "merged_cache_before": merged_before,
        "env": {name: os.environ[name] for name in ("SRLLM_CACHE", "SRLLM_JIGSAW_DIR", "SRLLM_EMBEDDER")
                if name in os.environ},
        "help": summary(helps), "cold_rewrite": summary(rewrites),
        "cold_rewrite_phases_s": {name: round(seconds, 3) for name, seconds in phases.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_start.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "cold_start.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


def markdown(r: dict) -> str:
    busy = max(r["load_average_1m_before"], r["load_average_1m_after"]) > r["cpus"]
    lines = [
        "# Cold start (fresh processes)", "",
        f"CPU: {r['cpus']} cores ({r['machine']}; flags {', '.join(r['cpu_flags'])}); torch threads "
        f"{r['torch_threads']}; load average {r['load_average_1m_before']} before, {r['load_average_1m_after']} "
        f"after ({'above' if busy else 'within'} the core count: "
        f"{'other processes shared the CPU and wall times are inflated' if busy else 'a quiet CPU'}).", "",
        "| command | median wall (s) | median CPU (s) | runs |", "|---|---|---|---|",
        f"| `srllm --help` | {r['help']['median_wall_s']} | {r['help']['median_cpu_s']} | {r['runs']} |",
        f"| `srllm rewrite \"...\"` (guard on) | {r['cold_rewrite']['median_wall_s']} | "
        f"{r['cold_rewrite']['median_cpu_s']} | {r['runs']} |", "",
        f"Merged LoRA weights cached before the runs: {r['merged_cache_before']}. Engine: "
        f"{r.get('cold_rewrite_backend', 'transformers')}.", "",
        "Where one cold rewrite's time goes (wall seconds, one process):", "",
        "| phase | s |", "|---|---|",
        *[f"| {name} | {seconds} |" for name, seconds in r["cold_rewrite_phases_s"].items()], "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
