"""What resuming a killed run costs, before (replay every cell) and after (kernel snapshots).

A three-cell run whose first cell takes 2 s (standing for loading a large file or training a
model) is killed with SIGKILL at three points and resumed in a new process; the same run
uninterrupted is the reference. Each case runs as whole processes, the modes and kill points
taking turns at every repetition:
- `before`: runpad at a git ref (`--before`), which rebuilds the kernel by running every
  earlier cell again;
- `after`: this tree, which loads the snapshot of the last cell and replays only later ones.

Overhead of a resume = the resumed process's time after its imports, less the compute of
the cells it ran as new cells (their `duration_ms`): start-up of the sandbox, loading the
checkpoint, rebuilding the kernel (replay or snapshot), the reporter. The whole-process
times (interpreter and imports included) are in the table too.

Usage:
    python benchmarks/resume_overhead.py --before REF [--repeat 3] [--write PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trees import export_tree

STARTED = time.perf_counter()
REPO = Path(__file__).resolve().parents[1]
CELLS = [
    "import time\ntime.sleep(2)  # a slow load\nx = 20\nprint(x)",
    "y = 2\nprint(y)",
    "print(x + y)",
]
KILL_POINTS = {
    "during cell 3": ["cell", 3],
    "between cells 2 and 3": ["start", "coder", 3],
    "in the reporter": ["start", "reporter", 1],
}


# -- the child: one process of a run ------------------------------------------------------------


async def child(command: str, config: dict[str, Any]) -> dict[str, Any]:
    try:  # a 'before' tree from when the Context lived in runpad.state
        from runpad.state import Context  # type: ignore[attr-defined]  # not in this tree
    except ImportError:
        from runpad.context import Context
    from runpad.runner import aresume, arun
    from runpad.sandbox.manager import SandboxManager

    imported = time.perf_counter()
    marks: dict[str, float] = {}
    session = SandboxManager.session

    async def timed_session(self: SandboxManager, thread_id: str) -> Any:
        started = time.perf_counter()
        found = await session(self, thread_id)
        if found[1]:  # a new session: its start, then the rebuild until session_restored
            marks["sandbox_start_s"] = time.perf_counter() - started
            marks["sandbox_ready"] = time.perf_counter()
        return found

    SandboxManager.session = timed_session  # type: ignore[method-assign]
    kill = config.get("kill_at") or [None]
    seen: dict[str, int] = {}
    restored: dict[str, Any] = {}

    def on_event(mode: str, chunk: Any) -> None:
        if mode == "tasks" and "input" in chunk:
            seen[chunk["name"]] = seen.get(chunk["name"], 0) + 1
            if kill[0] == "start" and kill[1:] == [chunk["name"], seen[chunk["name"]]]:
                os.kill(os.getpid(), signal.SIGKILL)
        elif mode == "custom" and chunk.get("type") == "session_restored":
            restored.update(chunk)
            marks["rebuild_s"] = time.perf_counter() - marks["sandbox_ready"]
        elif mode == "custom" and chunk.get("type") == "cell" and kill == ["cell", chunk["index"]]:
            os.kill(os.getpid(), signal.SIGKILL)

    settings: dict[str, Any] = {"model": config["model"], "run_dir": config["run_dir"]}
    context = Context(**settings)
    common = {"context": context, "checkpointer": config["checkpoints"], "on_event": on_event}
    if command == "run":
        result = await arun("Add x and y", thread_id="t", **common)
    else:
        result = await aresume("t", **common)
    if hasattr(context, "aclose"):
        await context.aclose()
    else:  # a 'before' tree: its Context had no aclose()
        await context.sandbox_manager.aclose()
    if result.answer != "22":
        raise RuntimeError(f"the run answered {result.answer!r} ({result.stop_reason})")
    return {
        "imports_s": imported - STARTED,
        "in_process_s": time.perf_counter() - imported,
        "cells": [[c["index"], c["duration_ms"]] for c in result.cells],
        "snapshot_cell": restored.get("snapshot_cell"),
        "replayed": restored.get("replayed"),
        "sandbox_start_s": marks.get("sandbox_start_s", 0.0),
        "rebuild_s": marks.get("rebuild_s", 0.0),
    }


# -- the driver --------------------------------------------------------------------------------


def write_script(path: Path) -> str:
    replies = {
        "router": ["ROUTE: code"],
        "planner": [
            "1. Set x | check: printed\n2. Set y | check: printed\n3. Add | check: printed"
        ],
        "coder": [f"```python\n{cell}\n```" for cell in CELLS],
        "reviewer": ["VERDICT: next", "VERDICT: next", "VERDICT: done\nANSWER: 22"],
    }
    lines = [json.dumps({"runpad_record": 1, "created": "benchmark"})]
    for role, texts in replies.items():
        for index, text in enumerate(texts):
            lines.append(json.dumps({"role": role, "index": index, "content": text, "usage": {}}))
    path.write_text("\n".join(lines) + "\n")
    return f"replay:{path}"


def spawn(tree: Path, command: str, config: dict[str, Any], work: Path) -> tuple[float, int]:
    """(whole-process seconds, exit status) of one child process."""
    config_path = work / f"{command}-{time.monotonic_ns()}.json"
    config_path.write_text(json.dumps(config))
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", command, str(config_path)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if process.returncode not in (0, -signal.SIGKILL):
        raise RuntimeError(f"{command} failed ({process.returncode}): {process.stderr[-2000:]}")
    return time.perf_counter() - started, process.returncode


def one_case(tree: Path, kill_at: list[Any] | None, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True)
    result_file = work / "result.json"
    config = {
        "model": write_script(work / "script.jsonl"),
        "run_dir": str(work / "runs"),
        "checkpoints": str(work / "checkpoints.sqlite"),
        "result": str(result_file),
        "kill_at": kill_at,
    }
    first_wall, status = spawn(tree, "run", config, work)
    if kill_at is None:
        outcome = json.loads(result_file.read_text())
        return {**outcome, "process_s": first_wall, "killed_process_s": 0.0}
    if status != -signal.SIGKILL:
        raise RuntimeError(f"the run was not killed at {kill_at}")
    resume_wall, _ = spawn(tree, "resume", {**config, "kill_at": None}, work)
    outcome = json.loads(result_file.read_text())
    return {**outcome, "process_s": resume_wall, "killed_process_s": first_wall}


def overhead(case: dict[str, Any], new_from: int) -> float:
    """In-process seconds of the resume beyond the compute of the cells it ran anew."""
    compute = sum(ms for index, ms in case["cells"] if index >= new_from) / 1000
    return float(case["in_process_s"] - compute)


def render(results: dict[str, dict[str, list[dict[str, Any]]]], args: argparse.Namespace) -> str:
    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}"

    lines = [
        "# Resume of a killed run: replay (before) against a kernel snapshot (after)",
        "",
        "Produced by `benchmarks/resume_overhead.py`; every number below comes from one run,",
        "the modes and kill points taking turns at every repetition.",
        "",
        "## Machine",
        "",
        f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- {os.cpu_count()} cores, Python {platform.python_version()}, Linux {platform.release()}",
        f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- repetitions: {args.repeat}; before: runpad at `{args.before}`; after: this tree",
        "",
        "## Results",
        "",
        "Seconds, medians. The run: cell 1 sleeps 2 s (a slow load) and sets x, cell 2 sets y,"
        " cell 3 prints x + y; the answer (22) is checked in every process.",
        "",
        "| kill point | mode | resume overhead | of which: sandbox start | of which: kernel"
        " rebuild | rebuilt by | resume process, whole | killed + resume − uninterrupted"
        " (whole processes) |",
        "|---|---|--:|--:|--:|---|--:|--:|",
    ]
    for point in KILL_POINTS:
        for mode in results:
            cases = results[mode][point]
            references = results[mode]["uninterrupted"]
            new_from = {"during cell 3": 3, "between cells 2 and 3": 3, "in the reporter": 4}[point]
            extra = [
                case["killed_process_s"] + case["process_s"] - reference["process_s"]
                for case, reference in zip(cases, references, strict=True)
            ]
            case = cases[0]
            rebuilt = (
                f"snapshot of cell {case['snapshot_cell']}, {case['replayed']} replayed"
                if case.get("snapshot_cell")
                else f"{case['replayed']} cells replayed"
                if case.get("replayed")
                else "nothing to rebuild"
            )
            lines.append(
                f"| {point} | {mode} | {median([overhead(c, new_from) for c in cases])} |"
                f" {median([c['sandbox_start_s'] for c in cases])} |"
                f" {median([c['rebuild_s'] for c in cases])} | {rebuilt} |"
                f" {median([c['process_s'] for c in cases])} | {median(extra)} |"
            )
    for mode in results:
        references = results[mode]["uninterrupted"]
        lines.append(
            f"| (uninterrupted) | {mode} | — | — | — | — |"
            f" {median([c['process_s'] for c in references])} | — |"
        )
    imports = [c["imports_s"] for mode in results for c in results[mode]["uninterrupted"]]
    lines += [
        "",
        "## What is measured",
        "",
        "- resume overhead: the resumed process's wall time after `import runpad.runner`,"
        " less the `duration_ms` of the cells it ran as new cells (cell 3 for the first two"
        " kill points, none in the reporter). It holds the sandbox start, the checkpoint, the"
        " kernel rebuild (the 2 s cell again, for `before`), the model calls (a replay file:"
        " no time) and the reporter. Sandbox start: the new session's start; kernel rebuild:"
        " from then until the session is restored (the snapshot loaded and the later cells"
        " replayed, or every cell replayed), 0 where nothing needed rebuilding.",
        f"- whole processes add the interpreter and the imports (median {median(imports)} s"
        " here), which a resume pays like any other command.",
        "- killed + resume − uninterrupted: what the interruption costs in all, whole"
        " processes (two interpreter starts instead of one, the cell that was running when"
        " the kill came, the rebuild).",
        "- kill points: SIGKILL while cell 3 runs, as the coder of cell 3 starts (both cells"
        " before it checkpointed), as the reporter starts.",
        "",
        "## Reproduce",
        "",
        "```",
        f"python benchmarks/resume_overhead.py --before {args.before} --repeat {args.repeat}"
        " --write benchmarks/RESULTS-resume.md",
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--before", required=False, help="git ref of the 'before' code")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", metavar="PATH")
    args = parser.parse_args()
    if args.child:
        config = json.loads(Path(args.child[1]).read_text())
        outcome = asyncio.run(child(args.child[0], config))
        Path(config["result"]).write_text(json.dumps(outcome))
        return 0
    if not args.before:
        parser.error("--before REF is required (the code to compare with)")
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="resume-bench-")))
        trees = {"before": export_tree(args.before, scratch / "before"), "after": REPO}
        points: dict[str, list[Any] | None] = {"uninterrupted": None, **KILL_POINTS}
        results: dict[str, dict[str, list[dict[str, Any]]]] = {
            mode: {point: [] for point in points} for mode in trees
        }
        counter = 0
        for repetition in range(args.repeat):
            for point, kill_at in points.items():
                order = list(trees) if (repetition + counter) % 2 == 0 else list(trees)[::-1]
                counter += 1
                for mode in order:
                    work = scratch / f"{mode}-{repetition}-{counter}"
                    results[mode][point].append(one_case(trees[mode], kill_at, work))
                    print(f"[{repetition + 1}/{args.repeat}] {point}, {mode}", file=sys.stderr)
    report = render(results, args)
    print(report)
    if args.write:
        Path(args.write).write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
