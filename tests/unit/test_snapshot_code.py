"""The kernel-side snapshot code is sent as text: it must agree with the host's constants."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from runpad.agents import snapshot
from runpad.sandbox import open_sandbox


def kernel_constants() -> dict[str, object]:
    tree = ast.parse(snapshot.KERNEL_CODE.read_text())
    return {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in ("FORMAT", "MARKER", "RUNPAD_DIR")
    }


def test_the_kernel_code_agrees_with_the_host() -> None:
    constants = kernel_constants()
    assert constants["FORMAT"] == snapshot.FORMAT
    assert constants["MARKER"] == snapshot.MARKER
    # The snapshot files live in runpad's own directory, which the manifest leaves out.
    assert snapshot.SNAPSHOT_NAME.startswith(f"{constants['RUNPAD_DIR']}/")
    assert snapshot.RESTORE_NAME.startswith(f"{constants['RUNPAD_DIR']}/")


def test_the_install_cell_binds_no_name() -> None:
    tree = ast.parse(snapshot._INSTALL)
    assert len(tree.body) == 1
    call = tree.body[0]
    assert isinstance(call, ast.Expr)  # one exec() call: nothing assigned, nothing displayed
    assert isinstance(call.value, ast.Call)
    assert ast.unparse(call.value.func) == "exec"


async def test_the_in_process_test_double_never_runs_snapshot_code(tmp_path: Path) -> None:
    async with open_sandbox("fake") as sandbox:
        await sandbox.run("x = 1")
        ref, problem = await snapshot.take_snapshot(
            sandbox, cell=1, directory=tmp_path, max_bytes=1 << 20, previous=None
        )
    assert ref is None
    assert problem == "the 'fake' sandbox runs cells in this process"
    assert "_runpad_kernel" not in sys.modules  # nothing of it was installed in the host
    assert list(tmp_path.iterdir()) == []
