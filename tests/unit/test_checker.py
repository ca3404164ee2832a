"""The static check finds sure failures before a sandbox run; it knows the kernel's state."""

from __future__ import annotations

from runpad.agents.checker import defined_names, mask_ipython_syntax, static_findings


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
