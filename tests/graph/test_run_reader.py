"""`runpad.runs` reads a SQLite checkpoint store as LangGraph itself does.

`runpad threads`, `show` and `export` read runs without LangGraph (`runpad.runs`); what they
show must be what `runpad.runner.aget_run` / `alist_runs`, which ask the compiled graph,
return for the same store: answered, waiting for approval and stopped runs alike. Where the
light reader cannot read a checkpoint exactly it refuses, and the commands ask LangGraph.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import ormsgpack
import pytest
from typer.testing import CliRunner

from runpad.cli import EXIT_OK, EXIT_USAGE, app
from runpad.errors import RunNotFound
from runpad.runner import aget_run, alist_runs, arun
from runpad.runs import UnsupportedCheckpoint, list_sqlite_runs, read_sqlite_run
from tests.fixtures.scripted import ONE_STEP, code, write_script
from tests.fixtures.stored_runs import LONG_LINE, StoredRuns


def store_of(runs: Path) -> Path:
    return runs / "checkpoints.sqlite"


@pytest.mark.parametrize("thread", ["answered", "waiting", "stopped"])
async def test_a_run_reads_the_same_as_through_langgraph(
    stored_runs: StoredRuns, thread: str
) -> None:
    runs = stored_runs.runs

    light = read_sqlite_run(thread, store_of(runs), runs)
    through_graph = await aget_run(thread, run_dir=runs)

    assert light == through_graph
    assert light is not None
    assert (
        light.status
        == {
            "answered": "answered",
            "waiting": "awaiting_approval",
            "stopped": "stopped",
        }[thread]
    )


async def test_the_list_of_runs_reads_the_same_as_through_langgraph(
    stored_runs: StoredRuns,
) -> None:
    runs = stored_runs.runs

    light = list_sqlite_runs(store_of(runs))

    assert light == await alist_runs(run_dir=runs)
    assert {summary.thread_id for summary in light} == {"answered", "waiting", "stopped"}
    stopped = next(summary for summary in light if summary.thread_id == "stopped")
    assert stopped.stop_reason is not None
    assert "SyntaxError" in stopped.stop_reason


async def test_an_unknown_thread_is_none_and_reading_changes_nothing(
    stored_runs: StoredRuns,
) -> None:
    store = store_of(stored_runs.runs)
    before = store.read_bytes()

    assert read_sqlite_run("nope", store, stored_runs.runs) is None
    with pytest.raises(RunNotFound, match="No run with thread id 'nope'"):
        await aget_run("nope", run_dir=stored_runs.runs)
    assert store.read_bytes() == before


def _json_checkpoints(store: Path, thread: str) -> None:
    """Store a thread's checkpoints as LangGraph's "json" blobs, which LangGraph reads and
    the light reader leaves to it."""
    with sqlite3.connect(store) as connection:
        rows = connection.execute(
            "SELECT checkpoint_id, checkpoint FROM checkpoints WHERE thread_id = ?", (thread,)
        ).fetchall()
        for checkpoint_id, blob in rows:
            document = json.dumps(ormsgpack.unpackb(blob, option=ormsgpack.OPT_NON_STR_KEYS))
            connection.execute(
                "UPDATE checkpoints SET type = 'json', checkpoint = ? WHERE checkpoint_id = ?",
                (document.encode(), checkpoint_id),
            )


def test_a_checkpoint_the_light_reader_cannot_read_goes_to_langgraph(
    stored_runs: StoredRuns, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(stored_runs.runs, runs)
    _json_checkpoints(store_of(runs), "answered")
    with pytest.raises(UnsupportedCheckpoint, match="'json' blob"):
        read_sqlite_run("answered", store_of(runs), runs)

    shown = CliRunner().invoke(app, ["show", "answered", "--out", str(runs), "--json"])
    listed = CliRunner().invoke(app, ["threads", "--out", str(runs), "--json"])

    assert shown.exit_code == EXIT_OK, shown.output
    assert json.loads(shown.stdout)["answer"] == "42"
    assert listed.exit_code == EXIT_OK, listed.output
    statuses = {run["thread_id"]: run["status"] for run in json.loads(listed.stdout)}
    assert statuses == {
        "answered": "answered",
        "waiting": "awaiting_approval",
        "stopped": "stopped",
    }


def test_show_and_threads_give_a_stopped_run_one_readable_line(stored_runs: StoredRuns) -> None:
    out = ["--out", str(stored_runs.runs)]

    shown = CliRunner().invoke(app, ["show", "stopped", *out])
    report = (stored_runs.runs / "stopped" / "report.md").read_text()

    assert shown.exit_code == EXIT_OK, shown.output
    assert "SyntaxError" in shown.stdout
    assert LONG_LINE[:400] not in shown.stdout
    assert LONG_LINE[:400] in report  # the report file keeps the whole reason
    assert CliRunner().invoke(app, ["show", "nope", *out]).exit_code == EXIT_USAGE


def test_a_file_that_is_no_checkpoint_store_is_left_to_langgraph(tmp_path: Path) -> None:
    store = tmp_path / "checkpoints.sqlite"
    sqlite3.connect(store).close()

    with pytest.raises(UnsupportedCheckpoint, match="no such table"):
        list_sqlite_runs(store)
    with pytest.raises(UnsupportedCheckpoint, match="no such table"):
        read_sqlite_run("any", store, tmp_path)


@pytest.mark.integration
def test_a_postgresql_store_is_read_through_langgraph(postgres_url: str, tmp_path: Path) -> None:
    """`threads` and `show` on a PostgreSQL store: the light reader is for SQLite files;
    LangGraph's own saver reads the server."""
    model = write_script(
        tmp_path / "script.jsonl",
        router=["ROUTE: code"],
        planner=[ONE_STEP],
        coder=[code("print(6 * 7)")],
        reviewer=["VERDICT: done\nANSWER: 42"],
    )
    thread = f"pg-{tmp_path.name}"
    runs = tmp_path / "runs"
    asyncio.run(
        arun(
            "Six times seven",
            thread_id=thread,
            model=model,
            sandbox="fake",
            run_dir=str(runs),
            checkpointer=postgres_url,
        )
    )
    store = ["--checkpoints", postgres_url, "--out", str(runs)]

    listed = CliRunner().invoke(app, ["threads", *store, "--json"])
    shown = CliRunner().invoke(app, ["show", thread, *store, "--json"])

    assert listed.exit_code == EXIT_OK, listed.output
    assert {"thread_id": thread, "status": "answered"}.items() <= next(
        run for run in json.loads(listed.stdout) if run["thread_id"] == thread
    ).items()
    assert shown.exit_code == EXIT_OK, shown.output
    assert json.loads(shown.stdout)["answer"] == "42"
    assert not (runs / "checkpoints.sqlite").exists()
