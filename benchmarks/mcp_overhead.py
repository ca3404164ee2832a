"""What the MCP server costs: a trivial cell over each transport against `Sandbox.run`.

Runners, measured side by side in one run (they take turns at every repetition, so the
machine's other load falls on all of them alike):
- `Sandbox.run`: the cell straight into a warm local sandbox session, in this process;
- `stdio`: `run_python` through the MCP SDK's client, over stdio to `runpad mcp` that the
  client spawned (as Claude Desktop does);
- `http`: `run_python` through the SDK's client over streamable HTTP to `runpad mcp --http`
  on 127.0.0.1.

All three run the same cell (`1+1`, result checked) in a warm local sandbox session; the
difference is the protocol: JSON-RPC framing, the SDK's dispatch, the transport, and
runpad's tool layer. Then the memory of N concurrent MCP sessions: N HTTP clients each
import pandas in their session, and the proportional set size (PSS) of the server's whole
process tree (the server, each session's bubblewrap and kernel) is summed.

Usage:
    python benchmarks/mcp_overhead.py [--repeat 30] [--sessions 1,2,4,8]
        [--write benchmarks/RESULTS-mcp.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

import runpad
from runpad.sandbox import Limits, open_sandbox

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CELL = "1+1"
MiB = 1024 * 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- servers and clients ------------------------------------------------------------------


class HttpServer:
    """`runpad mcp --http --port 0` in a subprocess; `url` once it listens."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runpad", "mcp", "--http", "--port", "0", *options],
            cwd=REPO,
            env=ENV,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self.url = ""
        for line in self.process.stderr:
            if found := re.search(r"listening on (http://\S+)", line):
                self.url = found.group(1)
                break
        if not self.url:
            raise SystemExit("runpad mcp --http did not start")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for _ in self.process.stderr:
            pass

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextlib.asynccontextmanager
async def http_client(url: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def stdio_client(run_dir: str) -> Client:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "runpad", "mcp", "--out", run_dir], env=ENV
    )
    return Client(params)


async def call(client: Client, code: str) -> str:
    result = await client.call_tool("run_python", {"code": code})
    text = "".join(b.text for b in result.content if isinstance(b, TextContent))
    if result.is_error:
        raise RuntimeError(f"the cell failed: {text}")
    return text


# -- latency --------------------------------------------------------------------------------


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


async def latency(repeat: int, run_dir: str) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"Sandbox.run": [], "stdio": [], "http": []}
    server = HttpServer("--out", run_dir)
    try:
        async with (
            open_sandbox("local", limits=Limits(timeout=60)) as sandbox,
            stdio_client(run_dir) as stdio,
            http_client(server.url) as http,
        ):

            async def direct() -> None:
                execution = await sandbox.run(CELL)
                assert execution.text == "2", execution

            async def over(client: Client) -> None:
                assert "2" in await call(client, CELL)

            runners: dict[str, Callable[[], Awaitable[None]]] = {
                "Sandbox.run": direct,
                "stdio": lambda: over(stdio),
                "http": lambda: over(http),
            }
            for action in runners.values():  # warm-up: sessions start, imports are paid
                for _ in range(3):
                    await action()
            names = list(runners)
            for index in range(repeat):
                turn = names[index % len(names) :] + names[: index % len(names)]
                for name in turn:
                    started = time.perf_counter()
                    await runners[name]()
                    samples[name].append((time.perf_counter() - started) * 1000)
            log(f"latency: {repeat} rounds done")
    finally:
        server.stop()
    return samples


# -- memory ---------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def tree_pss(root: int) -> int:
    """Bytes of PSS of a process and all its descendants (Linux /proc)."""
    children = _children()
    pending, total = [root], 0
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
    return total


async def memory(counts: list[int], run_dir: str) -> list[tuple[int, int]]:
    """(sessions, PSS of the server's tree) for each count, sessions importing pandas."""
    rows = []
    most = max(counts)
    server = HttpServer("--out", run_dir, "--max-sessions", str(most))
    try:
        await asyncio.sleep(1)
        rows.append((0, tree_pss(server.process.pid)))
        async with contextlib.AsyncExitStack() as stack:
            clients: list[Client] = []
            for count in sorted(counts):
                while len(clients) < count:
                    client = await stack.enter_async_context(http_client(server.url))
                    await call(client, "import pandas as pd\nframe = pd.DataFrame({'a': [1]})")
                    clients.append(client)
                await asyncio.sleep(1)
                rows.append((count, tree_pss(server.process.pid)))
                log(f"memory: {count} sessions measured")
    finally:
        server.stop()
    return rows


# -- report ---------------------------------------------------------------------------------


def render(
    samples: dict[str, list[float]], rows: list[tuple[int, int]], repeat: int, seconds: float
) -> str:
    base_median, _ = summary(samples["Sandbox.run"])
    lines = [
        "# MCP server overhead",
        "",
        f"Measured {datetime.date.today().isoformat()} with runpad {runpad.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{repeat} rounds, {seconds:.0f} s in all.",
        "",
        "## A trivial cell (`1+1`), warm session",
        "",
        "Milliseconds, median (p90); the ratio divides by `Sandbox.run`'s median.",
        "",
        "| path | median (p90) | ÷ Sandbox.run | protocol's share |",
        "|---|--:|--:|--:|",
    ]
    for name in ("Sandbox.run", "stdio", "http"):
        median, p90 = summary(samples[name])
        extra = f"+{median - base_median:.1f} ms" if name != "Sandbox.run" else "—"
        lines.append(
            f"| {name} | {median:.1f} ({p90:.1f}) | {median / base_median:.2f}× | {extra} |"
        )
    lines += [
        "",
        "## Memory of concurrent sessions",
        "",
        "PSS of the HTTP server's process tree (the server, and per session its bubblewrap "
        "and kernel), each session with pandas imported and a small frame made.",
        "",
        "| sessions | tree PSS (MiB) | per session, over the idle server (MiB) |",
        "|--:|--:|--:|",
    ]
    idle = rows[0][1]
    for count, pss in rows:
        per = f"{(pss - idle) / count / MiB:.0f}" if count else "—"
        lines.append(f"| {count} | {pss / MiB:.0f} | {per} |")
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        "pip install -e '.[mcp]' && runpad sandbox setup",
        "python benchmarks/mcp_overhead.py --write benchmarks/RESULTS-mcp.md",
        "```",
        "",
        "The three paths take turns at every round. `stdio` and `http` include the SDK "
        "client's own work in this process; `Sandbox.run` is the floor both build on.",
        "",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> str:
    started = time.monotonic()
    run_dir = args.run_dir
    samples = await latency(args.repeat, run_dir)
    counts = [int(n) for n in args.sessions.split(",") if n.strip()]
    rows = await memory(counts, run_dir)
    return render(samples, rows, args.repeat, time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=30, help="rounds of the trivial cell")
    parser.add_argument("--sessions", default="1,2,4,8", help="session counts for the memory")
    parser.add_argument("--run-dir", default="/tmp/runpad-mcp-bench", help="the servers' --out")
    parser.add_argument("--write", metavar="PATH", help="also write the Markdown report here")
    args = parser.parse_args()
    args.run_dir = os.path.abspath(args.run_dir)
    if args.repeat < 2:
        parser.error("--repeat must be at least 2")
    report = asyncio.run(main_async(args))
    print(report)
    if args.write:
        Path(args.write).write_text(report)
        log(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
