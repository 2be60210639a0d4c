"""Key nouns a rewrite must keep, with spaCy's shipped English tagger and the shipped MiniLM embedder."""

from __future__ import annotations

import pytest

from srllm.text.nouns import dropped_nouns, key_nouns, same_stem

SOURCE = "Homeless junkies are vermin, and the city should just hose them off the sidewalks on 3rd Avenue."


def test_nouns_come_from_context_not_from_a_word_list() -> None:
    [nouns] = key_nouns(["Shoot me a message when the build finishes, then review the code review."], [[]], [[]])
    assert "message" in nouns and "review" in nouns and "code" in nouns
    assert "shoot" not in nouns  # a verb here


def test_nouns_inside_harmful_spans_excluded_words_and_generic_nouns_are_not_key() -> None:
    start = SOURCE.index("junkies are vermin")
    [nouns] = key_nouns([SOURCE], [[(start, start + len("junkies are vermin"))]], [{"City"}])
    assert nouns == ["sidewalks"]
    [everyone] = key_nouns(["People like that guy never pay for things at the market."], [[]], [[]])
    assert everyone == ["market"]


def test_same_stem_matches_inflections_not_prefixes_of_other_words() -> None:
    assert same_stem("sidewalks", "sidewalk") and same_stem("statistics", "statistic") and same_stem("nurse", "nurses")
    assert not same_stem("car", "carpet") and not same_stem("review", "reward")


def test_a_dropped_noun_is_named_and_a_kept_or_synonymous_one_is_not() -> None:
    from srllm.scorers.embeddings import cosine_matrix

    assert dropped_nouns(["sidewalks", "city"], "The city's approach to homeless people.") == ["sidewalks"]
    assert dropped_nouns(["sidewalks"], "Clear the sidewalk on 3rd Avenue.") == []
    with_synonyms = dropped_nouns(["doctor", "sidewalks"], "The physician waited on the street.", cosine_matrix, 0.6)
    assert with_synonyms == ["sidewalks"]
    assert dropped_nouns(["doctor"], "The physician waited.") == ["doctor"]  # without the embedder: dropped
    # A related word the source already had is not a synonym: "office" does not stand in for "receptionist".
    source = "Seeking a young receptionist for our office."
    assert cosine_matrix(["receptionist"], ["office"])[0][0] >= 0.6
    assert dropped_nouns(["receptionist"], "Seeking a person for our office.", cosine_matrix, 0.6,
                         source=source) == ["receptionist"]


@pytest.mark.parametrize("threshold", [0.6, None])
def test_the_guard_fails_a_candidate_that_drops_a_key_noun(threshold: float | None) -> None:
    from srllm.rewrite.guard import DROPS_CONTENT, Guard, GuardConfig

    guard = Guard(GuardConfig(noun_similarity=threshold)).load(warm_up=False)
    [[dropped, kept]] = guard.check([SOURCE], [[
        "I strongly disagree with the city's approach to dealing with homeless people on 3rd Avenue.",
        "The city should help homeless people off the sidewalks on 3rd Avenue.",
    ]])
    assert f"{DROPS_CONTENT}: sidewalks" in dropped.reasons
    assert not any(r.startswith(DROPS_CONTENT) for r in kept.reasons), kept.reasons
    off = Guard(GuardConfig(require_nouns=False)).load(warm_up=False)
    [[unchecked]] = off.check([SOURCE], [[dropped.text]])
    assert not any(r.startswith(DROPS_CONTENT) for r in unchecked.reasons)
