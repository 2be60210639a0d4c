"""The training corpus: sources mixed by weight and cap, with everything held out kept out.

Imports flow one way, bottom to top:

- `heldout`: what never enters training: evaluation sources' texts (a registry of readers) and the
  held-out slices of our own sources (the seed test split, ParaDetox's evaluation slice);
- `leakage`: exact and near-duplicate matching of training texts against what is held out;
- `targeted`: template pairs from our own word lists (near-duplicates dropped with the leakage index);
- `mix`: the mix declaration, its source types and the build (`srllm data build-train`);
  `identity` adds the judge's identity-mention source types to it.
"""

from srllm.data.corpus.heldout import EVAL_READERS, EvalText, load_eval_texts, paradetox_eval_slice
from srllm.data.corpus.leakage import LeakageError, LeakageIndex, LeakageReport, check_leakage
from srllm.data.corpus.mix import SOURCE_TYPES, BuildResult, build_mix, build_train, load_mix
from srllm.data.corpus.targeted import GENERATORS, generate

__all__ = [
    "EVAL_READERS", "GENERATORS", "SOURCE_TYPES",
    "BuildResult", "EvalText", "LeakageError", "LeakageIndex", "LeakageReport",
    "build_mix", "build_train", "check_leakage", "generate", "load_eval_texts", "load_mix",
    "paradetox_eval_slice",
]
