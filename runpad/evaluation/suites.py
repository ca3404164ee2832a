"""The benchmark suites: how each one's files become tasks, and how its answers are checked.

Data comes from a benchmarks folder laid out as the project's `shared/benchmarks/` (see
its SOURCES.md): `$RUNPAD_BENCHMARKS`, else `../shared/benchmarks` beside the repository
this package runs from, else `../shared/benchmarks` beside the current directory.

Every task carries, besides the question, an *oracle cell*: code that answers it and
prints the answer after `ORACLE_MARKER`. Where the benchmark ships a reference solution
(gsm_hard's `code`, HumanEval's and MBPP's canonical solutions, the executed programs of
the operations-research sets, sql_defog's gold queries) the cell runs that solution; where
it has only the answer (tiny, gsm8k, math500, dabench) the cell prints the gold answer,
which still tests everything between a printed answer and the score.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runpad.agents.parsing import extract_code
from runpad.errors import ConfigurationError
from runpad.evaluation.checkers import (
    Check,
    check_dabench,
    check_math,
    check_number,
    check_optimum,
    check_tiny,
    parse_number,
    run_sqlite,
)

__all__ = [
    "BENCHMARKS_ENV",
    "ORACLE_MARKER",
    "SUITES",
    "EvalTask",
    "Suite",
    "SuiteData",
    "SuiteKind",
    "benchmarks_dir",
    "get_suite",
]

BENCHMARKS_ENV = "RUNPAD_BENCHMARKS"
ORACLE_MARKER = "runpad-oracle-answer:"
"""The oracle cell prints its answer on a line starting with this, for the oracle reviewer."""

SuiteKind = Literal["answer", "program", "sql"]
"""What a task's solution is: an answer in words, a program to test, or a SQL query."""
OracleKind = Literal["reference", "answer"]


@dataclass(frozen=True)
class EvalTask:
    """One benchmark question, as every mode sees it.

    Attributes:
        id: stable within the suite ("tiny-03", "gsm8k-0042", "HumanEval/7").
        prompt: what the model is asked, the same in every mode.
        expected: the gold answer as text (numbers as written, dabench as `@name[value]`
            pairs, sql_defog the gold query); "" for program suites.
        files: host paths given to the run (dabench's table).
        tests: program suites: code appended to the program, failing when it is wrong.
        database: sql_defog: the SQLite file.
        oracle: the oracle cell (see the module docstring), or None.
        oracle_language: "python", or "sql" for sql_defog.
        oracle_exclusion: why this task's reference is known not to score, or None.
    """

    id: str
    suite: str
    prompt: str
    expected: str
    files: tuple[str, ...] = ()
    tests: str | None = None
    database: str | None = None
    oracle: str | None = None
    oracle_language: str = "python"
    oracle_exclusion: str | None = None


@dataclass(frozen=True)
class SuiteData:
    """A suite's tasks, and the questions it had to leave out (id, why)."""

    tasks: list[EvalTask]
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Suite:
    """A benchmark: where its files are, how they become tasks and how answers are checked.

    Attributes:
        check_answer: answer suites: the benchmark's own check of an answer text.
    """

    name: str
    description: str
    kind: SuiteKind
    oracle_kind: OracleKind
    load: Callable[[Path], SuiteData]
    check_answer: Callable[[str | None, EvalTask], Check] | None = None


def benchmarks_dir(path: str | Path | None = None) -> Path:
    """The benchmarks folder: `path`, `$RUNPAD_BENCHMARKS`, or `../shared/benchmarks`."""
    if path is not None:
        chosen = Path(path)
    elif env := os.environ.get(BENCHMARKS_ENV):
        chosen = Path(env)
    else:
        repo = Path(__file__).resolve().parents[2]
        candidates = [
            repo.parent / "shared" / "benchmarks",
            Path.cwd().parent / "shared" / "benchmarks",
        ]
        chosen = next((c for c in candidates if c.is_dir()), candidates[0])
    if not chosen.is_dir():
        raise ConfigurationError(
            f"No benchmarks folder at {chosen}. Pass --benchmarks DIR or set "
            f"{BENCHMARKS_ENV} to the folder that holds tiny/, gsm8k/, ... (shared/benchmarks)."
        )
    return chosen


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise ConfigurationError(f"Benchmark file missing: {path}")
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _print_answer(answer: str) -> str:
    return f"print({ORACLE_MARKER!r}, {answer!r})"


def _number_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# -- tiny, gsm8k, gsm_hard, math500 ------------------------------------------------------------


def _load_tiny(root: Path) -> SuiteData:
    tasks = []
    for row in _jsonl(root / "tiny" / "tasks.jsonl"):
        expected = _number_text(row["answer"])
        tasks.append(
            EvalTask(
                id=row["id"],
                suite="tiny",
                prompt=row["question"],
                expected=expected,
                oracle=_print_answer(expected),
            )
        )
    return SuiteData(tasks)


def _load_gsm8k(root: Path) -> SuiteData:
    tasks = []
    for number, row in enumerate(_jsonl(root / "gsm8k" / "test.jsonl")):
        expected = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        tasks.append(
            EvalTask(
                id=f"gsm8k-{number:04d}",
                suite="gsm8k",
                prompt=row["question"],
                expected=expected,
                oracle=_print_answer(expected),
            )
        )
    return SuiteData(tasks)


def _load_gsm_hard(root: Path) -> SuiteData:
    tasks = []
    for number, row in enumerate(_jsonl(root / "gsm_hard" / "gsmhardv2.jsonl")):
        task_id = f"gsm_hard-{number:04d}"
        tasks.append(
            EvalTask(
                id=task_id,
                suite="gsm_hard",
                prompt=row["input"],
                expected=_number_text(row["target"]),
                oracle=f"{row['code'].strip()}\n\nprint({ORACLE_MARKER!r}, solution())",
                oracle_exclusion=GSM_HARD_LABEL_NOISE.get(task_id),
            )
        )
    return SuiteData(tasks)


GSM_HARD_LABEL_NOISE: dict[str, str] = {}
"""gsm_hard tasks whose reference `code` does not reproduce `target`, each with its reason;
the oracle excludes them, and says so. Empty: the oracle ran all 1319 references and every
one reproduced its target (benchmarks/RESULTS.md). The known label noise, targets that are
negative or fractional, is in the questions, which the references answer literally."""

MATH_INSTRUCTION = "Put the final answer in LaTeX inside \\boxed{}."


def _load_math500(root: Path) -> SuiteData:
    tasks = []
    for row in _jsonl(root / "math500" / "test.jsonl"):
        expected = row["answer"]
        tasks.append(
            EvalTask(
                id=row["unique_id"].removeprefix("test/").removesuffix(".json"),
                suite="math500",
                prompt=f"{row['problem']}\n\n{MATH_INSTRUCTION}",
                expected=expected,
                oracle=_print_answer(f"\\boxed{{{expected}}}"),
            )
        )
    return SuiteData(tasks)


# -- humaneval, mbpp ---------------------------------------------------------------------------


def _defined(name: str) -> str:
    return f"print({ORACLE_MARKER!r}, 'defined', {name}.__name__)"


def _load_humaneval(root: Path) -> SuiteData:
    tasks = []
    for row in _jsonl(root / "humaneval" / "HumanEval.jsonl"):
        entry = row["entry_point"]
        prompt = (
            f"Complete the Python function `{entry}` below and define it in the session.\n\n"
            f"```python\n{row['prompt'].rstrip()}\n```"
        )
        tasks.append(
            EvalTask(
                id=row["task_id"],
                suite="humaneval",
                prompt=prompt,
                expected="",
                tests=f"{row['test']}\n\ncheck({entry})\n",
                oracle=f"{row['prompt']}{row['canonical_solution']}\n\n{_defined(entry)}",
            )
        )
    return SuiteData(tasks)


def _load_mbpp(root: Path) -> SuiteData:
    path = root / "mbpp" / "sanitized-mbpp.json"
    if not path.is_file():
        raise ConfigurationError(f"Benchmark file missing: {path}")
    tasks = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        tests = "\n".join(row["test_list"])
        name = _function_name(row["code"], row["test_list"][0])
        prompt = (
            f"{row['prompt']}\nDefine the function in the session. "
            f"Your code should pass these tests:\n\n```python\n{tests}\n```"
        )
        imports = "\n".join(row.get("test_imports") or [])
        tasks.append(
            EvalTask(
                id=f"mbpp-{row['task_id']}",
                suite="mbpp",
                prompt=prompt,
                expected="",
                tests=f"{imports}\n{tests}\n",
                oracle=f"{row['code'].rstrip()}\n\n{_defined(name)}",
            )
        )
    return SuiteData(tasks)


def _function_name(code: str, test: str) -> str:
    """The function of `code` that an MBPP test calls (the tests may shadow builtins)."""
    with warnings.catch_warnings():  # some references have invalid escapes ("\\w")
        warnings.simplefilter("ignore")  # DeprecationWarning on 3.11, SyntaxWarning later
        tree, calls = ast.parse(code), ast.parse(test)
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    for node in ast.walk(calls):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in defined
        ):
            return node.func.id
    raise ConfigurationError(f"Cannot tell which function this MBPP test calls: {test}")


# -- dabench -----------------------------------------------------------------------------------


def _load_dabench(root: Path) -> SuiteData:
    folder = root / "dabench"
    labels = {row["id"]: row["common_answers"] for row in _jsonl(folder / "da-dev-labels.jsonl")}
    tasks, skipped = [], []
    for row in _jsonl(folder / "da-dev-questions.jsonl"):
        task_id = f"dabench-{row['id']}"
        table = folder / "tables" / row["file_name"]
        if not table.is_file():
            skipped.append((task_id, f"table {row['file_name']} is not in the snapshot"))
            continue
        answers = labels[row["id"]]
        expected = " ".join(f"@{name}[{value}]" for name, value in answers)
        prompt = (
            f"{row['question']}\n\nConstraints: {row['constraints']}\n\n"
            f"Answer format: {row['format']}\n\nThe data is in {row['file_name']}."
        )
        tasks.append(
            EvalTask(
                id=task_id,
                suite="dabench",
                prompt=prompt,
                expected=expected,
                files=(str(table),),
                oracle=_print_answer(expected),
            )
        )
    return SuiteData(tasks, skipped)


# -- operations_research -----------------------------------------------------------------------

OR_INSTRUCTION = "Solve it and give the optimal value of the objective function."
# The references are COPT programs; after one runs, the optimum is read from the COPT model
# it built, whatever the program named it.
_COPT_OBJECTIVE = f"""
import coptpy as _runpad_copt
_runpad_models = [v for v in list(globals().values()) if isinstance(v, _runpad_copt.Model)]
print({ORACLE_MARKER!r}, _runpad_models[-1].objval)
"""


def _load_operations_research(root: Path) -> SuiteData:
    tasks = []
    for source in ("industryor", "nl4opt"):
        for number, row in enumerate(_jsonl(root / "operations_research" / f"{source}.jsonl")):
            expected = _number_text(row["en_answer"])
            code = extract_code(row["en_math_model_coptpy_code"])
            recorded = parse_number(str(row.get("execution_best_solution")))
            gold = parse_number(expected)
            exclusion = None
            if code is None:
                exclusion = "the reference has no Python program"
            elif (
                recorded is None
                or gold is None
                or abs(recorded - gold) > 1e-4 * max(abs(gold), 1.0)
            ):
                exclusion = (
                    f"the reference program (ORLM-LLaMA-3-8B's) found "
                    f"{row.get('execution_best_solution')}, not the labelled optimum {expected}"
                )
            tasks.append(
                EvalTask(
                    id=f"{source}-{number:03d}",
                    suite="operations_research",
                    prompt=f"{row['en_question'].strip()}\n\n{OR_INSTRUCTION}",
                    expected=expected,
                    oracle=f"{code}\n{_COPT_OBJECTIVE}" if code and not exclusion else None,
                    oracle_exclusion=exclusion,
                )
            )
    return SuiteData(tasks)


# -- sql_defog ---------------------------------------------------------------------------------


def _load_sql_defog(root: Path) -> SuiteData:
    folder = root / "sql_defog"
    path = folder / "questions_gen_sqlite.csv"
    if not path.is_file():
        raise ConfigurationError(f"Benchmark file missing: {path}")
    tasks, skipped = [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            task_id = f"sql_defog-{number:03d}"
            database = folder / "sqlite" / f"{row['db_name']}.sqlite"
            if not database.is_file():
                skipped.append((task_id, f"database {database.name} is missing"))
                continue
            instructions = row.get("instructions", "").strip()
            prompt = (
                f"{row['question'].strip()}\n\nAnswer with a SQL query against the "
                f"{row['db_name']} database."
                + (f"\n\nInstructions: {instructions}" if instructions else "")
            )
            alternatives, failure = _working_alternatives(str(database), row["query"])
            if not alternatives:
                skipped.append((task_id, f"the gold query fails on {database.name}: {failure}"))
                continue
            tasks.append(
                EvalTask(
                    id=task_id,
                    suite="sql_defog",
                    prompt=prompt,
                    expected=row["query"],
                    database=str(database),
                    oracle=alternatives[0],
                    oracle_language="sql",
                )
            )
    return SuiteData(tasks, skipped)


def _working_alternatives(database: str, query: str) -> tuple[list[str], str]:
    """The gold query's alternatives that run on the SQLite file (some converted databases
    lack tables), and the last failure."""
    working, failure = [], ""
    for alternative in sql_alternatives(query):
        try:
            run_sqlite(database, alternative)
        except sqlite3.Error as exc:
            failure = str(exc)
        else:
            working.append(alternative)
    return working, failure


def sql_alternatives(query: str) -> list[str]:
    """A gold query's alternatives (defog writes them separated by `;`)."""
    return [part.strip() for part in query.split(";") if part.strip()]


# -- the registry ------------------------------------------------------------------------------


def _answer(check: Callable[[str | None, str], Check]) -> Callable[[str | None, EvalTask], Check]:
    return lambda text, task: check(text, task.expected)


def _numeric(rel_tol: float = 0.0, abs_tol: float = 0.0) -> Callable[[str | None, EvalTask], Check]:
    def check(text: str | None, task: EvalTask) -> Check:
        expected = parse_number(task.expected)
        if expected is None:
            return Check(False, None, f"the gold answer {task.expected!r} is not a number")
        return check_number(text, expected, rel_tol=rel_tol, abs_tol=abs_tol)

    return check


SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            name="tiny",
            description="30 small computational questions",
            kind="answer",
            oracle_kind="answer",
            load=_load_tiny,
            check_answer=_answer(check_tiny),
        ),
        Suite(
            name="gsm8k",
            description="grade-school math word problems",
            kind="answer",
            oracle_kind="answer",
            load=_load_gsm8k,
            check_answer=_numeric(rel_tol=1e-9),
        ),
        Suite(
            name="gsm_hard",
            description="GSM8K with large numbers (PAL)",
            kind="answer",
            oracle_kind="reference",
            load=_load_gsm_hard,
            check_answer=_numeric(abs_tol=1e-3),
        ),
        Suite(
            name="math500",
            description="competition mathematics (MATH-500)",
            kind="answer",
            oracle_kind="answer",
            load=_load_math500,
            check_answer=_answer(check_math),
        ),
        Suite(
            name="dabench",
            description="data analysis on CSV tables (InfiAgent-DABench)",
            kind="answer",
            oracle_kind="answer",
            load=_load_dabench,
            check_answer=_answer(check_dabench),
        ),
        Suite(
            name="operations_research",
            description="LP/MIP word problems (IndustryOR, NL4Opt)",
            kind="answer",
            oracle_kind="reference",
            load=_load_operations_research,
            check_answer=_answer(check_optimum),
        ),
        Suite(
            name="humaneval",
            description="function completion with unit tests",
            kind="program",
            oracle_kind="reference",
            load=_load_humaneval,
        ),
        Suite(
            name="mbpp",
            description="basic Python programs with unit tests (sanitized)",
            kind="program",
            oracle_kind="reference",
            load=_load_mbpp,
        ),
        Suite(
            name="sql_defog",
            description="text to SQL on SQLite databases (defog sql-eval)",
            kind="sql",
            oracle_kind="reference",
            load=_load_sql_defog,
        ),
    )
}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise ConfigurationError(
            f"Unknown suite {name!r}; choose one of: {', '.join(SUITES)}."
        ) from None
