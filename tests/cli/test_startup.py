"""A snappy CLI: `srllm --help` loads no model library, every argument is checked before a model loads,
and the libraries' bars and warnings stay out of the way unless --verbose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srllm.cli.common import QUIET_ENVIRONMENT
from srllm.cli.main import app

# pydantic and the config classes (EngineArgs, ServeSettings, TrainConfig) do load: `srllm serve` and
# `srllm train` make their options from those classes' fields (srllm.cli.options). Model libraries do not.
HEAVY = ("torch", "transformers", "numpy", "datasets", "pyarrow", "sentence_transformers", "peft", "fastapi",
         "srllm.data", "srllm.scorers", "srllm.rewrite", "srllm.evaluate", "srllm.engine.continuous")


def _srllm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # In-process invocations in this session have set QUIET_ENVIRONMENT here; each child decides for itself.
    env = {key: value for key, value in os.environ.items() if key not in QUIET_ENVIRONMENT}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "srllm.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_the_cli_module_imports_no_model_library() -> None:
    probe = ("import sys, srllm.cli.main; "
             f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_help_lists_every_command_group_and_the_experiments() -> None:
    top = _srllm("--help")
    assert top.returncode == 0 and all(name in top.stdout for name in ("rewrite", "score", "eval", "--verbose"))
    experiments = _srllm("eval", "--help")
    assert experiments.returncode == 0 and "stereoset" in experiments.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--input", "{tmp}/rows.xlsx", "--output", "{tmp}/out.jsonl"], "unknown format 'xlsx'"),
    (["--input", "{tmp}/rows.jsonl", "--output", "{tmp}/out.xlsx"], "cannot write rows to a .xlsx file"),
    (["--input", "{tmp}/missing.jsonl", "--output", "{tmp}/out.jsonl"], "cannot read the file"),
    (["--input", "{tmp}/rows.jsonl", "--output", "{tmp}/no/such/folder/out.jsonl"], "does not exist"),
    (["some text", "--template", "no-such-template"], "unknown prompt template"),
    (["some text", "--shots", "2", "--demonstrations", "{tmp}/none.jsonl"], "none.jsonl"),
])
def test_bad_arguments_are_refused_before_any_model_loads(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "rows.xlsx").write_text("not a spreadsheet")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"text": "a row"}) + "\n")
    # A model that does not exist: had the command loaded it first, it would fail on the model instead.
    argv = ["rewrite", *[arg.format(tmp=tmp_path) for arg in args], "--model", str(tmp_path / "no-model")]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", "") and "no-model" not in result.output


def test_score_refuses_an_unknown_format_before_the_judge_loads(tmp_path: Path) -> None:
    (tmp_path / "rows.xlsx").write_text("x")
    result = CliRunner().invoke(app, ["score", "--input", str(tmp_path / "rows.xlsx"), "--judge",
                                      str(tmp_path / "no-judge")])
    assert result.exit_code == 2 and "unknown format 'xlsx'" in result.output.replace("\n", "")


# What transformers does while it loads a model: its tqdm "Loading weights" bar, a logged warning, a FutureWarning.
NOISE = ("from transformers.utils import logging as tl; import warnings; "
         "[_ for _ in tl.tqdm(range(3), desc='Loading weights')]; "
         "tl.get_logger('transformers.modeling_utils').warning('a library warning'); "
         "warnings.warn('is deprecated', FutureWarning)")


@pytest.mark.parametrize("quiet", [True, False])
def test_library_bars_and_warnings_are_silenced(quiet: bool) -> None:
    setup = "from srllm.cli.common import quiet_libraries; quiet_libraries(); " if quiet else ""
    env = {key: value for key, value in os.environ.items() if key not in QUIET_ENVIRONMENT}
    out = subprocess.run([sys.executable, "-c", setup + NOISE], capture_output=True, text=True, env=env, check=True)
    noise = ("Loading weights", "a library warning", "FutureWarning")
    assert [word in out.stderr for word in noise] == [not quiet] * 3, out.stderr


@pytest.mark.slow
def test_a_real_rewrite_prints_only_the_rewrite() -> None:
    args = ["rewrite", "Old people are useless with computers.", "--no-guard", "--max-new-tokens", "8"]
    quiet = _srllm(*args)
    if quiet.returncode != 0 and "pull" in quiet.stderr:
        pytest.skip("the default model is not cached")
    assert quiet.returncode == 0 and quiet.stderr.strip() == "", quiet.stderr
    # What the libraries print depends on their versions and on the start (a cached merged adapter imports
    # no peft, and peft's merge warned): --verbose must only not change the answer. That the noise is
    # silenced is pinned by test_library_bars_and_warnings_are_silenced.
    loud = _srllm("--verbose", *args)
    assert loud.returncode == 0 and loud.stdout == quiet.stdout, loud.stderr
