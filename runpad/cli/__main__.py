"""`python -m runpad.cli`: the same as the `runpad` command."""

from runpad.cli import app

app(prog_name="runpad")
