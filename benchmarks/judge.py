"""The judge against the scorers the guard used before it (Jigsaw toxicity, the MiniLM bias head), same rows, one run.

    .venv/bin/python benchmarks/judge.py [--shared ../shared] [--judge FOLDER]

Writes benchmarks/results/judge.json and judge.md:
- ToxiGen annotated (6,514 human-labelled statements): ROC-AUC and F1 (at 0.5), overall and per target group;
- CrowS-Pairs: share of pairs where sent_more scores higher than sent_less;
- dev-case inputs: recall of harmful inputs (biased, toxic, job, injection) and specificity on benign ones,
  at each side's screen (judge: its dev-split threshold, plus Jigsaw/profanity as the guard adds them;
  baseline: the old guard screen, toxicity 0.3 / profanity 0.35 / bias 0.3);
- held-out slices: the judge's dev split per source (AUC/F1) and span F1 on our seed test split's biased_words;
- speed: texts/s at batch 64, load time, peak RSS; CPU flags.
None of these texts was trained on (the leakage check of `srllm data build-judge` covers them).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sys
import time
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score, roc_auc_score  # noqa: E402

from srllm.lines import split_lines  # noqa: E402
from srllm.scorers import get_scorer  # noqa: E402
from srllm.scorers.judge import load_judge  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_flags  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OLD_SCREEN = {"toxicity": 0.3, "profanity": 0.35, "bias": 0.3}
HARMFUL_KINDS = ("biased", "toxic", "job", "injection")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in split_lines(path.read_text(encoding="utf-8")) if line.strip()]


class Sides:
    """Scores of the judge and of the baseline for the same texts."""

    def __init__(self, judge_dir: str | None) -> None:
        start = time.perf_counter()
        self.judge_dir = judge_dir
        self.judge = load_judge(judge_dir)
        self.judge.judge(["warm-up"])
        self.load_s = time.perf_counter() - start
        self.tox, self.prof, self.bias = (get_scorer(n, progress=False) for n in ("toxicity", "profanity", "bias"))

    def judge_scores(self, texts: list[str]) -> dict[str, np.ndarray]:
        results = self.judge.judge(texts)
        return {"harm": np.array([r.harm or 0.0 for r in results]),
                "stereotype": np.array([r.stereotype or 0.0 for r in results])}

    def baseline_scores(self, texts: list[str]) -> dict[str, np.ndarray]:
        tox = np.array([r["max"] for r in self.tox.score(texts)])
        prof = np.array([r["profanity"] for r in self.prof.score(texts)])
        bias = np.array([r["bias"] for r in self.bias.score(texts)])
        return {"toxicity": tox, "profanity": prof, "bias": bias, "combined": np.maximum(tox, bias)}


def auc_f1(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    if len(set(labels.tolist())) < 2:
        return {"n": int(len(labels)), "auc": float("nan"),
                "f1": float(f1_score(labels, scores > 0.5, zero_division=0))}
    return {"n": int(len(labels)), "auc": float(roc_auc_score(labels, scores)),
            "f1": float(f1_score(labels, scores > 0.5, zero_division=0))}


@lru_cache(maxsize=2)
def toxigen_rows(shared: Path) -> list[dict]:
    """ToxiGen's human-annotated statements (read once per run: the AUC, the speed rows and the backbones use it)."""
    return json.loads((shared / "data/toxigen/annotated/toxiGen.json").read_text(encoding="utf-8"))


def crows_pairs_rows(shared: Path) -> list[dict]:
    with (shared / "data/crows-pairs/crows_pairs_anonymized.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def toxigen(sides: Sides, shared: Path) -> dict:
    rows = toxigen_rows(shared)
    texts = [r["text"] for r in rows]
    labels = np.array([int(r["label"] == "hate") for r in rows])
    j, b = sides.judge_scores(texts)["harm"], sides.baseline_scores(texts)
    out = {"n": len(rows), "judge": auc_f1(labels, j),
           "baseline": {k: auc_f1(labels, v) for k, v in b.items() if k != "profanity"}, "groups": {}}
    groups = defaultdict(list)
    for i, r in enumerate(rows):
        for g in r.get("target_groups") or []:
            groups[g].append(i)
    for g, idx in sorted(groups.items()):
        idx = np.array(idx)
        out["groups"][g] = {"judge": auc_f1(labels[idx], j[idx]), "baseline": auc_f1(labels[idx], b["combined"][idx])}
    return out


def crows_pairs(sides: Sides, shared: Path) -> dict:
    rows = crows_pairs_rows(shared)
    more, less = [r["sent_more"] for r in rows], [r["sent_less"] for r in rows]
    jm, jl = sides.judge_scores(more), sides.judge_scores(less)
    bm, bl = sides.baseline_scores(more), sides.baseline_scores(less)
    return {"n": len(rows), "judge": float(np.mean(jm["harm"] > jl["harm"])),
            "judge_stereotype": float(np.mean(jm["stereotype"] > jl["stereotype"])),
            "baseline_bias": float(np.mean(bm["bias"] > bl["bias"])),
            "baseline_combined": float(np.mean(bm["combined"] > bl["combined"]))}


def devcases(sides: Sides, shared: Path) -> dict:
    cases = read_jsonl(shared / "data/devcases/cases.jsonl")
    texts = [c["text"] for c in cases]
    harmful = np.array([c["kind"] in HARMFUL_KINDS for c in cases])
    j, b = sides.judge_scores(texts)["harm"], sides.baseline_scores(texts)
    judge_only = j > sides.judge.threshold
    new_screen = judge_only | (b["toxicity"] > OLD_SCREEN["toxicity"]) | (b["profanity"] > OLD_SCREEN["profanity"])
    old_screen = ((b["toxicity"] > OLD_SCREEN["toxicity"]) | (b["profanity"] > OLD_SCREEN["profanity"])
                  | (b["bias"] > OLD_SCREEN["bias"]))

    def rates(flagged: np.ndarray) -> dict:
        by_kind = {k: float(flagged[[c["kind"] == k for c in cases]].mean()) for k in (*HARMFUL_KINDS, "benign")}
        return {"harmful_recall": float(flagged[harmful].mean()),
                "benign_specificity": float((~flagged[~harmful]).mean()), "flagged_by_kind": by_kind}

    return {"n": len(cases), "judge_threshold": sides.judge.threshold, "judge": rates(judge_only),
            "guard_screen": rates(new_screen), "baseline": rates(old_screen)}


def _slice(labels: np.ndarray, harm: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC/F1, and the share of benign rows the judge's screen clears (a benign-only slice has no AUC)."""
    out = auc_f1(labels, harm)
    if (labels == 0).any():
        out["benign_specificity"] = float((harm[labels == 0] <= threshold).mean())
    return out


def heldout(sides: Sides) -> dict:
    dev = read_jsonl(ROOT / "data/judge/dev.jsonl") if (ROOT / "data/judge/dev.jsonl").is_file() else []
    out: dict = {}
    if dev:
        harm = sides.judge_scores([r["text"] for r in dev])["harm"]
        labels = np.array([int(r["toxic"] or r["stereotype"]) for r in dev])
        by_source = defaultdict(list)
        for i, r in enumerate(dev):
            by_source[r["source"]].append(i)
        out["judge_dev_split"] = {s: _slice(labels[np.array(idx)], harm[np.array(idx)], sides.judge.threshold)
                                  for s, idx in by_source.items()}
    seed_test = ROOT / "data/mix/eval/seed_test.jsonl"
    if seed_test.is_file():
        records = [r for r in read_jsonl(seed_test) if r.get("biased_words")]
        tp = fp = fn = 0
        for r, result in zip(records, sides.judge.judge([r["text"] for r in records]), strict=True):
            gold = set()
            low = r["text"].lower()
            for phrase in r["biased_words"]:
                at = low.find(phrase.lower().strip())
                if at >= 0:
                    gold |= set(range(at, at + len(phrase.strip())))
            pred = {c for s in result.spans for c in range(s.start, s.end)}
            tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
        precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
        out["seed_test_span"] = {"records": len(records), "char_precision": precision, "char_recall": recall,
                                 "char_f1": 2 * precision * recall / max(1e-9, precision + recall)}
    return out


# The guard on the previous scorers alone, as it was before the judge: the screen and the verdict ask Jigsaw,
# profanity and the MiniLM bias head (rewrite bias <= 0.5), with the same meaning, fact, copy, length, meta and
# coded-word checks; the judge's labels, its spans, the bias-change rule and the key-noun check (which needs
# the spans) are off.
BASELINE_GUARD = {"max_toxic": 1.0, "max_stereotype": 1.0, "benign_harm": 1.0, "min_bias_drop": None,
                  "require_nouns": False}


def guard_precision(shared: Path, variants: tuple[str, ...] = ("zero-shot", "2-shot", "adapter"),
                    spans: bool = True, **overrides: object) -> dict | None:
    """The guard's verdict (candidates=1: the saved greedy rewrite only) against score_cases.py's, per rewrite.

    Reads benchmarks/results/quality/VARIANT/devcases_rewrites.jsonl + devcases_scores.json, written by
    `benchmarks/quality.py run VARIANT` (no guard). precision = passed / guard-ok; recall = guard-ok / passed.
    spans=False: candidates are not checked for the judge's harmful spans (the baseline guard).
    """
    from srllm.rewrite.guard import Guard, GuardConfig

    work = RESULTS / "quality"
    found = [v for v in variants if (work / v / "devcases_scores.json").is_file()]
    if not found:
        return None
    cases = {c["id"]: c for c in read_jsonl(shared / "data/devcases/cases.jsonl")}
    guard = Guard(GuardConfig(candidates=1, **overrides)).load()
    ok_and_pass = ok = passed_total = 0
    per_variant = {}
    for variant in found:
        rewrites = read_jsonl(work / variant / "devcases_rewrites.jsonl")
        scored = json.loads((work / variant / "devcases_scores.json").read_text(encoding="utf-8"))
        passed = {r["id"]: r["passed"] for r in scored["cases"]}
        sources = [cases[r["id"]]["text"] for r in rewrites]
        judged = guard.judged(sources)
        harm = guard.harm_scores(sources, judged)
        benign = [guard.is_benign(sc, text) for sc, text in zip(harm, sources, strict=True)]
        todo = [i for i, b in enumerate(benign) if not b]
        verdicts = guard.check([sources[i] for i in todo], [[rewrites[i]["rewrite"] or ""] for i in todo],
                               [judged[i].spans if spans else () for i in todo])
        guard_ok = {rewrites[i]["id"]: v[0].passed for i, v in zip(todo, verdicts, strict=True)}
        v_ok = sum(guard_ok.values())
        v_ok_pass = sum(passed[k] for k, good in guard_ok.items() if good)
        v_pass = sum(passed[k] for k in guard_ok)
        per_variant[variant] = {"rewrites_judged": len(todo), "guard_ok": v_ok, "ok_and_passed": v_ok_pass,
                                "passed": v_pass, "precision": v_ok_pass / max(1, v_ok),
                                "recall": v_ok_pass / max(1, v_pass)}
        ok, ok_and_pass, passed_total = ok + v_ok, ok_and_pass + v_ok_pass, passed_total + v_pass
    return {"variants": per_variant, "precision": ok_and_pass / max(1, ok),
            "recall": ok_and_pass / max(1, passed_total),
            "note": "rows the screen finds benign are left out (they are returned unchanged, not judged as rewrites)"}


def speed(sides: Sides, shared: Path) -> dict:
    texts = [r["text"] for r in toxigen_rows(shared)[:1024]]
    out = {}
    # The shipped dtype ("auto": bf16 where the CPU computes it natively) beside fp32, the dtype AVX2-only
    # machines run, so a speed claim can be read for both kinds of CPU from one run.
    fp32 = load_judge(sides.judge_dir, dtype="float32")
    out["judge_dtype"] = str(next(sides.judge.model.parameters()).dtype).replace("torch.", "")
    for name, run in (("judge", lambda: sides.judge.judge(texts, batch_size=64)),
                      ("judge_float32", lambda: fp32.judge(texts, batch_size=64)),
                      ("baseline_toxicity_plus_bias", lambda: sides.baseline_scores(texts))):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        out[name] = {"texts": len(texts), "median_s": float(np.median(times)),
                     "texts_per_s": float(len(texts) / np.median(times))}
    return out


def _backbones() -> str:
    """One line on the backbone comparison (benchmarks/judge_backbones.py), where it was run."""
    path = RESULTS / "judge_backbones.json"
    if not path.is_file():
        return ""
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    return "; ".join(f"{name}: ToxiGen AUC {row['toxigen_auc']:.3f}, {row['texts_per_s']:.0f} texts/s"
                     for name, row in rows.items())


def _num(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.3f}"


ABLATIONS = {"without_bias_change_check": ("the bias-change check", {"min_bias_drop": None}),
             "without_noun_check": ("the key-noun check", {"require_nouns": False})}


def _guard_ablation(r: dict) -> list[str]:
    lines = []
    for key, (what, _) in ABLATIONS.items():
        without = (r.get("guard") or {}).get(key)
        if without:
            lines += [f"| guard ok precision without {what} | {_num(without['precision'])} | | |",
                      f"| guard ok recall (with / without {what}) | {_num(r['guard']['recall'])} / "
                      f"{_num(without['recall'])} | | |"]
    return lines


def markdown(r: dict) -> str:
    lines = ["# Judge vs the previous guard scorers", "",
             f"CPU flags: {', '.join(r['cpu_flags'])}; torch threads {r['threads']}; load average at start "
             f"{r['load_average']}.", "",
             "| measure | judge | baseline (Jigsaw + MiniLM bias head) | goal |", "|---|---|---|---|",
             f"| ToxiGen ROC-AUC | {r['toxigen_auc']:.3f} | {r['baseline']['toxigen_auc']:.3f} | ≥ 0.85 |",
             f"| ToxiGen F1 | {r['toxigen']['judge']['f1']:.3f} | {r['toxigen']['baseline']['combined']['f1']:.3f} | |",
             f"| CrowS-Pairs accuracy | {r['crows_pairs_accuracy']:.3f} | {r['baseline']['crows_pairs_accuracy']:.3f} "
             "| ≥ 0.65 |",
             f"| dev cases harmful recall (screen) | {r['devcases_harmful_recall']:.3f} | "
             f"{r['baseline']['devcases_harmful_recall']:.3f} | ≥ 0.98 |",
             f"| dev cases benign specificity (screen) | {r['devcases_benign_specificity']:.3f} | "
             f"{r['baseline']['devcases_benign_specificity']:.3f} | ≥ 0.90 |",
             f"| texts/s (batch 64, judge in {r['speed'].get('judge_dtype', 'its default dtype')}) | "
             f"{r['texts_per_s']:.0f} | {r['baseline']['texts_per_s']:.0f} | ≥ 300 |",
             *([f"| texts/s (batch 64, judge in float32) | {r['speed']['judge_float32']['texts_per_s']:.0f} | "
                "| ≥ 300 |"] if "judge_float32" in r["speed"] else []),
             f"| guard ok precision | {_num(r['guard_ok_precision'])} | {_num(r['baseline']['guard_ok_precision'])} "
             "| ≥ 0.97 |",
             f"| guard ok recall | {_num((r.get('guard') or {}).get('recall'))} | "
             f"{_num(((r.get('guard') or {}).get('baseline') or {}).get('recall'))} | |",
             *_guard_ablation(r),
             f"| load time, s (judge; baseline: Jigsaw + bias head) | {r['load_s']:.2f} | | |",
             f"| peak RSS of the benchmark process, MB | {r['peak_rss_mb']:.0f} | | |",
             "", "## ToxiGen per target group (ROC-AUC)", "", "| group | judge | baseline |", "|---|---|---|"]
    for g, v in r["toxigen"]["groups"].items():
        lines.append(f"| {g} | {v['judge']['auc']:.3f} | {v['baseline']['auc']:.3f} |")
    lines += ["", "## Held-out slices of the judge's training sources (its dev split)", "",
              "| source | rows | AUC | F1 | benign specificity at the screen threshold |", "|---|---|---|---|---|"]
    for source, m in r["heldout"].get("judge_dev_split", {}).items():
        one_class = m["auc"] != m["auc"]  # NaN: a benign-only slice has neither AUC nor F1
        auc, f1 = ("benign only", "–") if one_class else (f"{m['auc']:.3f}", f"{m['f1']:.3f}")
        lines.append(f"| {source} | {m['n']} | {auc} | {f1} | {_num(m.get('benign_specificity'))} |")
    if span := r["heldout"].get("seed_test_span"):
        lines += ["", f"Spans on the CMD seed test split's `biased_words` ({span['records']} records), character "
                  f"precision / recall / F1: {span['char_precision']:.3f} / {span['char_recall']:.3f} / "
                  f"{span['char_f1']:.3f}."]
    if bb := _backbones():
        lines += ["", "## Backbones", "", f"See [judge_backbones.md](judge_backbones.md) ({bb})."]
    lines.append("")
    return "\n".join(lines)


def _baseline_precision(gp: dict | None) -> float | None:
    return (gp or {}).get("baseline", {}).get("precision")


def guard_with_ablation(shared: Path) -> dict | None:
    """The guard's ok precision as shipped, and without each of its ABLATIONS checks (what that check adds)."""
    gp = guard_precision(shared)
    if gp is not None:
        for key, (_, overrides) in ABLATIONS.items():
            without = guard_precision(shared, **overrides)
            gp[key] = without and {k: without[k] for k in ("precision", "recall")}
        gp["baseline"] = guard_precision(shared, spans=False, **BASELINE_GUARD)
    return gp


def update_guard(shared: Path) -> None:
    path = RESULTS / "judge.json"
    result = json.loads(path.read_text(encoding="utf-8"))
    result["guard"] = guard_with_ablation(shared)
    result["guard_ok_precision"] = result["guard"] and result["guard"]["precision"]
    result["baseline"]["guard_ok_precision"] = _baseline_precision(result["guard"])
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "judge.md").write_text(markdown(result), encoding="utf-8")
    print(json.dumps(result["guard"], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--judge", default=None)
    parser.add_argument("--only-guard", action="store_true",
                        help="re-measure only the guard's ok precision into the existing judge.json (after a guard "
                             "change; no speed numbers, so it may run beside other work)")
    args = parser.parse_args()
    if args.only_guard:
        return update_guard(args.shared)
    import torch

    load = os.getloadavg()[0]
    sides = Sides(args.judge)
    tg, cp, dc = toxigen(sides, args.shared), crows_pairs(sides, args.shared), devcases(sides, args.shared)
    sp = speed(sides, args.shared)
    result = {
        "cpu_flags": cpu_flags(), "machine": platform.machine(), "threads": torch.get_num_threads(),
        "load_average": round(load, 2), "judge_settings": {k: v for k, v in sides.judge.settings.items()
                                                          if k in ("backbone", "threshold", "temperatures", "steps")},
        "toxigen_auc": tg["judge"]["auc"], "crows_pairs_accuracy": cp["judge"],
        "devcases_harmful_recall": dc["guard_screen"]["harmful_recall"],
        "devcases_benign_specificity": dc["guard_screen"]["benign_specificity"],
        "guard_ok_precision": (gp := guard_with_ablation(args.shared)) and gp["precision"],
        "texts_per_s": sp["judge"]["texts_per_s"], "load_s": sides.load_s,
        "baseline": {"toxigen_auc": tg["baseline"]["combined"]["auc"], "crows_pairs_accuracy": cp["baseline_bias"],
                     "devcases_harmful_recall": dc["baseline"]["harmful_recall"],
                     "devcases_benign_specificity": dc["baseline"]["benign_specificity"],
                     "guard_ok_precision": _baseline_precision(gp),
                     "texts_per_s": sp["baseline_toxicity_plus_bias"]["texts_per_s"]},
        "guard": gp, "toxigen": tg, "crows_pairs": cp, "devcases": dc, "heldout": heldout(sides), "speed": sp,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "judge.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "judge.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
