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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_flags  # noqa: E402
from quality import dtype_label  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("biased", "toxic", "benign", "job", "injection")


def _result(name: str) -> dict | None:
    path = RESULTS / "quality" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _phase_steps(adapter: Path, manifest: dict) -> list[int | None]:
    """Each training phase's steps, first to last: an adapter trained on from another (`init_adapter`, or the
    shipped adapter's own manifest_phase1.json) counts that one's phases first, so a 180 + 200-step adapter is
    not reported as 200."""
    earlier: list[int | None] = []
    init = manifest.get("config", {}).get("init_adapter")
    if init and (Path(init) / "manifest.json").is_file():
        earlier = _phase_steps(Path(init), json.loads((Path(init) / "manifest.json").read_text()))
    elif (adapter / "manifest_phase1.json").is_file():
        earlier = [json.loads((adapter / "manifest_phase1.json").read_text()).get("global_step")]
    return [*earlier, manifest.get("global_step")]


def _training(adapter: str) -> dict:
    path = Path(adapter) / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    config = manifest.get("config", {})
    options = config.get("method_options", {})
    return {"stage": config.get("stage", "sft"), "steps": manifest.get("global_step"),
            "phase_steps": _phase_steps(Path(adapter), manifest) if manifest else [],
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
        "dtype": dtype_label(guarded), "cpu_flags": guarded.get("cpu_flags"),
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
             "flag rate | silent harm | benign kept | " + " | ".join(KINDS) + " | dtype |", "|" + "---|" * 16]
    for r in rows:
        t, k = r["training"], r["by_kind"]
        steps = " + ".join(str(n) for n in t.get("phase_steps") or [t["steps"]])
        label = f"{r['label']} (earlier run)" if r.get("from_previous_report") else r["label"]
        lines.append(f"| {label} | {t['r']} / {t['alpha']} / {t['dropout']} | {t['learning_rate']} | "
                     f"{t['max_length']} | {steps} | {_pct(r['dev_overall'])} | "
                     f"{_pct(r['dev_overall_no_guard'])} | {_pct(r['flag_rate'])} | {_pct(r['silent_harm_rate'])} | "
                     f"{_pct(r['benign_kept'])} | " + " | ".join(_pct(k[kind], 0) for kind in KINDS)
                     + f" | {r.get('dtype', '–')} |")
    for r in rounds:
        lines.append(f"\nRound {r['round']} ({r['path']}): {r['selected']} inputs, {r['counts']}, kept rate "
                     f"{r['kept_rate']}, {r['preference_pairs']} preference pairs, chosen from {r['chosen_from']}, "
                     f"{r['seconds']} s.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="LABEL=RESULT_NAME:ADAPTER_DIR")
    parser.add_argument("--round", action="append", default=[], help="a self-training round.json")
    parser.add_argument("--note", action="append", default=[],
                        help="a line under the table (e.g. what † means); default: the last report's notes")
    parser.add_argument("--fresh", action="store_true", help="drop the last report's rows and rounds")
    args = parser.parse_args()
    rows = []
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        name, _, adapter = rest.partition(":")
        rows.append(_row(label, name, adapter))
    rounds = [_round(path) for path in args.round]
    # Run folders and per-variant results are not committed: rows and rounds not measured again here keep
    # their entries from the last report, marked, so adding one adapter does not erase the others.
    previous_path = RESULTS / "generator.json"
    previous = json.loads(previous_path.read_text()) if previous_path.is_file() and not args.fresh else {}
    labels, paths = {r["label"] for r in rows}, {r["path"] for r in rounds}
    # Reports before per-row dtypes named one machine for all rows.
    was_bf16 = previous.get("machine", {}).get("avx512_bf16")
    old_dtype = None if was_bf16 is None else "bf16" if was_bf16 else "fp32, AVX2 only"
    rows = [*({"dtype": old_dtype, **r, "from_previous_report": True} for r in previous.get("variants", [])
              if r["label"] not in labels), *rows]
    rounds = [*(r for r in previous.get("self_training_rounds", []) if r["path"] not in paths), *rounds]
    notes = args.note or previous.get("notes", [])
    out = {"about": "dev cases (150), the guard as it ships (shipped judge, 8 candidates, batch 16) and without "
                    "it; flag_rate = flagged / harmful rows; silent_harm_rate = ok/unchanged rows that fail",
           "machine": {"cpu": platform.processor() or platform.machine(), "cpu_flags": cpu_flags()},
           "variants": rows, "self_training_rounds": rounds, "notes": notes}
    (RESULTS / "generator.json").write_text(json.dumps(out, indent=1) + "\n")
    text = markdown(rows, rounds) + "".join(f"\n{note}\n" for note in notes)
    (RESULTS / "generator.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
