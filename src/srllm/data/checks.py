"""Quality checks to run before training (a registry of small functions) and the safe repairs."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from srllm.data.schema import CMDRecord, normalize_text
from srllm.registry import Registry
from srllm.text.meta import find_meta, strip_meta
from srllm.text.readers import Problem

# Values annotators leave in place of a rewrite (the SR-LLM CSV has "TOREMOVE" for rows to drop).
PLACEHOLDERS = {"toremove", "to remove", "remove", "todo", "tbd", "n/a", "na", "none", "null", "nan",
                "-", "?"}


@dataclass(frozen=True)
class Finding:
    check: str
    where: str  # "file:line" (or the record id when the origin is unknown)
    record_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where} field '{self.field}': {self.message}"


@dataclass
class CheckContext:
    """What checks may need beyond the records themselves."""

    problems: list[Problem] = field(default_factory=list)  # schema problems found while reading
    splits: dict[str, Sequence[CMDRecord]] = field(default_factory=dict)  # for the cross-split check
    max_length_ratio: float = 2.0
    # chars; a short text may double in length legitimately ("lol" -> "That is funny")
    min_length_gain: int = 40


Check = Callable[[Sequence[CMDRecord], CheckContext], list[Finding]]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    run: Check
    description: str
    fixable: bool = False


CHECKS: Registry[CheckSpec] = Registry("check", field="checks")


def register_check(name: str, description: str, fixable: bool = False) -> Callable[[Check], Check]:
    def add(run: Check) -> Check:
        CHECKS.register(name, CheckSpec(name, run, description, fixable))
        return run
    return add


def _snippet(text: str | None, width: int = 70) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def _finding(check: str, record: CMDRecord, fld: str, message: str) -> Finding:
    return Finding(check, record.where(), record.id, fld, message)


def is_placeholder(rewrite: str | None) -> bool:
    return rewrite is None or not rewrite.strip() or rewrite.strip().lower() in PLACEHOLDERS


# ---- checks --------------------------------------------------------------------------------

@register_check("empty_rewrite", "safe variation missing, blank or a placeholder (e.g. TOREMOVE)")
def check_empty_rewrite(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    out = []
    for r in records:
        if is_placeholder(r.safe_variation):
            what = "missing" if r.safe_variation is None else f"placeholder '{_snippet(r.safe_variation)}'"
            out.append(_finding("empty_rewrite", r, "safe_variation", f"{what} for '{_snippet(r.text, 50)}'"))
    return out


def labeled_safe(record: CMDRecord) -> bool:
    """Labeled neither biased nor toxic: such a text is its own safe variation (the prompt says so)."""
    return record.labels.bias == "No" and record.labels.toxicity in (None, "No")


@register_check("identical_rewrite", "safe variation identical to an original not labeled safe")
def check_identical_rewrite(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    return [_finding("identical_rewrite", r, "safe_variation", f"same as the original: '{_snippet(r.text)}'")
            for r in records
            if not is_placeholder(r.safe_variation) and not labeled_safe(r)
            and normalize_text(r.safe_variation or "") == normalize_text(r.text)]


@register_check("meta_leak", "meta text leaked into the rewrite (preambles, notes, refusals)", fixable=True)
def check_meta_leak(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    out = []
    for r in records:
        if is_placeholder(r.safe_variation):
            continue
        leaks = find_meta(r.safe_variation or "", r.text)
        if leaks:
            parts = " + ".join(f"{leak.kind} '{_snippet(leak.text)}'" for leak in leaks)
            out.append(_finding("meta_leak", r, "safe_variation", parts))
    return out


@register_check("wrapped_rewrite", "rewrite padded with whitespace or wrapped in quotes the original lacks",
                fixable=True)
def check_wrapped_rewrite(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    out = []
    for r in records:
        rewrite = r.safe_variation
        if is_placeholder(rewrite) or find_meta(rewrite or "", r.text):
            continue  # meta_leak reports (and repairs) these
        if strip_meta(rewrite or "", r.text) != rewrite:
            kind = "whitespace" if rewrite.strip() == strip_meta(rewrite, r.text) else "quotes"
            out.append(_finding("wrapped_rewrite", r, "safe_variation",
                                f"wrapped in {kind}: '{_snippet(rewrite, 50)}'"))
    return out


@register_check("long_rewrite", "rewrite far longer than the original")
def check_long_rewrite(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    out = []
    for r in records:
        if is_placeholder(r.safe_variation):
            continue
        # Measured without leaked meta text, which meta_leak reports on its own.
        original, rewrite = len(r.text.strip()), len(strip_meta(r.safe_variation or "", r.text))
        if rewrite > ctx.max_length_ratio * original and rewrite - original >= ctx.min_length_gain:
            out.append(_finding("long_rewrite", r, "safe_variation",
                                f"{rewrite} chars vs {original} in the original ({rewrite / original:.1f}x)"))
    return out


def _groups(records: Sequence[CMDRecord], key: Callable[[CMDRecord], str | None]) -> list[list[CMDRecord]]:
    by_key: dict[str, list[CMDRecord]] = defaultdict(list)
    for r in records:
        k = key(r)
        if k:
            by_key[k].append(r)
    return [group for group in by_key.values() if len(group) > 1]


@register_check("duplicate_id", "the same id on more than one record")
def check_duplicate_id(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    return [_finding("duplicate_id", r, "id", f"id '{r.id}' also at {group[0].where()}")
            for group in _groups(records, lambda r: r.id) for r in group[1:]]


def exact_key(record: CMDRecord) -> str:
    """Everything but id and origin: two records with the same key carry the same information."""
    return record.model_dump_json(exclude={"id"})


@register_check("duplicate_text", "the same original text (normalized) in more than one record", fixable=True)
def check_duplicate_text(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    out = []
    for group in _groups(records, lambda r: normalize_text(r.text)):
        first = group[0]
        for r in group[1:]:
            exact = "exact duplicate of" if exact_key(r) == exact_key(first) else "same text as"
            message = f"{exact} {first.where()}: '{_snippet(r.text, 50)}'"
            out.append(_finding("duplicate_text", r, "text", message))
    return out


@register_check("duplicate_rewrite", "the same safe variation for different originals (a canned answer)")
def check_duplicate_rewrite(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    def key(r: CMDRecord) -> str | None:
        return None if is_placeholder(r.safe_variation) else normalize_text(r.safe_variation or "")
    out = []
    for group in _groups(records, key):
        texts = {normalize_text(r.text) for r in group}
        if len(texts) < 2:
            continue  # same original too: duplicate_text reports it
        for r in group[1:]:
            out.append(_finding("duplicate_rewrite", r, "safe_variation",
                                f"same rewrite as {group[0].where()}: '{_snippet(r.safe_variation, 50)}'"))
    return out


@register_check("split_leak", "the same original text (normalized) in two splits")
def check_split_leak(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    seen: dict[str, tuple[str, CMDRecord]] = {}
    out = []
    for split_name, split_records in ctx.splits.items():
        for r in split_records:
            key = normalize_text(r.text)
            if key in seen and seen[key][0] != split_name:
                other_split, other = seen[key]
                out.append(_finding("split_leak", r, "text",
                                    f"in '{split_name}' and in '{other_split}' ({other.where()}): "
                                    f"'{_snippet(r.text, 50)}'"))
            seen.setdefault(key, (split_name, r))
    return out


@register_check("label_values", "label values outside the schema (dropped on read)")
def check_label_values(records: Sequence[CMDRecord], ctx: CheckContext) -> list[Finding]:
    return [Finding("label_values", f"{p.path}:{p.line}", None, p.field or "labels", p.message)
            for p in ctx.problems if (p.field or "").startswith("labels.")]


# ---- running and repairing -----------------------------------------------------------------

@dataclass
class CheckResult:
    name: str
    description: str
    fixable: bool
    findings: list[Finding]

    @property
    def count(self) -> int:
        return len(self.findings)


def run_checks(records: Sequence[CMDRecord], ctx: CheckContext | None = None,
               only: Sequence[str] | None = None) -> list[CheckResult]:
    """Every registered check (or those named in `only`), each with its findings."""
    ctx = ctx or CheckContext()
    specs = [CHECKS.get(name) for name in only] if only else CHECKS.values()  # all names known before any runs
    return [CheckResult(spec.name, spec.description, spec.fixable, spec.run(records, ctx)) for spec in specs]


@dataclass(frozen=True)
class Change:
    where: str
    record_id: str
    action: str  # "strip_meta", "drop_duplicate" or "drop_empty"
    before: str
    after: str

    def __str__(self) -> str:
        if self.action in ("drop_duplicate", "drop_empty"):
            return f"{self.where} ({self.record_id}): dropped, {self.after}"
        before, after = _snippet(self.before, 60), _snippet(self.after, 60)
        return f"{self.where} ({self.record_id}): '{before}' -> '{after}'"


def fix_records(records: Sequence[CMDRecord], *, drop_empty: bool = False
                ) -> tuple[list[CMDRecord], list[Change]]:
    """The safe repairs: strip leaked meta text and wrapping, drop exact duplicates (keep the first).

    `drop_empty` also drops records whose rewrite is missing or a placeholder such as TOREMOVE.
    """
    changes: list[Change] = []
    repaired: list[CMDRecord] = []
    for r in records:
        rewrite = r.safe_variation
        if drop_empty and is_placeholder(rewrite):
            changes.append(Change(r.where(), r.id, "drop_empty", r.text, f"no usable rewrite ({rewrite!r})"))
            continue
        if not is_placeholder(rewrite):
            cleaned = strip_meta(rewrite or "", r.text)
            if cleaned and cleaned != rewrite:
                changes.append(Change(r.where(), r.id, "strip_meta", rewrite or "", cleaned))
                origin = r.origin
                r = r.model_copy(update={"safe_variation": cleaned})
                if origin:
                    r.with_origin(*origin)
        repaired.append(r)
    kept: list[CMDRecord] = []
    first_at: dict[str, CMDRecord] = {}
    for r in repaired:
        key = exact_key(r)
        if key in first_at:
            changes.append(Change(r.where(), r.id, "drop_duplicate", r.text,
                                  f"exact duplicate of {first_at[key].where()}"))
            continue
        first_at[key] = r
        kept.append(r)
    return kept, changes
