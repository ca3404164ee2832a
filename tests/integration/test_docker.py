"""The docker backend against a real engine (a private dockerd, see conftest.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import docker
import pytest

from runpad.errors import SandboxUnavailable
from runpad.sandbox import Limits, open_sandbox
from runpad.sandbox.docker.image import build_local_image
from runpad.sandbox.docker.sandbox import (
    LABEL_OWNER_HOST,
    LABEL_OWNER_PID,
    LABEL_SESSION,
    DockerSandbox,
    remove_orphan_containers,
    seccomp_profile,
)
from tests.fixtures.dockerd import DockerEngine

pytestmark = pytest.mark.integration

LIMITS = Limits(timeout=20, interrupt_grace=1.0, memory_mb=512, processes=64)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def sandbox(docker_image: str) -> AsyncIterator[DockerSandbox]:
    session = open_sandbox("docker", limits=LIMITS)
    assert isinstance(session, DockerSandbox)
    async with session:
        yield session


async def test_variables_persist_between_cells(sandbox: DockerSandbox) -> None:
    assert (await sandbox.run("x = 21")).ok
    execution = await sandbox.run("print('half', x)\nx * 2")
    assert execution.stdout == "half 21\n"
    assert execution.text == "42"
    assert execution.execution_count == 2


async def test_errors_are_values_and_shell_cells_run(sandbox: DockerSandbox) -> None:
    failed = await sandbox.run("1 / 0")
    assert failed.error is not None
    assert failed.error.name == "ZeroDivisionError"
    assert "1 / 0" in failed.error.traceback
    shell = await sandbox.run("echo from $(basename $SHELL) | tr a-z A-Z", language="shell")
    assert shell.ok, shell.error
    assert shell.stdout == "FROM BASH\n"


async def test_a_matplotlib_figure_comes_back_as_png(sandbox: DockerSandbox) -> None:
    execution = await sandbox.run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('chart')\nplt.show()"
    )
    assert execution.ok, execution.error
    assert execution.stderr == ""  # no font cache rebuild, no warnings
    assert len(execution.images) == 1
    assert execution.images[0].startswith(PNG_MAGIC)


async def test_files_and_artifacts(sandbox: DockerSandbox) -> None:
    await sandbox.upload(b"a,b\n1,2\n", "data/in.csv")
    # The sandbox user may change what the host uploaded, as with the local backend.
    execution = await sandbox.run(
        "import pandas as pd\n"
        "frame = pd.read_csv('data/in.csv')\n"
        "frame['c'] = frame.a + frame.b\n"
        "frame.to_csv('data/in.csv', index=False)\n"
        "open('out.txt', 'w').write('result')"
    )
    assert execution.ok, execution.error
    names = {artifact.name: artifact for artifact in execution.artifacts}
    assert set(names) == {"data/in.csv", "out.txt"}
    assert names["out.txt"].sha256 == hashlib.sha256(b"result").hexdigest()
    assert names["out.txt"].mime_type == "text/plain"
    assert await sandbox.download("data/in.csv") == b"a,b,c\n1,2,3\n"
    listed = {info.name: info for info in await sandbox.list_files()}
    assert listed["data"].is_dir
    assert listed["out.txt"].size == 6


async def test_a_timeout_interrupts_and_the_next_cell_answers(sandbox: DockerSandbox) -> None:
    await sandbox.run("kept = 'yes'")
    slow = await sandbox.run("import time\nwhile True: time.sleep(0.01)", timeout=1.5)
    assert slow.timed_out
    assert not slow.restarted
    assert slow.error is not None
    assert slow.error.name == "TimeoutError"
    assert (await sandbox.run("kept")).text == "'yes'"


async def test_a_cell_that_ignores_interrupts_is_ended_by_a_restart(
    sandbox: DockerSandbox,
) -> None:
    stubborn = await sandbox.run(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)",
        timeout=1.0,
    )
    assert stubborn.timed_out
    assert stubborn.restarted
    assert (await sandbox.run("6 * 7")).text == "42"


async def test_interrupt_stops_the_running_cell(sandbox: DockerSandbox) -> None:
    running = asyncio.create_task(sandbox.run("import time\ntime.sleep(30)"))
    await asyncio.sleep(1.0)
    await sandbox.interrupt()
    execution = await asyncio.wait_for(running, 10)
    assert execution.error is not None
    assert execution.error.name == "KeyboardInterrupt"
    assert not execution.timed_out


async def test_restart_clears_state_and_keeps_files(sandbox: DockerSandbox) -> None:
    await sandbox.run("x = 1\nopen('kept.txt', 'w').write('kept')")
    await sandbox.restart()
    gone = await sandbox.run("x")
    assert gone.error is not None
    assert gone.error.name == "NameError"
    assert (await sandbox.run("open('kept.txt').read()")).text == "'kept'"


async def test_running_out_of_memory_kills_and_restarts_the_kernel(
    sandbox: DockerSandbox,
) -> None:
    execution = await sandbox.run("import numpy as np\nblock = np.ones(2 * 1024**3 // 8)\n")
    assert execution.restarted
    assert execution.error is not None
    assert execution.error.name == "KernelDied"
    assert "out of memory" in execution.error.value
    assert (await sandbox.run("1 + 1")).text == "2"


_HARDENING_PROBE = """\
import ctypes, errno, json, os
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
def _attempt(action):
    try:
        action()
        return "succeeded"
    except OSError as exc:
        return errno.errorcode[exc.errno]
def _ptrace_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, 1, None, None) != 0:  # PTRACE_ATTACH to pid 1
        raise OSError(ctypes.get_errno(), "ptrace")
def _swap_connection_file():  # the host rewrites it at restarts: a link would aim its write
    open("/run/runpad/planted", "w").close()
    os.replace("/run/runpad/planted", "/run/runpad/kernel.json")
print(json.dumps({
    "uid": os.getuid(),
    "gid": os.getgid(),
    "interfaces": sorted(os.listdir("/sys/class/net")),
    "write root": _attempt(lambda: open("/usr/planted", "w")),
    "swap connection file": _attempt(_swap_connection_file),
    "ptrace": _attempt(_ptrace_parent),
    "capabilities": [status["CapEff"].strip(), status["CapBnd"].strip()],
    "no_new_privs": status["NoNewPrivs"].strip(),
    "seccomp": status["Seccomp"].strip(),
    "nameservers": open("/etc/resolv.conf").read().count("nameserver"),
}))
"""


async def test_the_container_is_hardened(sandbox: DockerSandbox) -> None:
    probe = await sandbox.run(_HARDENING_PROBE)
    assert probe.ok, probe.error
    assert json.loads(probe.stdout) == {
        "uid": 1000,
        "gid": 1000,
        "interfaces": ["lo"],
        "write root": "EROFS",
        "swap connection file": "EBUSY",  # a read-only mount, which cannot be replaced
        "ptrace": "EPERM",  # runpad's seccomp filter, not the engine's default
        "capabilities": ["0000000000000000", "0000000000000000"],
        "no_new_privs": "1",
        "seccomp": "2",
        "nameservers": 0,  # not the host's resolver
    }
    host_config = sandbox.container.attrs["HostConfig"]
    assert host_config["NetworkMode"] == "none"
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"]
    assert host_config["SecurityOpt"] == ["no-new-privileges", f"seccomp={seccomp_profile()}"]
    assert host_config["Memory"] == host_config["MemorySwap"] == LIMITS.memory_mb * 1024**2
    assert host_config["PidsLimit"] == LIMITS.processes
    assert host_config["NanoCpus"] == 10**9
    assert set(host_config["Tmpfs"]) == {"/tmp", "/home/sandbox"}
    assert sandbox.container.attrs["Config"]["User"] == "1000:1000"


async def test_orphaned_containers_are_removed(
    docker_engine: DockerEngine, docker_image: str, sandbox: DockerSandbox
) -> None:
    # A process that starts a session and is killed before it can close it.
    crashing = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio, time\n"
        "from runpad.sandbox import open_sandbox\n"
        "async def main():\n"
        "    session = open_sandbox('docker')\n"
        "    await session.start()\n"
        "    print(session.container.name, flush=True)\n"
        "    time.sleep(60)\n"
        "asyncio.run(main())\n",
        stdout=asyncio.subprocess.PIPE,
    )
    assert crashing.stdout is not None
    orphan = (await crashing.stdout.readline()).decode().strip()
    crashing.kill()
    await crashing.wait()
    assert orphan.startswith("runpad-")
    with closing(docker.DockerClient(base_url=docker_engine.host)) as client:
        assert client.containers.get(orphan).status == "running"
        removed = await asyncio.to_thread(remove_orphan_containers, client)
        assert removed == [orphan]
        left = client.containers.list(all=True, filters={"label": LABEL_SESSION})
    # This process's own session is alive, so its container stays.
    assert [container.name for container in left] == [sandbox.container.name]
    assert (await sandbox.run("'still here'")).text == "'still here'"


async def test_a_new_session_removes_orphans_when_it_starts(
    docker_engine: DockerEngine, docker_image: str
) -> None:
    finished = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await finished.wait()
    with closing(docker.DockerClient(base_url=docker_engine.host)) as client:
        client.containers.create(
            docker_image,
            command=["sleep", "60"],
            name="runpad-orphan-test",
            labels={
                LABEL_SESSION: "orphan-test",
                LABEL_OWNER_PID: str(finished.pid),  # a process that has exited
                LABEL_OWNER_HOST: socket.gethostname(),
            },
        )
        async with open_sandbox("docker", limits=LIMITS):
            names = [c.name for c in client.containers.list(all=True)]
        assert "runpad-orphan-test" not in names


def test_the_local_image_is_reused_until_forced(
    docker_engine: DockerEngine, docker_image: str
) -> None:
    lines: list[str] = []
    with closing(docker.DockerClient(base_url=docker_engine.host)) as client:
        image_id = client.images.get(docker_image).id
        assert build_local_image(client, tag=docker_image, log=lines.append) == image_id
    assert len(lines) == 1
    assert "up to date" in lines[0]


async def test_an_unreachable_engine_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SandboxUnavailable, match="DOCKER_HOST") as raised:
        await open_sandbox("docker").start()
    assert "dockerd" in str(raised.value)
    assert "no-engine.sock" in str(raised.value)


async def test_a_missing_image_names_the_build_command(docker_engine: DockerEngine) -> None:
    session = open_sandbox("docker", image="runpad-sandbox:not-built")
    with pytest.raises(SandboxUnavailable, match="runpad sandbox docker-build"):
        await session.start()
    await session.close()
