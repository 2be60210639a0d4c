"""Job-postings case study (paper Section 5, Table 9): gender-coded wording before and after.

Gender-coded terms are counted with the word lists of Gaucher, Friesen & Kay (2011) as the
Gender Decoder packages them (src/srllm/assets/jobs/gender_coded_words.json, with its citation and MIT
license): stems, matched as word prefixes after Gender Decoder's tokenisation. Each rewrite is
also scored for cosine similarity to the posting (all-MiniLM-L6-v2), knowledge retention,
toxicity and perplexity under the base model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.evaluate.experiments.base import (
    Experiment,
    ExperimentConfig,
    ExperimentResult,
    RunContext,
    Table,
    mean,
    register_experiment,
)
from srllm.evaluate.experiments.common import (
    ModelPool,
    OutputScorer,
    median,
    parse_variants,
    subsample,
    variant_outputs,
)
from srllm.evaluate.loaders import REPO_ROOT, TextRecord, load_texts
from srllm.paths import ASSETS_DIR

LEXICON_NAME = "gender_coded_words.json"
DEFAULT_POSTINGS = REPO_ROOT / "data" / "seed" / "job_postings.jsonl"
# Gender Decoder's separators (app/models.py): whitespace and . , " ' < > * ? ! [ ] @ : ; ( ) / & “ ” ‘ ’
_SEPARATORS = re.compile(r"[\s.,\"'<>*?!\[\]@:;()/&“”‘’]+")


def lexicon_path() -> Path:
    """The word lists shipped inside the package."""
    candidate = ASSETS_DIR / "jobs" / LEXICON_NAME
    if candidate.is_file():
        return candidate
    raise InputError("the gender-coded word lists are missing; pass lexicon=PATH to a JSON file with "
                     "'masculine' and 'feminine' stem lists", path=str(candidate))


@dataclass(frozen=True)
class CodedTerms:
    masculine: tuple[str, ...]
    feminine: tuple[str, ...]

    @property
    def coding(self) -> str:
        """Gender Decoder's verdict from feminine minus masculine counts."""
        score = len(self.feminine) - len(self.masculine)
        if score == 0:
            return "neutral" if self.feminine else "empty"
        if score > 3:
            return "strongly feminine-coded"
        if score > 0:
            return "feminine-coded"
        return "strongly masculine-coded" if score < -3 else "masculine-coded"


@dataclass(frozen=True)
class GenderCodedLexicon:
    masculine: tuple[str, ...]
    feminine: tuple[str, ...]
    hyphenated_stems: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    citation: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> GenderCodedLexicon:
        return _load_lexicon(str(Path(path).expanduser() if path else lexicon_path()))

    def words(self, text: str) -> list[str]:
        ascii_text = "".join(c if ord(c) < 128 else " " for c in text)
        words: list[str] = []
        for word in (w.lower() for w in _SEPARATORS.split(ascii_text) if w):
            if "-" in word and not word.startswith(self.hyphenated_stems):
                words.extend(part for part in word.split("-") if part)
            else:
                words.append(word)
        return words

    def coded_terms(self, text: str) -> CodedTerms:
        words = [w for w in self.words(text) if w not in self.exceptions]
        # Every (word, stem) match counts, as in Gender Decoder.
        return CodedTerms(
            masculine=tuple(w for w in words for stem in self.masculine if w.startswith(stem)),
            feminine=tuple(w for w in words for stem in self.feminine if w.startswith(stem)),
        )


@lru_cache(maxsize=4)
def _load_lexicon(path: str) -> GenderCodedLexicon:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return GenderCodedLexicon(
            masculine=tuple(data["masculine"]), feminine=tuple(data["feminine"]),
            hyphenated_stems=tuple(data.get("hyphenated_stems", ())), exceptions=tuple(data.get("exceptions", ())),
            citation=data.get("citation", ""),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read the gender-coded word lists ({exc}); it must be JSON with "
                         "'masculine' and 'feminine' lists", path=path) from exc


class JobsConfig(ExperimentConfig):
    # "reference" = the file's gold `safe_variation`; the others as in the methods experiment.
    variants: list[str] = ["original", "reference", "zero-shot", "sr-llm"]
    lexicon: str | None = None
    template: str = "job"
    demonstrations: str | None = None
    limit: int | None = None


@register_experiment("jobs")
class JobPostings(Experiment):
    title = "Job postings: gender-coded terms, similarity, perplexity"
    paper = "Section 5, Table 9"
    Config = JobsConfig

    def run(self, config: JobsConfig, ctx: RunContext) -> ExperimentResult:  # type: ignore[override]
        path = Path(config.data) if config.data else DEFAULT_POSTINGS
        if not path.is_file():
            raise InputError("no job postings; pass a JSONL file with a `text` field per line (--data PATH)",
                             path=str(path), field="data")
        records = subsample(load_texts(ctx.uses_data(path)), config.limit, config.seed)
        lexicon = GenderCodedLexicon.load(config.lexicon)
        ctx.uses_data(Path(config.lexicon) if config.lexicon else lexicon_path())
        pool = ModelPool(config.model, ctx)
        scorer = OutputScorer(pool)
        texts = [r.text for r in records]
        rows, summary = [], {}
        for name in config.variants:
            outputs = self._outputs(name, records, pool, config, ctx)
            if outputs is None:
                continue
            variant_rows = self._score(name, records, outputs, lexicon, scorer)
            rows += variant_rows
            summary[name] = _summarise(variant_rows)
        metrics = {"n": len(texts), "variants": summary, "lexicon_citation": lexicon.citation}
        table = Table(
            "Job postings: gender-coded terms per posting (Gaucher et al. 2011 lists)",
            ["variant", "n", "masculine/post", "feminine/post", "% masculine-coded", "similarity", "retention",
             "perplexity (median)", "% toxic", "judge harm"],
            [[name, int(s["n"]), s["masculine"], s["feminine"], s["pct_masculine_coded"], s.get("similarity"),
              s.get("retention"), s.get("perplexity_median"), s.get("pct_toxic"), s.get("judge")]
             for name, s in summary.items()],
            caption="Terms matched as word prefixes of the Gender Decoder stems; % masculine-coded = more "
                    "masculine than feminine terms; similarity and retention against the original posting; "
                    "% toxic: Jigsaw max label >= 0.5; judge harm: the srllm judge's mean max(toxic, stereotype).",
        )
        return ExperimentResult(metrics=metrics, tables=[table], records=rows)

    @staticmethod
    def _outputs(name: str, records: list[TextRecord], pool: ModelPool, config: JobsConfig,
                 ctx: RunContext) -> list[str] | None:
        if name == "reference":
            if not all(r.reference for r in records):
                ctx.note("variant 'reference' skipped: not every posting has a `safe_variation`")
                return None
            return [str(r.reference) for r in records]
        variants = parse_variants([name], ctx, model=config.model)
        if not variants:
            return None
        # Postings can outgrow a small model's context: rewrite them sentence group by sentence group.
        return variant_outputs(pool, variants[0], [r.text for r in records], config, template=config.template,
                               demonstrations=config.demonstrations, chunk=True)

    @staticmethod
    def _score(name: str, records: list[TextRecord], outputs: list[str], lexicon: GenderCodedLexicon,
               scorer: OutputScorer) -> list[dict[str, Any]]:
        safe = [o if o.strip() else " " for o in outputs]
        single = scorer.single(safe)
        pairs = ([{} for _ in records] if name == "original"
                 else scorer.pairs([r.text for r in records], safe, [list(r.biased_words) for r in records]))
        rows = []
        for record, output, s, p in zip(records, outputs, single, pairs, strict=True):
            terms = lexicon.coded_terms(output)
            rows.append({"variant": name, "id": record.id, "text": record.text, "output": output,
                         "masculine": len(terms.masculine), "feminine": len(terms.feminine),
                         "masculine_terms": list(terms.masculine), "feminine_terms": list(terms.feminine),
                         "coding": terms.coding, **s, **p})
        return rows


def _summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    summary = {
        "n": float(len(rows)),
        "masculine": mean([r["masculine"] for r in rows]),
        "feminine": mean([r["feminine"] for r in rows]),
        "pct_masculine_coded": 100.0 * mean([float(r["masculine"] > r["feminine"]) for r in rows]),
    }
    for key in ("similarity", "retention", "judge"):
        values = [r[key] for r in rows if key in r]
        if values:
            summary[key] = mean(values)
    perplexities = [r["perplexity"] for r in rows if "perplexity" in r]
    summary["perplexity_median"] = median(perplexities) if perplexities else math.nan
    flags = [r["toxic_flag"] for r in rows if "toxic_flag" in r]
    summary["pct_toxic"] = 100.0 * mean(flags) if flags else math.nan
    return summary
