"""LangGraph Studio's server: `langgraph dev` serves the graph, driven with `langgraph_sdk`.

The server is started on a free loopback port, offline (no analytics, no version check, no
tracing), in a temporary directory (it keeps its state in `.langgraph_api/` there). The
model is a scripted one, chosen through the run's context like any other setting.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.network import free_port
from tests.fixtures.requirements import unavailable
from tests.fixtures.scripted import code, write_script

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "NO_COLOR": "1",
}
_API_LINE = re.compile(r"API: (?:\x1b\[[0-9;]*m)?(http://127\.0\.0\.1:(\d+))")


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a `langgraph dev` server for this module's tests."""
    executable = shutil.which("langgraph")
    if executable is None:
        unavailable("langgraph-cli is not installed (pip install 'runpad[studio]')")
    workdir = tmp_path_factory.mktemp("studio")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    process = subprocess.Popen(
        [
            executable,
            "dev",
            "--config",
            str(ROOT / "langgraph.json"),
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--no-browser",
            "--no-reload",
        ],
        cwd=workdir,
        env={**env, **OFFLINE},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            # The port it really bound: langgraph picks another when ours was taken.
            if not found.is_set() and (match := _API_LINE.search(line)):
                url.append(match.group(1))
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not found.wait(60):
            pytest.fail("langgraph dev did not start:\n" + "".join(lines[-50:]))
        _wait_until_ready(url[0], process, lines)
        yield url[0]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        # No BlockingError (a blocking call in an async node) or other trace in its log.
        log = "".join(lines)
        assert "BlockingError" not in log, log[-5000:]


def _wait_until_ready(url: str, process: subprocess.Popen[str], lines: list[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("langgraph dev exited:\n" + "".join(lines[-50:]))
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ok", timeout=2) as ok:
            if ok.status == 200:
                return
        time.sleep(0.2)
    pytest.fail("langgraph dev never answered /ok:\n" + "".join(lines[-50:]))


async def collect(parts: Any) -> list[tuple[str, Any]]:
    return [(part.event, part.data) async for part in parts]


async def test_schemas_show_the_run_settings(studio_url: str) -> None:
    from langgraph_sdk import get_client

    async with get_client(url=studio_url) as client:
        (assistant,) = await client.assistants.search(graph_id="runpad")
        schemas = await client.assistants.get_schemas(assistant["assistant_id"])

    assert schemas["context_schema"] is not None
    assert schemas["input_schema"] is not None
    settings = schemas["context_schema"]["properties"]
    for name in ("model", "coder_model", "sandbox", "limits", "sandbox_limits", "approve"):
        assert name in settings
    assert "sandboxes" not in settings  # live objects are not settings
    assert set(schemas["input_schema"]["properties"]) == {"task", "files"}


async def test_run_streams_pauses_for_approval_resumes_and_keeps_history(
    studio_url: str, tmp_path: Path
) -> None:
    from langgraph_sdk import get_client

    model = write_script(
        tmp_path / "script.jsonl",
        router=["ROUTE: code"],
        planner=["1. Set x | check: printed\n2. Double x | check: the double is printed"],
        coder=[code("x = 21\nprint('x is', x)"), code("print('double:', x * 2)")],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: 42"],
    )
    context = {"model": model, "approve": True, "run_dir": str(tmp_path / "runs")}
    async with get_client(url=studio_url) as client:
        await drive_the_run(client, context)


async def drive_the_run(client: Any, context: dict[str, Any]) -> None:
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    modes = ["updates", "custom"]

    first = await collect(
        client.runs.stream(
            thread_id,
            "runpad",
            input={"task": "Double twenty-one"},
            context=context,
            stream_mode=modes,
        )
    )

    assert ("updates", None) not in first
    nodes = [next(iter(data)) for event, data in first if event == "updates"]
    assert nodes[:3] == ["router", "planner", "coder"]
    assert nodes[-1] == "__interrupt__"
    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["approval"]
    (interrupt,) = state["tasks"][0]["interrupts"]
    assert interrupt["value"]["code"] == "x = 21\nprint('x is', x)"

    events: list[tuple[str, Any]] = []
    for _ in range(2):  # approve both cells, one run each
        events += await collect(
            client.runs.stream(
                thread_id,
                "runpad",
                command={"resume": {"action": "approve"}},
                context=context,
                stream_mode=modes,
            )
        )

    custom = [data for event, data in events if event == "custom"]
    stdout = "".join(e["text"] for e in custom if e["type"] == "stdout")
    assert stdout == "x is 21\ndouble: 42\n"  # streamed as the cells ran
    assert [e["index"] for e in custom if e["type"] == "cell"] == [1, 2]
    # One session served both runs: the kernel kept x, nothing was replayed.
    assert not [e for e in custom if e["type"] == "session_restored"]
    assert not [data for event, data in events if event == "error"]
    final = await client.threads.get_state(thread_id)
    assert final["values"]["status"] == "answered"
    assert final["values"]["answer"] == "42"
    assert [cell["stdout"] for cell in final["values"]["cells"]] == ["x is 21\n", "double: 42\n"]

    history = await client.threads.get_history(thread_id, limit=100)
    steps = [tuple(snapshot["next"]) for snapshot in reversed(history)]
    assert steps[0] == ("__start__",)
    assert steps[-1] == ()
    assert steps.count(("approval",)) == 2
    assert steps.count(("executor",)) == 2
    assert steps.index(("executor",)) < steps.index(("reviewer",)) < steps.index(("reporter",))
