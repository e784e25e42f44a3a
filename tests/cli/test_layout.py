"""The package's shape (issue 20): stage folders at the top, data flowing one way, and
docs/architecture.md naming only modules that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "pipeline"
TOP_LEVEL_FILES = {"__init__.py", "__main__.py", "cli.py", "config.py"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The pipeline modules a module imports, at any level of its code (function-level too)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != module_name(path)}


def graph() -> dict[str, set[str]]:
    known = set(modules())
    return {name: imports(path, known) for name, path in modules().items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by depth-first search (each reported once, from its smallest module)."""
    found, seen = [], set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycle = path[path.index(nxt):]
                key = tuple(sorted(cycle))
                if key not in seen:
                    seen.add(key)
                    found.append(cycle + [nxt])
            elif len(path) < 40:
                visit(nxt, path + [nxt])

    for start in sorted(edges):
        visit(start, [start])
    return found


def test_the_top_level_holds_only_the_command_line_the_settings_and_stage_folders():
    files = {p.name for p in PACKAGE.iterdir() if p.is_file() and p.suffix == ".py"}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert files == TOP_LEVEL_FILES
    assert folders == {"discover", "readers", "normalize", "metrics", "run", "sinks", "report", "samplegen"}


def test_no_module_imports_one_that_imports_it_back():
    edges = graph()
    # Package __init__ files are edges only to what they import; `pipeline` itself re-exports
    # the public API, and nothing inside imports it but __main__ and the CLI's version.
    mutual = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, ()))
    assert mutual == []


def test_no_import_cycles_at_all():
    edges = graph()
    # The root package re-exports from its stages, and cli imports its __version__: ignore the
    # root's edges, which only serve `import pipeline`.
    edges["pipeline"] = set()
    assert cycles(edges) == []


ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_every_module_and_function_docs_architecture_names_exists():
    text = ARCHITECTURE.read_text()
    named = re.findall(r"`(pipeline/[\w/]+\.py)(?::(\w+))?`", text)
    assert len(named) >= 30
    for path, function in named:
        module = ROOT / path
        assert module.is_file(), f"docs/architecture.md names {path}, which does not exist"
        if function:
            assert re.search(rf"^\s*(def|class) {function}\b", module.read_text(), re.MULTILINE), \
                f"docs/architecture.md names {path}:{function}, which is not defined there"


def test_architecture_names_every_module_of_the_stages():
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`(pipeline/[\w/]+\.py)", text))
    for folder in ("discover", "normalize", "metrics", "run", "sinks", "report"):
        for path in (PACKAGE / folder).glob("*.py"):
            if path.name != "__init__.py":
                assert str(path.relative_to(ROOT)) in named, f"docs/architecture.md does not place {path.name}"
