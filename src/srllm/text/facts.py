"""Facts a rewrite must keep: numbers, names and places of the input, and its content words.

The one definition of a fact in srllm: the guard checks a candidate with `missing_facts` /
`added_facts`, and the retention scorer (srllm.scorers.retention) measures the same facts,
so the two cannot disagree on what was kept.

The SR-LLM paper asks a safe rewrite to keep "the original intent and facts" (arXiv 2404.01399,
Section 2.2). In short social-media and job texts the checkable facts are numbers (amounts,
dates, times, counts, scores) and proper names (people, organisations, places). We find them
with rules rather than an NER model: the guard runs on every rewrite, and names in these texts
are reliably marked by capitals. Words at the start of a sentence are capitalised by position,
so they count as names only when the text also capitalises them mid-sentence; identity words
("Muslims", "Asian") are capitalised but are often the stereotype itself, so they never count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

FactKind = Literal["number", "name", "place"]

# A number with its attached symbols: $1,200  2.3  7:40  6-0  22%  5K  3D  Q3  #4471  1980s
_NUMBER = re.compile(r"(?<![\w.])[$£€#]?\d+(?:[.,:]\d+)*(?:[-–]\d+)?(?:%|[A-Za-z]{1,3}\b)?")
# A count written as a word is a fact like its digits ("two invoices" == "2 invoices"). The guard used
# to match these only in the rewrite, so "two" dropped from the input went unnoticed while the
# retention scorer counted it; now both count it. "one" is left out: far more often a pronoun
# ("one of them") than a count.
_NUMBER_WORDS = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
    "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000",
    "dozen": "12",
}
_ORDINAL_WORDS = {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5"}
_WORD = re.compile(r"[A-Za-z][\w'’&-]*")
_ABBREVIATION_END = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Prof|Jr|Sr|Mt|No)\.\s*$")
# "Zoe is only 24": a sentence-initial word before one of these verbs is someone's name.
_NAME_VERBS = {"is", "was", "has", "had", "will", "wants", "uses", "wears", "just", "said", "needs", "ran"}
# Words that join the parts of one name: "Bank of America", "St. Luke's", "Pierce & Lowe".
_NAME_JOINERS = {"of", "de", "la", "van", "von", "&", "and", "the"}
_PLACE_SUFFIXES = {"street", "st", "road", "rd", "avenue", "ave", "boulevard", "lane", "square", "park",
                   "county", "city", "valley", "bay", "island", "river", "heights", "site", "station"}
_PLACE_PREPOSITIONS = {"in", "at", "from", "to", "near", "across", "into", "on"}
# Capitalised by English grammar, not because they name someone: the group a stereotype is
# about (often the harm a rewrite should drop), titles, weekdays and months stay facts via numbers.
_NOT_NAMES = frozenset("""
i i'm i've i'd i'll mr mrs ms dr prof sir madam dear hey hi hello ok okay
muslim muslims christian christians jewish jew jews catholic catholics hindu hindus sikh sikhs
buddhist buddhists evangelical evangelicals mormon mormons atheist atheists islam islamic
asian asians black blacks white whites latino latinos latina latinas hispanic hispanics arab arabs
african africans american americans european europeans indian indians mexican mexicans chinese
japanese korean koreans russian russians german germans french british english irish scottish
italian italians nigerian nigerians somali somalis polish pakistani pakistanis filipino filipinos
southerners northerners westerners easterners gen boomer boomers millennial millennials lgbt lgbtq
republican republicans democrat democrats liberal liberals conservative conservatives
karens
""".split())
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*|[\"“‘'(]\s*)$")


@dataclass(frozen=True)
class Fact:
    """One fact of a text: `key` is what is looked for in a rewrite (normalised)."""

    text: str
    kind: FactKind
    key: str


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("’", "'").lower()
    return re.sub(r"\s+", " ", text)


# Suffixes that say how a number is read, not which number it is ("15th" == "15", "10am" == "10 a.m.").
# Decimals are kept as written ("3.10" is not "3.1" when it is a version).
_READING_SUFFIX = re.compile(r"(?<=\d)(?:st|nd|rd|th|s|%|am|pm)$")


def _number_key(token: str) -> str:
    """'$1,200' -> '1200', '7:40' -> '7:40', '22%' -> '22', '5K' -> '5k', '1980s' -> '1980', '10am' -> '10'."""
    value = token.lstrip("$£€#").replace(",", "").lower()
    return _READING_SUFFIX.sub("", value).replace("–", "-")


def _number_keys(text: str) -> set[str]:
    """Every number of a text, as keys; number words count as their digits ("twelve" == "12")."""
    keys = {_number_key(match.group()) for match in _NUMBER.finditer(text)}
    keys |= {key for _, key in _number_words(text)}
    keys |= {_ORDINAL_WORDS[word] for word in re.findall(r"[a-z]+", _normalise(text)) if word in _ORDINAL_WORDS}
    # "6-0" keeps its parts too, so "6 to 0" still counts as the same score.
    keys |= {part for key in list(keys) for part in re.split(r"[-:]", key) if part}
    return keys


def _number_word_matches(text: str) -> list[re.Match[str]]:
    """Each count written as a word ("twelve"), where it stands in the text."""
    return [match for match in re.finditer(r"[A-Za-z]+", text) if match.group().lower() in _NUMBER_WORDS]


def _number_words(text: str) -> list[tuple[str, str]]:
    """(word as written, digits) for each count written as a word ("twelve" -> "12")."""
    return [(match.group(), _NUMBER_WORDS[match.group().lower()]) for match in _number_word_matches(text)]


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """sklearn's English stop words without the negations: "not" turns a statement around, so a rewrite
    that drops or adds it changes the meaning (the retention scorer's rule, now the guard's too)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) - {"not", "no", "never", "nor"}


def _is_capitalised(word: str) -> bool:
    return word[0].isupper() and word.lower().strip(".'’") not in _NOT_NAMES


def _name_spans(text: str) -> list[tuple[str, bool]]:
    """Runs of capitalised words (joined by "of", "&"...), each with whether a sentence starts there."""
    words = list(_WORD.finditer(text))
    spans: list[tuple[str, bool]] = []
    i = 0
    while i < len(words):
        if not _is_capitalised(words[i].group()):
            i += 1
            continue
        start = i
        while i + 1 < len(words) and (
            _is_capitalised(words[i + 1].group())
            or (words[i + 1].group().lower() in _NAME_JOINERS and i + 2 < len(words)
                and _is_capitalised(words[i + 2].group()) and words[i + 1].group() != "and")
        ) and text[words[i].end(): words[i + 1].start()].strip() in ("", "&"):
            i += 1
        span = text[words[start].start(): words[i].end()].rstrip(".'’")
        before = text[: words[start].start()]
        at_start = bool(_SENTENCE_START.search(before)) and not _ABBREVIATION_END.search(before)
        if at_start and start == i and i + 1 < len(words) and words[i + 1].group() in _NAME_VERBS \
                and words[i].group().lower() not in stopwords() and not words[i].group().endswith("s"):
            at_start = False
        spans.append((re.sub(r"['’]s$", "", span), at_start))
        i += 1
    return spans


def _kind_of(text: str, span: str) -> FactKind:
    last = span.split()[-1].lower().strip(".")
    before = text[: text.find(span)].split()
    if last in _PLACE_SUFFIXES or (before and before[-1].lower() in _PLACE_PREPOSITIONS):
        return "place"
    return "name"


# Markup an injection wraps around its instruction ("[INST] ...", "###SYSTEM OVERRIDE###") and
# shouted words ("APPROVED"): not facts of the text. Acronyms (CDC, ICU, HR) are up to 4 letters.
_MARKUP = re.compile(r"\[[^\]\n]{0,40}\]|#{2,}[^#\n]{0,40}#{2,}|<[^>\n]{0,40}>")
_SHOUTED = re.compile(r"\b[A-Z]{5,}\b")


def extract_facts(text: str) -> list[Fact]:
    """Numbers and proper names/places of a text, in order of appearance, without duplicates."""
    text = _SHOUTED.sub(" ", _MARKUP.sub(". ", text))
    facts: dict[str, Fact] = {}
    for match in _NUMBER.finditer(text):
        key = _number_key(match.group())
        facts.setdefault(f"n:{key}", Fact(match.group(), "number", key))
    for word, key in _number_words(text):
        facts.setdefault(f"n:{key}", Fact(word, "number", key))
    spans = _name_spans(text)
    mid_sentence = {word.lower() for span, at_start in spans if not at_start for word in span.split()}
    for span, at_start in spans:
        words = span.split()
        if at_start:
            # The first word is capitalised by position; it counts only when the text also
            # capitalises it mid-sentence ("Kevin ... Kevin's"). The rest of the run is a name.
            words = [word for word in words[:1] if word.lower() in mid_sentence] + words[1:]
            if not words:
                continue
            span = " ".join(words)
        for word in words:
            if len(word) < 2 or word.lower() in _NAME_JOINERS:
                continue
            key = _normalise(word).strip(".")
            facts.setdefault(f"w:{key}", Fact(word, _kind_of(text, span), key))
    return list(facts.values())


def fact_present(fact: Fact, rewrite: str, *, numbers: set[str] | None = None) -> bool:
    """Whether the rewrite still carries the fact (names: as a word prefix, so "Maria's" counts)."""
    if fact.kind == "number":
        found = numbers if numbers is not None else _number_keys(rewrite)
        # A score or time written another way ("6 to 0") keeps all its parts.
        return fact.key in found or all(part in found for part in re.split(r"[-:]", fact.key) if part)
    return re.search(r"(?<!\w)" + re.escape(fact.key), _normalise(rewrite)) is not None


# An age, or an age range or limit, written as a number: "aged 22–28", "under 35", "At 63 he's", "only 24,",
# "between 25 and 35 years old", "52-year-old", "twenty-somethings", "in their 50s", "the over-50s",
# "born in the 1950s". Where such a number sits inside a stereotype it is what the stereotype is about, so a
# rewrite that drops the stereotype rightly drops the age with it (`age_numbers`). "under-12" (a team or
# class) and "over 40 bags" (a count) are not ages: the limit words need a space and a clause boundary after.
_AGE_NUMBER = r"(?:\d{1,3}(?![:.,]?\d)|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
_AGE_AFTER = r"(?=\s*(?:[,.;:!?)—–]|$|years?\b|y/?o\b|and\b|or\b|is\b|are\b|was\b|were\b|he\b|she\b|they\b|"
_AGE_AFTER += r"you\b|can\b|can't\b|should\b|shouldn't\b|will\b|won't\b|need\b|must\b|who\b|with\b))"
_AGE = re.compile("|".join([
    rf"\bage[ds]?\s+(?:of\s+)?(?P<a1>{_AGE_NUMBER})(?:\s*(?:-|–|to|and)\s*(?P<a2>{_AGE_NUMBER}))?\b",
    rf"\b(?:over|under|above|below|past|at|only|just|turned|turning)\s+(?:the\s+age\s+of\s+)?"
    rf"(?P<b1>{_AGE_NUMBER}){_AGE_AFTER}",
    rf"\b(?:he|she|they|i|you|we)(?:'s|'m|'re|\s+is|\s+was|\s+are|\s+am|\s+were)\s+(?P<i1>{_AGE_NUMBER}){_AGE_AFTER}",
    rf"\bbetween\s+(?P<c1>{_AGE_NUMBER})\s+and\s+(?P<c2>{_AGE_NUMBER})\s+years?\b",
    rf"\b(?P<d1>{_AGE_NUMBER})(?:\s*(?:-|–|to)\s*(?P<d2>{_AGE_NUMBER}))?[-\s]years?[-\s]olds?\b",
    rf"\b(?P<e1>{_AGE_NUMBER})-?\s?somethings?\b",
    r"\bin\s+(?:his|her|their|my|your|our)\s+(?:early\s+|mid\s+|late\s+)?(?P<f1>\d0s)\b",
    r"\b(?:over|under)-(?P<g1>\d{1,3})s\b",
    r"\bborn\s+in\s+(?:the\s+)?(?P<h1>(?:19|20)\d\ds?)\b",
]), re.IGNORECASE)


def age_numbers(text: str, spans: Iterable[tuple[int, int]] | None = None) -> list[str]:
    """The numbers of `text` (as `extract_facts` writes them) that state an age or an age limit (_AGE); with
    `spans`, only those inside one of the (start, end) spans: the ages a stereotype is about."""
    ages = [match.span(name) for match in _AGE.finditer(text)
            for name, value in match.groupdict().items() if value is not None]
    if spans is not None:
        bounds = list(spans)
        ages = [(start, end) for start, end in ages if any(lo <= start and end <= hi for lo, hi in bounds)]
    numbers = [*_NUMBER.finditer(text), *_number_word_matches(text)]
    return [m.group() for m in numbers if any(m.start() < hi and lo < m.end() for lo, hi in ages)]


def excluded_keys(exclude: Iterable[str]) -> set[str]:
    """The fact keys of the words and numbers in `exclude` (phrases such as "lazy immigrants" or "$4,000")."""
    keys: set[str] = set()
    for phrase in exclude:
        keys |= _number_keys(phrase) | set(words(phrase))
    return keys


def kept_facts(source: str, exclude: Iterable[str] = ()) -> list[Fact]:
    """The facts of `source` a rewrite must keep: all but those that are the harm (`exclude`)."""
    excluded = excluded_keys(exclude)
    return [fact for fact in extract_facts(source) if fact.key not in excluded]


def missing_facts(source: str, rewrite: str, *, exclude: Iterable[str] = ()) -> list[Fact]:
    """Facts of `source` absent from `rewrite`; facts whose key is in `exclude` (the harm) don't count."""
    numbers = _number_keys(rewrite)
    return [fact for fact in kept_facts(source, exclude) if not fact_present(fact, rewrite, numbers=numbers)]


def added_facts(source: str, rewrite: str) -> list[Fact]:
    """Facts of `rewrite` that `source` lacks: names and numbers a rewrite made up (or an injected
    instruction brought in). The mirror of `missing_facts`."""
    return missing_facts(rewrite, source)


def words(text: str) -> list[str]:
    """The words of a text, normalised (NFKC, lower case, straight apostrophes), in order."""
    return _WORD.findall(_normalise(text))


def content_words(text: str) -> list[str]:
    """`words` of two letters or more without the stop words ("the", "have", "been")."""
    stop = stopwords()
    return [word for word in words(text) if len(word) >= 2 and word not in stop]


def new_words(source: str, rewrite: str) -> list[str]:
    """Content words of `rewrite` that `source` has in no form: a word counts as present when one of
    the source's words starts with it or it starts with one ("lead" / "leader"), at 4 letters or more."""
    known = set(content_words(source))

    def present(word: str) -> bool:
        return word in known or any(
            min(len(word), len(other)) >= 4 and (word.startswith(other) or other.startswith(word)) for other in known)

    return [word for word in content_words(rewrite) if not present(word)]

