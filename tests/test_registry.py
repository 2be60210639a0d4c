"""The one Registry every srllm registry is built on: aliases, duplicates, lazy entries, errors, threads."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from srllm.errors import InputError, SrllmError
from srllm.registry import DuplicateNameError, Registry, UnknownNameError


def test_decorator_plain_call_and_alias_resolve_to_the_same_object() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("round", aliases=("circle", "disc"))
    def round_widget() -> str:
        return "round"

    square = reg.register("square", object())
    assert reg.get("round") is reg.get("circle") is reg.get("disc") is round_widget
    assert reg["square"] is square
    assert reg.names() == ["round", "square"]  # registration order; aliases are not names
    assert reg.aliases() == {"circle": "round", "disc": "round"}
    assert "circle" in reg and "round" in reg and "oval" not in reg and ["round"] not in reg
    assert list(reg) == ["round", "square"] and len(reg) == 2
    assert reg.items() == [("round", round_widget), ("square", square)]


@pytest.mark.parametrize("name, aliases", [("round", ()), ("oval", ("circle",)), ("circle", ()),
                                           ("oval", ("oval",))])
def test_a_name_or_alias_is_registered_once(name: str, aliases: tuple[str, ...]) -> None:
    reg: Registry[str] = Registry("widget")
    reg.register("round", "r", aliases=("circle",))
    with pytest.raises(DuplicateNameError, match="widget"):
        reg.register(name, "other", aliases=aliases)
    # Both contracts the old registries had: a ValueError, and an srllm error the CLI shows plainly.
    assert issubclass(DuplicateNameError, ValueError) and issubclass(DuplicateNameError, SrllmError)
    assert reg.get("round") == "r" and "oval" not in reg


def test_remove_forgets_the_name_and_its_aliases() -> None:
    reg: Registry[str] = Registry("widget")
    reg.register("round", "r", aliases=("circle",))
    reg.remove("round")
    assert "round" not in reg and "circle" not in reg
    reg.register("circle", "c")  # the alias is free again
    assert reg.get("circle") == "c"


def test_unknown_name_suggests_close_names_and_lists_the_valid_ones() -> None:
    reg: Registry[str] = Registry("scorer", field="scorer")
    for name in ("toxicity", "similarity", "smollm2-135m-instruct"):
        reg.register(name, name)
    reg.register("sentiment", "s", aliases=("jigsaw",))
    with pytest.raises(UnknownNameError) as info:
        reg.get("toxcity")
    err = info.value
    assert isinstance(err, InputError)  # a user error: the CLI prints it and exits 2
    assert err.suggestions == ["toxicity"] and err.kind == "scorer" and err.name == "toxcity"
    assert err.field == "scorer"
    assert str(err) == ("field 'scorer': unknown scorer 'toxcity' (did you mean 'toxicity'?); use one of: "
                        "sentiment, similarity, smollm2-135m-instruct, toxicity (aliases: jigsaw)")
    assert reg.get("jigsaw") == "s"
    with pytest.raises(UnknownNameError, match="did you mean 'jigsaw'"):
        reg.get("jigsw")
    with pytest.raises(UnknownNameError, match="did you mean 'smollm2-135m-instruct'"):
        reg.get("smollm2")  # a short form the name starts with
    with pytest.raises(UnknownNameError) as far:
        reg.get("zzz")
    assert far.value.suggestions == [] and "did you mean" not in str(far.value)


def test_unknown_name_error_names_the_place_a_caller_gives() -> None:
    reg: Registry[str] = Registry("source type")
    reg.register("cmd", "c")
    with pytest.raises(UnknownNameError) as info:
        reg.get("cdm", path="mix.yaml", line=3, field="sources[0].type")
    assert str(info.value).startswith("file mix.yaml, line 3, field 'sources[0].type': unknown source type 'cdm'")


def test_a_name_that_is_not_a_string_is_unknown_not_a_crash() -> None:
    reg: Registry[str] = Registry("source type")
    reg.register("cmd", "c")
    with pytest.raises(UnknownNameError, match=r"unknown source type \['cmd'\]"):
        reg.get(["cmd"])  # type: ignore[arg-type]  # e.g. `type: [cmd]` in a YAML file


@pytest.fixture
def throwaway_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Write a module `name` with `body` on sys.path, not yet imported; returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, body: str) -> str:
        (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    return write


def test_a_lazy_entry_is_imported_on_first_get_only(throwaway_module: Callable[[str, str], str]) -> None:
    module = throwaway_module("srllm_test_lazy_backend",
                              "IMPORTS = []\nIMPORTS.append(1)\n\ndef load(settings):\n    return 'engine'\n")
    reg: Registry[object] = Registry("backend")
    reg.register("lazy-one", lazy=f"{module}:load")

    assert "lazy-one" in reg and reg.names() == ["lazy-one"]
    with pytest.raises(UnknownNameError):
        reg.get("lazy-two")
    assert module not in sys.modules  # listing, membership and a miss import nothing

    loader = reg.get("lazy-one")
    assert module in sys.modules and loader("s") == "engine"
    assert reg.get("lazy-one") is loader and sys.modules[module].IMPORTS == [1]  # imported once


def test_a_lazy_entry_must_be_module_colon_attr() -> None:
    reg: Registry[object] = Registry("backend")
    with pytest.raises(ValueError, match="module:attr"):
        reg.register("bad", lazy="no_colon_here")
    with pytest.raises(TypeError):
        reg.register("both", object(), lazy="a:b")


def test_builtins_module_registers_on_first_lookup(throwaway_module: Callable[[str, str], str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The module imports the registry it fills, as zoo/ and experiments/builtin.py do.
    module = throwaway_module("srllm_test_builtin_models", f"from {__name__} import BUILTIN_TARGET\n"
                                                           "BUILTIN_TARGET.register('tiny', 'tiny-spec')\n")
    reg: Registry[str] = Registry("model", builtins=module)
    monkeypatch.setattr(sys.modules[__name__], "BUILTIN_TARGET", reg, raising=False)
    assert module not in sys.modules
    assert reg.get("tiny") == "tiny-spec" and reg.names() == ["tiny"]


def test_concurrent_registration_and_lookup_lose_nothing(throwaway_module: Callable[[str, str], str]) -> None:
    module = throwaway_module("srllm_test_lazy_threads", "import time\ntime.sleep(0.05)\nVALUE = object()\n")
    reg: Registry[object] = Registry("widget")
    reg.register("shared", lazy=f"{module}:VALUE")
    seen: list[object] = []
    errors: list[Exception] = []
    start = threading.Barrier(16)

    def work(i: int) -> None:
        try:
            start.wait()
            reg.register(f"w{i}", i)
            seen.append(reg.get("shared"))
            try:
                reg.register("contested", i)
            except DuplicateNameError:
                pass
        except Exception as exc:  # reported below: a thread's exception would be lost otherwise
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(reg.names()) == sorted(["shared", "contested", *(f"w{i}" for i in range(16))])
    assert len({id(v) for v in seen}) == 1 and len(seen) == 16  # the lazy entry resolved to one object
