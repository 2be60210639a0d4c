"""The default training corpus: sources on disk mixed by weight and cap, checked for evaluation leakage.

A mix file (data/mix.json) declares each source with its type, paths, weight, cap and license:

    {"seed": 0, "root": "..",
     "sources": [{"name": "seed", "type": "cmd", "paths": [...], "weight": 2, "license": "..."},
                 {"name": "paradetox", "type": "paradetox", "paths": [...], "cap": 2000, "eval_slice": 500},
                 {"name": "sr-llm", "type": "sr-llm", "paths": [...], "enabled": false},
                 {"name": "targeted", "type": "targeted", "generators": {"benign": 400, ...}}],
     "eval": [{"name": "stereoset", "kind": "stereoset", "path": "../shared/data/stereoset/dev.json"}, ...]}

A source contributes round(weight x available) records (weight > 1 repeats records), at most
`cap`; which records is decided by a hash of the seed and the record id, so the choice does not
depend on file order. A text already taken from an earlier source is not taken again. Held-out
parts (our seed test split, ParaDetox's evaluation slice) never enter training and are checked,
with every evaluation source of the mix, by `srllm.data.corpus.leakage`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from srllm.data.checks import fix_records, is_placeholder
from srllm.data.corpus.heldout import (
    PARADETOX_EVAL_N,
    PARADETOX_EVAL_SALT,
    EvalSourceStatus,
    EvalText,
    load_eval_texts,
    read_paradetox,
    seed_test_split,
    split_paradetox,
    text_sha256,
)
from srllm.data.corpus.leakage import LeakageError, LeakageIndex, LeakageReport, LeakageThresholds, check_leakage
from srllm.data.corpus.targeted import GENERATORS, generate
from srllm.data.readers import read_records
from srllm.data.schema import CMDRecord, normalize_text
from srllm.data.split import split_records
from srllm.data.writers import write_records
from srllm.errors import InputError
from srllm.provenance import file_sha256
from srllm.registry import Registry
from srllm.text.writers import atomic_open

OWN_LICENSE = "Apache-2.0 (srllm's own data)"
SRLLM_CSV_LICENSE = "none stated; research use only"
# Seed aspects spelled as the kinds the manifest counts.
_KIND_ALIASES = {"stereotyping": "stereotype"}


# ---- the mix declaration -------------------------------------------------------------------

@dataclass
class SourceSpec:
    name: str
    type: str
    paths: list[str] = field(default_factory=list)
    weight: float = 1.0
    cap: int | None = None
    license: str = ""
    attribution: str | None = None
    enabled: bool = True
    required: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # type-specific (kind, holdout, eval_slice, generators)


@dataclass
class EvalSpec:
    name: str
    kind: str
    path: str


@dataclass
class MixSpec:
    sources: list[SourceSpec]
    eval: list[EvalSpec]
    seed: int = 0
    root: Path = Path(".")
    path: str | None = None
    thresholds: LeakageThresholds = field(default_factory=LeakageThresholds)

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.root / p


_SOURCE_KEYS = {"name", "type", "paths", "path", "weight", "cap", "license", "attribution", "enabled", "required"}


def _source_spec(raw: Any, where: str, index: int) -> SourceSpec:
    field_name = f"sources[{index}]"
    if not isinstance(raw, dict) or "name" not in raw or "type" not in raw:
        raise InputError("each source needs a 'name' and a 'type'", path=where, field=field_name)
    SOURCE_TYPES.get(raw["type"], path=where, field=f"{field_name}.type")  # fails early on a bad name
    paths = raw.get("paths", [raw["path"]] if "path" in raw else [])
    weight, cap = raw.get("weight", 1.0), raw.get("cap")
    if not isinstance(weight, (int, float)) or weight < 0:
        raise InputError("must be a number >= 0 (1 = every available record once)", path=where,
                         field=f"{field_name}.weight")
    if cap is not None and (not isinstance(cap, int) or cap < 0):
        raise InputError("must be a whole number >= 0 or null (no cap)", path=where, field=f"{field_name}.cap")
    options = {k: v for k, v in raw.items() if k not in _SOURCE_KEYS}
    return SourceSpec(raw["name"], raw["type"], list(paths), float(weight), cap, raw.get("license", ""),
                      raw.get("attribution"), bool(raw.get("enabled", True)), bool(raw.get("required", False)),
                      options)


def parse_mix(data: dict[str, Any], *, root: str | Path = ".", where: str = "<mix>") -> MixSpec:
    """A MixSpec from the mix declaration (see the module docstring)."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise InputError("a mix needs a 'sources' list", path=where, field="sources")
    sources = [_source_spec(raw, where, i) for i, raw in enumerate(data["sources"])]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise InputError(f"source names must be unique; got {names}", path=where, field="sources")
    evals = []
    for i, raw in enumerate(data.get("eval", [])):
        if not isinstance(raw, dict) or not {"name", "kind", "path"} <= set(raw):
            raise InputError("each evaluation source needs 'name', 'kind' and 'path'", path=where,
                             field=f"eval[{i}]")
        evals.append(EvalSpec(raw["name"], raw["kind"], raw["path"]))
    thresholds = LeakageThresholds(**data.get("leakage", {}))
    return MixSpec(sources, evals, int(data.get("seed", 0)), Path(root), where, thresholds)


def load_mix(path: str | Path, *, root: str | Path | None = None) -> MixSpec:
    """Read a mix file; its relative paths start at `root` (default: its "root" key, from the file's folder)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("does not exist; pass a mix declaration such as data/mix.json", path=str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=str(p), line=exc.lineno) from exc
    base = Path(root) if root is not None else p.parent / data.get("root", ".")
    return parse_mix(data, root=base, where=str(p))


# ---- sources -------------------------------------------------------------------------------

@dataclass
class SourceResult:
    """What one source offers: the pool to sample from, what it holds out, and what it dropped."""

    pool: list[CMDRecord] = field(default_factory=list)
    heldout: list[EvalText] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    files: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)  # written next to the output (held-out sets)
    skipped: str | None = None


SourceReader = Callable[[SourceSpec, MixSpec], SourceResult]
SOURCE_TYPES: Registry[SourceReader] = Registry("source type")


def register_source_type(name: str) -> Callable[[SourceReader], SourceReader]:
    """A decorator that adds what it decorates to `SOURCE_TYPES` as `name`."""
    return SOURCE_TYPES.register(name)


def _present(spec: SourceSpec, mix: MixSpec, result: SourceResult) -> list[tuple[str, Path]]:
    """(declared path, resolved path) of the files that exist; a missing required file is an error."""
    found = []
    for declared in spec.paths:
        resolved = mix.resolve(declared)
        if resolved.exists():
            found.append((declared, resolved))
            result.files.append({"path": declared, "sha256": file_sha256(resolved)})
        elif spec.required:
            raise InputError(f"is missing but source '{spec.name}' is required; restore it or set "
                             "\"required\": false", path=str(resolved))
        else:
            result.files.append({"path": declared, "missing": True})
            result.notes.append(f"{declared}: absent, skipped")
    if not found and spec.paths:
        result.skipped = "no file present"
    return found


def _kind_of(record: CMDRecord, default: str | None) -> str:
    kind = record.meta.get("kind") or default or record.aspect or "cmd"
    return _KIND_ALIASES.get(str(kind), str(kind))


def _tag(record: CMDRecord, spec: SourceSpec, kind: str, **meta: Any) -> CMDRecord:
    """The record as it enters the mix: source = the mix source name, kind (and provenance) in meta."""
    extra = {"kind": kind, **meta}
    if record.source and record.source != spec.name:
        extra["origin"] = record.source
    return record.model_copy(update={"source": spec.name, "meta": {**record.meta, **extra}})


def _usable(record: CMDRecord, result: SourceResult) -> bool:
    if is_placeholder(record.safe_variation):
        result.dropped["no_rewrite"] += 1
        return False
    return True


@register_source_type("cmd")
def read_cmd_source(spec: SourceSpec, mix: MixSpec) -> SourceResult:
    """srllm's own CMD records. Option "holdout": "test" keeps the seed test split out of training."""
    result = SourceResult()
    records: list[CMDRecord] = []
    kinds = spec.options.get("kinds", {})
    for declared, path in _present(spec, mix, result):
        for record in read_records(path):
            records.append(_tag(record, spec, _kind_of(record, kinds.get(declared))))
    if spec.options.get("holdout") == "test":
        parts = seed_test_split(records, int(spec.options.get("split_seed", 0)))
        held = parts["test"]
        records = parts["train"] + parts["dev"]
        result.dropped["held_out_test"] = len(held)
        result.heldout = [EvalText("", r.id, t) for r in held for t in (r.text, r.safe_variation) if t]
        result.artifacts["seed_test.jsonl"] = held
    result.pool = [r for r in records if _usable(r, result)]
    return result


@register_source_type("sr-llm")
def read_srllm_source(spec: SourceSpec, mix: MixSpec) -> SourceResult:
    """The SR-LLM repository CSV, cleaned as `srllm data validate --fix --drop-empty` does, then text-deduplicated."""
    result = SourceResult()
    for _, path in _present(spec, mix, result):
        records, changes = fix_records(read_records(path, importer="srllm-csv"), drop_empty=True)
        result.dropped.update(c.action for c in changes if c.action.startswith("drop"))
        result.notes.append(f"{sum(c.action == 'strip_meta' for c in changes)} leaked meta texts stripped")
        seen: set[str] = set()
        for record in records:
            key = normalize_text(record.text)
            if key in seen:
                result.dropped["duplicate_text"] += 1
                continue
            seen.add(key)
            result.pool.append(_tag(record, spec, spec.options.get("kind", "bias")))
    return result


# ParaDetox's toxic column is lowercased and space-tokenized ("i do n't know , man"), and many
# paraphrases are lowercased too. Restoring spacing and capitals keeps the model from learning to
# write " ," and a lowercase "i".
_SPACE_BEFORE = re.compile(r"\s+([,.!?;:%)\]]|n't\b|'(?:s|m|re|ve|ll|d)\b)")
_SPACE_AFTER = re.compile(r"([(\[$])\s+")
_LONE_I = re.compile(r"(?<![\w'])i(?=(?:'(?:m|ve|ll|d))?\b(?![.'-]\w))")


def detokenize(text: str) -> str:
    text = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", " ".join(text.split())))
    text = _LONE_I.sub("I", text)
    return text[:1].upper() + text[1:]


def _paraphrase(record: CMDRecord) -> str | None:
    """Of the paraphrases that changed the text (some repeat it verbatim), the one closest to it.

    The closest keeps the most of the original's content, which is what the rewrite should do;
    every ParaDetox paraphrase was already verified non-toxic by its crowd workers.
    """
    original = normalize_text(record.text)
    best, best_score = None, -1.0
    for candidate in [record.safe_variation, *record.meta.get("alternatives", [])]:
        key = normalize_text(candidate or "")
        if not key or key == original:
            continue
        score = fuzz.ratio(key, original)
        if score > best_score:
            best, best_score = candidate.strip(), score
    return best


@register_source_type("paradetox")
def read_paradetox_source(spec: SourceSpec, mix: MixSpec) -> SourceResult:
    """ParaDetox toxic -> neutral pairs without the evaluation slice (and without rows near-duplicate to it)."""
    result = SourceResult()
    n_eval = int(spec.options.get("eval_slice", PARADETOX_EVAL_N))
    for declared, path in _present(spec, mix, result):
        held, rest = split_paradetox(read_paradetox(path), n_eval)
        result.dropped["eval_slice"] += len(held)
        for r in held:
            result.heldout.append(EvalText("", r.id, r.text))
            result.heldout.extend(EvalText("", f"{r.id}:ref", t)
                                  for t in [r.safe_variation, *r.meta.get("alternatives", [])] if t)
        result.artifacts["paradetox_eval_slice.json"] = {
            "source": declared, "sha256": result.files[-1]["sha256"], "n": len(held),
            "definition": f"the {n_eval} rows with the lowest sha256('{PARADETOX_EVAL_SALT}' + NUL + "
                          "normalize_text(toxic)); srllm.data.corpus.heldout.paradetox_eval_slice(path, n) rebuilds it",
            "items": [{"id": r.id, "line": r.origin[1] if r.origin else None, "text_sha256": text_sha256(r.text)}
                      for r in held]}
        near = LeakageIndex(result.heldout, mix.thresholds)
        for record in rest:
            safe = _paraphrase(record)
            if "#error" in record.text.lower() or safe is None:
                result.dropped["unusable_row"] += 1
                continue
            if near.query(record.text) or near.query(safe):
                result.dropped["near_eval_slice"] += 1
                continue
            cleaned = record.model_copy(update={"text": detokenize(record.text), "safe_variation": detokenize(safe),
                                                "meta": {}})
            result.pool.append(_tag(cleaned, spec, spec.options.get("kind", "toxicity")))
    result.notes.append("text and paraphrase detokenized (no space before punctuation or n't, 'i' -> 'I', "
                        "first letter capitalized)")
    return result


@register_source_type("targeted")
def read_targeted_source(spec: SourceSpec, mix: MixSpec) -> SourceResult:
    """Template pairs from our own word lists; each generator has its own cap."""
    result = SourceResult()
    generators: dict[str, int] = spec.options.get("generators") or {k: 200 for k in GENERATORS}
    directory = mix.resolve(spec.options.get("directory", "data/targeted"))
    for name in sorted(p.name for p in directory.glob("*.json")) if directory.is_dir() else []:
        result.files.append({"path": str(Path(spec.options.get("directory", "data/targeted")) / name),
                             "sha256": file_sha256(directory / name)})
    for kind, cap in generators.items():
        records = generate(kind, int(cap), seed=mix.seed, directory=directory)
        if len(records) < int(cap):
            result.notes.append(f"{kind}: templates gave {len(records)} unique pairs (cap {cap})")
        result.pool.extend(_tag(r, spec, kind) for r in records)
    return result


# ---- building ------------------------------------------------------------------------------

def _rank(seed: int, source: str, record_id: str) -> str:
    return hashlib.sha256(f"{seed}\x00{source}\x00{record_id}".encode()).hexdigest()


def take(pool: Sequence[CMDRecord], weight: float, cap: int | None, *, seed: int, source: str) -> list[CMDRecord]:
    """round(weight x len(pool)) records, at most cap: whole copies for weight > 1, then a hash-ordered sample."""
    want = round(weight * len(pool))
    if cap is not None:
        want = min(want, cap)
    ordered = sorted(pool, key=lambda r: _rank(seed, source, r.id))
    out: list[CMDRecord] = []
    copy = 1
    while len(out) < want and ordered:
        batch = ordered[: want - len(out)]
        # A repeated record gets its own id so downstream tools can still address each example.
        out.extend(batch if copy == 1 else [r.model_copy(update={"id": f"{r.id}~{copy}"}) for r in batch])
        copy += 1
    return out


@dataclass
class SourceSummary:
    name: str
    type: str
    license: str
    attribution: str | None
    weight: float
    cap: int | None
    enabled: bool
    status: str  # "used", "disabled" or "skipped"
    available: int = 0
    taken: int = 0
    held_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    train: list[CMDRecord]
    dev: list[CMDRecord]
    sources: list[SourceSummary]
    leakage: LeakageReport
    artifacts: dict[str, Any]
    seed: int
    dropped_for_leakage: list[str] = field(default_factory=list)
    mix_path: str | None = None

    def manifest(self) -> dict[str, Any]:
        every = self.train + self.dev
        return {
            "created_by": "srllm data build-train",
            "mix": self.mix_path,
            "seed": self.seed,
            "counts": {
                "total": len(every), "train": len(self.train), "dev": len(self.dev),
                "by_source": dict(Counter(r.source for r in every)),
                "by_kind": dict(Counter(r.meta.get("kind") for r in every)),
                "by_source_and_kind": {f"{s}/{k}": n for (s, k), n in
                                       sorted(Counter((r.source, r.meta.get("kind")) for r in every).items())},
            },
            "sources": [asdict(s) for s in self.sources],
            "licenses": {s.name: s.license for s in self.sources if s.status == "used"},
            "leakage": self._leakage(),
        }

    def _leakage(self) -> dict[str, Any]:
        report = self.leakage.to_dict()
        # Every match names its training record, so dropping those records leaves a clean corpus.
        clean = self.leakage.passed or bool(self.dropped_for_leakage)
        if self.leakage.passed:
            result = "passed"
        elif clean:
            result = f"passed after dropping {len(self.dropped_for_leakage)} leaking records"
        else:
            result = "failed"
        return {**report, "passed": clean, "result": result, "on_leak_dropped": self.dropped_for_leakage}


def _enabled(spec: SourceSpec, include: Sequence[str], exclude: Sequence[str]) -> bool:
    return (spec.enabled or spec.name in include) and spec.name not in exclude


def _summary(spec: SourceSpec, status: str) -> SourceSummary:
    return SourceSummary(spec.name, spec.type, spec.license, spec.attribution, spec.weight, spec.cap,
                         spec.enabled, status, options=dict(spec.options))


def _eval_texts(mix: MixSpec, heldout: dict[str, list[EvalText]]) -> tuple[list[EvalText], list[EvalSourceStatus]]:
    texts: list[EvalText] = []
    statuses: list[EvalSourceStatus] = []
    for name, items in heldout.items():
        texts.extend(EvalText(name, t.ref, t.text, t.redact) for t in items)
        statuses.append(EvalSourceStatus(name, "held-out", "(built in memory)", "checked", len(items)))
    for spec in mix.eval:
        found, status = load_eval_texts(spec.name, spec.kind, mix.resolve(spec.path))
        status.path = spec.path
        texts.extend(found)
        statuses.append(status)
    return texts, statuses


def build_mix(mix: MixSpec, *, include: Sequence[str] = (), exclude: Sequence[str] = (),
              on_leak: str = "fail", dev_fraction: float = 0.0, seed: int | None = None) -> BuildResult:
    """Read every enabled source, sample by weight and cap, check leakage, shuffle, split off dev.

    `on_leak`: "fail" keeps the leaking records (the caller refuses to write; see `build_train`),
    "drop" removes them and lists their ids in the manifest.
    """
    if on_leak not in ("fail", "drop"):
        raise InputError(f"on_leak must be 'fail' or 'drop', not '{on_leak}'", field="on_leak")
    if not 0 <= dev_fraction < 1:
        raise InputError(f"dev fraction {dev_fraction} must be in [0, 1)", field="dev_fraction")
    unknown = sorted((set(include) | set(exclude)) - {s.name for s in mix.sources})
    if unknown:
        raise InputError(f"unknown source(s) {unknown}; the mix has {[s.name for s in mix.sources]}",
                         field="include")
    if seed is not None:
        mix.seed = seed
    summaries, chosen, heldout, artifacts = [], [], {}, {}
    seen: set[str] = set()
    for spec in mix.sources:
        if not _enabled(spec, include, exclude):
            summaries.append(_summary(spec, "disabled"))
            continue
        got = SOURCE_TYPES[spec.type](spec, mix)
        summary = _summary(spec, "skipped" if got.skipped else "used")
        summary.files, summary.notes = got.files, got.notes
        summary.held_out = got.dropped.get("held_out_test", 0) + got.dropped.get("eval_slice", 0)
        pool = []
        for record in got.pool:
            key = normalize_text(record.text)
            if key in seen:
                got.dropped["duplicate_of_earlier_source"] += 1
                continue
            seen.add(key)
            pool.append(record)
        taken = take(pool, spec.weight, spec.cap, seed=mix.seed, source=spec.name)
        summary.available, summary.taken, summary.dropped = len(pool), len(taken), dict(got.dropped)
        summary.by_kind = dict(Counter(r.meta.get("kind") for r in taken))
        summaries.append(summary)
        chosen.extend(taken)
        if got.heldout:
            heldout[f"{spec.name}-heldout"] = got.heldout
        artifacts.update(got.artifacts)

    texts, statuses = _eval_texts(mix, heldout)
    report = check_leakage(chosen, texts, statuses, mix.thresholds)
    dropped: list[str] = []
    if on_leak == "drop" and not report.passed:
        leaked = report.leaked_ids()
        dropped = sorted(leaked)
        chosen = [r for r in chosen if r.id not in leaked]

    chosen.sort(key=lambda r: r.id)
    random.Random(mix.seed).shuffle(chosen)
    dev: list[CMDRecord] = []
    if dev_fraction > 0:
        parts = split_records(chosen, {"train": 1 - dev_fraction, "dev": dev_fraction}, seed=mix.seed)
        chosen, dev = parts["train"], parts["dev"]
    return BuildResult(chosen, dev, summaries, report, artifacts, mix.seed, dropped, mix.path)


def _write_artifacts(artifacts: dict[str, Any], folder: Path) -> list[str]:
    written = []
    for name, content in artifacts.items():
        target = folder / name
        if isinstance(content, list):
            write_records(content, target)
        else:
            with atomic_open(target) as handle:
                json.dump(content, handle, ensure_ascii=False, indent=1)
                handle.write("\n")
        written.append(str(target))
    return written


def manifest_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".manifest.json")


def leak_report_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".leaks.json")


def write_json(content: dict[str, Any], path: Path) -> None:
    with atomic_open(path) as handle:
        json.dump(content, handle, ensure_ascii=False, indent=1, default=str)
        handle.write("\n")


def build_train(mix_path: str | Path, out: str | Path, *, dev_out: str | Path | None = None,
                root: str | Path | None = None, include: Sequence[str] = (), exclude: Sequence[str] = (),
                on_leak: str = "fail", dev_fraction: float = 0.0, seed: int | None = None) -> BuildResult:
    """Build the corpus and write it: OUT (JSONL), OUT's manifest, held-out sets under OUT's folder/eval/.

    With leakage and `on_leak="fail"`, writes only the leak report (OUT.leaks.json) and raises
    `LeakageError`.
    """
    result = build_mix(load_mix(mix_path, root=root), include=include, exclude=exclude, on_leak=on_leak,
                       dev_fraction=dev_fraction, seed=seed)
    out = Path(out)
    report_path = leak_report_path(out)
    if not result.leakage.passed:
        write_json(result.leakage.to_dict(max_matches=None), report_path)
        if on_leak == "fail":
            raise LeakageError(result.leakage, str(report_path))
    else:
        report_path.unlink(missing_ok=True)
    write_records(result.train, out)
    outputs: dict[str, Any] = {"train": {"path": str(out), "sha256": file_sha256(out)}}
    if result.dev:
        dev_target = Path(dev_out) if dev_out else out.with_name("dev.jsonl")
        write_records(result.dev, dev_target)
        outputs["dev"] = {"path": str(dev_target), "sha256": file_sha256(dev_target)}
    outputs["held_out"] = _write_artifacts(result.artifacts, out.parent / "eval")
    write_json({**result.manifest(), "outputs": outputs}, manifest_path(out))
    return result
