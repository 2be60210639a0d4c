"""Rewrite quality of srllm's variants on the same inputs: zero-shot, 2-shot, adapter, adapter + guard.

Three measurements per variant (the README section "Quality, measured" explains each number):
- the development cases (../shared/data/devcases/cases.jsonl), scored by ../shared/tools/score_cases.py
  (pass rate per kind and overall);
- a ParaDetox slice (the held-out 500 rows of srllm.data.corpus.heldout.paradetox_eval_slice, else the file's
  last 500; the first --paradetox-n of them): % toxic after the
  rewrite, similarity to the input and to the human reference, and two joint scores beside two
  baselines from the same run (the human references and "delete the toxic words"):
  J = mean over rows of (1 - toxic_flag) x similarity-to-input (srllm's), and the TextDetox-2024 formula
  J_textdetox = mean over rows of P(non-toxic) x similarity-to-input x ChrF(output, reference)
  (sacrebleu's sentence ChrF / 100; our Jigsaw model and MiniLM stand in for the task's XLM-R and LaBSE);
- srllm's CMD test split (data/cmd/test.jsonl, never trained on): % toxic, bias,
  knowledge retention;
- the SR-LLM repository's inference file (../shared/data/sr-llm-repo/infer_50.csv, never trained on): the
  guard's status counts and the ParaDetox text measures against its `debiased_text`.
Without the guard every rewrite reaches the user unmarked: its flag rate is 0 and its silent harm is every
failing row, so guarded and unguarded variants share one table.

`report` also writes a top-level `default` object: what `srllm rewrite` ships (the `adapter+guard`
variant with the shipped GuardConfig) beside the `adapter` variant (no guard).

Each variant runs as its own process (`run VARIANT`, resumable per variant: its JSON is the checkpoint),
so the slow ones can run in the background; `report` merges what exists into
benchmarks/results/quality.json and quality.md.

    .venv/bin/python benchmarks/quality.py run zero-shot [--paradetox-n 100] [--cmd-n 50]
    .venv/bin/python benchmarks/quality.py replay-guard zero-shot   # guard N=1 on saved greedy rewrites
    .venv/bin/python benchmarks/quality.py report
    .venv/bin/python benchmarks/quality.py all          # every variant, then the report
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_flags  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SRLLM_SHARED", ROOT.parent / "shared"))
CASES = SHARED / "data" / "devcases" / "cases.jsonl"
SCORE_CASES = SHARED / "tools" / "score_cases.py"
PARADETOX = SHARED / "data" / "paradetox" / "paradetox.tsv"
SR_LLM_INFER = SHARED / "data" / "sr-llm-repo" / "infer_50.csv"
RESULTS = ROOT / "benchmarks" / "results"
WORK = RESULTS / "quality"
KINDS = ("biased", "toxic", "benign", "job", "injection")
VARIANTS: dict[str, dict[str, Any]] = {
    "zero-shot": {"adapter": None, "shots": 0, "guard": False},
    "2-shot": {"adapter": None, "shots": 2, "guard": False},
    "2-shot+guard": {"adapter": None, "shots": 2, "guard": True},  # a base with no adapter, e.g. the 1.5B
    "zero-shot+guard": {"adapter": None, "shots": 0, "guard": True},
    "adapter": {"adapter": "auto", "shots": 0, "guard": False},
    "adapter+guard": {"adapter": "auto", "shots": 0, "guard": True},
}


# -- inputs -------------------------------------------------------------------------------------
def dev_cases(per_kind: int = 0) -> list[dict]:
    """All development cases, or the first `per_kind` of each kind (file order) when CPU time is short."""
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    if per_kind:
        cases = [c for kind in KINDS for c in [c for c in cases if c["kind"] == kind][:per_kind]]
    return cases


def paradetox_slice(n: int) -> tuple[list[dict], str]:
    """The held-out ParaDetox rows (never trained on) as {"toxic", "reference"}; the first n of them."""
    try:
        from srllm.data.corpus.heldout import paradetox_eval_slice

        rows = [{"toxic": r.text, "reference": r.safe_variation} for r in paradetox_eval_slice(PARADETOX)]
        source = f"srllm.data.corpus.heldout.paradetox_eval_slice({PARADETOX.name})"
    except ImportError:
        import csv

        with open(PARADETOX, encoding="utf-8", newline="") as handle:
            table = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        rows = [{"toxic": r["toxic"], "reference": r["neutral1"]} for r in table[-500:]]
        source = f"last 500 rows of {PARADETOX}"
    return rows[:n], source


def cmd_test(n: int) -> tuple[list[dict], str]:
    """The seed CMD test split (data/cmd/test.jsonl, never trained on): unsafe texts only."""
    from srllm.data.readers import read_records

    path = ROOT / "data" / "cmd" / "test.jsonl"
    if not path.is_file():
        return [], f"no CMD test split at {path}"
    test = [r for r in read_records(path) if r.labels.bias == "Yes" or r.labels.toxicity not in (None, "No")]
    rows = [{"text": r.text, "reference": r.safe_variation, "biased_words": r.biased_words} for r in test]
    return rows[:n], "data/cmd/test.jsonl, biased or toxic records"


def sr_llm_infer(n: int) -> tuple[list[dict], str]:
    """The SR-LLM repository's inference rows (`biased_text`, reference `debiased_text`); the first n."""
    import csv

    if not SR_LLM_INFER.is_file():
        return [], f"no SR-LLM inference file at {SR_LLM_INFER}"
    with SR_LLM_INFER.open(encoding="utf-8", newline="") as handle:
        table = [r for r in csv.DictReader(handle) if (r.get("biased_text") or "").strip()]
    rows = [{"text": r["biased_text"], "reference": r.get("debiased_text") or ""} for r in table]
    return rows[:n], f"{SR_LLM_INFER.name} (biased_text; reference debiased_text)"


def demonstrations(k: int) -> list:
    """k seeded demonstrations from the shipped file (drawn from the train split only)."""
    from srllm.engine.rewriter import default_demonstrations
    from srllm.prompts import load_demonstrations, select_shots

    return select_shots(load_demonstrations(default_demonstrations()), k, seed=0)


# -- one variant ----------------------------------------------------------------------------------
def build(variant: str, candidates: int, adapter_dir: str | None = None, dtype: str = "auto",
          edit_candidate: str | None = None, backend: str = "transformers", model: str | None = None,
          template: str | None = None, guard_overrides: dict[str, str | None] | None = None) -> Any:
    from srllm.models import DEFAULT_MODEL, adapter_template, default_adapter_for, load_causal_lm
    from srllm.rewrite import Rewriter
    from srllm.rewrite.guard import GuardConfig, GuardedRewriter
    from srllm.rewrite.marking import with_marks

    spec = VARIANTS[variant]
    model = model or DEFAULT_MODEL
    adapter = (adapter_dir or default_adapter_for(model)) if spec["adapter"] == "auto" else None
    if spec["adapter"] == "auto" and adapter is None:
        raise SystemExit(f"{variant}: no shipped adapter for {model} yet (pass --adapter)")
    shots = demonstrations(spec["shots"]) if spec["shots"] else []
    if backend == "llama-cpp":  # the merged GGUF that --backend auto runs where srllm[llamacpp] is installed
        from srllm.engine.llama_cpp import LlamaCppRewriter, gguf_type

        rewriter = LlamaCppRewriter.from_model(model, adapter=adapter, k_shot=spec["shots"],
                                               outtype=gguf_type(dtype))
    else:
        rewriter = Rewriter(load_causal_lm(model, adapter=adapter, dtype=dtype), shots=shots, chunk=True,
                            template=template or adapter_template(adapter))
    overrides = {} if edit_candidate is None else {"edit_candidate": edit_candidate}
    config = GuardConfig(candidates=candidates, **overrides, **(guard_overrides or {}))
    if spec["guard"]:
        return GuardedRewriter(rewriter, config)
    return with_marks(rewriter)


def rewrite_all(rewriter: Any, texts: list[str], batch_size: int) -> tuple[list[dict], float]:
    start = time.perf_counter()
    results = rewriter.rewrite(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    rows = [{"rewrite": r.rewrite, "status": getattr(r, "status", None), "reasons": getattr(r, "reasons", None),
             "scores": getattr(r, "scores", None)} for r in results]
    return rows, seconds


def score_devcases(rows: list[dict], cases: list[dict], out_dir: Path) -> dict:
    import tempfile

    rewrites = out_dir / "devcases_rewrites.jsonl"
    # The scorer reads the cases it is given; a subset goes to a temporary file, never into the repo.
    cases_file = Path(tempfile.mkdtemp()) / "cases.jsonl"
    cases_file.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    rewrites.write_text("".join(json.dumps({"id": c["id"], **r}, ensure_ascii=False) + "\n"
                                for c, r in zip(cases, rows, strict=True)), encoding="utf-8")
    scored = out_dir / "devcases_scores.json"
    proc = subprocess.run([sys.executable, str(SCORE_CASES), str(cases_file), str(rewrites), "--json", str(scored)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"score_cases.py failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(scored.read_text(encoding="utf-8"))


def text_metrics(sources: list[str], outputs: list[str], references: list[str] | None) -> dict:
    """% toxic (Jigsaw max label >= 0.5), similarity to input / reference, J = mean((1 - toxic) x sim),
    and with references the TextDetox-2024 J = mean(P(non-toxic) x sim x ChrF(output, reference))."""
    from srllm.scorers import get_scorer

    safe = [o if o.strip() else " " for o in outputs]
    jigsaw = get_scorer("toxicity", progress=False).score(safe)
    toxic = [r["toxic_flag"] for r in jigsaw]
    similarity = get_scorer("similarity", progress=False)
    sim_in = [r["similarity"] for r in similarity.score_pairs(sources, safe)]
    out = {"n": len(outputs), "toxic_pct": 100 * sum(toxic) / len(toxic),
           "similarity_to_input": sum(sim_in) / len(sim_in),
           "joint": sum((1 - t) * s for t, s in zip(toxic, sim_in, strict=True)) / len(toxic)}
    if references is not None:
        sim_ref = [r["similarity"] for r in similarity.score_pairs(references, safe)]
        out["similarity_to_reference"] = sum(sim_ref) / len(sim_ref)
        out.update(textdetox_joint([1 - r["max"] for r in jigsaw], sim_in, outputs, references))
    return out


def textdetox_joint(non_toxic: list[float], similarity: list[float], outputs: list[str],
                    references: list[str]) -> dict:
    """The TextDetox 2024 shared task's joint score, per row STA x SIM x FL averaged, with FL = ChrF of
    the output against the human reference (sacrebleu, as the task computes it)."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    fluency = [chrf.sentence_score(o, [r]).score / 100 for o, r in zip(outputs, references, strict=True)]
    joint = [s * m * f for s, m, f in zip(non_toxic, similarity, fluency, strict=True)]
    return {"chrf": sum(fluency) / len(fluency), "joint_textdetox": sum(joint) / len(joint)}


def cmd_metrics(rows: list[dict], outputs: list[str]) -> dict:
    from srllm.scorers import get_scorer

    sources = [r["text"] for r in rows]
    safe = [o if o.strip() else " " for o in outputs]
    base = text_metrics(sources, outputs, [r["reference"] or r["text"] for r in rows])
    bias = get_scorer("bias", progress=False).score(safe)
    retention = get_scorer("retention", progress=False).score_pairs(sources, safe)
    base.update(bias_mean=sum(r["bias"] for r in bias) / len(bias),
                biased_pct=100 * sum(r["bias_flag"] for r in bias) / len(bias),
                retention_mean=sum(r["retention"] for r in retention) / len(retention),
                retained_pct=100 * sum(r["retained"] for r in retention) / len(retention))
    return base


def status_counts(rows: list[dict]) -> dict[str, int] | None:
    if rows and rows[0]["status"] is None:
        return None
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def run_variant(variant: str, args: argparse.Namespace) -> dict:
    from srllm.rewrite.guard import GuardConfig

    name = args.name or variant
    candidates = args.candidates or GuardConfig().candidates
    out_dir = WORK / name
    out_dir.mkdir(parents=True, exist_ok=True)
    # "null" turns a check off (GuardConfig's None); pydantic reads the other values from their strings.
    guard_overrides = {key: None if value == "null" else value
                       for key, value in (item.split("=", 1) for item in args.guard_set)}
    rewriter = build(variant, candidates, args.adapter, args.dtype, args.edit_candidate, args.backend,
                     args.model, args.template, guard_overrides)
    checkpoint = WORK / f"{name}.json"
    # Parts run separately (--skip-dev) are merged into the variant's earlier result.
    result: dict[str, Any] = json.loads(checkpoint.read_text()) if checkpoint.is_file() and args.skip_dev else {}
    result.update({
        "variant": variant, **VARIANTS[variant], "candidates": candidates if VARIANTS[variant]["guard"] else 1,
        "model": rewriter.loaded.name, "adapter_path": rewriter.loaded.adapter, "method": rewriter.method,
        "dtype": getattr(rewriter.loaded, "dtype", None), "backend": args.backend,
        # The `default` object reads only a run of exactly what ships: shipped adapter, guard defaults.
        "shipped_guard_config": bool(VARIANTS[variant]["guard"] and args.edit_candidate is None
                                     and candidates == GuardConfig().candidates and args.adapter is None
                                     and args.dtype == "auto"
                                     and args.backend == "transformers" and args.model is None
                                     and not guard_overrides),
        "guard_overrides": guard_overrides,
        # Which dtype "auto" picked follows from the flags (bf16 on AVX-512 BF16, fp32 on AVX2 only), and a
        # busy machine changes the seconds, never the rows: both are recorded so a run can be read later.
        "cpu_flags": cpu_flags(), "cpus": len(os.sched_getaffinity(0)),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    })
    if not args.skip_dev:
        cases = dev_cases(args.dev_per_kind)
        dev_rows, dev_seconds = rewrite_all(rewriter, [c["text"] for c in cases], args.batch_size)
        scored = score_devcases(dev_rows, cases, out_dir)
        result["devcases"] = {"summary": _dev_summary(scored), "seconds": dev_seconds,
                              "statuses": status_counts(dev_rows), "n": len(cases),
                              "per_kind": args.dev_per_kind or "all", **trust_rates(dev_rows, cases, scored)}
        print(json.dumps({"variant": name, "devcases": result["devcases"]["summary"]}), flush=True)
        checkpoint.write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.paradetox_n:
        rows, source = paradetox_slice(args.paradetox_n)
        result["paradetox"] = text_section(rewriter, rows, "toxic", source, args.batch_size,
                                           out_dir / "paradetox_rewrites.jsonl")
    if args.cmd_n:
        rows, source = cmd_test(args.cmd_n)
        if rows:
            outputs, seconds = rewrite_all(rewriter, [r["text"] for r in rows], args.batch_size)
            result["cmd_test"] = {"source": source, "seconds": seconds, "statuses": status_counts(outputs),
                                  **cmd_metrics(rows, [o["rewrite"] for o in outputs])}
        else:
            result["cmd_test"] = {"skipped": source}
    if args.infer_n:
        rows, source = sr_llm_infer(args.infer_n)
        if rows:
            result["sr_llm_infer"] = text_section(rewriter, rows, "text", source, args.batch_size,
                                                  out_dir / "sr_llm_infer_rewrites.jsonl")
        else:
            result["sr_llm_infer"] = {"skipped": source}
    checkpoint.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def text_section(rewriter: Any, rows: list[dict], field: str, source: str, batch_size: int, saved: Path) -> dict:
    """Rewrite each row's `field` (rows carry a `reference`): statuses and text_metrics; the rows with their
    rewrites go to `saved`."""
    outputs, seconds = rewrite_all(rewriter, [r[field] for r in rows], batch_size)
    _write_jsonl(saved, [{**r, **o} for r, o in zip(rows, outputs, strict=True)])
    return {"source": source, "seconds": seconds, "statuses": status_counts(outputs),
            **text_metrics([r[field] for r in rows], [o["rewrite"] for o in outputs], [r["reference"] for r in rows])}


def replay_guard(variant: str, args: argparse.Namespace) -> dict:
    """The guard with one candidate, applied to a no-guard variant's saved greedy dev-case rewrites.

    With candidates=1 the guard generates nothing but the greedy rewrite, so its decisions
    (benign -> unchanged, else the checked greedy rewrite, ok or flagged) follow from those
    rewrites without running the model again: a cheap measurement of the gate and the checks.
    """
    from srllm.rewrite.guard import Guard, GuardConfig

    saved = [json.loads(line) for line in (WORK / variant / "devcases_rewrites.jsonl").read_text().splitlines()]
    by_id = {c["id"]: c for c in dev_cases()}
    cases = [by_id[row["id"]] for row in saved]
    guard = Guard(GuardConfig(candidates=1)).load()
    texts = [c["text"] for c in cases]
    start = time.perf_counter()
    rows: list[dict] = []
    for text, row, scores in zip(texts, saved, guard.harm_scores(texts), strict=True):
        if guard.is_benign(scores):
            rows.append({"rewrite": text, "status": "unchanged", "reasons": ["benign input"], "scores": scores})
            continue
        [[verdict]] = guard.check([text], [[row["rewrite"]]])
        rows.append({"rewrite": verdict.text, "status": "ok" if verdict.passed else "flagged",
                     "reasons": verdict.reasons, "scores": verdict.scores})
    seconds = time.perf_counter() - start
    name = f"{variant}+guard-n1-replay"
    out_dir = WORK / name
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = score_devcases(rows, cases, out_dir)
    result = {"variant": name, "replayed_from": variant, "guard": True, "candidates": 1,
              "devcases": {"summary": _dev_summary(scored), "seconds": seconds, "statuses": status_counts(rows),
                           "n": len(cases), "note": "guard seconds only (scoring); generation is the source's"}}
    (WORK / f"{name}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps({"variant": name, "devcases": result["devcases"]["summary"]}), flush=True)
    return result


def trust_rates(rows: list[dict], cases: list[dict], scored: dict) -> dict:
    """Flag rate (flagged / harmful rows) and silent harm (rows returned ok/unchanged that score_cases fails).
    Without the guard (no statuses) nothing is flagged and every rewrite is returned as it is."""
    if not rows:
        return {}
    passed = {r["id"]: r["passed"] for r in scored["cases"]}
    harmful = [i for i, c in enumerate(cases) if c["kind"] != "benign"]
    silent = [cases[i]["id"] for i, r in enumerate(rows)
              if r["status"] in ("ok", "unchanged", None) and not passed[cases[i]["id"]]]
    return {"flag_rate": sum(rows[i]["status"] == "flagged" for i in harmful) / max(1, len(harmful)),
            "silent_harm_rate": len(silent) / len(rows), "silent_harm_ids": silent,
            "benign_kept": sum(passed[c["id"]] for c in cases if c["kind"] == "benign")
            / max(1, sum(c["kind"] == "benign" for c in cases))}


def _dev_summary(scored: dict) -> dict:
    """Pass rate per kind and overall, from score_cases.py's JSON."""
    summary: dict[str, Any] = {"meaning": scored["similarity"]["method"]}
    summary.update({kind: scored["per_kind"].get(kind, {}).get("rate") for kind in KINDS})
    summary["overall"] = scored["overall"]["rate"]
    summary["check_failures"] = scored["check_failures"]
    return summary


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


# -- baselines and report -----------------------------------------------------------------------------
def delete_toxic_words(text: str, scorer: Any) -> str:
    """The 'delete' baseline: drop every word that profanity-check or Jigsaw flags on its own."""
    words = text.split()
    if not words:
        return text
    flags = scorer["profanity"].score(words)
    tox = scorer["toxicity"].score(words)
    kept = [w for w, p, t in zip(words, flags, tox, strict=True) if p["profanity_flag"] < 1 and t["toxic_flag"] < 1]
    return " ".join(kept)


def baselines(n: int) -> dict:
    from srllm.scorers import get_scorer

    rows, source = paradetox_slice(n)
    sources, refs = [r["toxic"] for r in rows], [r["reference"] for r in rows]
    scorers = {name: get_scorer(name, progress=False) for name in ("profanity", "toxicity")}
    deleted = [delete_toxic_words(t, scorers) for t in sources]
    return {"source": source, "human reference": text_metrics(sources, refs, refs),
            "delete toxic words": text_metrics(sources, deleted, refs),
            "copy input": text_metrics(sources, sources, refs)}


def report(args: argparse.Namespace) -> dict:
    names = [*VARIANTS, *(f"{v}+guard-n1-replay" for v in VARIANTS), "adapter+guard-llama-cpp"]
    # Runs saved under their own --name (another backend, model or guard) get their own rows.
    names += sorted(p.stem for p in WORK.glob("*.json") if p.stem not in names and "baselines" not in p.stem)
    variants = {v: _unguarded_rates(json.loads((WORK / f"{v}.json").read_text()))
                for v in names if (WORK / f"{v}.json").is_file()}
    # Per-variant files are not committed: a variant not re-run here keeps its row from the last report,
    # marked with the report it came from, so one re-run variant does not erase the others.
    previous = RESULTS / "quality.json"
    if previous.is_file():
        for name, row in json.loads(previous.read_text()).get("variants", {}).items():
            if name not in variants:
                variants[name] = {**row, "from_previous_report": row.get("from_previous_report", True)}
    n = next((r["paradetox"]["n"] for r in variants.values() if "paradetox" in r), args.paradetox_n)
    cached = WORK / f"paradetox_baselines_{n}.json"
    if n and not cached.is_file():
        cached.write_text(json.dumps(baselines(n), indent=2), encoding="utf-8")
    baseline_rows = json.loads(cached.read_text()) if n else None
    result = {"default": default_summary(variants, baseline_rows), "variants": variants,
              "paradetox_baselines": baseline_rows,
              "goals": {"guard_overall": ">= 0.90", "guard_benign": ">= 0.95", "no_guard_overall": ">= 0.80",
                        "paradetox_joint": "> delete baseline"}}
    (RESULTS / "quality.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (RESULTS / "quality.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return result


def _unguarded_rates(result: dict) -> dict:
    """A no-guard run saved before trust_rates covered it: flag rate 0, silent harm = its failing share."""
    dev = result.get("devcases")
    if dev and not result.get("guard") and "silent_harm_rate" not in dev:
        dev.update({"flag_rate": 0.0, "silent_harm_rate": 1 - dev["summary"]["overall"],
                    "benign_kept": dev["summary"].get("benign")})
    return result


def default_summary(variants: dict, baseline_rows: dict | None) -> dict | None:
    """What `srllm rewrite` ships (adapter + guard, shipped GuardConfig) in the issue's field names."""
    shipped, bare = variants.get("adapter+guard"), variants.get("adapter")
    if not shipped or "devcases" not in shipped or not shipped.get("shipped_guard_config"):
        return None
    dev, paradetox = shipped["devcases"], shipped.get("paradetox", {})
    human = (baseline_rows or {}).get("human reference", {})
    return {"dev_overall": dev["summary"]["overall"],
            "dev_overall_no_guard": bare["devcases"]["summary"]["overall"] if bare and "devcases" in bare else None,
            "benign_kept": dev.get("benign_kept"), "flag_rate": dev.get("flag_rate"),
            "silent_harm_rate": dev.get("silent_harm_rate"),
            "paradetox_j": paradetox.get("joint"), "paradetox_j_textdetox": paradetox.get("joint_textdetox"),
            "human_reference_j": human.get("joint"), "human_reference_j_textdetox": human.get("joint_textdetox"),
            "cmd_test": shipped.get("cmd_test"), "adapter": _relative(shipped.get("adapter_path")),
            "dtype": shipped.get("dtype")}


def _relative(path: str | None) -> str | None:
    """A path inside the checkout as the checkout sees it, so results do not name one machine's folders."""
    if path is None or not Path(path).is_relative_to(ROOT):
        return path
    return str(Path(path).relative_to(ROOT))


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def dtype_label(run: dict) -> str:
    """The dtype a run decoded in ("torch.bfloat16" -> bf16), and "AVX2" where the run recorded a CPU without
    native bf16: fp32 and bf16 decode some rows differently, so a row says which it was."""
    name = str(run.get("dtype") or "–").removeprefix("torch.")
    short = {"bfloat16": "bf16", "float32": "fp32", "float16": "fp16"}.get(name, name)
    flags = run.get("cpu_flags")
    return f"{short}, AVX2 only" if flags is not None and "avx512_bf16" not in flags else short


def markdown(result: dict) -> str:
    lines = ["## Development cases (pass rate, score_cases.py)", "",
             "| variant | cases | " + " | ".join(KINDS)
             + " | overall | flag rate | silent harm | statuses | seconds | dtype |",
             "|---" * (len(KINDS) + 8) + "|"]
    for name, r in result["variants"].items():
        if "devcases" not in r:
            continue
        s = r["devcases"]["summary"]
        statuses = ", ".join(f"{k} {v}" for k, v in (r["devcases"]["statuses"] or {}).items()) or "–"
        label = f"{name} (earlier run)" if r.get("from_previous_report") else name
        lines.append(f"| {label} | {r['devcases'].get('n', 150)} | " + " | ".join(_pct(s.get(k)) for k in KINDS)
                     + f" | **{_pct(s.get('overall'))}** | {_pct(r['devcases'].get('flag_rate'))} | "
                     f"{_pct(r['devcases'].get('silent_harm_rate'))} | {statuses} | {r['devcases']['seconds']:.0f} | "
                     f"{dtype_label(r)} |")
    lines += ["", "## ParaDetox held-out slice", "",
              "| system | n | toxic % | sim. to input | sim. to reference | J = mean((1-toxic) × sim) | ChrF | "
              "J TextDetox = mean(P(non-toxic) × sim × ChrF) |",
              "|---|---|---|---|---|---|---|---|"]
    rows = {name: r["paradetox"] for name, r in result["variants"].items() if "paradetox" in r}
    for name, m in {**rows, **{k: v for k, v in (result["paradetox_baselines"] or {}).items()
                               if isinstance(v, dict)}}.items():
        lines.append(f"| {name} | {m['n']} | {m['toxic_pct']:.0f} | {m['similarity_to_input']:.3f} | "
                     f"{m.get('similarity_to_reference', float('nan')):.3f} | {m['joint']:.3f} | "
                     f"{m.get('chrf', float('nan')):.3f} | {m.get('joint_textdetox', float('nan')):.3f} |")
    lines += ["", "## CMD test split (seed data)", "",
              "| variant | n | toxic % | bias (mean) | biased % | retention (mean) | retained % |",
              "|---|---|---|---|---|---|---|"]
    for name, r in result["variants"].items():
        m = r.get("cmd_test")
        if m and "n" in m:
            lines.append(f"| {name} | {m['n']} | {m['toxic_pct']:.0f} | {m['bias_mean']:.3f} | {m['biased_pct']:.0f} | "
                         f"{m['retention_mean']:.3f} | {m['retained_pct']:.0f} |")
        elif m:
            lines.append(f"| {name} | skipped: {m['skipped']} | | | | | |")
    lines += ["", "## SR-LLM infer_50.csv (the paper repository's inference rows)", "",
              "| variant | n | statuses | toxic % | sim. to input | sim. to reference | J | J TextDetox |",
              "|---|---|---|---|---|---|---|---|"]
    for name, r in result["variants"].items():
        m = r.get("sr_llm_infer")
        if m and "n" in m:
            statuses = ", ".join(f"{k} {v}" for k, v in (m["statuses"] or {}).items()) or "no guard"
            lines.append(f"| {name} | {m['n']} | {statuses} | {m['toxic_pct']:.0f} | {m['similarity_to_input']:.3f} | "
                         f"{m['similarity_to_reference']:.3f} | {m['joint']:.3f} | {m['joint_textdetox']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "replay-guard", "report", "all"])
    parser.add_argument("variant", nargs="?", choices=list(VARIANTS))
    parser.add_argument("--skip-dev", action="store_true",
                        help="only the ParaDetox / CMD / infer_50 parts (each can be 0), merged in")
    parser.add_argument("--dev-per-kind", type=int, default=0, help="first K cases of each kind (0: all 150)")
    parser.add_argument("--paradetox-n", type=int, default=100)
    parser.add_argument("--cmd-n", type=int, default=50)
    parser.add_argument("--infer-n", type=int, default=50, help="rows of the SR-LLM repository's infer_50.csv")
    parser.add_argument("--candidates", type=int, default=None,
                        help="guard candidates (greedy + samples; default: the shipped GuardConfig's)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--adapter", default=None, help="adapter dir for adapter variants (default: shipped)")
    parser.add_argument("--model", default=None, help="base model: registry name or path (default: srllm's)")
    parser.add_argument("--dtype", default="auto", help="inference dtype (auto: bf16 where native, else fp32)")
    parser.add_argument("--backend", default="transformers", choices=["transformers", "llama-cpp"],
                        help="the engine (llama-cpp: the merged GGUF, needs srllm[llamacpp]; save it with --name)")
    parser.add_argument("--edit-candidate", default=None, choices=["off", "first", "last"],
                        help="the judge's edit candidate: off, first (beside the greedy rewrite) or last (only "
                             "where every model candidate failed); default: the shipped GuardConfig's choice")
    parser.add_argument("--template", default=None,
                        help="prompt template (default: the adapter's own, from its manifest; else debias)")
    parser.add_argument("--guard-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a GuardConfig field for this run (repeatable), e.g. per_sentence=true; "
                             "null turns a check off, e.g. max_claim_kept=null")
    parser.add_argument("--name", default=None, help="save the variant's results under this name (default: VARIANT)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    WORK.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        if not args.variant:
            parser.error("run needs a VARIANT")
        run_variant(args.variant, args)
    elif args.command == "replay-guard":
        replay_guard(args.variant or "zero-shot", args)
    elif args.command == "all":
        for variant in VARIANTS:
            try:
                run_variant(variant, args)
            except SystemExit as exc:
                print(f"skipped {variant}: {exc}", file=sys.stderr)
        report(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
