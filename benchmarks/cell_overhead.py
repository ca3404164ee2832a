"""What a warm trivial cell costs through runpad, against a bare ipykernel: before and after.

Every runner is its own process, driven by this one over a pipe, so that two versions of
runpad (a git ref, "before", and this tree, "after") run side by side in one run:
- `bare`: ipykernel of the sandbox environment's interpreter, no sandbox, driven by plain
  jupyter_client (`execute`, iopub messages until idle, the shell reply): the baseline;
- `local@TREE`: runpad's default backend, `Sandbox.run("1+1")` in a warm session;
- `local-noscan@TREE`: the same with the work-dir artifact scan turned into a no-op, to show
  what the rest of the host side costs (the scan is `runpad/sandbox/workdir.py`'s);
- `unsafe-local@TREE`: runpad's driver on an unsandboxed kernel (isolation's share).

The runners take turns, `--batch` cells each, the first one rotating, so the machine's other
load falls on all of them alike; the ratios are medians over all cells divided by `bare`'s.

Usage:
    python benchmarks/cell_overhead.py [--before REF] [--cells 400] [--batch 20]
        [--write benchmarks/RESULTS-cell.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import queue
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trees import export_tree

REPO = Path(__file__).resolve().parents[1]
TRIVIAL = "1+1"


# -- workers (each in its own process) ----------------------------------------------------------


def start_bare_kernel() -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """A plain ipykernel of the sandbox environment's interpreter, on ipc sockets."""
    from runpad.sandbox.environment import find_environment

    environment = find_environment()
    directory = Path(tempfile.mkdtemp(prefix="bare-kernel-"))
    info = {
        "transport": "ipc",
        "ip": str(directory / "k"),
        "shell_port": 1,
        "iopub_port": 2,
        "stdin_port": 3,
        "control_port": 4,
        "hb_port": 5,
        "key": secrets.token_hex(32),
        "signature_scheme": "hmac-sha256",
        "kernel_name": "bare",
    }
    (directory / "kernel.json").write_text(json.dumps(info))
    work = directory / "work"
    work.mkdir()
    kernel = subprocess.Popen(
        [
            str(environment.python),
            "-m",
            "ipykernel_launcher",
            "-f",
            str(directory / "kernel.json"),
            "--HistoryManager.enabled=False",
        ],
        cwd=work,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return kernel, info


async def ready(client: Any, kernel: subprocess.Popen[bytes]) -> None:
    """Ask for kernel_info until it answers and its iopub status reaches us."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if kernel.poll() is not None:
            raise RuntimeError(f"the bare kernel exited with status {kernel.returncode}")
        msg_id = client.kernel_info()
        with contextlib.suppress(queue.Empty):
            while (await client.get_iopub_msg(timeout=1))["parent_header"].get("msg_id") != msg_id:
                pass
            while (await client.get_shell_msg(timeout=1))["parent_header"].get("msg_id") != msg_id:
                pass
            return
    raise RuntimeError("the bare kernel did not answer within 120 s")


async def bare_worker(kernel: subprocess.Popen[bytes], info: dict[str, Any]) -> None:
    """Drive the kernel the way jupyter_client's own docs drive one."""
    from jupyter_client.asynchronous.client import AsyncKernelClient

    client = AsyncKernelClient()
    client.load_connection_info(info)  # type: ignore[arg-type]
    client.start_channels(hb=False)  # a heartbeat can miss its beat on a busy machine
    try:
        await ready(client, kernel)

        async def cell() -> None:
            msg_id = client.execute(TRIVIAL)
            result = None
            while True:
                msg = await client.get_iopub_msg()
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "execute_result":
                    result = msg["content"]["data"]["text/plain"]
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
            while (await client.get_shell_msg())["parent_header"].get("msg_id") != msg_id:
                pass
            if result != "2":
                raise RuntimeError(f"1+1 gave {result!r}")

        await serve(cell)
    finally:
        client.stop_channels()
        kernel.kill()
        kernel.wait()


def _turn_off_the_scan() -> None:
    """Replace the work-dir scan by no-ops, in the shape of the tree this worker imported."""
    from runpad.sandbox import workdir
    from runpad.sandbox.limits import Limits
    from runpad.sandbox.workdir import WorkDir

    if not hasattr(workdir, "FileChanges"):
        # A 'before' tree from when snapshot() returned the dict and changed_since() a list;
        # this tree's types do not describe it, hence setattr.
        setattr(WorkDir, "snapshot", lambda self: {})  # noqa: B010
        setattr(WorkDir, "changed_since", lambda self, before: [])  # noqa: B010
        return
    from runpad.sandbox.workdir import FileChanges, Snapshot

    def snapshot(
        self: WorkDir, deadline: float | None = None, on_directory: Any = None
    ) -> tuple[Snapshot, bool]:
        return {}, True

    def changed_since(
        self: WorkDir, before: Snapshot, limits: Limits, on_directory: Any = None
    ) -> FileChanges:
        return FileChanges(artifacts=[], omitted=0, complete=True, snapshot=before)

    WorkDir.snapshot = snapshot  # type: ignore[method-assign]  # a benchmark's stand-in
    WorkDir.changed_since = changed_since  # type: ignore[method-assign]


async def runpad_worker(backend: str, scan: bool) -> None:
    import warnings

    from runpad.sandbox import Limits, open_sandbox

    warnings.simplefilter("ignore")  # unsafe-local warns, on purpose
    if not scan:
        _turn_off_the_scan()
    async with open_sandbox(backend, limits=Limits(timeout=60, start_timeout=60)) as sandbox:

        async def cell() -> None:
            execution = await sandbox.run(TRIVIAL)
            if execution.text != "2":
                raise RuntimeError(f"1+1 gave {execution.text!r}: {execution.error}")

        await serve(cell)


async def serve(cell: Any) -> None:
    """Warm up, say ready, then run the number of cells each input line asks for."""
    for _ in range(10):
        await cell()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        timings = []
        cpu_started = time.process_time()
        for _ in range(int(line)):
            started = time.perf_counter()
            await cell()
            timings.append((time.perf_counter() - started) * 1000)
        cpu_ms = (time.process_time() - cpu_started) * 1000 / len(timings)
        print(json.dumps({"wall": timings, "cpu": cpu_ms}), flush=True)


# -- the driver --------------------------------------------------------------------------------


class Runner:
    def __init__(self, name: str, argv: list[str], tree: Path) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tree,
        )
        self.timings: list[float] = []
        self.cpu: list[float] = []  # host CPU milliseconds per cell, one value per batch

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"runner {self.name} failed to start: {line!r}")

    def run(self, cells: int) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{cells}\n")
        self.process.stdin.flush()
        batch = json.loads(self.process.stdout.readline())
        self.timings += batch["wall"]
        self.cpu.append(batch["cpu"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def summarize(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[8]


def render(runners: list[Runner], args: argparse.Namespace, before: str, seconds: float) -> str:
    bare = next(r for r in runners if r.name == "bare")
    bare_median = statistics.median(bare.timings)
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        "# Warm trivial cell: runpad against a bare ipykernel",
        "",
        "Produced by `benchmarks/cell_overhead.py`; every number below comes from one run, the",
        "runners taking turns.",
        "",
        "## Machine",
        "",
        f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- CPU: {cpu_model}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()}, Linux {platform.release()}",
        f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- {args.cells} cells per runner, in batches of {args.batch}; the run took"
        f" {seconds:.0f} s",
        f"- before: runpad at `{before}`; after: this tree",
        "",
        "## Results",
        "",
        "Milliseconds per `1+1` cell in a warm session: wall time as the caller sees it, and"
        " the CPU time the calling (host) process spent per cell, the host side's own cost"
        " (median of the per-batch averages).",
        "",
        "| runner | wall, median | wall, p90 | wall ÷ bare | host CPU per cell | host CPU ÷ bare |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    bare_cpu = statistics.median(bare.cpu)
    for runner in runners:
        median, p90 = summarize(runner.timings)
        cpu = statistics.median(runner.cpu)
        lines.append(
            f"| {runner.name} | {median:.2f} | {p90:.2f} | {median / bare_median:.2f}× |"
            f" {cpu:.2f} | {cpu / bare_cpu:.2f}× |"
        )
    lines += [
        "",
        "## What is measured",
        "",
        "- `bare`: `python -m ipykernel_launcher` of the sandbox environment, ipc sockets, no"
        " sandbox and no startup file, driven by jupyter_client's AsyncKernelClient:"
        " `execute`, `get_iopub_msg` until the cell's idle status, `get_shell_msg` for its"
        " reply.",
        "- `local`: `await sandbox.run('1+1')` on runpad's default backend (bubblewrap,"
        " seccomp, cgroups or rlimits), result checked; `@before` is the code at the ref"
        " above, `@after` this tree.",
        "- `local-noscan`: the same with `WorkDir.snapshot` / `changed_since` replaced by"
        " no-ops in that process: the artifact scan's share is the difference.",
        "- `unsafe-local`: runpad's driver on an unsandboxed ipykernel.",
        "- host CPU per cell: `time.process_time()` of the runner's process over each batch,"
        " divided by its cells. It does not count the kernel's own time (another process),"
        " so it is the cost of the host side alone, and it moves far less with the machine's"
        " load than the wall times, which on a busy machine mostly measure scheduling (a"
        " sandboxed kernel in its own CPU cgroup waits longest).",
        "",
        "## Reproduce",
        "",
        "```",
        f"python benchmarks/cell_overhead.py --before {before} --write benchmarks/RESULTS-cell.md",
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--before", default=None, help="git ref of the 'before' code")
    parser.add_argument("--cells", type=int, default=400, help="cells per runner")
    parser.add_argument("--batch", type=int, default=20, help="cells per turn")
    parser.add_argument(
        "--runners",
        default="bare,local,local-noscan,unsafe-local",
        help="comma-separated: bare, local, local-noscan, unsafe-local",
    )
    parser.add_argument("--write", metavar="PATH")
    args = parser.parse_args()
    if args.worker:
        kind = args.worker[0]
        if kind == "bare":
            asyncio.run(bare_worker(*start_bare_kernel()))
        else:
            backend = kind.removesuffix("-noscan")
            asyncio.run(runpad_worker(backend, scan=not kind.endswith("-noscan")))
        return 0
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        trees = {"after": REPO}
        if args.before:
            before_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            trees = {"before": export_tree(args.before, before_dir), "after": REPO}
        runners = [Runner("bare", ["bare"], REPO)]
        for kind in [k.strip() for k in args.runners.split(",") if k.strip() != "bare"]:
            for label, tree in trees.items():
                runners.append(Runner(f"{kind}@{label}", [kind], tree))
        for runner in runners:
            stack.callback(runner.close)
            runner.wait_ready()
        rounds = max(1, args.cells // args.batch)
        for index in range(rounds):
            turn = index % len(runners)
            for runner in runners[turn:] + runners[:turn]:
                runner.run(args.batch)
            print(f"round {index + 1}/{rounds}", file=sys.stderr, flush=True)
    report = render(runners, args, args.before or "-", time.monotonic() - started)
    print(report)
    if args.write:
        Path(args.write).write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
