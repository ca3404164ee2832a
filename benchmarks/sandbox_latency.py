"""Sandbox latency: what isolation costs, measured side by side in one run.

Runners (pick with --backends):
- `local`: runpad's default backend, an IPython kernel in a hardened bubblewrap sandbox;
- `unsafe-local`: the same ipykernel with no isolation at all (no bwrap, seccomp, cgroups or
  rlimits), started and driven by the same runpad code over the same jupyter_client
  protocol, so the difference between the two is the cost of isolation. It is the baseline;
- `subprocess`: a fresh `python -c` of the sandbox environment's interpreter per cell, no
  kernel and no state: what a stateless executor pays for every cell;
- any other backend `open_sandbox` knows (docker, e2b) as it is added.

Measurements:
- session start, cold: `await sandbox.start()` of a new session, until it answers;
- session from the warm pool: `await SandboxPool.acquire()` with a session ready, and the
  same followed by the first cell (`1+1`) in that session;
- trivial cell: `1+1` in a warm session (after warm-up cells), result checked;
- figure cell: a matplotlib line chart returned as PNG, in a warm session (matplotlib
  already imported by a warm-up figure); for `subprocess`, import, draw and encode per cell;
- first figure in a new session: the same chart as the first cell of a fresh session;
- first JavaScript cell: `1+1` as a started session's first JavaScript cell, which starts
  its Deno kernel (JavaScript's session start: the Python kernel started with the session);
- trivial JavaScript cell: `1+1` in the warm session's Deno kernel.
  Both only for backends that declare JavaScript (`Sandbox.languages`); against
  `unsafe-local`, the same Deno kernel and relay with no sandbox.

Runners take turns at every repetition, so load from elsewhere on the machine weighs on
all of them alike and the ratios stay meaningful on a busy machine.

Usage:
    python benchmarks/sandbox_latency.py [--repeat 20] [--backends local,unsafe-local,subprocess]
        [--baseline unsafe-local] [--write benchmarks/RESULTS-sandbox.md]
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import runpad
from runpad.sandbox import Limits, Sandbox, SandboxPool, open_sandbox
from runpad.sandbox.environment import find_environment
from runpad.sandbox.unsafe_local import UnsafeSandboxWarning

SUBPROCESS = "subprocess"
DEFAULT_RUNNERS = ("local", "unsafe-local", SUBPROCESS)
DEFAULT_BASELINE = "unsafe-local"
LIMITS = Limits(timeout=60, start_timeout=60)

TRIVIAL_CELL = "1+1"
JS_METRICS = ("js_first_cell", "js_trivial_cell")
FIGURE_CELL = """\
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot(range(10), [i * i for i in range(10)])
plt.show()
"""
SUBPROCESS_FIGURE = """\
import io
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot(range(10), [i * i for i in range(10)])
buffer = io.BytesIO()
fig.savefig(buffer, format="png")
print(len(buffer.getvalue()))
"""


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    target_ms: float | None = None


METRICS = (
    Metric("cold_start", "session start, cold"),
    Metric("pool_acquire", "session from the warm pool (acquire)", target_ms=50.0),
    Metric("pool_first_cell", "session from the warm pool + first `1+1`"),
    Metric("trivial_cell", "trivial cell `1+1`, warm session", target_ms=10.0),
    Metric("figure_cell", "matplotlib figure cell, warm session"),
    Metric("first_figure", "first figure in a new session"),
    Metric("js_first_cell", "first JavaScript `1+1` in a started session (starts Deno)"),
    Metric("js_trivial_cell", "trivial JavaScript cell `1+1`, warm session"),
)

Timings = dict[str, list[float]]
"""Metric key -> milliseconds of each repetition."""


# -- measuring --------------------------------------------------------------------------------


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await action()
    return (time.perf_counter() - started) * 1000


async def check_trivial(sandbox: Sandbox) -> None:
    execution = await sandbox.run(TRIVIAL_CELL)
    if execution.text != "2":
        raise RuntimeError(f"`1+1` gave {execution.text!r}: {execution.error}")


async def check_js_trivial(sandbox: Sandbox) -> None:
    execution = await sandbox.run(TRIVIAL_CELL, language="javascript")
    if execution.text != "2":
        raise RuntimeError(f"JavaScript `1+1` gave {execution.text!r}: {execution.error}")


async def check_figure(sandbox: Sandbox) -> None:
    execution = await sandbox.run(FIGURE_CELL)
    if not execution.images:
        raise RuntimeError(f"the figure cell returned no image: {execution.error}")


class Runner(abc.ABC):
    """One column of the table: sets itself up once, then takes samples on demand."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def measures(self, metric: str) -> bool: ...

    @abc.abstractmethod
    async def sample(self, metric: str) -> dict[str, float]:
        """Milliseconds of one repetition, by metric key (one step may time two metrics)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class SandboxRunner(Runner):
    """A runpad backend: a pool and a warm session kept ready for their samples."""

    def __init__(self, backend: str) -> None:
        super().__init__(backend)
        self._stack = contextlib.AsyncExitStack()
        self._pool = SandboxPool(self.new_session, size=1)
        self._warm = self.new_session()

    def new_session(self) -> Sandbox:
        return open_sandbox(self.name, limits=LIMITS)

    def measures(self, metric: str) -> bool:
        return metric not in JS_METRICS or "javascript" in self._warm.languages

    async def __aenter__(self) -> Self:
        async with self.new_session():  # warm-up: disk caches, the sandbox environment
            pass
        await self._stack.enter_async_context(self._pool)
        await self._pool.fill()
        await self._stack.enter_async_context(self._warm)
        for _ in range(3):
            await check_trivial(self._warm)
        await check_figure(self._warm)  # matplotlib imported: warm cells only draw
        if self.measures("js_trivial_cell"):
            for _ in range(3):  # the first starts the Deno kernel
                await check_js_trivial(self._warm)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def sample(self, metric: str) -> dict[str, float]:
        if metric == "cold_start":
            sandbox = self.new_session()
            try:
                return {metric: await timed(sandbox.start)}
            finally:
                await sandbox.close()
        if metric in ("pool_acquire", "pool_first_cell"):
            await self._pool.fill()  # time a warm acquire, never a start
            started = time.perf_counter()
            sandbox = await self._pool.acquire()
            acquired = time.perf_counter()
            try:
                await check_trivial(sandbox)
                answered = time.perf_counter()
            finally:
                await sandbox.close()
            return {
                "pool_acquire": (acquired - started) * 1000,
                "pool_first_cell": (answered - started) * 1000,
            }
        if metric == "trivial_cell":
            return {metric: await timed(lambda: check_trivial(self._warm))}
        if metric == "figure_cell":
            return {metric: await timed(lambda: check_figure(self._warm))}
        if metric == "first_figure":
            async with self.new_session() as sandbox:
                return {metric: await timed(lambda: check_figure(sandbox))}
        if metric == "js_first_cell":
            async with self.new_session() as sandbox:
                return {metric: await timed(lambda: check_js_trivial(sandbox))}
        if metric == "js_trivial_cell":
            return {metric: await timed(lambda: check_js_trivial(self._warm))}
        raise ValueError(f"unknown metric {metric!r}")


class SubprocessRunner(Runner):
    """A fresh interpreter of the sandbox environment per cell: no session, no pool."""

    def __init__(self) -> None:
        super().__init__(SUBPROCESS)
        self._environment = find_environment()

    def measures(self, metric: str) -> bool:
        return metric in ("trivial_cell", "figure_cell")

    async def __aenter__(self) -> Self:
        await self._trivial()  # warm-up: the page cache
        await self._figure()
        return self

    async def sample(self, metric: str) -> dict[str, float]:
        action = self._trivial if metric == "trivial_cell" else self._figure
        return {metric: await timed(action)}

    async def _trivial(self) -> None:
        if (await self._python(f"print({TRIVIAL_CELL})")).strip() != "2":
            raise RuntimeError("python -c 'print(1+1)' did not print 2")

    async def _figure(self) -> None:
        if int(await self._python(SUBPROCESS_FIGURE)) <= 0:
            raise RuntimeError("the figure subprocess wrote no PNG")

    async def _python(self, code: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg"}
        if (font_cache := self._environment.mpl_font_cache) is not None:
            env["MPLCONFIGDIR"] = str(font_cache.parent)  # the same prebuilt cache as sessions
        process = await asyncio.create_subprocess_exec(
            str(self._environment.python),
            "-c",
            code,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"python -c failed ({process.returncode}): {stderr.decode()[-500:]}")
        return stdout.decode()


async def measure(
    runners: list[Runner], repeat: int, log: Callable[[str], None]
) -> dict[str, Timings]:
    """Every metric, repetition by repetition, the runners taking turns.

    Interleaving (and rotating who goes first) spreads the machine's other load over all
    runners alike, so that the ratios hold even when the absolute numbers drift.
    """
    results: dict[str, Timings] = {r.name: {m.key: [] for m in METRICS} for r in runners}
    steps = [m.key for m in METRICS if m.key != "pool_first_cell"]  # timed with pool_acquire
    for metric in steps:
        log(f"measuring: {metric}")
        for index in range(repeat):
            turn = index % len(runners)
            for runner in runners[turn:] + runners[:turn]:
                if runner.measures(metric):
                    for key, value in (await runner.sample(metric)).items():
                        results[runner.name][key].append(value)
    return results


# -- reporting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    median: float
    p90: float


def summarize(values: list[float]) -> Summary | None:
    if not values:
        return None
    if len(values) == 1:
        return Summary(values[0], values[0])
    p90 = statistics.quantiles(values, n=10, method="inclusive")[8]
    return Summary(statistics.median(values), p90)


def fmt_ms(value: float) -> str:
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def machine_info() -> list[tuple[str, str]]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    memory_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    os_name = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    environment = find_environment()
    sandbox_python = environment.manifest.get("python", "?")
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable by this process)"),
        ("memory", f"{memory_kb / 1024 / 1024:.1f} GiB"),
        ("OS", f"{os_name}, Linux {platform.release()}, cgroup {cgroup}, uid {os.getuid()}"),
        ("Python", f"{platform.python_version()} (host), {sandbox_python} (sandbox environment)"),
        ("runpad", runpad.__version__),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]


def render(
    results: dict[str, Timings],
    baseline: str,
    repeat: int,
    info: list[tuple[str, str]],
    seconds: float,
) -> str:
    runners = list(results)
    compared = [runner for runner in runners if runner != baseline and baseline in results]
    lines = [
        "# Sandbox latency",
        "",
        "Produced by `benchmarks/sandbox_latency.py`; every number below comes from one run.",
        "",
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in info),
        f"- repetitions: {repeat} per measurement; the run took {seconds:.0f} s",
        "",
        "## Results",
        "",
        "Milliseconds, median (p90). Ratios are medians divided by the baseline's median"
        f" (`{baseline}`: the same kernels, IPython and Deno, without any isolation).",
        "",
    ]
    header = ["measurement"]
    header += [f"{r} (baseline)" if r == baseline else r for r in runners]
    header += [f"{r} ÷ {baseline}" for r in compared]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|")
    for metric in METRICS:
        summaries = {r: summarize(results[r].get(metric.key, [])) for r in runners}
        if not any(summaries.values()):
            continue
        row = [metric.label]
        for runner in runners:
            summary = summaries[runner]
            row.append(f"{fmt_ms(summary.median)} ({fmt_ms(summary.p90)})" if summary else "—")
        base = summaries.get(baseline)
        for runner in compared:
            summary = summaries[runner]
            row.append(f"{summary.median / base.median:.2f}×" if summary and base else "—")
        lines.append("| " + " | ".join(row) + " |")
    # Targets are runpad's: they apply to the backends under test, not to the references.
    targeted = [runner for runner in runners if runner not in (baseline, SUBPROCESS)]
    lines += ["", "## Targets", ""]
    for metric in METRICS:
        if metric.target_ms is None:
            continue
        for runner in targeted:
            summary = summarize(results[runner].get(metric.key, []))
            if summary is None:
                continue
            verdict = "met" if summary.median < metric.target_ms else "**missed**"
            lines.append(
                f"- {metric.label}, `{runner}`: median {fmt_ms(summary.median)} ms,"
                f" target under {metric.target_ms:g} ms: {verdict}"
            )
    lines += [
        "",
        "## What is measured",
        "",
        "- `local`: runpad's default backend (bubblewrap, seccomp, cgroups or rlimits, the"
        " kernel over ipc sockets).",
        "- `unsafe-local`: runpad's backend without isolation, i.e. a bare ipykernel subprocess"
        " of the sandbox environment's python, driven by the same jupyter_client code.",
        "- `subprocess`: `python -c CODE` with the sandbox environment's python, a new process"
        " per cell (no state kept between cells); it has no session to start. Its figure cell"
        " imports matplotlib, draws and encodes the PNG every time.",
        "- Session start, cold: a new session until its kernel answers (closing it is not"
        " counted). Warm pool: `SandboxPool.acquire()` while a started session waits in the"
        " pool (refilled between repetitions, outside the timing); the first cell after it"
        " shares the CPU with the pool's background start of the next session.",
        "- Runners take turns at every repetition, the first one rotating, so the machine's"
        " other load falls on all of them alike. Each sandbox runner keeps a pool of one and"
        " a warm session open (idle kernels) for the whole run.",
        "- Cells: host-side wall time of `Sandbox.run`, results checked (`1+1` gives 2, the"
        " figure comes back as image/png). Warm session: after warm-up cells, so imports are"
        " paid; the first figure of a new session pays the matplotlib import.",
        "- JavaScript: the first JavaScript cell of a started session starts its Deno kernel"
        " (`deno jupyter` behind the loopback-to-ipc relay, and the set-up cell that gives up"
        " Deno's permissions), so it is JavaScript's session start; `unsafe-local` runs the"
        " same kernel and relay with no sandbox. A warm JavaScript cell includes the"
        " end-of-output marker runpad sends after each Deno cell.",
        "",
        "## Reproduce",
        "",
        "```",
        "make setup    # bubblewrap, runpad, the sandbox environment",
        "make bench    # runs the line below",
        "python benchmarks/sandbox_latency.py --write benchmarks/RESULTS-sandbox.md",
        "```",
        "",
        "Options: `--repeat N`, `--backends local,unsafe-local,subprocess` (any backend"
        " `open_sandbox` knows, plus `subprocess`), `--baseline NAME`. The machine's other load"
        " shows in the numbers: the load averages above say how busy it was.",
        "",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> str:
    names: list[str] = [name.strip() for name in args.backends.split(",") if name.strip()]

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    info = machine_info()
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        runners: list[Runner] = []
        for name in names:
            log(f"starting {name}")
            runner = SubprocessRunner() if name == SUBPROCESS else SandboxRunner(name)
            runners.append(await stack.enter_async_context(runner))
        results = await measure(runners, args.repeat, log)
    info.append(("load average at end", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    return render(results, args.baseline, args.repeat, info, time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=20, help="repetitions per measurement")
    parser.add_argument(
        "--backends",
        default=",".join(DEFAULT_RUNNERS),
        help="comma-separated: sandbox backends (local, unsafe-local, ...) and 'subprocess'",
    )
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="the runner ratios divide by")
    parser.add_argument("--write", metavar="PATH", help="also write the Markdown table here")
    args = parser.parse_args()
    if args.repeat < 2:
        parser.error("--repeat must be at least 2 (a p90 needs several samples)")
    warnings.simplefilter("ignore", UnsafeSandboxWarning)  # the baseline is unsafe on purpose
    report = asyncio.run(main_async(args))
    print(report)
    if args.write:
        Path(args.write).write_text(report)
        print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
