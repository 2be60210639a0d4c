"""Optional scorers that need a key, a server or a local checkpoint; registered, usable when configured.

Each checks its configuration when built (`get_scorer(...)`), so a missing key fails at once
with a sentence that says which variable to set, not on the first network call.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

from srllm.errors import SrllmError
from srllm.scorers.base import Result, Scorer, register_scorer

PERSPECTIVE_URL = "https://commentanalyzer.googleapis.com/v1alpha1/comments:analyze"
PERSPECTIVE_ATTRIBUTES = ("TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT")


class ScorerNotConfiguredError(SrllmError):
    """A remote/optional scorer was requested without the key, URL or files it needs."""


def _required_env(name: str, scorer: str, how: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ScorerNotConfiguredError(
            f"the '{scorer}' scorer needs the environment variable {name}; {how}, "
            "or use the local scorer 'toxicity' instead"
        )
    return value


@register_scorer("perspective")
class PerspectiveApi(Scorer):
    """Google Perspective API scores (0-1) per attribute; needs PERSPECTIVE_API_KEY."""

    main_key = "toxicity"
    batch_size = 1  # the API takes one comment per request

    def __init__(self, api_key: str | None = None, attributes: tuple[str, ...] = PERSPECTIVE_ATTRIBUTES,
                 requests_per_second: float = 1.0, timeout: float = 30.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key or _required_env(
            "PERSPECTIVE_API_KEY", "perspective", "request a key at perspectiveapi.com and export it")
        self.attributes = attributes
        # The default Perspective quota is 1 query per second.
        self.min_interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.timeout = timeout
        self._last_call = 0.0

    def _score_batch(self, texts: list[str]) -> list[Result]:
        import httpx

        results = []
        for text in texts:
            wait = self.min_interval - (time.monotonic() - self._last_call)
            if wait > 0:
                time.sleep(wait)
            body = {"comment": {"text": text}, "languages": ["en"],
                    "requestedAttributes": {name: {} for name in self.attributes}}
            response = httpx.post(PERSPECTIVE_URL, params={"key": self.api_key}, json=body,
                                  timeout=self.timeout)
            self._last_call = time.monotonic()
            if response.status_code != 200:
                raise SrllmError(f"Perspective API answered {response.status_code}: {response.text[:300]}")
            scores = response.json().get("attributeScores", {})
            results.append({name.lower(): float(scores[name]["summaryScore"]["value"])
                            for name in self.attributes if name in scores})
        return results


@register_scorer("openai-moderation")
class OpenAIModeration(Scorer):
    """OpenAI(-compatible) /moderations category scores and `flagged`; needs OPENAI_API_KEY."""

    main_key = "flagged"
    batch_size = 32

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 model: str = "omni-moderation-latest", timeout: float = 60.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key or _required_env(
            "OPENAI_API_KEY", "openai-moderation", "export your key (and OPENAI_BASE_URL for another server)")
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.model = model
        self.timeout = timeout

    def _score_batch(self, texts: list[str]) -> list[Result]:
        import httpx

        response = httpx.post(f"{self.base_url}/moderations", json={"model": self.model, "input": texts},
                              headers={"Authorization": f"Bearer {self.api_key}"}, timeout=self.timeout)
        if response.status_code != 200:
            raise SrllmError(f"moderation endpoint {self.base_url} answered {response.status_code}: "
                             f"{response.text[:300]}")
        results = []
        for item in response.json()["results"]:
            result = {key: float(value) for key, value in item.get("category_scores", {}).items()}
            result["flagged"] = float(bool(item.get("flagged")))
            results.append(result)
        return results


@register_scorer("detoxify")
class DetoxifyLocal(Scorer):
    """Detoxify (Unitary) from a local checkpoint file; needs the `detoxify` package and the file."""

    main_key = "toxicity"
    batch_size = 32

    def __init__(self, checkpoint: str | Path | None = None, model_type: str = "original",
                 device: str = "cpu", **kwargs) -> None:
        super().__init__(**kwargs)
        if importlib.util.find_spec("detoxify") is None:
            raise ScorerNotConfiguredError(
                "the 'detoxify' scorer needs the detoxify package; run `pip install detoxify` "
                "and pass checkpoint=PATH (or set SRLLM_DETOXIFY_CHECKPOINT), or use 'toxicity'"
            )
        path = checkpoint or os.environ.get("SRLLM_DETOXIFY_CHECKPOINT")
        if not path or not Path(path).expanduser().is_file():
            raise ScorerNotConfiguredError(
                f"the 'detoxify' scorer needs a local checkpoint file (got {path!r}); download a "
                "Detoxify .ckpt once and pass checkpoint=PATH or set SRLLM_DETOXIFY_CHECKPOINT"
            )
        self.checkpoint = str(Path(path).expanduser())
        self.model_type, self.device = model_type, device

    def load(self) -> None:
        from detoxify import Detoxify

        try:
            self.model = Detoxify(self.model_type, checkpoint=self.checkpoint, device=self.device)
        except OSError as exc:  # its tokenizer/config must be cached locally too
            raise ScorerNotConfiguredError(
                f"Detoxify could not load {self.checkpoint} offline ({exc}); cache its tokenizer first"
            ) from exc

    def _score_batch(self, texts: list[str]) -> list[Result]:
        raw = self.model.predict(texts)
        return [{key: float(values[i]) for key, values in raw.items()} for i in range(len(texts))]
