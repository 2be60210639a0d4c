"""The README stays short and is the way in: every link in it and in docs/ resolves, every docs page and
picture is reachable from it, and every `srllm` command is named in it and documented in a docs page it
links to (issue 16, item 7)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import typer.main
from markdown_it import MarkdownIt
from typer.core import TyperGroup

from srllm.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 250
# CommonMark plus tables: half of the README's links sit in table cells.
MARKDOWN = MarkdownIt("commonmark").enable("table")


def link_targets(page: Path) -> Iterator[str]:
    """Every link and image target of a Markdown page; code spans and blocks are not links."""
    for token in MARKDOWN.parse(page.read_text(encoding="utf-8")):
        for child in token.children or []:
            if child.type == "link_open":
                yield str(child.attrs["href"])
            elif child.type == "image":
                yield str(child.attrs["src"])


def local_target(page: Path, target: str) -> Path | None:
    """The file a relative link points to (its #anchor dropped); None for URLs and same-page anchors."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
        return None
    return (page.parent / target.split("#", 1)[0]).resolve()


def linked_docs_pages() -> list[Path]:
    """The docs pages the README links to."""
    targets = {local_target(README, target) for target in link_targets(README)}
    return sorted(path for path in targets if path is not None and path.parent == DOCS and path.suffix == ".md")


def command_paths() -> list[str]:
    """Every command a user can type, from the typer app itself: "rewrite", "data", "data build-train", ..."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    paths = []
    for name, command in root.commands.items():
        if command.hidden:
            continue
        paths.append(name)
        if isinstance(command, TyperGroup):
            paths += [f"{name} {sub}" for sub, subcommand in command.commands.items() if not subcommand.hidden]
    return sorted(paths)


def mentions(path: str) -> re.Pattern[str]:
    # "srllm data build-train" (also wrapped across lines), not "srllm data build-trainer".
    return re.compile(r"\bsrllm\s+" + r"\s+".join(map(re.escape, path.split())) + r"(?![\w-])")


def missing_commands(texts: Iterable[str], paths: Iterable[str]) -> list[str]:
    corpus = "\n".join(texts)
    return [path for path in paths if not mentions(path).search(corpus)]


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < MAX_README_LINES, f"README.md has {len(lines)} lines; move detail to a page in docs/"


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda page: page.name)
def test_every_relative_link_points_to_a_file(page: Path) -> None:
    broken = [
        target
        for target in link_targets(page)
        if (path := local_target(page, target)) is not None and not path.exists()
    ]
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_the_readme_links_every_docs_page_and_the_pages_every_picture() -> None:
    assert set(linked_docs_pages()) == set(DOCS.glob("*.md"))
    pictures = {path for path in DOCS.iterdir() if path.suffix in {".png", ".jpg", ".svg", ".gif"}}
    linked = {local_target(page, target) for page in DOCS.glob("*.md") for target in link_targets(page)}
    assert pictures <= linked, f"pictures no docs page shows: {sorted(pictures - linked)}"


def test_the_cli_has_the_commands_we_expect_to_document() -> None:
    # Guards the introspection: an empty or flat list would make the checks below pass vacuously.
    paths = command_paths()
    assert {"rewrite", "serve", "data build-train", "eval stereoset", "keys revoke"} <= set(paths)
    assert len(paths) > 30


def test_readme_names_every_command() -> None:
    missing = missing_commands([README.read_text(encoding="utf-8")], command_paths())
    assert not missing, f"README.md never names: {['srllm ' + path for path in missing]}"


def test_docs_pages_linked_from_the_readme_document_every_command() -> None:
    texts = [page.read_text(encoding="utf-8") for page in linked_docs_pages()]
    missing = missing_commands(texts, command_paths())
    assert not missing, f"no docs page linked from README.md documents: {['srllm ' + path for path in missing]}"


def test_a_command_removed_from_the_docs_is_reported() -> None:
    texts = [README.read_text(encoding="utf-8")] + [page.read_text(encoding="utf-8") for page in linked_docs_pages()]
    paths = command_paths()
    assert missing_commands(texts, paths) == []
    groups = {path.split()[0] for path in paths if " " in path}
    for path in (path for path in paths if path not in groups):  # groups are named through their commands
        stripped = [mentions(path).sub("srllm", text) for text in texts]
        assert path in missing_commands(stripped, paths), f"removing every 'srllm {path}' went unnoticed"
