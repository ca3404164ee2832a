"""Model resolution, record files and prompts: the failure paths say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from runpad.errors import ConfigurationError, MissingDependencyError
from runpad.models import FunctionChatModel, ReplayChatModel, ReplyRecorder, resolve_model
from runpad.prompts import render_prompt
from tests.fixtures.scripted import ONE_STEP, ROUTE_CODE, Script


def test_a_chat_model_object_is_used_as_is() -> None:
    model = FunctionChatModel(respond=lambda messages: "hi")
    assert resolve_model(model) is model


def test_malformed_model_string() -> None:
    with pytest.raises(ConfigurationError, match="provider:model"):
        resolve_model("gpt4")


def test_provider_package_missing_names_the_install() -> None:
    with pytest.raises(MissingDependencyError, match="pip install langchain-anthropic"):
        resolve_model("anthropic:claude-sonnet-4-5")


def test_nothing_configured_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    import runpad.models.resolve as resolve

    monkeypatch.delenv("RUNPAD_MODEL", raising=False)
    monkeypatch.setattr(resolve, "_local_installed", lambda: False)
    with pytest.raises(ConfigurationError, match="No model is configured") as error:
        resolve_model(None)
    assert "runpad[local]" in str(error.value)
    assert "openai:gpt-4.1" in str(error.value)


def test_environment_variable_chooses_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ReplyRecorder(tmp_path / "r.jsonl").record("coder", 0, "hello", {})
    monkeypatch.setenv("RUNPAD_MODEL", f"replay:{tmp_path / 'r.jsonl'}")
    model = resolve_model(None)
    assert isinstance(model, ReplayChatModel)
    assert model.reply("coder", 0) == "hello"


def test_record_round_trip(tmp_path: Path) -> None:
    recorder = ReplyRecorder(tmp_path / "run.jsonl")
    recorder.record("planner", 0, "1. step", {"input_tokens": 3, "output_tokens": 2})
    recorder.record("coder", 0, "```python\nprint(1)\n```", {})
    recorder.record("coder", 1, "```python\nprint(2)\n```", {})
    model = ReplayChatModel(path=str(tmp_path / "run.jsonl"))
    assert model.reply("coder", 1) == "```python\nprint(2)\n```"
    assert model.invoke("anything").content == "1. step"  # plain use: file order
    with pytest.raises(ConfigurationError, match="no reply for call 5 of the coder"):
        model.reply("coder", 5)


def test_missing_or_broken_record(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="No record file"):
        ReplayChatModel(path=str(tmp_path / "absent.jsonl"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"runpad_record": 1}\nnot json\n')
    with pytest.raises(ConfigurationError, match=r"broken\.jsonl:2 is not JSON"):
        ReplayChatModel(path=str(broken))


def test_prompts_render_strictly_and_can_be_overridden() -> None:
    text = render_prompt("router", None, task="What is 2+2?", files=[])
    assert "What is 2+2?" in text
    with pytest.raises(ConfigurationError, match="undefined variable"):
        render_prompt("router", None, files=[])
    custom = render_prompt("router", {"router": "Route: {{ task | upper }}"}, task="hi", files=[])
    assert custom == "Route: HI"
    with pytest.raises(ConfigurationError, match="Unknown prompt"):
        render_prompt("poet", None)


def test_the_embedded_model_gets_the_short_prompts() -> None:
    from runpad.context import Context
    from runpad.models.local import LocalChatModel
    from runpad.prompts import SMALL_MODEL_PROMPTS

    scripted = FunctionChatModel(respond=lambda messages: "ok")
    small = Context(model=LocalChatModel(), reviewer_model=scripted, prompts={"router": "Hi"})
    assert small.prompts_for("coder")["coder"] == SMALL_MODEL_PROMPTS["coder"]
    assert small.prompts_for("router")["router"] == "Hi"  # the caller's text wins
    assert small.prompts_for("reviewer") == {"router": "Hi"}  # another model: full prompts
    coder = render_prompt(
        "coder",
        small.prompts_for("coder"),
        task="What is 2 + 2?",
        files=[],
        columns={},
        last_error=None,
        feedback=None,
        cells=[],
        language="python",
    )
    assert coder == "Question: What is 2 + 2?\nWrite the Python script."


def test_the_coder_prompts_know_a_javascript_or_typescript_step() -> None:
    from runpad.prompts import SMALL_MODEL_PROMPTS

    plan = [{"description": "Total the orders", "success_criterion": "a number", "kind": "ts"}]
    common: dict[str, Any] = {
        "task": "Total",
        "files": ["orders.json"],
        "columns": {},
        "plan": plan,
        "step_index": 0,
        "last_error": None,
        "feedback": None,
        "findings": [],
        "schemas": [],
    }
    python_cell = {
        "index": 1,
        "language": "python",
        "code": "x = 1",
        "error": None,
        "stdout": "",
        "result": None,
        "artifacts": [],
    }
    full = render_prompt(
        "coder",
        None,
        language="typescript",
        packages=["lodash", "d3-array"],
        cells=[python_cell],
        **common,
    )
    assert "Write one TypeScript cell for step 1: Total the orders" in full
    assert "Reply with one ```typescript code block" in full
    assert "npm:lodash, npm:d3-array" in full
    assert "Deno.readTextFile" in full
    assert "```python\nx = 1\n```" in full  # earlier cells keep their own fence
    javascript = render_prompt(
        "coder", None, language="javascript", packages=[], cells=[], **common
    )
    assert "Write one JavaScript cell" in javascript
    assert "```javascript code block" in javascript
    assert "npm:" not in javascript  # no packages listed when none are cached
    small = render_prompt(
        "coder", SMALL_MODEL_PROMPTS, language="typescript", packages=[], cells=[], **common
    )
    assert "Write the TypeScript program for Deno" in small
    assert "Deno.readTextFile('orders.json')" in small
    assert "pandas" not in small


def test_the_planner_offers_typescript_steps() -> None:
    prompt = render_prompt(
        "planner",
        None,
        task="t",
        files=[],
        failure_notes=[],
        max_steps=3,
        databases={},
        scripts=True,
    )
    assert "[typescript] TypeScript (or [javascript] JavaScript) in a Deno kernel" in prompt
    without = render_prompt(
        "planner",
        None,
        task="t",
        files=[],
        failure_notes=[],
        max_steps=3,
        databases={},
        scripts=False,
    )
    assert "[typescript]" not in without


def test_the_short_coder_prompt_shows_a_sql_step_its_schema() -> None:
    # Without the schema the 0.5B guessed table names ("no such table: papers") in 42 of 50
    # sql_defog questions.
    from runpad.prompts import SMALL_MODEL_PROMPTS

    common: dict[str, Any] = {
        "task": "How many papers are there?",
        "files": [],
        "columns": {},
        "feedback": None,
        "language": "sql",
        "schemas": ["Database 'academic' (sqlite)\npublication(pid INTEGER, title TEXT)"],
    }
    first = render_prompt("coder", SMALL_MODEL_PROMPTS, last_error=None, cells=[], **common)
    assert first == (
        "Question: How many papers are there?\n"
        "Database 'academic' (sqlite)\npublication(pid INTEGER, title TEXT)\n"
        "Write one SQL query (SELECT) that answers the question, using only the tables and "
        "columns above."
    )
    failed = {"code": "SELECT COUNT(*) FROM papers", "language": "sql"}
    repair = render_prompt(
        "coder",
        SMALL_MODEL_PROMPTS,
        last_error="OperationalError: no such table: papers",
        cells=[failed],
        **common,
    )
    assert "publication(pid INTEGER, title TEXT)" in repair
    assert "```sql\nSELECT COUNT(*) FROM papers\n```" in repair
    assert repair.endswith("Write the corrected SQL query.")


def test_the_coder_prompts_name_the_columns_of_csv_files(tmp_path: Path) -> None:
    # Without them the 0.5B guessed column names ('sex', 'Year') in 17 of the 28 dabench
    # runs that stopped.
    from runpad.agents.planner import file_columns
    from runpad.prompts import SMALL_MODEL_PROMPTS

    titanic = tmp_path / "titanic.csv"
    titanic.write_text('\ufeffPassengerId,"Name, full",Sex\n1,"Braund, Mr. Owen",male\n')
    wind = tmp_path / "wind.TSV"
    wind.write_text("DATE\tWINDSPEED\n2020-01-01\t3.5\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("a,b,c\n")
    state: Any = {"files": [str(titanic), str(wind), str(notes), str(tmp_path / "gone.csv")]}

    columns = file_columns(state)

    assert columns == {
        "titanic.csv": ["PassengerId", "Name, full", "Sex"],
        "wind.TSV": ["DATE", "WINDSPEED"],
    }
    common: dict[str, Any] = {
        "task": "How many women?",
        "files": ["titanic.csv"],
        "columns": {"titanic.csv": columns["titanic.csv"]},
        "last_error": None,
        "feedback": None,
        "cells": [],
        "language": "python",
    }
    small = render_prompt("coder", SMALL_MODEL_PROMPTS, **common)
    assert "The columns of titanic.csv: PassengerId, Name, full, Sex\n" in small
    plan = [{"description": "Count", "success_criterion": "a number", "kind": "code"}]
    full = render_prompt(
        "coder", None, plan=plan, step_index=0, findings=[], schemas=[], packages=[], **common
    )
    assert "Columns of titanic.csv: PassengerId, Name, full, Sex\n" in full


def test_a_header_wider_than_the_read_is_cut_at_a_whole_column(tmp_path: Path) -> None:
    from runpad.agents.planner import file_columns

    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"column_{n}" for n in range(2000)) + "\n1\n")

    names = file_columns(cast(Any, {"files": [str(wide)]}))["wide.csv"]

    assert names == [f"column_{n}" for n in range(len(names))]  # no cut name at the end
    assert 0 < len(names) <= 60


async def test_a_run_shows_the_coder_the_columns_of_its_csv_file(
    tmp_path: Path, script: Script
) -> None:
    from runpad.context import Context
    from runpad.runner import arun

    sales = tmp_path / "sales.csv"
    sales.write_text("region,amount\nwest,3\neast,4\n")
    cell = "import csv\nprint(sum(int(row['amount']) for row in csv.DictReader(open('sales.csv'))))"
    coder = FunctionChatModel(replies=[f"```python\n{cell}\n```"])
    others = script(router=[ROUTE_CODE], planner=[ONE_STEP], reviewer=["VERDICT: done\nANSWER: 7"])
    async with Context(model=others, coder_model=coder, sandbox="fake") as context:
        result = await arun("What is the total amount?", files=[sales], context=context)

    assert result.answer == "7"
    assert "Columns of sales.csv: region, amount" in coder.calls[0].last.text
