"""Which encoder the judge should be: backbones fine-tuned with the same recipe and step budget, same rows, one run.

    .venv/bin/python benchmarks/judge_backbones.py --backbone minilm= --backbone mpnet=/path/all-mpnet-base-v2 \
        [--steps 300] [--lr minilm=8e-5 --lr mpnet=5e-5]

Each backbone is trained by `srllm judge train` (the shipped recipe: data/judge/train.jsonl, batch 32, max length
96) for --steps steps into runs/judge-backbone-NAME (resumable: a finished run is reused), then scored on the
rows benchmarks/judge.py uses, none of them trained on: ToxiGen annotated (ROC-AUC), CrowS-Pairs (share of
pairs where sent_more scores higher), the dev cases (judge-only recall of harmful inputs and specificity on
benign ones at the judge's own threshold), the judge's dev split (AUC), and speed (texts/s at batch 64 on
1,024 ToxiGen texts, the machine's default dtype) with the fp16 weight size. The shipped judge (full training)
is scored beside them as the reference row. An empty path (`minilm=`) means the default MiniLM backbone.

Writes benchmarks/results/judge_backbones.json and .md. The step budget is the point: a backbone that reads
implicit hate better at the same data and steps is worth its cost; the shipped judge trained 2,584 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from judge import HARMFUL_KINDS, auc_f1, crows_pairs_rows, read_jsonl, toxigen_rows  # noqa: E402
from machine import cpu_flags  # noqa: E402

from srllm.scorers.judge import load_judge  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def train(name: str, path: str, steps: int, lr: float) -> tuple[Path, float | None]:
    """The judge folder, and the training seconds (None when a finished run was reused)."""
    out = ROOT / "runs" / f"judge-backbone-{name}"
    start = time.perf_counter()
    if (out / "judge.json").is_file():
        return out, None
    command = [str(Path(sys.executable).parent / "srllm"), "judge", "train", "--out", str(out),
               "--max-steps", str(steps), "--lr", str(lr), "--max-length", "96", "--batch-size", "32", "--resume"]
    if path:
        command += ["--backbone", path]
    subprocess.run(command, check=True, cwd=ROOT)
    return out, time.perf_counter() - start


def harm(judge, texts: list[str]) -> np.ndarray:
    return np.array([r.harm or 0.0 for r in judge.judge(texts, batch_size=64)])


def score(folder: str | None, shared: Path) -> dict:
    start = time.perf_counter()
    judge = load_judge(folder)
    judge.judge(["warm-up"])
    load_s = time.perf_counter() - start
    toxigen = toxigen_rows(shared)
    tg = auc_f1(np.array([int(r["label"] == "hate") for r in toxigen]), harm(judge, [r["text"] for r in toxigen]))
    pairs = crows_pairs_rows(shared)
    crows = float(np.mean(harm(judge, [p["sent_more"] for p in pairs]) > harm(judge, [p["sent_less"] for p in pairs])))
    cases = read_jsonl(shared / "data/devcases/cases.jsonl")
    flagged = harm(judge, [c["text"] for c in cases]) > judge.threshold
    harmful = np.array([c["kind"] in HARMFUL_KINDS for c in cases])
    dev = read_jsonl(ROOT / "data/judge/dev.jsonl")
    dev_auc = auc_f1(np.array([int(r["toxic"] or r["stereotype"]) for r in dev]), harm(judge, [r["text"] for r in dev]))
    texts = [r["text"] for r in toxigen[:1024]]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        judge.judge(texts, batch_size=64)
        times.append(time.perf_counter() - t0)
    from srllm.scorers.judge import judge_path

    weights = judge_path(folder) / "model.safetensors"
    return {"toxigen_auc": tg["auc"], "toxigen_f1": tg["f1"], "crows_pairs_accuracy": crows,
            "devcases_judge_recall": float(flagged[harmful].mean()),
            "devcases_judge_specificity": float((~flagged[~harmful]).mean()), "threshold": judge.threshold,
            "judge_dev_auc": dev_auc["auc"], "texts_per_s": len(texts) / float(np.median(times)),
            "load_s": load_s, "dtype": str(next(judge.model.parameters()).dtype).replace("torch.", ""),
            "params_m": sum(p.numel() for p in judge.model.parameters()) / 1e6,
            "weights_mb": weights.stat().st_size / 2**20 if weights.is_file() else None,
            "steps": judge.settings.get("steps"), "backbone": judge.settings.get("backbone")}


def _seconds(row: dict) -> str:
    """Training seconds; "–" for the shipped judge (not trained here), "reused" for a finished earlier run."""
    if "train_s" not in row:
        return "–"
    return "reused" if row["train_s"] is None else f"{row['train_s']:.0f}"


def markdown(r: dict) -> str:
    lines = ["# Judge backbones: same recipe, same step budget", "",
             f"CPU flags: {', '.join(r['cpu_flags'])}. Budget: {r['steps']} steps at batch 32 "
             "(the shipped judge: 2,584). Scored on rows never trained on.", "",
             "| backbone | steps | lr | train s | ToxiGen AUC | CrowS-Pairs | dev recall / specificity (judge only) "
             "| judge dev AUC | texts/s (batch 64) | params (M) | fp16 MB |", "|---" * 11 + "|"]
    for name, row in r["rows"].items():
        lines.append(f"| {name} | {row['steps']} | {row.get('lr', '')} | {_seconds(row)} | "
                     f"{row['toxigen_auc']:.3f} | {row['crows_pairs_accuracy']:.3f} | "
                     f"{row['devcases_judge_recall']:.3f} / {row['devcases_judge_specificity']:.3f} | "
                     f"{row['judge_dev_auc']:.3f} | {row['texts_per_s']:.0f} | {row['params_m']:.0f} | "
                     f"{row['weights_mb'] or 0:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", action="append", required=True, help="NAME=PATH (empty PATH: MiniLM)")
    parser.add_argument("--lr", action="append", default=[], help="NAME=LR (default 8e-5, the shipped recipe)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    rates = {k: float(v) for k, v in (item.split("=", 1) for item in args.lr)}
    rows: dict[str, dict] = {}
    for item in args.backbone:
        name, path = item.split("=", 1)
        lr = rates.get(name, 8e-5)
        folder, seconds = train(name, path, args.steps, lr)
        rows[name] = {**score(str(folder), args.shared), "lr": lr, "train_s": seconds}
    rows["shipped judge (MiniLM, full training)"] = score(None, args.shared)
    result = {"cpu_flags": cpu_flags(), "steps": args.steps, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "judge_backbones.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "judge_backbones.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
