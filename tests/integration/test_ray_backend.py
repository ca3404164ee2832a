"""The ray backend on a real three-node cluster (tests/fixtures/ray_cluster.py).

What the conformance suite cannot show: sessions go only where slots are free, a node that
dies mid-cell is a clear `SandboxLost`, and a graph whose node dies carries on elsewhere with
the same result, no cell lost and none run twice.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from runpad.context import Context
from runpad.errors import SandboxLost, SandboxStartError, SandboxUnavailable
from runpad.runner import arun
from runpad.sandbox import Limits, Sandbox, open_sandbox
from runpad.sandbox.manager import SandboxManager
from runpad.sandbox.ray import SLOT_RESOURCE, RaySandbox, node_resources
from tests.fixtures.cli import invoke
from tests.fixtures.dockerd import DockerEngine
from tests.fixtures.network import free_port
from tests.fixtures.ray_cluster import WORKER_SLOTS, RayCluster, node_resource
from tests.fixtures.requirements import unavailable
from tests.fixtures.scripted import code, write_script

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

LIMITS = Limits(timeout=60, start_timeout=60)


def on_node(name: str, **options: Any) -> RaySandbox:
    """A session that only worker `name` can hold."""
    sandbox = open_sandbox("ray", limits=LIMITS, resources={node_resource(name): 0.01}, **options)
    assert isinstance(sandbox, RaySandbox)
    return sandbox


def placed_on(cluster: RayCluster, sandbox: Sandbox) -> str:
    assert isinstance(sandbox, RaySandbox)
    assert sandbox.place is not None
    return cluster.worker_name(sandbox.place.node_id)


async def test_an_unreachable_address_is_refused_at_once() -> None:
    if importlib.util.find_spec("ray") is None:
        unavailable('Ray is not installed (pip install -e ".[ray]")')
    sandbox = open_sandbox("ray", address=f"127.0.0.1:{free_port()}")
    with pytest.raises(SandboxUnavailable, match=r"No Ray cluster answers at 127\.0\.0\.1"):
        await sandbox.start()
    assert not sandbox.is_running


def test_a_node_offers_slots_only_for_a_backend_that_works_there(
    require_sandbox: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert node_resources("local", slots=3).resources == {SLOT_RESOURCE: 3.0}
    with monkeypatch.context() as without_bwrap:  # a node where bubblewrap is missing
        without_bwrap.setenv("PATH", str(tmp_path))
        broken = node_resources("local", slots=3)
    assert broken.resources == {}
    assert broken.problem is not None
    assert "bubblewrap (bwrap) is not installed" in broken.problem
    refused = node_resources("e2b")
    assert refused.resources == {}
    assert refused.problem is not None
    assert "local or docker" in refused.problem
    # The command prints what `ray start --resources` takes, and nothing else on stdout.
    printed = invoke("sandbox", "node-resources", "--slots", "2")
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == {SLOT_RESOURCE: 2.0}
    none = invoke("sandbox", "node-resources", "--backend", "e2b")
    assert none.exit_code == 0
    assert json.loads(none.stdout) == {}
    assert "No sandbox slots on this node" in none.stderr


async def test_sessions_take_slots_and_wait_for_a_free_one(
    require_sandbox: None, ray_cluster: RayCluster
) -> None:
    ray_cluster.wait_for_slots(2 * WORKER_SLOTS)
    held = [on_node("a") for _ in range(WORKER_SLOTS)]
    try:
        for sandbox in held:
            await sandbox.start()
        assert {placed_on(ray_cluster, sandbox) for sandbox in held} == {"a"}
        # Node a is full: one more session for it waits, then gives up with the reason.
        extra = on_node("a", placement_timeout=3)
        with pytest.raises(SandboxStartError, match="No sandbox slot came free"):
            await extra.start()
        # A slot comes free when a session closes, and the next one takes it.
        await held.pop().close()
        async with on_node("a", placement_timeout=60) as sandbox:
            assert placed_on(ray_cluster, sandbox) == "a"
            assert (await sandbox.run("6 * 7")).text == "42"
    finally:
        for sandbox in held:
            await sandbox.close()


async def test_a_node_that_dies_during_a_cell_loses_the_session(
    require_sandbox: None, ray_cluster_worker_restored: RayCluster
) -> None:
    cluster = ray_cluster_worker_restored
    sandbox = on_node("b")
    await sandbox.start()
    try:
        await sandbox.run("x = 1")
        started = asyncio.Event()
        cell = asyncio.create_task(
            sandbox.run(
                "import time\nprint('working', flush=True)\ntime.sleep(60)",
                on_output=lambda chunk: started.set(),
            )
        )
        await asyncio.wait_for(started.wait(), 60)
        await asyncio.to_thread(cluster.kill_worker, "b")
        with pytest.raises(SandboxLost, match="lost during a cell"):
            await asyncio.wait_for(cell, 60)
        assert not sandbox.is_running
        assert not sandbox.is_alive
        with pytest.raises(SandboxLost):
            await sandbox.run("x")
    finally:
        await sandbox.close()
    # The cluster carries on: a new session lands on the node that is left.
    async with open_sandbox("ray", limits=LIMITS) as again:
        assert placed_on(cluster, again) == "a"
        assert (await again.run("2 + 2")).text == "4"


CELLS = [
    "x = 1\nprint(x)",
    "import time\nprint('adding', flush=True)\ntime.sleep(6)\nx += 10\nprint(x)",
    "print(x * 2)",
]


async def test_a_graph_whose_node_dies_finishes_on_another_node(
    require_sandbox: None, ray_cluster_worker_restored: RayCluster, tmp_path: Path
) -> None:
    cluster = ray_cluster_worker_restored
    model = write_script(
        tmp_path / "script.jsonl",
        router=["ROUTE: code"],
        planner=["1. Set x | check: ok\n2. Add ten | check: ok\n3. Double | check: ok"],
        coder=[code(cell) for cell in CELLS],
        reviewer=["VERDICT: next", "VERDICT: next", "VERDICT: done\nANSWER: 22"],
    )
    manager = SandboxManager("ray", factory=lambda: open_sandbox("ray", limits=LIMITS))
    thread_id = "ray-node-dies"
    killed: list[str] = []
    kills: list[asyncio.Task[None]] = []
    notices: list[str] = []
    restores: list[dict[str, Any]] = []

    async def on_event(mode: str, chunk: Any) -> None:
        if mode != "custom":
            return
        if chunk.get("type") == "stderr" and "[runpad]" in chunk.get("text", ""):
            notices.append(chunk["text"])
        if chunk.get("type") == "session_restored":
            restores.append(chunk)
        if chunk.get("type") == "stdout" and "adding" in chunk["text"] and not killed:
            sandbox, fresh = await manager.session(thread_id)
            assert not fresh
            killed.append(placed_on(cluster, sandbox))
            kills.append(asyncio.create_task(asyncio.to_thread(cluster.kill_worker, killed[0])))

    try:
        async with Context(model=model, sandboxes=manager, run_dir=str(tmp_path / "runs")) as ctx:
            result = await arun(
                "Run the cells",
                context=ctx,
                thread_id=thread_id,
                checkpointer=str(tmp_path / "checkpoints.sqlite"),
                on_event=on_event,
            )
            await asyncio.gather(*kills)
            final, _ = await manager.session(thread_id)
            survivor = placed_on(cluster, final)
    finally:
        await manager.aclose()
    assert killed, "the cell never started on a node"
    assert survivor != killed[0]
    assert len(notices) == 1
    assert "lost during a cell" in notices[0]
    # Rebuilt the way a resume is: cell 1's snapshot, carried from the dead node by the host.
    assert [restore["snapshot_cell"] for restore in restores] == [1]
    assert result.status == "answered", result.stop_reason
    # Every cell once, in order, each seeing what the earlier ones left: cell 2's
    # `x += 10` ran exactly once in the kernel that finished (21 and 42 if twice).
    assert [cell["index"] for cell in result.cells] == [1, 2, 3]
    assert all(cell["ok"] for cell in result.cells)
    assert [cell["stdout"].split()[-1] for cell in result.cells] == ["1", "11", "22"]


async def test_a_node_holds_docker_sessions_too(
    ray_cluster: RayCluster, docker_engine: DockerEngine, docker_image: str
) -> None:
    # The nodes started before this test's Docker engine: the actor is told where it is.
    sandbox = open_sandbox(
        "ray",
        backend="docker",
        image=docker_image,
        limits=LIMITS,
        runtime_env={"env_vars": {"DOCKER_HOST": docker_engine.host}},
    )
    async with sandbox:
        chunks: list[str] = []
        execution = await sandbox.run(
            "import os\nprint(os.path.exists('/.dockerenv'))\n6 * 7",
            on_output=lambda chunk: chunks.append(chunk.text),
        )
        assert execution.text == "42"
        assert "".join(chunks).strip() == "True"
        assert placed_on(ray_cluster, sandbox) in {"a", "b"}


CHILD = """
import asyncio, sys
from runpad.context import Context
from runpad.sandbox.ray import RaySandbox

async def main() -> None:
    async with Context(sandbox="ray", ray_address=sys.argv[1]) as context:
        sandbox, _ = await context.sandbox_manager.session("t")
        assert isinstance(sandbox, RaySandbox)
        print((await sandbox.run("6 * 7")).text, sandbox.address)

asyncio.run(main())
"""


async def test_a_process_joins_the_cluster_from_its_context_settings(
    require_sandbox: None, ray_cluster: RayCluster
) -> None:
    # A process that never called ray.init: Context(ray_address=...) connects it.
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        ray_cluster.address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), 240)
    assert child.returncode == 0, stderr.decode()[-3000:]
    assert stdout.decode().split() == ["42", ray_cluster.address]
