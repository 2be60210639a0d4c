"""Command-line options generated from a config class's fields, in the spirit of trl's HfArgumentParser.

A command declares one parameter for its config and decorates itself with `options_from(Config,
into="that parameter")`: every field of the config (a dataclass or a pydantic model) becomes a typer
option named `--field-name`, with the field's type, default, bounds (pydantic `ge`/`gt`/`le`/`lt`) and
help text (pydantic `description`, dataclass `metadata["help"]`). The command receives the values
as one dict, field -> value. Adding a field to the config adds the option; nothing is copied by hand.

Where the command line spells a field differently (an old flag kept working, a short flag, a
comma-separated list, a value that needs parsing) a `Flag` says so; fields a command line cannot or
should not set are listed in `exclude`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

import typer

F = TypeVar("F", bound=Callable[..., Any])
_SCALARS = (str, int, float, bool, Path)


@dataclass(frozen=True)
class Flag:
    """How the command line spells one field, where the field alone does not say it."""

    aliases: tuple[str, ...] = ()  # more names: an old spelling ("--lr"), a short flag ("-o")
    help: str | None = None  # replaces the field's help (for a value read differently, e.g. KEY=VALUE)
    type: Any = None  # what the command line reads when the field's type cannot be read (list[str])
    parse: Callable[[Any], Any] | None = None  # what was read -> the field's value
    separator: str | None = None  # a list field read as one string: "a,b" -> ["a", "b"]
    envvar: str | None = None


@dataclass(frozen=True)
class ConfigField:
    """One field of a config class, as the command line needs it."""

    name: str
    annotation: Any
    default: Any  # `inspect.Parameter.empty` when the field has none
    help: str
    owner: type  # the class that declares it (a base class for inherited fields)
    bounds: Mapping[str, Any]  # typer's min/max; "above"/"below" for strict bounds (gt/lt)


def config_fields(config: type) -> list[ConfigField]:
    """The fields of a dataclass or a pydantic model, in declaration order (inherited ones first)."""
    if dataclasses.is_dataclass(config):
        hints = typing.get_type_hints(config)
        return [ConfigField(f.name, hints[f.name], _dataclass_default(f), f.metadata.get("help", ""),
                            _owner(config, f.name), {}) for f in dataclasses.fields(config) if f.init]
    model_fields = getattr(config, "model_fields", None)
    if model_fields is None:
        raise TypeError(f"{config.__name__} is neither a dataclass nor a pydantic model")
    return [ConfigField(name, info.annotation, info.get_default(call_default_factory=True)
                        if not info.is_required() else inspect.Parameter.empty, info.description or "",
                        _owner(config, name), _bounds(info.metadata))
            for name, info in model_fields.items()]


def _dataclass_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return inspect.Parameter.empty


def _owner(config: type, name: str) -> type:
    for cls in reversed(config.__mro__):
        if name in cls.__dict__.get("__annotations__", {}):
            return cls
    return config


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    """pydantic's ge/le as typer's min/max, gt/lt as "above"/"below": the command line checks them too."""
    out: dict[str, Any] = {}
    for item in metadata:
        for attr, key in (("ge", "min"), ("le", "max"), ("gt", "above"), ("lt", "below")):
            if getattr(item, attr, None) is not None:
                out[key] = getattr(item, attr)
    return out


def _strict(above: Any = None, below: Any = None) -> Callable[[Any], Any] | None:
    """A typer callback for strict bounds (typer's own min/max include the bound)."""
    if above is None and below is None:
        return None

    def check(value: Any) -> Any:
        if value is not None and ((above is not None and not value > above) or
                                  (below is not None and not value < below)):
            raise typer.BadParameter(" and ".join(f"must be {sign} {bound}" for sign, bound in
                                                  ((">", above), ("<", below)) if bound is not None))
        return value
    return check


def _optional_inner(annotation: Any) -> Any:
    """`X | None` -> X; anything else unchanged."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def cli_type(annotation: Any) -> Any | None:
    """The type typer reads for a field's annotation, or None when it cannot read it."""
    inner = _optional_inner(annotation)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if inner in _SCALARS:
        return inner
    if origin is list and len(args) == 1 and args[0] in _SCALARS:
        return list[args[0]]  # type: ignore[valid-type]
    if origin is tuple and args and Ellipsis not in args and all(a in _SCALARS for a in args):
        return inner
    return None


def _flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _declarations(name: str, kind: Any, flag: Flag) -> list[str]:
    names = [_flag_name(name), *flag.aliases]
    if kind is bool:  # every long name gets its negative: --guard/--no-guard
        return [f"{n}/--no-{n[2:]}" if n.startswith("--") else n for n in names]
    return names


def _shown(value: Any, flag: Flag) -> str:
    if isinstance(value, (list, tuple)):
        return (flag.separator or " ").join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value is None else str(value)


def _option(field: ConfigField, flag: Flag, given_only: bool, panel: str | None) -> inspect.Parameter:
    kind = flag.type or (str if flag.separator is not None else cli_type(field.annotation))
    if kind is None:
        raise TypeError(f"{field.owner.__name__}.{field.name}: the command line cannot read "
                        f"{field.annotation}; give it a Flag(type=..., parse=...) or exclude it")
    help_text = flag.help or field.help
    if not help_text:
        raise TypeError(f"{field.owner.__name__}.{field.name} has no help text: give the field a "
                        "description (pydantic) or metadata={'help': ...} (dataclass)")
    default = field.default
    if given_only:
        # Only the flags given reach the command (a config file fills the rest), so the option's own
        # default is None and the config's default is shown beside it.
        unset = default is inspect.Parameter.empty or default is None or default in ([], (), {})
        shown: bool | str = False if unset else _shown(default, flag)
        option_default: Any = None
    else:
        shown = True
        option_default = _shown(default, flag) if flag.separator is not None else default
        if isinstance(option_default, tuple) and typing.get_origin(kind) is list:
            option_default = list(option_default)
    bounds = dict(field.bounds)
    info = typer.Option(... if option_default is inspect.Parameter.empty else option_default,
                        *_declarations(field.name, kind, flag), help=help_text, show_default=shown,
                        envvar=flag.envvar, rich_help_panel=panel, min=bounds.get("min"), max=bounds.get("max"),
                        callback=_strict(bounds.get("above"), bounds.get("below")))
    annotation = kind | None if given_only or default is None else kind
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def _value(raw: Any, flag: Flag) -> Any:
    if flag.separator is not None and isinstance(raw, str):
        raw = [part.strip() for part in raw.split(flag.separator) if part.strip()]
    if isinstance(raw, tuple):
        raw = list(raw)
    return flag.parse(raw) if flag.parse is not None else raw


def options_from(config: type, *, into: str, exclude: Collection[str] = (), flags: Mapping[str, Flag] | None = None,
                 given_only: bool = False, panels: Mapping[type, str] | None = None) -> Callable[[F], F]:
    """Replace the command's parameter `into` by one option per field of `config`.

    The command receives `into` as a dict of field -> value: every field (the option's value, or the
    config's default), or with `given_only` only the options given on the command line (for commands
    whose config file supplies the rest). `panels` groups the options in --help by the class that
    declares each field (`{EngineArgs: "Engine", ServeSettings: "Server"}`).
    """
    flags = dict(flags or {})
    fields = [f for f in config_fields(config) if f.name not in exclude]
    unknown = (set(flags) | set(exclude)) - {f.name for f in config_fields(config)}
    if unknown:
        raise TypeError(f"{config.__name__} has no fields {sorted(unknown)}")

    def decorate(command: F) -> F:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != into]
        clash = {p.name for p in own} & {f.name for f in fields}
        if clash:
            raise TypeError(f"{command.__name__}'s own options {sorted(clash)} are also fields of {config.__name__}")
        generated = [_option(f, flags.get(f.name, Flag()), given_only, _panel(f, panels)) for f in fields]
        names = [f.name for f in fields]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            values = {}
            for name in names:
                raw = kwargs.pop(name)
                if given_only and (raw is None or raw == [] or raw == ()):
                    continue
                values[name] = _value(raw, flags.get(name, Flag()))
            return command(**{into: values}, **kwargs)

        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + generated
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # typer must see the generated signature, not the command's own
        return run  # type: ignore[return-value]

    return decorate


def _panel(field: ConfigField, panels: Mapping[type, str] | None) -> str | None:
    if not panels:
        return None
    for cls in field.owner.__mro__:
        if cls in panels:
            return panels[cls]
    return None


__all__ = ["ConfigField", "Flag", "cli_type", "config_fields", "options_from"]
