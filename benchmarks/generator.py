"""Issue 14's generator table: each candidate adapter on the dev cases, guard on, side by side.

Reads the per-variant results that `benchmarks/quality.py run adapter+guard --adapter DIR --name NAME`
leaves in benchmarks/results/quality/NAME.json (the same 150 dev cases, the shipped judge, guard
without the edit candidate, 4 candidates), the training manifests of the adapters and the
self-training round manifests, and writes benchmarks/results/generator.json and generator.md.

    .venv/bin/python benchmarks/generator.py \\
        --variant shipped=adapter+guard-no-edit:src/srllm/assets/adapters/smollm2-135m-instruct \\
        --variant long-sft-150=long-sft-150+guard:runs/long-sft ... --round runs/st1/round.json
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _row(label: str, name: str, adapter: str) -> dict:
    path = RESULTS / "quality" / f"{name}.json"
    if not path.is_file():  # the shipped adapter's run lives in the committed judge-guard file
        path = RESULTS / "quality_judge_guard.json"
        data = json.loads(path.read_text())["variants"][name]
    else:
        data = json.loads(path.read_text())
    dev = data["devcases"]
    manifest_path = Path(adapter) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return {
        "label": label, "result": name, "adapter": adapter,
        "steps": manifest.get("global_step"), "stage": manifest.get("config", {}).get("stage", "sft"),
        "train_wall_s": manifest.get("wall_time_s"),
        "dev_overall": dev["summary"]["overall"],
        "by_kind": {k: dev["summary"][k] for k in ("biased", "toxic", "benign", "job", "injection")},
        "flag_rate": round(dev["flag_rate"], 4), "silent_harm_rate": round(dev["silent_harm_rate"], 4),
        "benign_kept": round(dev["benign_kept"], 4), "statuses": dev["statuses"],
        "check_failures": dev["summary"]["check_failures"], "seconds": round(dev["seconds"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="LABEL=RESULT_NAME:ADAPTER_DIR")
    parser.add_argument("--round", action="append", default=[], help="a self-training round.json")
    args = parser.parse_args()
    rows = []
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        name, _, adapter = rest.partition(":")
        rows.append(_row(label, name, adapter))
    rounds = []
    for path in args.round:
        m = json.loads(Path(path).read_text())
        rounds.append({"path": path, "round": m["round"], "counts": m["counts"], "kept_rate": m["kept_rate"],
                       "preference_pairs": m["preference_pairs"], "chosen_from": m["chosen_from"],
                       "selected": m["pool"]["selected"], "seconds": m["seconds"], "model": m["model"]})
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split("flags", 2)[1].split("\n")[0] if cpuinfo.exists() else ""
    out = {"about": "dev cases (150), guard on (shipped judge, no edit candidate, 4 candidates); "
                    "flag_rate = flagged / harmful rows; silent_harm_rate = ok/unchanged rows that fail",
           "machine": {"cpu": platform.processor() or platform.machine(),
                       "avx512_bf16": "avx512_bf16" in flags, "avx2": "avx2" in flags},
           "variants": rows, "self_training_rounds": rounds}
    (RESULTS / "generator.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["| adapter | stage | steps | dev pass | biased | toxic | benign | job | injection | flag rate | "
             "silent harm | benign kept |", "|" + "---|" * 12]
    for r in rows:
        k = r["by_kind"]
        lines.append(f"| {r['label']} | {r['stage']} | {r['steps']} | {r['dev_overall']:.1%} | {k['biased']:.0%} | "
                     f"{k['toxic']:.0%} | {k['benign']:.0%} | {k['job']:.0%} | {k['injection']:.0%} | "
                     f"{r['flag_rate']:.1%} | {r['silent_harm_rate']:.1%} | {r['benign_kept']:.1%} |")
    for r in rounds:
        lines.append(f"\nRound {r['round']} ({r['path']}): {r['selected']} inputs, {r['counts']}, kept rate "
                     f"{r['kept_rate']}, {r['preference_pairs']} preference pairs, chosen from {r['chosen_from']}, "
                     f"{r['seconds']} s.")
    (RESULTS / "generator.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
