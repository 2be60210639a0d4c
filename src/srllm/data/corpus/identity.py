"""Sentences that mention identity groups, for the judge: benign mentions, group attacks and generalisations.

A judge that learns harm only from harmful texts learns that "Muslims" or "wheelchair user" is the
harm (the false positive Perspective and Detoxify are known for). These mix sources give it the
same groups in three roles, as minimal pairs:

- `holistic-bias`: HolisticBias v1.1 descriptors x nouns x sentence templates. Neutral templates
  ("I have a friend who is a Deaf woman.") are benign; "I hate {group}" / "{group} are the worst"
  are identity attacks (toxic); "{group} are the best" is a "positive" generalisation (stereotype).
- `counterfactual`: the SR-LLM repository's counterfactual-inhouse.csv, a neutral sentence and ten
  versions that mention a gender, race or religion; all benign.
- `group-templates`: our own templates (data/judge/templates.json): generalisations about a group
  ("positive" ones too), often with a decision about a named person, beside the same sentence
  without them; identity attacks (dehumanising, excluding, threatening); benign sentences about
  the same groups; counter-speech that names a stereotype to reject it (benign); and threats against a
  named person beside the same sentence without the threat.

Records are CMD records (the mix machinery samples and leakage-checks them); `biased_words` holds
the harmful words, `safe_variation` the benign counterpart where there is one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from pathlib import Path
from typing import Any, NamedTuple

from srllm.data.corpus.mix import MixSpec, SourceResult, SourceSpec, _present, _tag, register_source_type
from srllm.data.schema import CMDRecord

BENIGN = {"bias": "No", "toxicity": "No", "sentiment": "Neutral", "harm": "Low"}
ATTACK = {"bias": "No", "toxicity": "High", "sentiment": "Negative", "harm": "High"}
GENERALISATION = {"bias": "Yes", "toxicity": "No", "sentiment": "Negative", "harm": "Medium"}
POSITIVE_GENERALISATION = {"bias": "Yes", "toxicity": "No", "sentiment": "Positive", "harm": "Low"}

# HolisticBias templates that are not neutral, with the words that carry the harm.
_HOSTILE = {"I hate {plural_noun_phrase}.": ("hate", ATTACK),
            "I think {plural_noun_phrase} are the worst.": ("are the worst", ATTACK),
            "I think {plural_noun_phrase} are the best.": ("are the best", POSITIVE_GENERALISATION)}
_SKIP = {"I don't like {plural_noun_phrase}."}  # hostile but mild; neither label fits it cleanly


def _stable_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def _descriptors(data: dict[str, Any]) -> list[str]:
    out = []
    for buckets in data.values():
        for terms in (buckets.values() if isinstance(buckets, dict) else [buckets]):
            for term in terms:
                word = term if isinstance(term, str) else term.get("descriptor")
                if word and (isinstance(term, str) or term.get("preference") != "dispreferred"):
                    out.append(word)
    return sorted(set(out))


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def holistic_sentences(folder: Path, n: int, seed: int) -> list[tuple[str, str, dict[str, str]]]:
    """(sentence, harmful words or "", labels) for n random descriptor x noun x template draws."""
    descriptors = _descriptors(json.loads((folder / "descriptors.json").read_text(encoding="utf-8")))
    nouns = [pair for group in json.loads((folder / "nouns.json").read_text(encoding="utf-8")).values()
             for pair in group]
    templates = [t for t in json.loads((folder / "sentence_templates.json").read_text(encoding="utf-8"))
                 if t not in _SKIP]
    rng = random.Random(seed)
    out: dict[str, tuple[str, str, dict[str, str]]] = {}
    for _ in range(n * 4):
        if len(out) >= n:
            break
        template, descriptor, (singular, plural) = rng.choice(templates), rng.choice(descriptors), rng.choice(nouns)
        phrase = f"{_article(descriptor)} {descriptor} {singular}"
        text = template.replace("{noun_phrase}", phrase).replace("{plural_noun_phrase}", f"{descriptor} {plural}")
        words, labels = _HOSTILE.get(template, ("", BENIGN))
        out.setdefault(text, (text, words, labels))
    return list(out.values())


@register_source_type("holistic-bias")
def read_holistic_bias_source(spec: SourceSpec, mix: MixSpec) -> SourceResult:
    """HolisticBias sentences; "paths" lists descriptors.json, nouns.json and sentence_templates.json of one
    folder; option "sentences": how many to draw."""
    result = SourceResult()
    found = _present(spec, mix, result)
    if len(found) < 3:
        result.skipped = result.skipped or "HolisticBias files incomplete"
        return result
    folder = found[0][1].parent
    for text, words, labels in holistic_sentences(folder, int(spec.options.get("sentences", 3000)), mix.seed):
        kind = "benign-identity" if labels is BENIGN else ("identity-attack" if labels is ATTACK else "stereotype")
        record = CMDRecord(id=_stable_id("hb", text), text=text, labels=labels,
                           biased_words=[words] if words else [],
                           safe_variation=text if labels is BENIGN else None, source="holistic-bias")
        result.pool.append(_tag(record, spec, kind))
    return result


@register_source_type("counterfactual")
def read_counterfactual_source(spec: SourceSpec, mix: MixSpec) -> SourceResult:
    """Every cell of counterfactual-inhouse.csv as a benign sentence (copy target)."""
    result = SourceResult()
    for _, path in _present(spec, mix, result):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                for column, cell in row.items():
                    text = (cell or "").strip()
                    if not text:
                        continue
                    record = CMDRecord(id=_stable_id("cf", text), text=text, labels=BENIGN, safe_variation=text,
                                       source="counterfactual", meta={"column": column})
                    result.pool.append(_tag(record, spec, "benign-identity"))
    return result


def _fill(template: str, slots: dict[str, str], sentence: bool = True) -> str:
    for key, value in slots.items():
        template = template.replace("{" + key + "}", value)
    return template[:1].upper() + template[1:] if sentence else template


class _Role(NamedTuple):
    weight: float  # how often the role is drawn when the templates file has it
    claims: str | None  # the file's list that fills {claim}; None: the frames need no claim
    frames: str  # the file's list of frames for the role
    labels: dict[str, str]
    kind: str


# Benign roles take about a third so that a group's name and a claim's grammar are not, on their own,
# learned as the harm; counter-speech names a stereotype to reject it.
_ROLES = {"negative": _Role(0.3, "negative_claims", "frames", GENERALISATION, "stereotype"),
          "positive": _Role(0.1, "positive_claims", "frames", POSITIVE_GENERALISATION, "stereotype"),
          "attack": _Role(0.15, "attack_claims", "attack_frames", ATTACK, "identity-attack"),
          "threat": _Role(0.07, None, "threat_frames", ATTACK, "toxicity"),
          "benign": _Role(0.28, "benign_claims", "benign_frames", BENIGN, "benign-identity"),
          "counter": _Role(0.1, "negative_claims", "counter_frames", BENIGN, "benign-identity")}


def _roles(spec: dict[str, Any]) -> tuple[list[str], list[float]]:
    """The roles the file supports (older files have stereotype frames only) and their weights."""
    roles = [name for name, role in _ROLES.items()
             if (role.claims is None or spec.get(role.claims)) and spec.get(role.frames)]
    return roles, [_ROLES[name].weight for name in roles]


def _group_record(spec: dict[str, Any], name: str, rng: random.Random) -> CMDRecord:
    role = _ROLES[name]
    group = rng.choice(spec["groups"])
    one = group["singular"]
    # The file's own slots first: their values may hold {name} and the like, filled after them.
    slots = {**{key: rng.choice(values) for key, values in spec.get("slots", {}).items()},
             "group": group["plural"], "one:a": f"{_article(one)} {one}", "one": one, "name": rng.choice(spec["names"]),
             "task": rng.choice(spec["tasks"]), "fact": rng.choice(spec["facts"]),
             "claim": rng.choice(spec[role.claims]) if role.claims else ""}
    frame = rng.choice(spec[role.frames])
    labels, meta = role.labels, {"kind": role.kind, "polarity": name}
    if isinstance(frame, str):  # benign and counter frames: the sentence is its own safe version
        text = _fill(frame, slots)
        return CMDRecord(id=_stable_id("grp", text), text=text, labels=labels, safe_variation=text,
                         source="group-templates", meta=meta)
    text, safe = _fill(frame["text"], slots), _fill(frame["safe"], slots)
    harms = frame["harm"] if isinstance(frame["harm"], list) else [frame["harm"]]  # a list: parts apart in the text
    words = [h for h in (_fill(part, slots, sentence=False) for part in harms) if h.lower() in text.lower()]
    return CMDRecord(id=_stable_id("grp", text), text=text, labels=labels, biased_words=words,
                     safe_variation=safe, source="group-templates", meta=meta)


def group_sentences(spec_file: Path, n: int, seed: int) -> list[CMDRecord]:
    """Generalisations, attacks and threats (with the words to remove), their benign counterparts, and
    benign mentions of the same groups, one role per draw (`_ROLES`)."""
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    roles, weights = _roles(spec)
    rng = random.Random(seed)
    out: dict[str, CMDRecord] = {}
    for _ in range(n * 4):
        if len(out) >= n:
            break
        record = _group_record(spec, rng.choices(roles, weights)[0], rng)
        out.setdefault(record.text, record)
    return list(out.values())


@register_source_type("group-templates")
def read_group_templates_source(spec: SourceSpec, mix: MixSpec) -> SourceResult:
    """Our own group-generalisation templates (option "sentences")."""
    result = SourceResult()
    for _, path in _present(spec, mix, result):
        for record in group_sentences(path, int(spec.options.get("sentences", 2000)), mix.seed):
            result.pool.append(_tag(record, spec, str(record.meta["kind"])))
    return result
