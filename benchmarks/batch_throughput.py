"""Throughput of `runpad batch`, and the checkpoint figures the deployment cost model uses.

One invocation measures, side by side on the same machine and the same PostgreSQL server
(started here with fsync on, as production runs it):

1. a batch of CPU-light scripted tasks (each: route, plan, one cell in the bubblewrap
   sandbox, review, report) run (a) in this process one after another through
   `runpad.runner.arun`, the path of `runpad run`, and (b) through `runpad.batch` on a local
   Ray cluster of 1, 2 and 3 nodes (a head and workers as separate Ray node processes,
   `tests/fixtures/ray_cluster.py`), plus 1 node with one task at a time, which isolates the
   Ray path's per-task overhead;
2. what a run writes to PostgreSQL: checkpoints, blobs and writes per run, and per cell
   (from runs of one and of three cells);
3. how many of those step writes one PostgreSQL server takes per second: a finished run's
   real checkpoint traffic (`aput` + `aput_writes`, in order) replayed under new thread ids
   by 1, 8 and 32 concurrent connections.

Usage:
    python benchmarks/batch_throughput.py [--tasks 24] [--slots 2] [--write PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from langchain_core.runnables import RunnableConfig  # noqa: E402

from runpad.cluster import batch  # noqa: E402
from runpad.context import Context  # noqa: E402
from runpad.runner import arun, open_checkpointer  # noqa: E402
from tests.fixtures.ray_cluster import local_ray_cluster  # noqa: E402
from tests.fixtures.scripted import code, write_script  # noqa: E402

if TYPE_CHECKING:
    pass


# -- PostgreSQL as production runs it (fsync on) -------------------------------------------------


@contextlib.contextmanager
def postgres_server(root: Path) -> Iterator[str]:
    bindir = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))[-1]).parent
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, sockets = root / "pg", root / "pg-sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {sockets} -c max_connections=200"
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-l", str(root / "pg.log"), "-w", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the scripted tasks ----------------------------------------------------------------------------


def write_tasks(folder: Path, count: int, cells: int = 1) -> Path:
    """`count` tasks, each a scripted run of `cells` CPU-light cells; the batch file."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        steps = "\n".join(f"{n + 1}. Step {n + 1} | check: printed" for n in range(cells))
        model = write_script(
            folder / f"model-{index}.jsonl",
            router=["ROUTE: code"],
            planner=[steps],
            coder=[code(f"print({index} * {n + 2})") for n in range(cells)],
            reviewer=["VERDICT: next"] * (cells - 1) + [f"VERDICT: done\nANSWER: {index}"],
        )
        task = {"id": f"t{index}", "task": f"Task {index}", "settings": {"model": model}}
        lines.append(json.dumps(task))
    path = folder / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def in_process(tasks_file: Path, store: str, out: Path, prefix: str) -> list[float]:
    """(a): every task through `arun`, one after another, in this process; seconds each."""
    from runpad.cluster import read_tasks

    times = []
    for task in read_tasks(tasks_file):

        async def one(task: Any = task) -> None:
            async with Context(**task.settings, run_dir=str(out)) as context:
                result = await arun(
                    task.task, thread_id=f"{prefix}-{task.id}", context=context, checkpointer=store
                )
            assert result.status == "answered", result.stop_reason

        started = time.perf_counter()
        asyncio.run(one())
        times.append(time.perf_counter() - started)
    return times


# -- what a run writes ----------------------------------------------------------------------------


async def rows_per_thread(store: str, thread_id: str) -> dict[str, int]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(store) as connection:
        counts = {}
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            cursor = await connection.execute(
                f"SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t "
                "WHERE thread_id = %s",
                (thread_id,),
            )
            row = await cursor.fetchone()
            assert row is not None
            counts[table] = int(row[0])
            counts[f"{table}_bytes"] = int(row[1])
    return counts


async def replay_rate(store: str, thread_id: str, writers: int, seconds: float) -> dict[str, float]:
    """A run's real checkpoint traffic replayed by `writers` connections for `seconds`:
    checkpoint puts (one per step) and write batches per second."""
    async with open_checkpointer(store, ".") as saver:
        history = [t async for t in saver.alist({"configurable": {"thread_id": thread_id}})]
    history.reverse()  # oldest first, as the run wrote them
    steps = 0
    write_calls = 0
    deadline = time.perf_counter() + seconds

    async def writer(number: int) -> None:
        nonlocal steps, write_calls
        async with open_checkpointer(store, ".") as saver:
            round_ = 0
            while time.perf_counter() < deadline:
                thread = f"replay-{writers}-{number}-{round_}"
                config: RunnableConfig = {
                    "configurable": {"thread_id": thread, "checkpoint_ns": ""}
                }
                for item in history:
                    config = await saver.aput(
                        config,
                        item.checkpoint,
                        item.metadata,
                        item.checkpoint["channel_versions"],
                    )
                    steps += 1
                    by_task: dict[str, list[tuple[str, Any]]] = {}
                    for task_id, channel, value in item.pending_writes or []:
                        by_task.setdefault(task_id, []).append((channel, value))
                    for task_id, writes in by_task.items():
                        await saver.aput_writes(config, writes, task_id)
                        write_calls += 1
                round_ += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed = time.perf_counter() - started
    return {"steps_per_s": steps / elapsed, "write_calls_per_s": write_calls / elapsed}


# -- the report ------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    lines = [
        "# `runpad batch` throughput, and the checkpoint figures of the cost model",
        "",
        "Produced by `benchmarks/batch_throughput.py`; every number below comes from one "
        "invocation, the paths measured one after another on the same machine and the same "
        "PostgreSQL server.",
        "",
        "## Machine",
        "",
        f"- date: {results['date']}",
        f"- {results['cores']} cores, {results['memory_gib']} GiB, Python "
        f"{platform.python_version()}, Linux {platform.release()}, ray {results['ray']}",
        f"- load average at the end: {results['load']}",
        f"- PostgreSQL {results['postgres']} on this machine, fsync on",
        "",
        "## Throughput",
        "",
        f"{results['tasks']} tasks; each is a scripted run (route, plan, one cell printing a "
        "number in the bubblewrap sandbox, review, report): CPU-light, so the figures are the "
        "framework's own cost. Ray paths: each node offers "
        f"{results['slots']} sandbox slots; the cluster's start is not counted.",
        "",
        "| path | nodes | in flight | wall s | tasks/min | s per task (wall / tasks) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in results["throughput"]:
        lines.append(
            f"| {row['path']} | {row['nodes']} | {row['in_flight']} | {row['wall_s']:.1f} | "
            f"{row['tasks_per_min']:.1f} | {row['s_per_task']:.2f} |"
        )
    overhead = results["ray_overhead_s"]
    lines += [
        "",
        "Per-task overhead of the Ray path (one task at a time on one node, less the "
        f"in-process loop, per task): **{overhead:+.2f} s**. Both paths do the same work per "
        "task (a new Context, sandbox session and checkpoint connection, the whole run); the "
        "Ray path adds the submit, the scheduling, the worker's read of the task's checkpoint "
        "before it starts, and the result's way back. A negative figure means that cost is "
        "below what this shared machine resolves (see its load average above: other work ran "
        "alongside): the Ray path's overhead is under a few tenths of a second per task, small "
        "beside a real run's model calls. The first batch on a fresh cluster, which starts "
        "the worker processes (runpad imported in each), is run before and not counted.",
        "",
        "## What a run writes to PostgreSQL",
        "",
        "| run | checkpoints (steps) | blobs | writes | bytes in all |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, rows in results["writes"].items():
        total = sum(v for k, v in rows.items() if k.endswith("_bytes"))
        lines.append(
            f"| {name} | {rows['checkpoints']} | {rows['checkpoint_blobs']} | "
            f"{rows['checkpoint_writes']} | {total:,} |"
        )
    per_cell = results["per_cell"]
    lines += [
        "",
        f"Each further cell adds {per_cell['checkpoints']:.1f} checkpoints (graph steps: "
        f"coder, static check, executor, reviewer...), {per_cell['checkpoint_writes']:.1f} "
        f"write rows and {per_cell['bytes']:,.0f} bytes.",
        "",
        "## PostgreSQL's rate for that traffic",
        "",
        "A finished three-cell run's checkpoint traffic replayed in order under new thread "
        "ids (`aput` per step, `aput_writes` per task of the step), as runs write it:",
        "",
        "| connections | steps/s | write batches/s |",
        "|--:|--:|--:|",
    ]
    for writers, rate in results["rate"].items():
        lines.append(f"| {writers} | {rate['steps_per_s']:.0f} | {rate['write_calls_per_s']:.0f} |")
    lines += [
        "",
        "## Reading the scaling figure",
        "",
        f"This machine has {results['cores']} cores. The 1-, 2- and 3-node clusters are Ray "
        "node processes on the same machine, so they share those cores (and the one "
        "PostgreSQL server): a second or third node adds sandbox slots and Ray workers but no "
        "CPU. The figure therefore shows the cost of spreading over more nodes (more Ray "
        "processes to schedule and to feed), not the gain of adding machines; on real "
        "machines each node brings its own cores, and throughput grows with nodes until the "
        "shared parts (PostgreSQL, the model's API) saturate: see docs/deployment.md.",
        "",
        "## Reproduce",
        "",
        "```",
        f"python benchmarks/batch_throughput.py --tasks {results['tasks']} "
        f"--slots {results['slots']} --write benchmarks/RESULTS-batch.md",
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--slots", type=int, default=2, help="sandbox slots per node")
    parser.add_argument("--write", type=Path, help="write the Markdown report here")
    args = parser.parse_args()

    import ray

    root = Path(tempfile.mkdtemp(prefix="runpad-bench-batch-"))
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "ray": ray.__version__,
        "tasks": args.tasks,
        "slots": args.slots,
        "throughput": [],
    }
    try:
        with postgres_server(root) as store:
            results["postgres"] = _server_version(store)
            tasks_file = write_tasks(root / "tasks", args.tasks)
            out = root / "runs"

            def row(path: str, nodes: int, in_flight: int | str, wall: float) -> None:
                results["throughput"].append(
                    {
                        "path": path,
                        "nodes": nodes,
                        "in_flight": in_flight,
                        "wall_s": wall,
                        "tasks_per_min": 60 * args.tasks / wall,
                        "s_per_task": wall / args.tasks,
                    }
                )
                print(results["throughput"][-1], flush=True)

            in_process(write_tasks(root / "warm", 1), store, out, "warm")  # imports, caches
            started = time.perf_counter()
            in_process(tasks_file, store, out, "seq")
            sequential = time.perf_counter() - started
            row("(a) in-process, sequential (`arun`)", 1, 1, sequential)
            for nodes in (1, 2, 3):
                with local_ray_cluster([f"w{n}" for n in range(nodes)], args.slots) as cluster:
                    address = cluster.address
                    # The first batch starts the workers (a process each, runpad imported):
                    # timed on its own, as "cold", then the measured batches find them warm.
                    warm_tasks = write_tasks(root / f"warm-{nodes}", nodes * args.slots)
                    started = time.perf_counter()
                    batch(warm_tasks, cluster=address, checkpoints=store, out=out)
                    results.setdefault("cold_s", {})[nodes] = time.perf_counter() - started
                    runs: list[tuple[int | None, str]] = [(1, "one")] if nodes == 1 else []
                    runs.append((None, f"all-{nodes}"))
                    for concurrency, batch_id in runs:
                        started = time.perf_counter()
                        result = batch(
                            tasks_file,
                            cluster=address,
                            checkpoints=store,
                            out=out,
                            batch_id=batch_id,
                            concurrency=concurrency,
                        )
                        wall = time.perf_counter() - started
                        assert result.ok, [o for o in result.outcomes if not o.ok]
                        spread = len({o.node for o in result.outcomes})
                        in_flight = 1 if concurrency else nodes * args.slots
                        row(f"(b) `runpad batch`, {nodes} node(s)", spread, in_flight, wall)
                        if concurrency == 1:
                            results["ray_overhead_s"] = (wall - sequential) / args.tasks
            asyncio.run(_writes(results, store, root, out))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(results)
    if args.write:
        args.write.write_text(text)
    print(text)


async def _writes(results: dict[str, Any], store: str, root: Path, out: Path) -> None:
    writes = {}
    for cells in (1, 3):
        path = write_tasks(root / f"cells-{cells}", 1, cells=cells)
        await asyncio.to_thread(in_process, path, store, out, f"cells-{cells}")
        writes[f"{cells} cell(s)"] = await rows_per_thread(store, f"cells-{cells}-t0")
    results["writes"] = writes
    one, three = writes["1 cell(s)"], writes["3 cell(s)"]
    results["per_cell"] = {
        "checkpoints": (three["checkpoints"] - one["checkpoints"]) / 2,
        "checkpoint_writes": (three["checkpoint_writes"] - one["checkpoint_writes"]) / 2,
        "bytes": sum(three[k] - one[k] for k in three if k.endswith("_bytes")) / 2,
    }
    results["rate"] = {}
    for writers in (1, 8, 32):
        results["rate"][writers] = await replay_rate(store, "cells-3-t0", writers, 10.0)
        print(writers, results["rate"][writers], flush=True)


def _server_version(store: str) -> str:
    import psycopg

    with psycopg.connect(store) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0]).split()[0]


if __name__ == "__main__":
    main()
