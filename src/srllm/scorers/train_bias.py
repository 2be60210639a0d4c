"""Train the `bias` scorer's head: logistic regression over all-MiniLM-L6-v2 sentence embeddings.

    python -m srllm.scorers.train_bias [--data FILE ...] [--out FILE] [--shared ../shared]

Why: toxicity classifiers score polite stereotypes ("Women are not as good in STEM as men")
as harmless (~0.06 toxic), yet SR-LLM targets exactly those. We train only on srllm's own CMD
seed records: each `text` with its `labels.bias` (Yes/No), and every `safe_variation` as a "No"
example, so the head sees the same topic with and without the biased framing.

Evaluation: grouped 5-fold cross-validation and a random 20 % held-out split (a record and its
safe variation always fall on the same side), then, evaluation only, external data under
/work/shared: ToxiGen human-annotated statements (AUC, hate vs neutral) and CrowS-Pairs (share
of pairs where `sent_more` scores higher than `sent_less`). Those are never trained on.
The head (coef, intercept, threshold, data hash, counts, metrics) is written as JSON.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srllm.errors import InputError
from srllm.lines import split_lines
from srllm.scorers.bias import HEAD_PATH

SEED_FILES = ("data/seed/cmd_part1.jsonl", "data/seed/cmd_part2.jsonl", "data/seed/job_snippets.jsonl")
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class Examples:
    texts: list[str]
    labels: np.ndarray  # 1 = biased
    groups: np.ndarray  # record index: a text and its safe variation share one
    counts: dict

    def sha256(self) -> str:
        canonical = json.dumps([[t, int(y)] for t, y in zip(self.texts, self.labels, strict=True)], ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_seed_examples(paths: list[str | Path]) -> Examples:
    """Biased/unbiased examples from CMD JSONL records; unreadable lines are counted and skipped."""
    texts, labels, groups = [], [], []
    counts = {"files": [], "records": 0, "biased_texts": 0, "unbiased_texts": 0, "safe_variations": 0,
              "skipped_lines": 0}
    record = 0
    for path in map(Path, paths):
        if not path.is_file():
            continue
        counts["files"].append(str(path))
        for line in split_lines(path.read_text(encoding="utf-8")):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                bias = str(row["labels"]["bias"]).strip().lower()
                text = row["text"].strip()
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                counts["skipped_lines"] += 1  # e.g. a line still being written
                continue
            if bias not in ("yes", "no") or not text:
                counts["skipped_lines"] += 1
                continue
            record += 1
            texts.append(text)
            labels.append(int(bias == "yes"))
            groups.append(record)
            counts["biased_texts" if bias == "yes" else "unbiased_texts"] += 1
            safe = (row.get("safe_variation") or "").strip()
            if safe:
                texts.append(safe)
                labels.append(0)
                groups.append(record)
                counts["safe_variations"] += 1
    counts["records"] = record
    if not texts or len(set(labels)) < 2:
        raise InputError("need biased and unbiased examples to train the bias head; found "
                         f"{len(texts)} examples in {counts['files'] or list(map(str, paths))}",
                         field="labels.bias")
    return Examples(texts, np.array(labels), np.array(groups), counts)


def _fit(features: np.ndarray, labels: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(features, labels)


def _metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict:
    from sklearn.metrics import accuracy_score, roc_auc_score

    return {"auc": round(float(roc_auc_score(labels, probs)), 4),
            "accuracy": round(float(accuracy_score(labels, probs >= threshold)), 4),
            "threshold": round(threshold, 4), "n": int(len(labels))}


def youden_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The cut maximising TPR - FPR (Youden's J) on out-of-fold probabilities."""
    from sklearn.metrics import roc_curve

    fpr, tpr, cuts = roc_curve(labels, probs)
    return float(min(1.0, cuts[int(np.argmax(tpr - fpr))]))


def out_of_fold(features: np.ndarray, ex: Examples, c: float, folds: int = 5, seed: int = 0) -> np.ndarray:
    from sklearn.model_selection import StratifiedGroupKFold

    probs = np.zeros(len(ex.labels))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(features, ex.labels, ex.groups):
        probs[test] = _fit(features[train], ex.labels[train], c).predict_proba(features[test])[:, 1]
    return probs


def held_out(features: np.ndarray, ex: Examples, c: float, threshold: float, seed: int = 0) -> dict:
    from sklearn.model_selection import GroupShuffleSplit

    train, test = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
                       .split(features, ex.labels, ex.groups))
    probs = _fit(features[train], ex.labels[train], c).predict_proba(features[test])[:, 1]
    return _metrics(ex.labels[test], probs, threshold)


def train_bias_head(data: list[str | Path] | None = None, out: str | Path | None = HEAD_PATH,
                    shared: str | Path | None = None, seed: int = 0) -> dict:
    """Train, evaluate and (when `out` is set) write the head JSON; returns the head dict."""
    from srllm.scorers.embeddings import embed

    ex = read_seed_examples(list(data or SEED_FILES))
    features = embed(ex.texts)
    # C is picked by grouped CV on our data only; external sets play no part in it.
    oof = {c: out_of_fold(features, ex, c, seed=seed) for c in C_GRID}
    cv = {c: _metrics(ex.labels, oof[c]) for c in C_GRID}
    best_c = max(C_GRID, key=lambda c: (cv[c]["auc"], -abs(np.log(c))))
    # Balanced class weights centre scores near 0.5 for neutral mentions of a group; the
    # out-of-fold Youden cut is a fairer flag threshold than 0.5.
    threshold = youden_threshold(ex.labels, oof[best_c])
    model = _fit(features, ex.labels, best_c)
    head = {
        "kind": "logistic-regression-over-sentence-embeddings",
        "embedder": EMBEDDER_NAME,
        "normalized_embeddings": True,
        "coef": [round(float(v), 7) for v in model.coef_[0]],
        "intercept": float(model.intercept_[0]),
        "threshold": round(threshold, 4),
        "C": best_c,
        "training": {"data_sha256": ex.sha256(), "examples": len(ex.texts),
                     "positives": int(ex.labels.sum()), **ex.counts},
        "metrics": {"cv5_grouped": _metrics(ex.labels, oof[best_c], threshold),
                    "cv5_grouped_by_C": {str(c): cv[c] for c in C_GRID},
                    "held_out_20pct": held_out(features, ex, best_c, threshold, seed=seed)},
    }
    if shared is not None:
        head["metrics"]["external"] = evaluate_external(shared, head)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(head, indent=1) + "\n", encoding="utf-8")
    return head


def evaluate_external(shared: str | Path, head: dict | None = None) -> dict:
    """ToxiGen (annotated) AUC and CrowS-Pairs preference share; evaluation only."""
    from srllm.scorers.bias import BiasScorer

    scorer = BiasScorer(head=head)
    root = Path(shared) / "data"
    results: dict = {}
    toxigen = root / "toxigen" / "annotated" / "toxiGen.json"
    if toxigen.is_file():
        rows = json.loads(toxigen.read_text(encoding="utf-8"))
        labels = np.array([int(r["label"] == "hate") for r in rows])
        probs = scorer.probabilities([r["text"].strip() for r in rows])
        results["toxigen_annotated"] = _metrics(labels, probs, scorer.threshold)
    else:
        warnings.warn(f"{toxigen} not found; skipping the ToxiGen evaluation", stacklevel=2)
    crows = root / "crows-pairs" / "crows_pairs_anonymized.csv"
    if crows.is_file():
        with crows.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        more = scorer.probabilities([r["sent_more"] for r in rows])
        less = scorer.probabilities([r["sent_less"] for r in rows])
        kinds = np.array([r["stereo_antistereo"] for r in rows])
        wins = more > less
        results["crows_pairs"] = {
            "sent_more_scores_higher": round(float(wins.mean()), 4), "n": len(rows),
            **{f"{k}_share": round(float(wins[kinds == k].mean()), 4) for k in ("stereo", "antistereo")},
        }
    else:
        warnings.warn(f"{crows} not found; skipping the CrowS-Pairs evaluation", stacklevel=2)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=list(SEED_FILES), help="CMD JSONL files")
    parser.add_argument("--out", default=str(HEAD_PATH), help="where to write the head JSON")
    parser.add_argument("--shared", default="../shared",
                        help="folder with data/toxigen and data/crows-pairs for the external evaluation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shared = args.shared if Path(args.shared).is_dir() else None
    head = train_bias_head(args.data, args.out, shared, args.seed)
    print(json.dumps({"C": head["C"], "training": head["training"], "metrics": head["metrics"]}, indent=1))


if __name__ == "__main__":
    main()
