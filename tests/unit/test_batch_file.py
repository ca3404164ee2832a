"""`runpad batch`'s file and refusals that need no cluster: a bad line is named and nothing
runs, an unreachable address exits 2, thread ids are stable, SQLite on several nodes is
refused (the same refusal on a real cluster: tests/cluster/test_batch_cluster.py)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from runpad.cli import EXIT_USAGE
from runpad.cluster import BatchTask, ClusterInfo, batch_id_of, read_tasks, refuse_sqlite
from runpad.errors import ConfigurationError
from tests.fixtures.cli import invoke


def write_lines(path: Path, *lines: object) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def test_a_file_is_read_whole_with_files_resolved_from_its_folder(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    path = write_lines(
        tmp_path / "tasks.jsonl",
        {"task": "Sum a", "files": ["data.csv"], "settings": {"limits": {"max_cells": 4}}},
        "",
        {"id": "second", "task": "Count rows", "databases": {"shop": "sqlite:///shop.db"}},
    )

    first, second = read_tasks(path)

    assert (first.line, first.id, first.files) == (1, "line-1", (str(tmp_path / "data.csv"),))
    assert first.settings == {"limits": {"max_cells": 4}}
    assert (second.line, second.id, second.databases) == (
        3,
        "second",
        {"shop": "sqlite:///shop.db"},
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: a JSON object is expected, not list"),
        ({"task": ""}, 'line 2: "task" must be a non-empty string'),
        ({"task": "x", "colour": 1}, "line 2: unknown key(s) colour"),
        ({"task": "x", "files": ["missing.csv"]}, "line 2: input file(s) not found"),
        ({"task": "x", "id": "a b"}, 'line 2: "id" must be 1 to 64 letters'),
        ({"task": "x", "settings": {"approve": True}}, "a batch has nobody to approve cells"),
        ({"task": "x", "settings": {"modle": "local"}}, 'unknown setting "settings.modle"'),
        ({"task": "x", "settings": {"sandbox": "bwrap"}}, "Unknown sandbox backend 'bwrap'"),
        ({"task": "x", "settings": {"limits": {"max_cels": 3}}}, "line 2: "),
        ({"task": "x", "databases": {"shop": "shop.db"}}, "is not a database URL"),
        ({"task": "x", "id": "ok"}, "the id 'ok' is also line 1's"),
    ],
)
def test_a_bad_line_is_named_and_nothing_runs(tmp_path: Path, line: object, message: str) -> None:
    path = write_lines(tmp_path / "tasks.jsonl", {"id": "ok", "task": "fine"}, line)

    with pytest.raises(ConfigurationError, match="Nothing was run") as caught:
        read_tasks(path)

    assert message in str(caught.value)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="has no tasks"):
        read_tasks(write_lines(tmp_path / "tasks.jsonl", "", "  "))


def test_thread_ids_are_stable_and_change_with_the_task(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "tasks.jsonl", {"id": "q1", "task": "What is 2 + 2?"})
    again = write_lines(tmp_path / "again.jsonl", {"id": "q1", "task": "What is 2 + 2?"})
    edited = write_lines(tmp_path / "edited.jsonl", {"id": "q1", "task": "What is 2 + 3?"})
    (task,), (same,), (other,) = read_tasks(path), read_tasks(again), read_tasks(edited)

    assert task.thread_id("b1") == same.thread_id("b1")
    assert task.thread_id("b1").startswith("b1-q1-")
    assert other.thread_id("b1") != task.thread_id("b1")  # never resumes another task's run
    assert batch_id_of(path) == batch_id_of(path)
    assert batch_id_of(path).startswith("tasks-")
    assert batch_id_of(edited) != batch_id_of(path).replace("tasks", "edited")


def test_the_cli_names_the_bad_line_and_exits_2(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "tasks.jsonl", {"task": "fine"}, {"task": 3})

    result = invoke("batch", str(path), "--cluster", "local", "--out", str(tmp_path / "runs"))

    assert result.exit_code == EXIT_USAGE, result.output
    assert "tasks.jsonl, line 2" in result.output
    assert not (tmp_path / "runs").exists()  # nothing ran, nothing was written


def test_an_unreachable_cluster_exits_2(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "tasks.jsonl", {"task": "fine"})
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = invoke("batch", str(path), "--cluster", f"127.0.0.1:{port}", "--out", str(tmp_path))

    assert result.exit_code == EXIT_USAGE, result.output
    assert f"The Ray cluster at 127.0.0.1:{port} does not answer" in result.output
    assert "not HOST:PORT" in invoke("batch", str(path), "--cluster", "nowhere").output


def test_sqlite_is_refused_on_several_nodes_only() -> None:
    one = ClusterInfo(address="auto", nodes=("a",), slots=2, cpus=2)
    three = ClusterInfo(address="auto", nodes=("a", "b", "c"), slots=6, cpus=6)

    refuse_sqlite(one, None)
    refuse_sqlite(three, "postgresql://runpad@db/runpad")
    with pytest.raises(ConfigurationError, match="Use PostgreSQL: --checkpoints postgresql://"):
        refuse_sqlite(three, "/shared/checkpoints.sqlite")


def test_tasks_given_as_objects_need_a_batch_id() -> None:
    import runpad

    task = BatchTask(line=1, task="x", id="x")
    with pytest.raises(ConfigurationError, match="need a batch_id"):
        runpad.batch([task])


def scripted_roles(answer: str) -> dict[str, object]:
    """A `model_factory` for the tests: importable, as every node must import it."""
    from runpad.models import FunctionChatModel

    return {"model": FunctionChatModel(respond=lambda _: answer)}


def test_a_model_factory_is_checked_when_the_file_is_read(tmp_path: Path) -> None:
    factory = f"{__name__}:scripted_roles"
    good = write_lines(
        tmp_path / "good.jsonl",
        {
            "task": "x",
            "settings": {"model_factory": factory, "model_factory_args": {"answer": "4"}},
        },
    )
    (task,) = read_tasks(good)
    assert task.settings["model_factory"] == factory

    for settings, message in [
        ({"model_factory": "no colon"}, "is not of the form 'package.module:function'"),
        ({"model_factory": "runpad.nowhere:make"}, "cannot be imported"),
        ({"model_factory_args": {}}, '"settings.model_factory_args" goes with'),
    ]:
        path = write_lines(tmp_path / "bad.jsonl", {"task": "x", "settings": settings})
        with pytest.raises(ConfigurationError, match="line 1") as caught:
            read_tasks(path)
        assert message in str(caught.value)


def test_the_factory_makes_the_models_where_the_task_runs() -> None:
    from runpad.cluster.driver import _with_models

    settings = _with_models(
        {
            "sandbox": "local",
            "model_factory": f"{__name__}:scripted_roles",
            "model_factory_args": {"answer": "4"},
        }
    )

    assert set(settings) == {"sandbox", "model"}
    assert settings["model"].invoke("2 + 2?").text == "4"
    with pytest.raises(ConfigurationError, match="returned planner"):
        _with_models({"model_factory": f"{__name__}:wrong_roles"})


def wrong_roles() -> dict[str, object]:
    return {"planner": None}
