"""The kernel-side snapshot code is sent as text: it must agree with the host's constants."""

from __future__ import annotations

import ast

from runpad.agents import snapshot


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
