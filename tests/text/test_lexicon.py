"""The lexicon's checks: coded wording counts only in job postings; censored profanity, dehumanizing
comparisons and gendered job titles count anywhere."""

import pytest

from srllm.text.lexicon import (
    coded_terms,
    dehumanizing,
    is_job_text,
    kept_terms,
    masked_profanity,
    neutral_form,
    threats,
)

AD = "We're hiring a friendly waitress for weekend shifts at our bistro; recent graduates preferred."


def test_a_job_posting_is_told_from_prose_that_shares_its_words() -> None:
    assert is_job_text(AD)
    assert is_job_text("Digital natives wanted for our social media role.")  # one cue beside a coded term
    assert not is_job_text("The young players won 3-0 on Sunday, and the waiter brought cake.")
    assert not is_job_text("The role of the committee is set out in the bylaws.")  # one cue alone


def test_coded_terms_in_a_posting_carry_their_neutral_form() -> None:
    found = {(t.text, t.label, t.neutral) for t in coded_terms(AD)}
    assert found == {("waitress", "gendered_title", "server"), ("recent graduates", "age_coded", "graduates")}
    assert all(AD[t.start:t.end] == t.text for t in coded_terms(AD))
    assert coded_terms("The young players won 3-0 on Sunday.") == []


@pytest.mark.parametrize("text, words", [
    ("The f***ing printer jammed and IT is s*** at fixing it.", ["f***ing", "s***"]),
    ("This sh*t is a**hole stuff.", ["sh*t", "a**hole"]),
    ("Read the *important* note* first; 5*3 is 15.", []),  # emphasis, a footnote mark and arithmetic
])
def test_censored_profanity_is_found_and_emphasis_is_not(text: str, words: list[str]) -> None:
    assert [t.text for t in masked_profanity(text)] == words


def test_a_rewrite_keeping_a_coded_word_of_its_source_is_caught() -> None:
    assert [t.text for t in kept_terms(AD, "We're hiring a friendly waitress for weekend shifts.")] == ["waitress"]
    assert kept_terms(AD, "We're hiring a friendly server for weekend shifts; graduates welcome.") == []
    # A word the source did not use is the rewrite's own choice, not a kept one.
    assert kept_terms("We're hiring a server for weekend shifts.", "We're hiring a young server.") == []


def test_neutral_forms_come_from_the_lists() -> None:
    assert neutral_form("Chairman") == "chair" and neutral_form("fresh blood") == "new talent"
    assert neutral_form("engineer") is None


@pytest.mark.parametrize("text, found", [
    ("The ideal candidate will have no more than 6 years of experience in payroll.",
     [("no more than 6 years of experience", "age_coded")]),
    ("Applicants must have a maximum of ten years in the banking industry.",
     [("a maximum of ten years in the banking industry", "age_coded")]),
    ("Only applicants who graduated in the past two years will be considered for the role.",
     [("who graduated in the past two years", "age_coded")]),
    ("Native speakers of Spanish required for our support team.", [("Native speakers", "origin_coded")]),
    # A minimum is a requirement, not a cap; "up to" is how postings describe ranges.
    ("We are hiring an analyst with at least 5 years of experience.", []),
    ("Candidates with up to 3 years of experience are welcome to apply; we train on the job.", []),
])
def test_caps_on_experience_and_origin_wording_are_coded(text: str, found: list[tuple[str, str]]) -> None:
    assert [(t.text, t.label) for t in coded_terms(text)] == found


def test_a_cap_kept_in_other_words_is_still_kept() -> None:
    source = "Applicants must have at most 4 years of experience in sales."
    assert [t.text for t in kept_terms(source, "Applicants should have at most four years in sales.")] == \
        ["at most four years"]
    assert kept_terms(source, "Applicants should have solid experience in sales.") == []


@pytest.mark.parametrize("source, rewrite, kept", [
    ("Native English speaker required for our support team in Dublin.",
     "Our support team in Dublin is staffed with native English speakers.", ["native English speakers"]),
    ("We're hiring waitresses for weekend shifts.", "We're hiring a waitress for weekend shifts.", ["waitress"]),
    ("Join our team of salesmen; apply by May 2.", "Join our team as a salesman; apply by May 2.", ["salesman"]),
])
def test_a_coded_word_kept_in_the_singular_or_plural_is_still_kept(source: str, rewrite: str,
                                                                   kept: list[str]) -> None:
    assert [t.text for t in kept_terms(source, rewrite)] == kept


def test_hiring_jargon_is_coded_in_postings_only() -> None:
    ad = "We're hiring a rockstar ninja developer to own our backend roadmap."
    assert [(t.text, t.neutral) for t in coded_terms(ad)] == [("rockstar", "skilled"), ("ninja", "expert")]
    assert [t.text for t in kept_terms(ad, "We're hiring a skilled ninja developer for our backend.")] == ["ninja"]
    assert coded_terms("My kids love ninja movies and their guitar guru.") == []


def test_gendered_titles_count_outside_postings_but_everyday_words_do_not() -> None:
    memo = "The chairman will appoint a foreman to supervise the crew of 25 at the Bayview site."
    assert not is_job_text(memo)
    assert [(t.text, t.neutral) for t in coded_terms(memo)] == [("chairman", "chair"), ("foreman", "supervisor")]
    assert [t.text for t in kept_terms(memo, "The chair will appoint a foreman for the crew of 25.")] == ["foreman"]
    assert coded_terms("Hey guys, the waiter says the stewards will bring lunch.") == []
    assert [t.text for t in coded_terms("We're hiring friendly waiters; apply by May 2.")] == ["waiters"]


@pytest.mark.parametrize("text, found", [
    ("Those people are animals, breeding like rats in the housing blocks.", ["are animals", "breeding like rats"]),
    ("Those immigrants are cockroaches, swarming into Nogales every month.", ["are cockroaches", "swarming into"]),
    ("Bunch of parasites at the council approved another fee hike.", ["Bunch of parasites"]),
    # Animals as animals, and a swarm that is not people, are not the comparison.
    ("Rats got into the basement again, so the landlord called pest control.", []),
    ("The kids fed the animals at the petting zoo on Sunday.", []),
    ("Bees are swarming around the hive by the back fence.", []),
])
def test_dehumanizing_comparisons_are_found_and_animals_are_not(text: str, found: list[str]) -> None:
    assert [t.text for t in dehumanizing(text)] == found
    assert [t.text for t in coded_terms(text)] == found


def test_a_dehumanizing_comparison_fails_a_rewrite_even_in_new_words() -> None:
    source = "Those people are animals, breeding like rats on Kline Road."
    assert [t.text for t in kept_terms(source, "Some people on Kline Road are breeding like rats.")] == \
        ["breeding like rats"]
    assert [t.text for t in kept_terms(source, "The people on Kline Road are savages.")] == ["are savages"]
    assert kept_terms(source, "Many families live in the housing blocks on Kline Road.") == []


@pytest.mark.parametrize("text, found", [
    ("If that guy loses my package again I'm going to break his fingers.", ["break his fingers"]),
    ("The council approved another fee hike. I hope they choke on it.", ["I hope they choke"]),
    ("Say that again and I'll kill you.", ["I'll kill you"]),
    ("Go kill yourself, loser.", ["Go kill yourself"]),
    # A game, an email and a photo shoot are not threats.
    ("I'm going to beat you at chess again on Sunday.", []),
    ("I'll shoot you an email about the Leeds invoice.", []),
    ("We will shoot the video at the Bayview site on Monday.", []),
])
def test_threats_are_found_and_their_everyday_lookalikes_are_not(text: str, found: list[str]) -> None:
    assert [t.text for t in threats(text)] == found
    assert [t.text for t in coded_terms(text)] == found


def test_a_threat_fails_a_rewrite_even_where_the_input_had_none() -> None:
    source = "If that guy at the front desk loses my package again, I will be furious."
    assert [t.label for t in kept_terms(source, "If he loses my package again, I'm going to break his fingers.")] == \
        ["threat"]
    assert kept_terms(source, "If the front desk loses my package again, I will complain to the manager.") == []
