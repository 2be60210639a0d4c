"""Optional parts of srllm and the pip extra that installs each (pyproject.toml [project.optional-dependencies]).

The default install is what `srllm rewrite` with the guard needs. Commands that need more check their
extra first, so a user sees one sentence naming the command to run instead of a ModuleNotFoundError
from deep inside a library.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from srllm.errors import SrllmError

# extra -> the import names its commands cannot run without (kept in step with pyproject.toml;
# tests/packaging/test_extras.py checks that every extra named here exists there).
EXTRAS: dict[str, tuple[str, ...]] = {
    "data": ("datasets", "pyarrow", "textstat", "pyphen", "matplotlib"),
    "train": ("trl", "datasets", "codecarbon"),
    "eval": ("matplotlib", "scipy", "codecarbon", "datasets", "textstat", "pyphen"),
    "serve": ("fastapi", "fastapi_offline", "uvicorn", "multipart", "argon2", "cachetools", "prometheus_client"),
    "ray": ("ray",),
    "llamacpp": ("llama_cpp",),
}


class MissingExtraError(SrllmError):
    """An optional dependency is not installed; the message names the pip extra that brings it."""

    def __init__(self, feature: str, extra: str, missing: list[str]) -> None:
        self.feature, self.extra, self.missing = feature, extra, missing
        super().__init__(
            f"{feature} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; "
            f"run `pip install 'srllm[{extra}]'`"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module with __spec__ None
        return False


def missing_modules(extra: str) -> list[str]:
    """The import names of `extra` that are not installed here (empty when the extra is complete)."""
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}; known: {', '.join(sorted(EXTRAS))}")
    return [module for module in EXTRAS[extra] if not _installed(module)]


def require_extra(extra: str, feature: str) -> None:
    """Raise MissingExtraError (a user error: exit 2 in the CLI) when any module of `extra` is missing.

    Only looks modules up (importlib.util.find_spec), so the check costs no import time.
    """
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(feature, extra, missing)


def import_optional(module: str, extra: str, feature: str) -> ModuleType:
    """`import module`, or MissingExtraError naming `extra` when it (or one of its own imports) is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, extra, [exc.name or module]) from exc
