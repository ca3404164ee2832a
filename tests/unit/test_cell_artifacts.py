"""Artifacts of cells in a warm local sandbox: the quick walk after each cell never hides
a file the cell wrote (issue #12: a cell that writes nothing skips the full scan)."""

from __future__ import annotations

import hashlib

import pytest

from runpad.sandbox import LocalSandbox

pytestmark = pytest.mark.sandbox


async def test_every_write_of_a_cell_is_an_artifact(local_sandbox: LocalSandbox) -> None:
    assert (await local_sandbox.run("1+1")).artifacts == []

    written = await local_sandbox.run(
        "import os\nos.makedirs('a/b', exist_ok=True)\n"
        "open('a/b/out.txt', 'w').write('one')\nopen('top.txt', 'w').write('t')"
    )
    assert sorted(a.name for a in written.artifacts) == ["a/b/out.txt", "top.txt"]
    assert (await local_sandbox.run("2+2")).artifacts == []

    # The same file rewritten with the same size by cell after cell, each within
    # milliseconds of the last: every rewrite is that cell's artifact, with its own hash.
    for text in ("two", "six", "ten", "one"):
        rewritten = await local_sandbox.run(f"open('a/b/out.txt', 'w').write({text!r})")
        assert [(a.name, a.sha256) for a in rewritten.artifacts] == [
            ("a/b/out.txt", hashlib.sha256(text.encode()).hexdigest())
        ]

    removed = await local_sandbox.run("os.remove('top.txt')")
    assert removed.artifacts == []
    recreated = await local_sandbox.run("open('top.txt', 'w').write('t')")
    assert [a.name for a in recreated.artifacts] == ["top.txt"]


async def test_uploads_and_quiet_cells_give_no_artifacts(local_sandbox: LocalSandbox) -> None:
    await local_sandbox.run("x = 1")
    await local_sandbox.upload(b"from the host", "in/data.csv")

    quiet = await local_sandbox.run("print(open('in/data.csv').read())")

    assert quiet.stdout == "from the host\n"
    assert quiet.artifacts == []
    touched = await local_sandbox.run("import os\nos.utime('in/data.csv')")
    assert [a.name for a in touched.artifacts] == ["in/data.csv"]
