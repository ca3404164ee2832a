"""`runpad eval`: the evaluation harness, which lives in `runpad.evaluation.cli`."""

from __future__ import annotations

import typer

from runpad.evaluation.cli import eval_command

__all__ = ["app"]

app = typer.Typer()
app.command("eval")(eval_command)
