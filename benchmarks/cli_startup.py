"""CLI start-up: how long each quick command takes as a whole process, side by side in one run.

Commands: `runpad --version`, `--help`, `threads`, `show THREAD`, `export THREAD --notebook
--markdown`, each run as a user runs it (`python -m runpad ...`, a fresh interpreter every
time), against `python -c pass`, the interpreter's own start. Each tree of runpad given
with --tree (a name and a source folder, put first on PYTHONPATH) runs the same commands;
with the main checkout as "before" and this one as "after", one run gives both columns.

The runs read back are made first, once, in a scratch folder: an answered run, a run that
waits for approval and a stopped run (scripted models, the in-process `fake` sandbox), so
that `threads` lists several runs and `show` / `export` read one with a cell and an answer.

Every repetition runs every command of every tree in turn, so load from elsewhere on the
machine weighs on all of them alike; the table gives medians, and the time over
`python -c pass`, which is what runpad itself costs.

Usage (a tree is any folder holding a `runpad/` package, e.g. another branch's files from
`git archive main | tar -x -C /tmp/before`):
    python benchmarks/cli_startup.py [--repeat 5] [--tree before=/tmp/before]
        [--tree after=.] [--write benchmarks/RESULTS-cli.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMMANDS: dict[str, list[str]] = {
    "--version": ["--version"],
    "--help": ["--help"],
    "threads": ["threads", "--out", "{runs}"],
    "show": ["show", "answered", "--out", "{runs}"],
    "export": [
        "export",
        "answered",
        "--out",
        "{runs}",
        "--notebook",
        "{scratch}/export/run.ipynb",
        "--markdown",
        "{scratch}/export/run.md",
    ],
}


async def make_runs(scratch: Path) -> Path:
    """Three runs through the real graph: answered, waiting for approval, stopped."""
    from runpad.runner import arun

    def script(name: str, **replies: list[str]) -> str:
        lines = [json.dumps({"runpad_record": 1, "created": "benchmark"})]
        for role, texts in replies.items():
            for index, text in enumerate(texts):
                lines.append(
                    json.dumps({"role": role, "index": index, "content": text, "usage": {}})
                )
        path = scratch / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        return f"replay:{path}"

    step = "1. Compute the value and print it | check: the number is printed"
    answering = script(
        "answering",
        router=["ROUTE: code"],
        planner=[step],
        coder=["```python\nprint(6 * 7)\n```"],
        reviewer=["VERDICT: done\nANSWER: 42"],
    )
    failing = script(
        "failing",
        router=["ROUTE: code"],
        planner=[step] * 10,
        coder=["```python\nx = (1 +\n```"] * 20,
        reviewer=["VERDICT: repair"] * 20,
    )
    runs = scratch / "runs"
    common: dict[str, Any] = {"sandbox": "fake", "run_dir": str(runs)}
    await arun("Six times seven", thread_id="answered", model=answering, **common)
    await arun("Wait for me", thread_id="waiting", model=answering, approve=True, **common)
    await arun("A broken cell", thread_id="stopped", model=failing, **common)
    return runs


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--tree",
        action="append",
        metavar="NAME=PATH",
        help="A runpad source tree to time (repeat; default: after=this checkout).",
    )
    parser.add_argument("--write", type=Path, help="Write the Markdown table here too.")
    options = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    trees = dict(item.split("=", 1) for item in options.tree or [f"after={here}"])

    with tempfile.TemporaryDirectory(prefix="cli-startup-") as folder:
        scratch = Path(folder)
        runs = asyncio.run(make_runs(scratch))
        base_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
        envs = {
            name: {**base_env, "PYTHONPATH": str(Path(path).resolve())}
            for name, path in trees.items()
        }
        for name, env in envs.items():
            # `python -m` puts the working directory first on sys.path: run elsewhere, and
            # check that each tree's runpad is the one imported.
            found = subprocess.run(
                [sys.executable, "-c", "import runpad; print(runpad.__file__)"],
                env=env,
                cwd=scratch,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if not Path(found).is_relative_to(Path(trees[name]).resolve()):
                raise SystemExit(f"{name}: runpad comes from {found}, not {trees[name]}")
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(options.repeat):
            times.setdefault(("pass", ""), []).append(
                timed([sys.executable, "-c", "pass"], base_env, scratch)
            )
            for command, args in COMMANDS.items():
                argv = [part.format(runs=runs, scratch=scratch) for part in args]
                for name, env in envs.items():
                    elapsed = timed([sys.executable, "-m", "runpad", *argv], env, scratch)
                    times.setdefault((command, name), []).append(elapsed)

    median = {key: statistics.median(values) for key, values in times.items()}
    baseline = median[("pass", "")]
    names = list(trees)
    header = ["command"]
    for name in names:
        header += [f"{name} (s)", f"{name} over `python -c pass` (s)"]
    if len(names) == 2:
        header.append(f"{names[0]} ÷ {names[1]}")
    rows = [header, ["---"] + ["---:"] * (len(header) - 1)]
    rows.append(["`python -c pass`"] + [f"{baseline:.3f}", "0"] * len(names))
    if len(names) == 2:
        rows[-1].append("")
    for command in COMMANDS:
        row = [f"`runpad {COMMANDS[command][0]}`"]
        for name in names:
            value = median[(command, name)]
            row += [f"{value:.3f}", f"{value - baseline:.3f}"]
        if len(names) == 2:
            row.append(f"{median[(command, names[0])] / median[(command, names[1])]:.1f}x")
        rows.append(row)
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    trees_text = ", ".join(f"{name} = `{path}`" for name, path in trees.items())
    report = (
        f"Median of {options.repeat} whole-process runs each, interleaved in one run; "
        f"{trees_text}; Python {platform.python_version()}, {os.cpu_count()} CPUs.\n\n"
        f"{table}\n"
    )
    print(report)
    if options.write:
        options.write.write_text(report)


if __name__ == "__main__":
    main()
