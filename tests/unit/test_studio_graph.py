"""The graph LangGraph Studio loads: langgraph.json, its settings schema, its sessions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from runpad.context import RunLimits
from runpad.graphs.studio import StudioContext, close_sessions, graph
from runpad.sandbox.manager import SandboxManager

ROOT = Path(__file__).resolve().parents[2]


def test_langgraph_json_serves_the_studio_graph_offline() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())

    assert config["graphs"] == {"runpad": "runpad.graphs.studio:graph"}
    assert config["env"]["LANGGRAPH_CLI_NO_ANALYTICS"] == "1"
    assert config["env"]["LANGGRAPH_NO_VERSION_CHECK"] == "true"


def test_the_graph_has_no_checkpointer_and_json_settings() -> None:
    assert graph.checkpointer is None  # the server brings its own

    schema = graph.get_context_jsonschema()
    assert schema is not None
    settings = schema["properties"]

    assert settings["model"]["type"] == ["string", "null"]
    assert settings["approve"]["type"] == "boolean"
    assert "limits" in settings
    assert "sandbox_limits" in settings
    assert "sandboxes" not in settings  # a live object is no setting
    json.dumps(schema)  # all of it is JSON


def test_importing_the_module_starts_nothing() -> None:
    probe = (
        "import runpad.graphs.studio as studio; "
        "assert not studio._MANAGERS, studio._MANAGERS; print('clean')"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "clean", result.stderr


async def test_settings_from_json_share_one_sandbox_manager_per_backend() -> None:
    from_json: dict[str, Any] = json.loads('{"sandbox": "fake", "limits": {"max_cells": 3}}')
    first = StudioContext(**from_json)
    second = StudioContext(sandbox="fake")
    other = StudioContext(sandbox="fake", sandbox_limits={"timeout": 5})  # type: ignore[arg-type]
    try:
        assert first.limits == RunLimits(max_cells=3)
        assert first.sandbox_manager is second.sandbox_manager
        assert other.sandbox_manager is not first.sandbox_manager
    finally:
        await close_sessions()


async def test_idle_sessions_are_closed_when_another_is_asked_for() -> None:
    manager = SandboxManager("fake", idle_seconds=0)
    try:
        sandbox, fresh = await manager.session("a")
        assert fresh
        again, fresh = await manager.session("a")
        assert again is sandbox
        assert not fresh
        await manager.session("b")  # "a" has been idle for more than 0 s
        assert not sandbox.is_running
        assert not manager.has_session("a")
    finally:
        await manager.aclose()
