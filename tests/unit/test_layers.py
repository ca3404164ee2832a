"""The layers of docs/architecture.md, kept by a test: which part of runpad may import which.

Each top-level module or package of `runpad` is a part; `ALLOWED` lists, for each part, the
other parts its modules may import (at any depth, including imports inside functions and
under TYPE_CHECKING: a type-only import still ties the layers together in a reader's head).
A new part must be added here, with its place in the picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import runpad

PACKAGE = Path(runpad.__file__).parent

# Plain data, the exception tree, the cache dir, text cut to a limit, the sync/async bridge,
# the lazy names of a package.
_BOTTOM = {"errors", "cells", "home", "state", "text", "bridge", "lazy"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "cells": set(),
    "home": set(),
    "state": set(),
    "text": set(),
    "bridge": set(),
    "lazy": set(),
    "answers": set(),
    "events": {"state", "text"},
    "sandbox": {"errors", "cells", "home", "text", "bridge", "lazy"},
    "sql": {"errors", "lazy"},
    "models": {"errors", "home"},
    "prompts": {"errors"},
    "tools": {"errors", "sandbox", "sql", "text", "bridge", "lazy"},
    "context": _BOTTOM | {"models", "prompts", "sandbox", "sql", "tools"},
    "agents": _BOTTOM
    | {"answers", "context", "events", "models", "prompts", "sandbox", "sql", "tools"}
    | {"runpad"},  # runpad.__version__, for the snapshot's provenance
    "graphs": _BOTTOM | {"agents", "context", "sandbox"},
    "runs": _BOTTOM | {"events"},  # read by the quick commands: nothing heavy below it
    "report": _BOTTOM | {"events", "runs", "sandbox"},
    "display": _BOTTOM | {"events", "sandbox"},
    "runner": _BOTTOM | {"agents", "context", "events", "graphs", "models", "report", "runs"},
    "demo": _BOTTOM | {"context"},
    "cluster": _BOTTOM | {"context", "runner", "runs", "sandbox"},  # batches of runs on Ray
    "evaluation": _BOTTOM
    | {"agents", "answers", "context", "models", "runner", "runpad", "runs", "sandbox", "sql"}
    | {"cluster"},
    "mcp": _BOTTOM
    | {"context", "events", "models", "report", "runner", "runpad", "runs", "sandbox", "sql"}
    | {"tools"},
    "cli": _BOTTOM
    | {"cluster", "context", "demo", "display", "evaluation", "mcp", "models", "report"}
    | {"runner"}
    | {"runpad", "runs", "sandbox", "sql"},
    "__main__": {"cli"},
    "runpad": _BOTTOM | {"cluster", "context", "graphs", "runner", "runs", "sandbox"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "runpad"


def _imports(package: Path) -> dict[str, dict[str, set[str]]]:
    """part -> imported part -> the files that import it, for the package at `package`."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        part = _part(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name == "runpad" or name.startswith("runpad."):
                    target = _part(name)
                    if target != part:
                        found.setdefault(part, {}).setdefault(target, set()).add(str(relative))
    return found


IMPORTS = _imports(PACKAGE)


@pytest.mark.parametrize("part", sorted(IMPORTS))
def test_each_part_imports_only_the_layers_below_it(part: str) -> None:
    assert part in ALLOWED, f"runpad.{part} is new: give it its place in ALLOWED"
    assert _forbidden(IMPORTS, part) == {}, f"runpad.{part} imports what it may not"


def _forbidden(imports: dict[str, dict[str, set[str]]], part: str) -> dict[str, list[str]]:
    """The parts `part` imports against the rules, with the files that do it."""
    return {
        target: sorted(files)
        for target, files in imports[part].items()
        if target not in ALLOWED[part]
    }


def test_the_picture_has_no_cycles() -> None:
    """Layers, not a web: following ALLOWED never leads back to where it started."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(part: str) -> None:
        assert part not in visiting, " -> ".join([*visiting, part])
        if part in done:
            return
        visiting.append(part)
        for target in ALLOWED.get(part, set()) - {"runpad"}:
            visit(target)
        visiting.pop()
        done.add(part)

    for part in ALLOWED:
        visit(part)


def test_the_rule_sees_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    sandbox = tmp_path / "runpad" / "sandbox"
    sandbox.mkdir(parents=True)
    (sandbox / "local.py").write_text(
        "import runpad.errors\n\ndef f():\n    from runpad.graphs import build_analysis_graph\n"
    )

    assert _forbidden(_imports(tmp_path / "runpad"), "sandbox") == {
        "graphs": ["runpad/sandbox/local"]
    }
