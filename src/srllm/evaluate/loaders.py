"""Readers for the public benchmarks the paper evaluates on: StereoSet, ToxiGen, BOLD, CrowS-Pairs.

Each reader takes a local path (default: `../shared/data/...` next to the repository, or
$SRLLM_SHARED_DATA) or, with `source="hub"`, the Hugging Face dataset through
`datasets.load_dataset`, which needs a network connection; offline it fails with a sentence
saying so. Records are small frozen dataclasses so experiments never see raw JSON layouts.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import InputError, SrllmError
from srllm.lines import numbered_lines
from srllm.paths import project_dir, source_checkout
from srllm.text.readers import read_json_lines

# Default data files (data/cmd/test.jsonl ...) resolve against the checkout, or the current folder when
# srllm is installed from a wheel (never inside site-packages); a missing one names its flag.
REPO_ROOT = project_dir()
STEREOSET_LABELS = ("stereotype", "anti-stereotype", "unrelated")
STEREOSET_DOMAINS = ("gender", "profession", "race", "religion")

# ToxiGen's 13 target groups (Hartvigsen et al. 2022), under one spelling. The annotated file
# and the demonstration file names spell them differently; both map here.
TOXIGEN_GROUPS = (
    "asian", "black", "chinese", "jewish", "latino", "lgbtq", "mental_disability", "mexican",
    "middle_eastern", "muslim", "native_american", "physical_disability", "women",
)
_GROUP_ALIASES = {
    "mental dis": "mental_disability", "physical dis": "physical_disability",
    "native-american": "native_american", "middle-eastern": "middle_eastern",
    "middle_east": "middle_eastern", "mental_disability": "mental_disability",
    "physical_disability": "physical_disability", "native_american": "native_american",
}


def shared_data_dir() -> Path:
    """$SRLLM_SHARED_DATA, else ../shared/data beside the checkout, else ./shared/data (an installed wheel)."""
    env = os.environ.get("SRLLM_SHARED_DATA")
    if env:
        return Path(env).expanduser()
    checkout = source_checkout()
    return checkout.parent / "shared" / "data" if checkout else Path.cwd() / "shared" / "data"


def default_path(*parts: str) -> Path:
    return shared_data_dir().joinpath(*parts)


def _resolve(path: str | Path | None, default: Path, what: str, hub_hint: str) -> Path:
    chosen = Path(path).expanduser() if path else default
    if not chosen.exists():
        raise InputError(
            f"{what} not found; pass its local path (--data PATH) or use the hub copy with "
            f"--source hub ({hub_hint}, needs a network connection)", path=str(chosen),
        )
    return chosen


def _load_hub(name: str, *args: Any, **kwargs: Any) -> Any:
    """datasets.load_dataset with a clear message when the hub cannot be reached."""
    from datasets import load_dataset

    try:
        return load_dataset(name, *args, **kwargs)
    except Exception as exc:  # datasets raises many types (ConnectionError, OfflineModeIsEnabled...)
        raise SrllmError(
            f"cannot load {name} from the Hugging Face hub ({type(exc).__name__}: {exc}). Offline, "
            "pass a local copy of the data with --data PATH instead."
        ) from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=str(path), line=exc.lineno) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file ({exc})", path=str(path)) from exc


# ---------------------------------------------------------------------------------- StereoSet
@dataclass(frozen=True)
class StereoSetSentence:
    id: str
    sentence: str
    gold_label: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class StereoSetItem:
    """One StereoSet example: a context and its stereotype / anti-stereotype / unrelated options."""

    id: str
    target: str
    bias_type: str
    context: str
    sentences: tuple[StereoSetSentence, ...]

    def sentence(self, gold_label: str) -> StereoSetSentence:
        return next(s for s in self.sentences if s.gold_label == gold_label)


def load_stereoset(path: str | Path | None = None, *, split: str = "intrasentence",
                   source: str = "local") -> list[StereoSetItem]:
    """Items of one StereoSet split from the official dev.json layout (labels empty or filled).

    Accepts `{"version", "data": {"intrasentence": [...], "intersentence": [...]}}` and a bare
    list of items (as in bias-bench/EditBias slices).
    """
    if split not in ("intrasentence", "intersentence"):
        raise InputError(f"unknown StereoSet split {split!r}; use intrasentence or intersentence",
                         field="split")
    if source == "hub":
        return _stereoset_from_hub(split)
    file = _resolve(path, default_path("stereoset", "dev.json"), "StereoSet dev.json",
                    "McGill-NLP/stereoset")
    raw = _read_json(file)
    if isinstance(raw, dict):
        data = raw.get("data")
        if not isinstance(data, dict) or split not in data:
            raise InputError(f"expected data.{split} as in the official dev.json", path=str(file),
                             field=f"data.{split}")
        rows = data[split]
    elif isinstance(raw, list):
        rows = raw
    else:
        raise InputError("expected a JSON object with 'data' or a list of items", path=str(file))
    return [_stereoset_item(row, file, index) for index, row in enumerate(rows)]


def _stereoset_item(row: dict[str, Any], file: Path, index: int) -> StereoSetItem:
    where = f"data[{index}]"
    try:
        sentences = tuple(
            StereoSetSentence(
                id=str(s["id"]), sentence=str(s["sentence"]), gold_label=str(s["gold_label"]),
                labels=tuple(str(label["label"]) if isinstance(label, dict) else str(label)
                             for label in s.get("labels") or ()),
            )
            for s in row["sentences"]
        )
        item = StereoSetItem(id=str(row["id"]), target=str(row["target"]), bias_type=str(row["bias_type"]),
                             context=str(row["context"]), sentences=sentences)
    except (KeyError, TypeError) as exc:
        raise InputError(f"item {index} lacks a field of the official layout ({exc})", path=str(file),
                         field=where) from exc
    golds = sorted(s.gold_label for s in sentences)
    if golds != sorted(STEREOSET_LABELS):
        raise InputError(f"item {item.id} must have one sentence per gold label {STEREOSET_LABELS}, "
                         f"got {golds}", path=str(file), field=f"{where}.sentences")
    return item


def _stereoset_from_hub(split: str) -> list[StereoSetItem]:
    # The hub copy encodes gold labels as ints: 0 anti-stereotype, 1 stereotype, 2 unrelated.
    names = {0: "anti-stereotype", 1: "stereotype", 2: "unrelated"}
    dataset = _load_hub("McGill-NLP/stereoset", split, split="validation")
    items = []
    for row in dataset:
        s = row["sentences"]
        sentences = tuple(
            StereoSetSentence(id=s["id"][i], sentence=s["sentence"][i], gold_label=names[int(s["gold_label"][i])])
            for i in range(len(s["sentence"]))
        )
        items.append(StereoSetItem(row["id"], row["target"], row["bias_type"], row["context"], sentences))
    return items


# ------------------------------------------------------------------------------------ ToxiGen
@dataclass(frozen=True)
class ToxiGenStatement:
    text: str
    groups: tuple[str, ...]
    label: str  # "hate" | "neutral"
    toxicity_score: float | None = None
    id: str = ""


def normalise_group(name: str) -> str:
    key = name.strip().lower()
    return _GROUP_ALIASES.get(key, key.replace(" ", "_").replace("-", "_"))


def load_toxigen(path: str | Path | None = None, *, source: str = "local") -> list[ToxiGenStatement]:
    """ToxiGen statements from the annotated JSON (SafeNLP layout) or the demonstrations folder.

    A folder is read as ToxiGen's prompt files `{hate,neutral}_<group>[_sentences].txt`, one
    statement per line (a leading "- " is dropped); a .json file as a list of
    `{id, text, toxicity_score, label, target_groups}`.
    """
    if source == "hub":
        return _toxigen_from_hub()
    target = _resolve(path, default_path("toxigen", "annotated", "toxiGen.json"), "ToxiGen data",
                      "toxigen/toxigen-data")
    if target.is_dir():
        return _toxigen_demonstrations(target)
    rows = _read_json(target)
    if not isinstance(rows, list):
        raise InputError("expected a JSON list of statements", path=str(target))
    statements = []
    for index, row in enumerate(rows):
        try:
            text = _clean_toxigen_text(row["text"])
            groups = tuple(normalise_group(g) for g in row["target_groups"])
            label = str(row["label"])
        except (KeyError, TypeError) as exc:
            raise InputError(f"statement {index} lacks text, label or target_groups ({exc})",
                             path=str(target), field=f"[{index}]") from exc
        score = row.get("toxicity_score")
        statements.append(ToxiGenStatement(text, groups, label, float(score) if score is not None else None,
                                           str(row.get("id", index))))
    return statements


_DEMO_NAME = re.compile(r"^(hate|neutral)_(.+?)(?:_sentences)?\.txt$")


def _toxigen_demonstrations(folder: Path) -> list[ToxiGenStatement]:
    seen: set[tuple[str, str]] = set()
    statements = []
    for file in sorted(folder.rglob("*.txt")):
        match = _DEMO_NAME.match(file.name)
        if not match:
            continue
        label, group = match.group(1), normalise_group(match.group(2))
        for number, line in numbered_lines(file.read_text(encoding="utf-8")):
            text = _clean_toxigen_text(line.removeprefix("- "))
            # Some groups ship the same statements twice (hate_muslim.txt and hate_muslim_sentences.txt).
            if not text or (group, text) in seen:
                continue
            seen.add((group, text))
            statements.append(ToxiGenStatement(text, (group,), label, None, f"{file.stem}:{number}"))
    if not statements:
        raise InputError("no ToxiGen prompt files ({hate,neutral}_<group>.txt) found", path=str(folder))
    return statements


def _clean_toxigen_text(text: str) -> str:
    # "_x000D_" is a spreadsheet carriage return left in 34 annotated statements.
    return " ".join(str(text).replace("_x000D_", " ").split())


def _toxigen_from_hub() -> list[ToxiGenStatement]:
    dataset = _load_hub("toxigen/toxigen-data", "annotated", split="test")
    return [
        ToxiGenStatement(_clean_toxigen_text(row["text"]), (normalise_group(row["target_group"]),),
                         "hate" if float(row["toxicity_human"]) > 3 else "neutral",
                         float(row["toxicity_human"]), str(index))
        for index, row in enumerate(dataset)
    ]


# --------------------------------------------------------------------------------------- BOLD
BOLD_DOMAINS = ("gender", "political_ideology", "profession", "race", "religious_ideology")


@dataclass(frozen=True)
class BoldPrompt:
    domain: str
    group: str
    name: str
    prompt: str


def load_bold(path: str | Path | None = None, *, domains: Sequence[str] | None = None,
              source: str = "local") -> list[BoldPrompt]:
    """BOLD prompts from a folder of `{domain}_prompt.json` files ({group: {name: [prompt...]}})."""
    chosen = tuple(domains or BOLD_DOMAINS)
    unknown = sorted(set(chosen) - set(BOLD_DOMAINS))
    if unknown:
        raise InputError(f"unknown BOLD domain(s) {unknown}; use {list(BOLD_DOMAINS)}", field="domains")
    if source == "hub":
        dataset = _load_hub("AlexaAI/bold", split="train")
        return [BoldPrompt(row["domain"], row["category"], row["name"], prompt.strip())
                for row in dataset if row["domain"] in chosen for prompt in row["prompts"]]
    folder = _resolve(path, default_path("bold", "prompts"), "BOLD prompts folder", "AlexaAI/bold")
    prompts = []
    for domain in chosen:
        file = folder / f"{domain}_prompt.json"
        if not file.is_file():
            raise InputError(f"BOLD file for domain {domain!r} is missing", path=str(file))
        for group, people in _read_json(file).items():
            for name, texts in people.items():
                prompts.extend(BoldPrompt(domain, group, name, " ".join(t.split())) for t in texts if t.strip())
    return prompts


# -------------------------------------------------------------------------------- CrowS-Pairs
@dataclass(frozen=True)
class CrowsPair:
    sent_more: str
    sent_less: str
    direction: str  # "stereo" | "antistereo"
    bias_type: str


def load_crows_pairs(path: str | Path | None = None, *, source: str = "local") -> list[CrowsPair]:
    """CrowS-Pairs minimal pairs from crows_pairs_anonymized.csv."""
    if source == "hub":
        dataset = _load_hub("nyu-mll/crows_pairs", split="test")
        names = dataset.features["stereo_antistereo"].names
        types = dataset.features["bias_type"].names
        return [CrowsPair(r["sent_more"], r["sent_less"], names[r["stereo_antistereo"]],
                          types[r["bias_type"]]) for r in dataset]
    file = _resolve(path, default_path("crows-pairs", "crows_pairs_anonymized.csv"), "CrowS-Pairs CSV",
                    "nyu-mll/crows_pairs")
    with open(file, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"sent_more", "sent_less", "stereo_antistereo", "bias_type"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"missing column(s) {sorted(missing)}", path=str(file), field=sorted(missing)[0])
        return [CrowsPair(r["sent_more"], r["sent_less"], r["stereo_antistereo"], r["bias_type"])
                for r in reader]


# ----------------------------------------------------------------------------- JSONL of texts
@dataclass(frozen=True)
class TextRecord:
    """A text to rewrite, with what an experiment may use besides it."""

    id: str
    text: str
    reference: str | None = None  # a gold safe rewrite (`safe_variation`), when the file has one
    biased_words: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def load_texts(path: str | Path, *, text_field: str = "text") -> list[TextRecord]:
    """Records of a JSONL file with a `text` field (CMD files, test splits, job postings)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("file not found; pass a JSONL file with one {\"text\": ...} per line", path=str(file))
    records = []
    for number, row in read_json_lines(file):
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise InputError("missing or empty; every line needs a text to rewrite", path=str(file),
                             line=number, field=text_field)
        words = row.get("biased_words") or ()
        records.append(TextRecord(
            id=str(row.get("id", number)), text=text, reference=row.get("safe_variation") or None,
            biased_words=tuple(words) if isinstance(words, list) else (str(words),), extra=row,
        ))
    if not records:
        raise InputError("the file has no records", path=str(file))
    return records
