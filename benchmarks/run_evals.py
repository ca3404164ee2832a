"""Produce the numbers in benchmarks/RESULTS.md.

    python benchmarks/run_evals.py local            # tiny, embedded model: code, no-code, vote
    python benchmarks/run_evals.py local --model local:1.5b --mode code
    python benchmarks/run_evals.py local --suite gsm8k --limit 100 --mode code
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
import resource
import shutil
import statistics
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
from runpad.models.local import LocalChatModel
from runpad.models.resolve import local_chat_model

RESULTS = Path(__file__).resolve().parent / "results"
# The embedded model on a busy CPU: each task's run gets the harness's own five minutes.
LOCAL_LIMITS = EVAL_LIMITS
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


def _call_costs(model: LocalChatModel, first: int) -> dict[str, float | int]:
    """The embedded model's cost per call over its calls from index `first` on."""
    calls = model.calls[first:]
    if not calls:
        return {"calls": 0}
    generated = sum(call.completion_tokens for call in calls)
    generating = sum(call.total_s - call.first_token_s for call in calls)
    return {
        "calls": len(calls),
        "mean_prompt_tokens": round(statistics.mean(c.prompt_tokens for c in calls), 1),
        "mean_cached_tokens": round(statistics.mean(c.cached_tokens for c in calls), 1),
        "mean_completion_tokens": round(statistics.mean(c.completion_tokens for c in calls), 1),
        "mean_first_token_s": round(statistics.mean(c.first_token_s for c in calls), 2),
        "median_first_token_s": round(statistics.median(c.first_token_s for c in calls), 2),
        "generate_tokens_per_s": round(generated / generating, 1) if generating > 0 else 0.0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


async def local(args: argparse.Namespace, scratch: Path) -> list[EvalReport]:
    """tiny with code, without code and with a vote, for one embedded model (`--model`)."""
    name = args.model.removeprefix("local").removeprefix(":") or "0.5b"
    model = local_chat_model(name, seed=args.seed)
    assert isinstance(model, LocalChatModel)
    tags = {"0.5b": "qwen0.5b", "1.5b": "qwen1.5b", "smollm2": "smollm2"}
    tag = tags.get(name, f"local-{Path(name).stem}")
    plans: list[tuple[str, EvalSettings]] = [
        ("code", EvalSettings(model=model, seed=args.seed, limits=LOCAL_LIMITS)),
        ("no-code", EvalSettings(model=model, mode="no-code", seed=args.seed)),
        (
            f"code-vote{VOTE_SAMPLES}",
            EvalSettings(model=model, seed=args.seed, limits=VOTE_LIMITS, samples=VOTE_SAMPLES),
        ),
    ]
    reports = []
    for label, settings in plans:
        if args.modes and label not in args.modes:
            continue
        first = len(model.calls)
        suite = args.suites[0] if args.suites else "tiny"
        settings = dataclasses.replace(settings, limit=args.limit)
        result_name = f"{suite}-{tag}-{label}"
        reports.append(await _one(result_name, suite, settings, scratch))
        costs = {"model": model.label, **_call_costs(model, first)}
        (RESULTS / result_name / "model-costs.json").write_text(json.dumps(costs, indent=2) + "\n")
        print(json.dumps(costs), file=sys.stderr, flush=True)
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
    parser.add_argument("--limit", type=int, default=None, help="tasks per suite (a sample)")
    parser.add_argument("--model", default="local", help="local: the embedded model to measure")
    parser.add_argument(
        "--mode", dest="modes", action="append", help="local: only these (code, no-code, ...)"
    )
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
