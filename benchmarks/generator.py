"""Issue 14's generator table: each candidate adapter on the dev cases, with and without the guard.

Reads the per-variant results that `benchmarks/quality.py run adapter+guard --adapter DIR --name NAME+guard`
and `... run adapter --adapter DIR --name NAME` leave in benchmarks/results/quality/ (the same 150 dev
cases, the shipped judge, the guard as it ships: 8 candidates, batch 16), each adapter's training manifest
(steps, rank, learning rate, max length, template) and the self-training round manifests, and writes
benchmarks/results/generator.json and generator.md. The shipped adapter's results are `adapter+guard` and
`adapter`.

    .venv/bin/python benchmarks/generator.py \\
        --variant default=adapter:src/srllm/assets/adapters/smollm2-135m-instruct \\
        --variant r64=sweep-r64:runs/sweep-r64 ... --round runs/st-m1/round.json
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("biased", "toxic", "benign", "job", "injection")


def _result(name: str) -> dict | None:
    path = RESULTS / "quality" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _training(adapter: str) -> dict:
    path = Path(adapter) / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    config = manifest.get("config", {})
    options = config.get("method_options", {})
    return {"stage": config.get("stage", "sft"), "steps": manifest.get("global_step"),
            "init_adapter": config.get("init_adapter"), "r": options.get("r"), "alpha": options.get("alpha"),
            "dropout": options.get("dropout"), "learning_rate": config.get("learning_rate"),
            "max_length": config.get("max_length"), "template": config.get("template"),
            "train_wall_s": manifest.get("wall_time_s")}


def _row(label: str, name: str, adapter: str) -> dict:
    guarded, bare = _result(f"{name}+guard"), _result(name)
    if guarded is None:
        raise SystemExit(f"{label}: no results/quality/{name}+guard.json; run benchmarks/quality.py first")
    dev = guarded["devcases"]
    return {
        "label": label, "result": name, "adapter": adapter, "training": _training(adapter),
        "dev_overall": dev["summary"]["overall"],
        "dev_overall_no_guard": bare["devcases"]["summary"]["overall"] if bare else None,
        "by_kind": {k: dev["summary"][k] for k in KINDS},
        "flag_rate": round(dev["flag_rate"], 4), "silent_harm_rate": round(dev["silent_harm_rate"], 4),
        "benign_kept": round(dev["benign_kept"], 4), "statuses": dev["statuses"],
        "check_failures": dev["summary"]["check_failures"], "seconds": round(dev["seconds"], 1),
    }


def _round(path: str) -> dict:
    m = json.loads(Path(path).read_text())
    return {"path": path, "round": m["round"], "counts": m["counts"], "kept_rate": m["kept_rate"],
            "preference_pairs": m["preference_pairs"], "chosen_from": m["chosen_from"],
            "selected": m["pool"]["selected"], "seconds": m["seconds"], "model": m["model"]}


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def markdown(rows: list[dict], rounds: list[dict]) -> str:
    lines = ["| adapter | r / alpha / dropout | lr | max len | steps | dev, guard on | dev, no guard | "
             "flag rate | silent harm | benign kept | " + " | ".join(KINDS) + " |", "|" + "---|" * 15]
    for r in rows:
        t, k = r["training"], r["by_kind"]
        lines.append(f"| {r['label']} | {t['r']} / {t['alpha']} / {t['dropout']} | {t['learning_rate']} | "
                     f"{t['max_length']} | {t['steps']} | {_pct(r['dev_overall'])} | "
                     f"{_pct(r['dev_overall_no_guard'])} | {_pct(r['flag_rate'])} | {_pct(r['silent_harm_rate'])} | "
                     f"{_pct(r['benign_kept'])} | " + " | ".join(_pct(k[kind], 0) for kind in KINDS) + " |")
    for r in rounds:
        lines.append(f"\nRound {r['round']} ({r['path']}): {r['selected']} inputs, {r['counts']}, kept rate "
                     f"{r['kept_rate']}, {r['preference_pairs']} preference pairs, chosen from {r['chosen_from']}, "
                     f"{r['seconds']} s.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="LABEL=RESULT_NAME:ADAPTER_DIR")
    parser.add_argument("--round", action="append", default=[], help="a self-training round.json")
    parser.add_argument("--note", action="append", default=[], help="a line under the table (e.g. what † means)")
    args = parser.parse_args()
    rows = []
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        name, _, adapter = rest.partition(":")
        rows.append(_row(label, name, adapter))
    rounds = [_round(path) for path in args.round]
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split("flags", 2)[1].split("\n")[0] if cpuinfo.exists() else ""
    out = {"about": "dev cases (150), the guard as it ships (shipped judge, 8 candidates, batch 16) and without "
                    "it; flag_rate = flagged / harmful rows; silent_harm_rate = ok/unchanged rows that fail",
           "machine": {"cpu": platform.processor() or platform.machine(),
                       "avx512_bf16": "avx512_bf16" in flags, "avx2": "avx2" in flags},
           "variants": rows, "self_training_rounds": rounds, "notes": args.note}
    (RESULTS / "generator.json").write_text(json.dumps(out, indent=1) + "\n")
    text = markdown(rows, rounds) + "".join(f"\n{note}\n" for note in args.note)
    (RESULTS / "generator.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
