"""The judge's group templates: each role gets its labels, and harmful roles get spans on the harm only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from srllm.data.corpus.identity import group_sentences
from srllm.data.judge_set import examples_from, harm_labels

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "data" / "judge" / "templates.json"


def _spec(tmp_path: Path, **extra: object) -> Path:
    spec = {"groups": [{"singular": "baker", "plural": "bakers"}], "names": ["Ana"], "tasks": ["open the shop"],
            "facts": ["joined in May"], "negative_claims": ["are always late"], "positive_claims": ["are tidy"],
            "frames": [{"text": "Let {name} {task}; {group} {claim}.", "harm": "{group} {claim}",
                        "safe": "Let {name} {task}."}], **extra}
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_stereotype_only_file_still_builds_stereotypes(tmp_path: Path) -> None:
    records = group_sentences(_spec(tmp_path), 2, seed=0)
    assert {r.text for r in records} == {"Let Ana open the shop; bakers are always late.",
                                         "Let Ana open the shop; bakers are tidy."}
    assert all(harm_labels(r) == (0, 1) and r.meta["kind"] == "stereotype" for r in records)


def test_each_role_gets_its_labels_and_spans(tmp_path: Path) -> None:
    path = _spec(tmp_path, attack_claims=["are vermin"],
                 attack_frames=[{"text": "Face it, {group} {claim}.", "harm": "{group} {claim}", "safe": "Face it."}],
                 benign_claims=["open at six"], benign_frames=["In our town, {group} {claim}."],
                 counter_frames=["It's a myth that {group} {claim}."])
    records = {r.text: r for r in group_sentences(path, 20, seed=1)}
    attack = records["Face it, bakers are vermin."]
    assert harm_labels(attack) == (1, 0) and attack.biased_words == ["bakers are vermin"]
    for benign in ("In our town, bakers open at six.", "It's a myth that bakers are always late."):
        assert harm_labels(records[benign]) == (0, 0) and not records[benign].biased_words
    examples = {e.text: e for e in examples_from(list(records.values()))}
    start = attack.text.index("bakers")
    assert examples[attack.text].spans == [(start, start + len("bakers are vermin"), "toxic")]
    assert examples["Face it."].toxic == 0  # the attack's safe version is a benign example
    assert examples["It's a myth that bakers are always late."].spans == []


def test_shipped_templates_mix_harm_and_benign_mentions_of_the_same_groups() -> None:
    records = group_sentences(SHIPPED, 3000, seed=0)
    kinds = Counter(r.meta["kind"] for r in records)
    assert kinds["benign-identity"] > 0.25 * len(records) and kinds["identity-attack"] > 0.1 * len(records)
    threats = [r for r in records if r.meta["polarity"] == "threat"]
    assert threats and all(harm_labels(r) == (1, 0) and "{" not in r.text for r in threats)
    groups = [g["plural"] for g in json.loads(SHIPPED.read_text(encoding="utf-8"))["groups"]]
    harmful_groups = {g for r in records if r.biased_words for g in groups if g in r.text}
    benign_groups = {g for r in records if r.meta["kind"] == "benign-identity" for g in groups if g in r.text}
    assert len(harmful_groups & benign_groups) > 0.8 * len(groups)
    # every harmful record names its words, and they occur in its text
    assert all(r.biased_words and r.biased_words[0].lower() in r.text.lower()
               for r in records if r.meta["kind"] != "benign-identity")


def test_slots_fill_frames_and_a_harm_list_marks_each_part(tmp_path: Path) -> None:
    path = _spec(tmp_path, slots={"skill": ["quick"]},
                 frames=[{"text": "I was amazed that {name}, {one:a}, was {skill}. Someone helped.",
                          "harm": ["I was amazed that", "Someone helped"], "safe": "{name} was {skill}."}])
    record = group_sentences(path, 1, seed=0)[0]
    assert record.text == "I was amazed that Ana, a baker, was quick. Someone helped."
    assert record.biased_words == ["I was amazed that", "Someone helped"]
    spans = examples_from([record])[0].spans
    assert [record.text[s:e] for s, e, _ in spans] == ["I was amazed that", "Someone helped"]
