"""CLI options generated from config classes (`srllm.cli.options`): a new field is a new option, and
`srllm serve` / `srllm train` offer every field of ServeSettings / TrainConfig with its help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from srllm.cli.main import app as srllm_app
from srllm.cli.options import Flag, config_fields, options_from
from srllm.cli.train import TRAIN_FLAGS
from srllm.engine.args import EngineArgs
from srllm.serve.settings import ServeSettings
from srllm.train.config import TrainConfig, load_config

runner = CliRunner()


# Typer ships its own copy of click (typer._click), so commands and options are checked by shape.
def command_of(function: Any) -> Any:
    app = typer.Typer()
    app.command()(function)
    return typer.main.get_command(app)


def options_of(command: Any) -> dict[str, Any]:
    return {p.name: p for p in command.params if p.param_type_name == "option" and p.name}


def flags_of(command: Any) -> set[str]:
    return {name for p in command.params for name in [*p.opts, *p.secondary_opts]}


@dataclass
class Small:
    size: int = field(default=3, metadata={"help": "How many."})
    names: list[str] = field(default_factory=list, metadata={"help": "Names, repeatable."})


@dataclass
class Bigger(Small):
    colour: str = field(default="red", metadata={"help": "The colour."})


def received(config: type, argv: list[str], **kwargs: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    @options_from(config, into="values", **kwargs)
    def command(values: dict[str, Any]) -> None:
        seen.update(values)

    app = typer.Typer()
    app.command()(command)
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    return seen


def test_adding_a_field_to_the_dataclass_adds_the_option() -> None:
    def plain(values: dict[str, Any]) -> None: ...

    small = command_of(options_from(Small, into="values")(plain))
    bigger = command_of(options_from(Bigger, into="values")(plain))
    assert set(options_of(bigger)) - set(options_of(small)) == {"colour"}
    assert options_of(bigger)["colour"].help == "The colour." and options_of(bigger)["colour"].default == "red"
    assert received(Bigger, ["--colour", "blue", "--names", "a", "--names", "b"]) == {
        "size": 3, "names": ["a", "b"], "colour": "blue"}


def test_adding_a_field_to_a_pydantic_model_adds_the_option_with_its_bounds() -> None:
    class Model(BaseModel):
        workers: int = Field(2, ge=1, description="Worker count.")

    class More(Model):
        timeout: float = Field(1.0, gt=0, description="Seconds.")

    assert received(More, ["--timeout", "2.5"]) == {"workers": 2, "timeout": 2.5}
    seen: dict[str, Any] = {}

    @options_from(More, into="values")
    def command(values: dict[str, Any]) -> None:
        seen.update(values)

    app = typer.Typer()
    app.command()(command)
    for argv in (["--workers", "0"], ["--timeout", "0"]):  # ge=1 and gt=0 hold on the command line too
        result = runner.invoke(app, argv)
        assert result.exit_code == 2 and not seen, result.output


def test_given_only_passes_just_the_flags_given_and_shows_the_configs_default() -> None:
    assert received(Small, [], given_only=True) == {}
    assert received(Small, ["--size", "5"], given_only=True) == {"size": 5}

    def plain(values: dict[str, Any]) -> None: ...

    size = options_of(command_of(options_from(Small, into="values", given_only=True)(plain)))["size"]
    assert size.default is None and size.show_default == "3"


def test_flags_rename_split_and_parse() -> None:
    flags = {"size": Flag(aliases=("-n", "--count"), parse=lambda n: n * 10), "names": Flag(separator=",")}
    assert received(Small, ["--count", "2", "--names", "a, b,,c"], flags=flags) == {"size": 20,
                                                                                    "names": ["a", "b", "c"]}
    assert received(Small, ["-n", "1"], flags=flags)["size"] == 10


def test_a_field_without_help_or_with_an_unreadable_type_is_refused() -> None:
    @dataclass
    class NoHelp:
        size: int = 3

    @dataclass
    class Unreadable:
        table: dict[str, int] = field(default_factory=dict, metadata={"help": "A table."})

    def plain(values: dict[str, Any]) -> None: ...

    with pytest.raises(TypeError, match="NoHelp.size has no help"):
        options_from(NoHelp, into="values")(plain)
    with pytest.raises(TypeError, match="Unreadable.table: the command line cannot read"):
        options_from(Unreadable, into="values")(plain)
    with pytest.raises(TypeError, match="has no fields"):
        options_from(Small, into="values", exclude=["sise"])(plain)


def command_named(name: str) -> Any:
    return typer.main.get_command(srllm_app).commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("command, config", [("serve", ServeSettings), ("train", TrainConfig),
                                             ("rewrite", EngineArgs)])
def test_every_config_field_is_an_option_with_its_help(command: str, config: type) -> None:
    options = options_of(command_named(command))
    for item in config_fields(config):
        assert item.name in options, f"srllm {command} lacks an option for {config.__name__}.{item.name}"
        assert options[item.name].help, f"srllm {command} --{item.name} has no help"
    assert all(option.help for option in options.values())
    result = runner.invoke(srllm_app, [command, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0
    assert ("--grad-accum" if command == "train" else "--max-new-tokens") in result.output


def test_serve_keeps_the_flags_users_know() -> None:
    known = {"--host", "--port", "--model", "--adapter", "--no-adapter", "--backend", "--base-url", "--remote-model",
             "--max-new-tokens", "--dtype", "--guard", "--no-guard", "--max-batch-size", "--max-wait-ms",
             "--require-key", "--insecure-no-auth", "--keys-file", "--jobs-db", "--job-chunk-rows", "--rate-limit",
             "--rate-burst", "--auth-failure-limit", "--auth-failure-burst", "--max-texts", "--max-chars",
             "--max-body-bytes", "--max-upload-bytes", "--request-timeout", "--scorers", "--preload-scorers",
             "--no-preload-scorers", "--log-texts", "--cors-origin", "--log-level", "--threads"}
    assert known <= flags_of(command_named("serve"))


def test_rewrite_keeps_the_flags_users_know() -> None:
    known = {"--input", "-i", "--output", "-o", "--model", "--adapter", "--no-adapter", "--shots", "--demonstrations",
             "--template", "--text-field", "--id-field", "--format", "--batch-size", "--max-new-tokens", "--dtype",
             "--chunk", "--resume", "--overwrite", "--skip-invalid", "--errors-file", "--csv-escape",
             "--no-csv-escape", "--json", "--guard", "--no-guard", "--candidates", "--guard-config", "--engine",
             "--ray-address", "--ray-actors", "--ray-cpus", "--ray-gpus", "--backend", "--base-url"}
    assert known <= flags_of(command_named("rewrite"))


def test_rewrite_engine_flags_are_checked_before_a_model_loads() -> None:
    result = runner.invoke(srllm_app, ["rewrite", "hello", "--batch-size", "0"])
    assert result.exit_code == 2 and "batch-size" in result.output


def test_train_keeps_the_flags_users_know() -> None:
    known = {"--config", "-c", "--method", "--base", "--data", "--dev", "--out", "-o", "--init-adapter", "--resume",
             "--epochs", "--lr", "--batch-size", "--eval-batch-size", "--grad-accum", "--max-length", "--max-steps",
             "--eval-steps", "--save-steps", "--patience", "--seed", "--template", "--set", "--packing",
             "--no-packing", "--share-prompt-head", "--no-share-prompt-head", "--gradient-checkpointing",
             "--no-gradient-checkpointing", "--threads", "--save-dtype", "--device-watts", "--energy", "--no-energy",
             "--stage", "--pairs", "--beta"}
    assert known <= flags_of(command_named("train"))


def test_serve_options_reach_the_settings(tmp_path: Path) -> None:
    # ServeSettings.check() refuses the openai backend without a server, before any model loads.
    result = runner.invoke(srllm_app, ["serve", "--backend", "openai", "--jobs-db", str(tmp_path / "j.sqlite")])
    assert result.exit_code == 2 and "--base-url" in result.output
    result = runner.invoke(srllm_app, ["serve", "--request-timeout", "0"])
    assert result.exit_code == 2 and "must be > 0" in result.output


def test_train_flags_become_the_config(tmp_path: Path) -> None:
    overrides = received(TrainConfig, ["--lr", "0.01", "--set", "r=8", "--set", "alpha=16", "--data", "a.jsonl#train",
                                       "--no-energy", "--split-ratios", "0.8", "0.1", "0.1", "-o", "run"],
                         flags=TRAIN_FLAGS, given_only=True)
    config = load_config(None, **overrides)
    assert (config.learning_rate, config.method_options, config.data[0].split, config.measure_energy,
            config.split_ratios, config.out) == (0.01, {"r": 8, "alpha": 16}, "train", False, (0.8, 0.1, 0.1), "run")
    assert config.batch_size == 16  # not given: the config's default
