"""Shared CLI plumbing: user errors become one red line and exit code 2, never a traceback."""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from srllm.errors import SrllmError

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SrllmError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: finished rows are saved; rerun with --resume to continue")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# Libraries that log warnings or draw bars a user of srllm cannot act on: transformers' "Loading weights"
# bar and deprecation notes, bitsandbytes and kernels asking for a hub they cannot reach offline.
NOISY_LOGGERS = ("transformers", "huggingface_hub", "datasets", "accelerate", "peft", "sentence_transformers",
                 "bitsandbytes", "kernels", "torch", "urllib3", "filelock", "codecarbon")
QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' and huggingface_hub's tqdm bars both read it
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # its fork warning
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def quiet_libraries() -> None:
    """Silence third-party bars and warnings for this process (`srllm --verbose` skips this). The
    environment works because the CLI imports those libraries only when a command runs, after this;
    a variable the user set wins. srllm's own messages and errors are untouched."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
