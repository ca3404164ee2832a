"""The static check finds sure failures before a sandbox run; it knows the kernel's state."""

from __future__ import annotations

import sys

import pytest

from runpad.agents.checker import (
    StaticCheckUnavailable,
    defined_names,
    mask_ipython_syntax,
    script_findings,
    static_findings,
)
from runpad.errors import MissingDependencyError


def test_syntax_error() -> None:
    findings = static_findings("print(1", set())
    assert len(findings) == 1
    assert findings[0].startswith("SyntaxError")


def test_undefined_name() -> None:
    assert static_findings("print(totl)", set()) == ["line 1: undefined name 'totl'"]


def test_names_from_earlier_cells_are_defined() -> None:
    known = defined_names(["import pandas as pd\ndf = pd.DataFrame()", "def f(x):\n    return x"])
    assert {"pd", "df", "f"} <= known
    assert static_findings("print(df.shape, f(1))", known) == []


def test_ipython_lines_do_not_break_the_check() -> None:
    code = "!pip list\n%time x = 1\nfiles = !ls\nprint(len(files))"
    assert static_findings(code, set()) == []
    assert static_findings("%%bash\necho hi", set()) == []
    assert mask_ipython_syntax("  !ls") == "  pass"


def test_builtins_and_ipython_names() -> None:
    assert static_findings("display(len([1]))\nprint(_)", set()) == []


def test_unused_imports_are_not_findings() -> None:
    assert static_findings("import os\nprint(1)", set()) == []


def test_a_syntax_warning_is_not_a_finding() -> None:
    assert static_findings('import re\nprint(re.findall("\\w+", "a b"))', set()) == []


# -- JavaScript and TypeScript: Deno itself parses the cell ----------------------------------


async def test_a_typescript_syntax_error_is_found_with_denos_message() -> None:
    code = "const rows: number[] = [1, 2, 3];\nconst total = rows.reduce((a, b) => a + b, 0;\n"
    findings = await script_findings(code, "typescript")
    assert findings == [
        "SyntaxError: Expected ',', got ';' at line 2: "
        "const total = rows.reduce((a, b) => a + b, 0;"
    ]


async def test_an_unclosed_call_is_a_syntax_error_in_javascript_too() -> None:
    (finding,) = await script_findings("console.log('a'\n", "javascript")
    assert finding.startswith("SyntaxError: ")
    assert "line" in finding


async def test_undefined_names_and_names_from_earlier_deno_cells() -> None:
    code = "console.log(rows.length, totl)"
    assert await script_findings(code, "typescript") == [
        "line 1: undefined name 'rows'",
        "line 1: undefined name 'totl'",
    ]
    earlier = ["const rows = JSON.parse(await Deno.readTextFile('data.json'));"]
    assert await script_findings(code, "typescript", earlier) == ["line 1: undefined name 'totl'"]


async def test_what_runs_is_not_a_finding() -> None:
    # Types are stripped, not checked, by the kernel: a type error still runs. Deno's and the
    # web's globals, npm imports and top-level await are fine; so are style slips.
    code = (
        "import _ from 'npm:lodash';\n"
        "const n: number = 'not a number' as any;\n"
        "var unused = 1;\n"
        "const text = await Deno.readTextFile('a.txt');\n"
        "console.log(_.sum([n]), text, JSON.stringify({}), new Map(), structuredClone([]))\n"
        "Deno.jupyter.display({ 'text/plain': 'hi' }, { raw: true });\n"
    )
    assert await script_findings(code, "typescript") == []
    # JavaScript cells run as TypeScript in the Deno kernel: annotations are not errors there.
    assert await script_findings("const x: number = 1; console.log(x)", "javascript") == []


async def test_without_deno_the_check_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "deno", None)  # `import deno` raises ImportError
    with pytest.raises(MissingDependencyError, match="pip install deno"):
        await script_findings("console.log(1)", "typescript")


async def test_a_check_past_its_timeout_gives_up_and_leaves_no_process() -> None:
    with pytest.raises(StaticCheckUnavailable, match="deno lint took more than"):
        await script_findings("console.log(1)", "typescript", timeout=0.001)
