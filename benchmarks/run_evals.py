"""Produce the numbers in benchmarks/RESULTS.md.

    python benchmarks/run_evals.py local            # tiny, embedded model: no-code, code, vote
    python benchmarks/run_evals.py oracle --limit 50  # every suite's oracle on a sample
    python benchmarks/run_evals.py rescore          # re-check the saved answers

`rescore` applies the current checkers to the answers saved in benchmarks/results/*/ (of
answer suites, every mode), after a fix to answer extraction, say, without running any
model again.

Each evaluation writes results.json and results.md to benchmarks/results/<name>/; the run
folders and checkpoints go to a scratch folder (--scratch), not into the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

from runpad.evaluation import (
    EVAL_LIMITS,
    SUITES,
    EvalReport,
    EvalSettings,
    EvalTask,
    TaskResult,
    benchmarks_dir,
    evaluate,
    get_suite,
)
from runpad.evaluation.report import SUMMARY_HEADER, markdown_table, summarize, summary_row
from runpad.evaluation.runner import graph_has_sql_tool

RESULTS = Path(__file__).resolve().parent / "results"
# The embedded model is slow on a CPU: bound each task's run to two minutes.
LOCAL_LIMITS = dataclasses.replace(EVAL_LIMITS, max_wall_seconds=120.0)
# Voting: five programs, each with up to three tries, in five minutes.
VOTE_SAMPLES = 5
VOTE_LIMITS = dataclasses.replace(EVAL_LIMITS, max_cells=15, max_wall_seconds=300.0)


async def _one(name: str, suite: str, settings: EvalSettings, scratch: Path) -> EvalReport:
    out = scratch / name
    done = 0

    def progress(task: EvalTask, result: TaskResult) -> None:
        nonlocal done
        done += 1
        print(f"  {name}: {done} tasks", file=sys.stderr, end="\r", flush=True)

    report = await evaluate(suite, dataclasses.replace(settings, out_dir=out), on_task=progress)
    target = RESULTS / name
    target.mkdir(parents=True, exist_ok=True)
    for file in ("results.json", "results.md"):
        shutil.copy(out / file, target / file)
    print(f"\n{summary_row(report)}", file=sys.stderr, flush=True)
    return report


async def local(args: argparse.Namespace, scratch: Path) -> list[EvalReport]:
    reports = []
    for mode in ("no-code", "code"):
        settings = EvalSettings(model="local", mode=mode, seed=args.seed, limits=LOCAL_LIMITS)
        reports.append(await _one(f"tiny-local-{mode}", "tiny", settings, scratch))
    settings = EvalSettings(model="local", seed=args.seed, limits=VOTE_LIMITS, samples=VOTE_SAMPLES)
    reports.append(await _one(f"tiny-local-code-vote{VOTE_SAMPLES}", "tiny", settings, scratch))
    return reports


async def oracle(args: argparse.Namespace, scratch: Path) -> list[EvalReport]:
    reports = []
    for suite in args.suites or list(SUITES):
        if suite == "sql_defog" and not graph_has_sql_tool():
            print(f"{suite}: skipped: the graph has no SQL tool", file=sys.stderr)
            continue
        settings = EvalSettings(mode="oracle", limit=args.limit, seed=args.seed)
        reports.append(await _one(f"oracle-{suite}", suite, settings, scratch))
    return reports


def rescore() -> None:
    for path in sorted(RESULTS.glob("*/results.json")):
        data = json.loads(path.read_text())
        suite = get_suite(data["suite"])
        if suite.check_answer is None:
            continue
        tasks = {task.id: task for task in suite.load(benchmarks_dir()).tasks}
        results = []
        for row in data["results"]:
            result = TaskResult(**row)
            if result.error is None and result.excluded is None:
                check = suite.check_answer(result.answer, tasks[result.id])
                result = dataclasses.replace(
                    result, correct=check.correct, extracted=check.extracted, detail=check.detail
                )
            results.append(result)
        report = EvalReport(
            **{
                **data,
                "results": results,
                "summary": summarize(results),
                "skipped": [tuple(pair) for pair in data["skipped"]],
            }
        )
        path.write_text(report.to_json())
        (path.parent / "results.md").write_text(markdown_table(report))
        print(summary_row(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["local", "oracle", "rescore"])
    parser.add_argument("--limit", type=int, default=None, help="oracle: tasks per suite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suite", dest="suites", action="append", help="oracle: only these")
    parser.add_argument("--scratch", type=Path, default=None)
    args = parser.parse_args()
    if args.what == "rescore":
        rescore()
        return
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="runpad-evals-"))
    run = local if args.what == "local" else oracle
    reports = asyncio.run(run(args, scratch))
    print(SUMMARY_HEADER)
    for report in reports:
        print(summary_row(report))


if __name__ == "__main__":
    main()
