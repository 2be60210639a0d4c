"""The import graph of src/srllm follows the documented layer order (docs/architecture.md).

Every module is parsed with `ast`; every import counts, also those inside functions (kept lazy so
`import srllm` stays free of torch: a lazy import is still a dependency). Each module belongs to the
layer of its top-level package. The check fails on an import from a higher layer, on a cycle between
packages, and on an import cycle between modules that is not in the (shrinking) list of known ones.
`python tests/contracts/test_layers.py` prints the package graph and the module cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

import srllm

SRC = Path(srllm.__file__).resolve().parent

# Bottom-up: a module may import from its own layer and the layers below it. "" is the root package
# `srllm/__init__.py`, the lazy public API (`from srllm import Rewriter`), above everything.
LAYERS: list[tuple[str, frozenset[str]]] = [
    ("base", frozenset({"errors", "extras", "lines", "paths", "progress", "provenance", "registry"})),
    ("text", frozenset({"text"})),
    ("prompts, models", frozenset({"prompts", "models"})),
    ("engine", frozenset({"engine"})),
    ("scorers", frozenset({"scorers"})),
    ("data", frozenset({"data"})),
    ("rewrite", frozenset({"rewrite"})),
    ("train, evaluate, report", frozenset({"train", "evaluate", "report"})),
    # Peers, split so that Ray cannot reach into the service: it loads engines from the engine layer.
    ("distributed", frozenset({"distributed"})),
    ("serve", frozenset({"serve"})),
    ("cli", frozenset({"cli"})),
    ("api", frozenset({""})),
]

# Module import cycles that exist today, each to be broken by the issue-16 work named beside it. The
# test fails on any other cycle, and on a listed one that no longer exists (delete it from here).
KNOWN_MODULE_CYCLES: dict[frozenset[str], str] = {}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a package's __init__ when a name comes from it)
    names: tuple[str, ...]  # for `from target import a, b`
    line: int


def module_name(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_sources(root: Path = SRC) -> dict[str, tuple[str, bool]]:
    """Module name -> (source, is a package) for every .py file under `root`."""
    return {module_name(path, root): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
            for path in sorted(root.rglob("*.py"))}


def imports_of(name: str, source: str, is_package: bool, modules: Mapping[str, object]) -> Iterator[Import]:
    """Every srllm import of one module, resolved to the module that provides it."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "srllm":
                    yield Import(name, _existing(alias.name, modules), (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "srllm":
                continue
            for alias in node.names:  # `from pkg import submodule` imports that module
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else _existing(base, modules)
                yield Import(name, target, (alias.name,), node.lineno)


def _existing(name: str, modules: Mapping[str, object]) -> str:
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def all_imports(sources: Mapping[str, tuple[str, bool]]) -> list[Import]:
    return [found for name, (source, is_package) in sources.items()
            for found in imports_of(name, source, is_package, sources)]


def file_of(module: str, sources: Mapping[str, tuple[str, bool]]) -> str:
    """The module's file, relative to src/."""
    return module.replace(".", "/") + ("/__init__.py" if sources[module][1] else ".py")


def package_of(module: str) -> str:
    """The top-level package under srllm ("" for the root package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(package: str) -> int:
    for index, (_, packages) in enumerate(LAYERS):
        if package in packages:
            return index
    raise KeyError(package)


def root_constants(sources: Mapping[str, tuple[str, bool]]) -> set[str]:
    """Names the root package binds by plain assignment (`__version__`): importing them imports nothing."""
    tree = ast.parse(sources["srllm"][0])
    return {target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def target_layer(found: Import, constants: set[str]) -> int:
    if found.target == "srllm" and found.names and set(found.names) <= constants:
        return layer_of("errors")
    return layer_of(package_of(found.target))


def upward_imports(sources: Mapping[str, tuple[str, bool]]) -> list[str]:
    """'file:line: a (layer) imports b (higher layer)' for each import from a higher layer."""
    constants = root_constants(sources)
    problems = []
    for found in all_imports(sources):
        here, there = layer_of(package_of(found.source)), target_layer(found, constants)
        if there > here:
            problems.append(f"{file_of(found.source, sources)}:{found.line}: {found.source} "
                            f"({LAYERS[here][0]}) imports {found.target} ({LAYERS[there][0]})")
    return problems


def package_graph(sources: Mapping[str, tuple[str, bool]]) -> nx.DiGraph:
    constants = root_constants(sources)
    graph = nx.DiGraph()
    for found in all_imports(sources):
        target = "errors" if target_layer(found, constants) == 0 and found.target == "srllm" else \
            package_of(found.target)
        if package_of(found.source) != target:
            graph.add_edge(package_of(found.source) or "srllm", target or "srllm")
    return graph


def package_cycles(sources: Mapping[str, tuple[str, bool]]) -> list[set[str]]:
    return [set(c) for c in nx.strongly_connected_components(package_graph(sources)) if len(c) > 1]


def module_cycles(sources: Mapping[str, tuple[str, bool]]) -> list[frozenset[str]]:
    """Modules that import each other, directly or around a loop (a package's __init__ re-exporting
    its own modules is not a cycle unless one of them imports the package back)."""
    graph = nx.DiGraph((found.source, found.target) for found in all_imports(sources)
                       if found.source != found.target)
    return [frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


# -- the checks on the real tree ------------------------------------------------------------------

def test_every_package_has_a_layer() -> None:
    packages = {package_of(name) for name in read_sources()}
    unplaced = sorted(p for p in packages if not any(p in members for _, members in LAYERS))
    assert not unplaced, f"add these packages to LAYERS (and docs/architecture.md): {unplaced}"


def test_no_module_imports_from_a_higher_layer() -> None:
    assert upward_imports(read_sources()) == []


def test_no_cycle_between_packages() -> None:
    assert package_cycles(read_sources()) == []


def test_module_cycles_are_only_the_known_ones() -> None:
    found = set(module_cycles(read_sources()))
    new = [sorted(cycle) for cycle in found - set(KNOWN_MODULE_CYCLES)]
    gone = [sorted(cycle) for cycle in set(KNOWN_MODULE_CYCLES) - found]
    assert not new, f"new import cycles between modules: {new}"
    assert not gone, f"these cycles are broken now; remove them from KNOWN_MODULE_CYCLES: {gone}"


# -- the checker itself fails where it should ---------------------------------------------------------

def _with(sources: dict[str, tuple[str, bool]], module: str, code: str) -> dict[str, tuple[str, bool]]:
    source, is_package = sources[module]
    return {**sources, module: (source + "\n" + code + "\n", is_package)}


@pytest.mark.parametrize("module, code, expected", [
    # the engine reaching up to the guard, inside a function (lazy imports count)
    ("srllm.engine.rewriter", "def f():\n    from srllm.rewrite.guard import Guard",
     "srllm.engine.rewriter (engine) imports srllm.rewrite.guard (rewrite)"),
    # Ray through the service, as before the engine layer
    ("srllm.distributed.ray_engine", "def f():\n    from srllm.serve.settings import ServeSettings",
     "srllm.distributed.ray_engine (distributed) imports srllm.serve.settings (serve)"),
    # a relative import of a package's name
    ("srllm.scorers.base", "from ..rewrite import guard",
     "srllm.scorers.base (scorers) imports srllm.rewrite.guard (rewrite)"),
    # a base module importing the public API's lazy names (not a constant like __version__)
    ("srllm.errors", "from srllm import Rewriter", "srllm.errors (base) imports srllm (api)"),
])
def test_an_upward_import_is_reported_with_its_place(module: str, code: str, expected: str) -> None:
    sources = read_sources()
    problems = upward_imports(_with(sources, module, code))
    assert len(problems) == 1 and expected in problems[0], problems
    line = len(sources[module][0].splitlines()) + 2 + [i for i, text in enumerate(code.splitlines())
                                                       if "import" in text][0]
    assert problems[0].startswith(f"{file_of(module, sources)}:{line}:")


def test_a_constant_of_the_root_package_is_not_an_upward_import() -> None:
    sources = read_sources()
    assert upward_imports(_with(sources, "srllm.errors", "from srllm import __version__")) == []


def test_a_cycle_between_packages_of_one_layer_is_reported() -> None:
    sources = read_sources()
    looped = _with(sources, "srllm.train.config", "def f():\n    from srllm.report import render")
    looped = _with(looped, "srllm.report.render", "from srllm.train import config")
    assert upward_imports(looped) == []  # same layer: allowed one way ...
    assert {"train", "report"} in package_cycles(looped)  # ... but not both


def test_a_new_module_cycle_is_reported() -> None:
    sources = read_sources()
    looped = _with(sources, "srllm.engine.clean", "def f():\n    from srllm.engine.rewriter import Rewriter")
    assert any({"srllm.engine.clean", "srllm.engine.rewriter"} <= cycle for cycle in module_cycles(looped))
    assert not any("srllm.engine.clean" in cycle for cycle in module_cycles(sources))


if __name__ == "__main__":
    tree = read_sources()
    for edge in sorted(package_graph(tree).edges):
        print(" -> ".join(edge))
    for cycle in module_cycles(tree):
        print("module cycle:", sorted(cycle))
