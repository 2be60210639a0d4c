"""Pick the retention weight/threshold on one half of a labelled set, report agreement on the other.

    python -m srllm.scorers.calibrate_retention [data/eval/retention_labels.jsonl]

The set holds {original, rewrite, retained, note} records. Pairs are split by their original
(hash parity), so no original sits in both halves. On the calibration half we pick the
threshold with the best accuracy (the unit weight w is fixed at 0.5 unless a grid is given); on
the test half we report accuracy and Cohen's kappa (sklearn) of `retained` against the human
label, plus each component alone for comparison.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from srllm.errors import InputError
from srllm.text.readers import read_json_lines

# The weight is fixed by design (both signals equally, see retention.py); only the threshold is
# fitted, so 40 calibration pairs decide one number. Pass weights=... to search a grid instead.
WEIGHTS = (0.5,)


def read_labels(path: str | Path) -> list[dict]:
    rows = []
    for number, row in read_json_lines(path):
        for field in ("original", "rewrite", "retained"):
            if field not in row:
                raise InputError("missing field; each line needs original, rewrite, retained",
                                 path=str(path), line=number, field=field)
        rows.append(row)
    return rows


def split_half(row: dict) -> int:
    """0 = calibration, 1 = test; by the original's hash so an original stays in one half."""
    return hashlib.sha1(row["original"].encode("utf-8")).digest()[0] % 2


def _best_threshold(values: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    candidates = np.unique(np.concatenate([values, [0.0, 1.0]]))
    # Midpoints between sorted observed values generalise better than the values themselves.
    mids = (candidates[:-1] + candidates[1:]) / 2
    accs = np.array([((values >= t) == labels).mean() for t in mids])
    # Several cuts tie on a small set: take the middle of the best ones, not the first.
    best = mids[accs >= accs.max() - 1e-9]
    return float(np.median(best)), float(accs.max())


def calibrate(path: str | Path, swap: bool = False, weights: tuple[float, ...] = WEIGHTS) -> dict:
    """Fit on the calibration half, test on the other (`swap=True` exchanges the halves)."""
    from sklearn.metrics import cohen_kappa_score

    from srllm.scorers.retention import Retention

    rows = read_labels(path)
    scored = Retention().score_pairs([r["original"] for r in rows], [r["rewrite"] for r in rows])
    units = np.array([s["units_kept"] for s in scored])
    sims = np.array([s["similarity"] for s in scored])
    labels = np.array([bool(r["retained"]) for r in rows])
    half = np.array([split_half(r) for r in rows])
    cal, test = (half == 1, half == 0) if swap else (half == 0, half == 1)

    best = (-1.0, 0.0, 0.0)  # accuracy, weight, threshold
    for weight in weights:
        combined = weight * units + (1 - weight) * sims
        threshold, acc = _best_threshold(combined[cal], labels[cal])
        # Ties go to the weight closest to 0.5: both signals, as the design intends.
        if acc > best[0] + 1e-9 or (abs(acc - best[0]) < 1e-9 and abs(weight - 0.5) < abs(best[1] - 0.5)):
            best = (acc, weight, threshold)
    cal_acc, weight, threshold = best

    def agreement(values: np.ndarray, cut: float) -> dict:
        predicted = values[test] >= cut
        return {"accuracy": round(float((predicted == labels[test]).mean()), 3),
                "cohen_kappa": round(float(cohen_kappa_score(labels[test], predicted)), 3)}

    report = {
        "file": str(path), "swapped_halves": swap, "pairs": len(rows), "retained_true": int(labels.sum()),
        "calibration_pairs": int(cal.sum()), "test_pairs": int(test.sum()),
        "unit_weight": weight, "threshold": round(threshold, 3), "calibration_accuracy": round(cal_acc, 3),
        "test": agreement(weight * units + (1 - weight) * sims, threshold),
    }
    for name, values in (("units_only", units), ("similarity_only", sims)):
        cut, _ = _best_threshold(values[cal], labels[cal])
        report[f"test_{name}"] = agreement(values, cut) | {"threshold": round(cut, 3)}
    return report


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else "data/eval/retention_labels.jsonl"
    print(json.dumps({"fit_on_half_0": calibrate(path), "fit_on_half_1": calibrate(path, swap=True)},
                     indent=2))


if __name__ == "__main__":
    main()
