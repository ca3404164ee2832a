"""runpad.evaluation's public surface: `__all__` is importable and complete."""

from __future__ import annotations

import inspect

import runpad.evaluation as evaluation


def test_every_name_in_all_is_importable_and_nothing_is_forgotten() -> None:
    assert len(set(evaluation.__all__)) == len(evaluation.__all__)
    namespace: dict[str, object] = {}
    exec("from runpad.evaluation import *", namespace)
    assert set(evaluation.__all__) <= set(namespace)
    public = {
        name
        for name, value in vars(evaluation).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("runpad")
    }
    assert public <= set(evaluation.__all__)


def test_importing_the_cli_does_not_import_math_verify() -> None:
    import subprocess
    import sys

    code = "import runpad.cli, sys; print('math_verify' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert output.stdout.strip() == "False", output.stderr
