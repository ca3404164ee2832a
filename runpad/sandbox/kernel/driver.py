"""Drive an IPython kernel over Jupyter's messaging protocol, wherever the kernel runs.

The kernel listens on `ipc://` sockets in a directory that both sides see (bind-mounted
into the sandbox), so it needs no network at all. This module knows nothing about
isolation: a backend starts the kernel process however it likes and hands us the
connection info and a way to tell whether the process is still alive.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import hmac
import json
import logging
import queue
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient

from runpad.errors import DenoUnavailable, SandboxClosed, SandboxStartError, SandboxUnavailable
from runpad.sandbox.base import Sandbox, emit
from runpad.sandbox.budget import ResultBudget
from runpad.sandbox.kernel.deno import (
    DENO_LANGUAGES,
    DENO_STARTUP,
    check_imports,
    deno_print_marker,
    explain_deno_error,
)
from runpad.sandbox.limits import Limits
from runpad.sandbox.output import StreamCapture
from runpad.sandbox.results import (
    Execution,
    ExecutionError,
    FileInfo,
    Language,
    OutputCallback,
    OutputChunk,
    RichResult,
    StreamName,
)
from runpad.sandbox.watch import WorkDirWatch
from runpad.sandbox.workdir import RUNPAD_DIR, FileChanges, Snapshot, WorkDir

__all__ = ["KernelDriver", "KernelOutcome", "KernelSandbox", "connection_info", "kernel_argv"]

logger = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_USED_PORTS = ("shell_port", "iopub_port", "control_port")
STARTUP_FILE = Path(__file__).with_name("startup.py")
"""Run by the kernel at start: data frame tables, matplotlib inline, quiet warnings."""


def connection_info(socket_prefix: str) -> dict[str, Any]:
    """A fresh Jupyter connection file over ipc sockets named `{socket_prefix}-{n}`."""
    return {
        "transport": "ipc",
        "ip": socket_prefix,
        "shell_port": 1,
        "iopub_port": 2,
        "stdin_port": 3,
        "control_port": 4,
        "hb_port": 5,
        "key": secrets.token_hex(32),
        "signature_scheme": "hmac-sha256",
        "kernel_name": "runpad",
    }


def kernel_argv(python: str, connection_file: str, startup_file: str) -> list[str]:
    """The command that starts ipykernel with runpad's settings."""
    return [
        python,
        "-m",
        "ipykernel_launcher",
        "-f",
        connection_file,
        "--HistoryManager.enabled=False",
        f"--IPKernelApp.exec_files={json.dumps([startup_file])}",
        "--IPKernelApp.parent_handle=0",
        "--Application.log_level=WARN",
    ]


def to_kernel_code(code: str, language: Language) -> str:
    """Wrap a cell of another language into code the IPython kernel runs."""
    if language == "python":
        return code
    if language == "shell":
        # IPython 8+ turns a non-zero exit status into CalledProcessError by itself (an error
        # value, like Python code); it dropped `--raise-error`, which bash would then receive.
        return "%%bash\n" + code
    raise ValueError(f"The IPython kernel runs no {language!r} cells: use 'python' or 'shell'.")


@dataclass
class KernelOutcome:
    """What a cell left behind, before the backend adds artifacts and timing."""

    stdout: StreamCapture
    stderr: StreamCapture
    results: list[RichResult] = field(default_factory=list)
    error: ExecutionError | None = None
    execution_count: int | None = None
    finished: bool = False  # the kernel reported the cell done (status idle)
    budget: ResultBudget | None = None  # holds `results` to the output limits as they come

    def __post_init__(self) -> None:
        if self.budget is not None:
            self.results = self.budget.results

    def add_result(self, result: RichResult) -> None:
        if self.budget is None:
            self.results.append(result)
        else:
            self.budget.add(result)

    def clear_results(self) -> None:
        if self.budget is None:
            self.results.clear()
        else:
            self.budget.clear()


class KernelDied(Exception):
    """The kernel process exited while we waited for it."""


class KernelDriver:
    """A connected Jupyter client for one kernel process.

    Args:
        info: connection info as the host must use it (socket paths on this machine).
        is_alive: tells whether the kernel's process still runs; checked while waiting.
    """

    def __init__(self, info: dict[str, Any], is_alive: Callable[[], bool]) -> None:
        self.connection_info = dict(info)
        self._client = AsyncKernelClient()
        self._client.load_connection_info(info)  # type: ignore[arg-type]  # a TypedDict there
        self._is_alive = is_alive
        # The code that ran in a dead kernel may have replaced its socket paths with links
        # to any socket of this machine; a reconnecting zmq socket would follow them. So we
        # connect once, to sockets that the new kernel made, and never reconnect.
        self._client.context.setsockopt(zmq.RECONNECT_IVL, -1)
        self._socket_paths = (
            [Path(f"{info['ip']}-{info[port]}") for port in _USED_PORTS]
            if info.get("transport") == "ipc"
            else []
        )

    async def connect(self, timeout: float) -> None:
        """Wait until the kernel answers on shell and its iopub stream reaches us."""
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._sockets_ready):
            if not self._is_alive():
                raise SandboxStartError(
                    "The sandbox kernel exited during start-up; run `runpad sandbox check` "
                    "and `runpad sandbox setup` to repair the sandbox environment."
                )
            if time.monotonic() > deadline:
                raise SandboxStartError(
                    f"The sandbox kernel did not open its sockets within {timeout:.0f} s; "
                    "raise Limits.start_timeout if this machine is slow."
                )
            await asyncio.sleep(0.005)
        self._client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=True)
        # Cells read their replies straight from the sockets (`_next_iopub`): blocking-free
        # receives of whatever has arrived, and one poll when nothing has.
        self._iopub_poll = self._client.iopub_channel.socket
        self._iopub: zmq.Socket[Any] = zmq.Socket.shadow(self._iopub_poll.underlying)
        self._shell: zmq.Socket[Any] = zmq.Socket.shadow(
            self._client.shell_channel.socket.underlying
        )
        # zmq drops what a PUB socket sends before our SUB has joined, so we ask until a
        # kernel_info request's status message arrives on iopub, not just its reply.
        while time.monotonic() < deadline:
            if not self._is_alive():
                raise SandboxStartError(
                    "The sandbox kernel exited during start-up; run `runpad sandbox check` "
                    "and `runpad sandbox setup` to repair the sandbox environment."
                )
            msg_id = self._client.kernel_info()
            if await self._seen_on_iopub(msg_id, wait=0.25):
                await self._drain_shell()
                return
        raise SandboxStartError(
            f"The sandbox kernel did not answer within {timeout:.0f} s; raise "
            "Limits.start_timeout if this machine is slow."
        )

    def _sockets_ready(self) -> bool:
        """Every ipc socket we use is a socket (never a link) that accepts connections.

        The file appears at bind(), a moment before listen(): a connection in between is
        refused, and since we never reconnect, we probe each socket first.
        """
        for path in self._socket_paths:
            try:
                if not stat.S_ISSOCK(path.lstat().st_mode):
                    return False
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1.0)
                    probe.connect(str(path))
            except OSError:  # not there yet, or not listening yet
                return False
        return True

    async def _seen_on_iopub(self, msg_id: str, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = await self._client.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    async def _drain_shell(self) -> dict[str, Any] | None:
        """Read pending shell replies; return the last one."""
        last = None
        while True:
            try:
                last = await self._client.get_shell_msg(timeout=0.001)
            except queue.Empty:
                return last

    async def execute(
        self,
        code: str,
        outcome: KernelOutcome,
        *,
        timeout: float,
        interrupt_grace: float,
        on_output: OutputCallback | None,
        print_marker: Callable[[str], str] | None = None,
    ) -> bool:
        """Run a cell, filling `outcome` as messages arrive; True if it hit its timeout.

        When the timeout passes the cell is interrupted; if it is still busy after
        `interrupt_grace`, `outcome.finished` stays False and the caller must restart the
        kernel. Raises KernelDied if the process exits during the cell; what arrived
        before is in `outcome`.

        `print_marker(text)` is code that prints `text`, for kernels whose output can
        arrive after they report the cell done (Deno's): the cell's output then ends where
        that marker appears (`_collect_trailing`).
        """
        self._drain_shell_nowait()  # replies of earlier cells that came after their idle
        msg_id = self._client.execute(code, store_history=True, allow_stdin=False)
        timed_out = await self._collect(msg_id, outcome, time.monotonic() + timeout, on_output)
        if timed_out:
            await self.interrupt()
            await self._collect(msg_id, outcome, time.monotonic() + interrupt_grace, on_output)
        if outcome.finished and print_marker is not None:
            await self._collect_trailing(
                msg_id, outcome, print_marker, interrupt_grace, timeout, on_output
            )
        if outcome.finished:
            # ipykernel sends the reply before the idle status; it is usually here by now,
            # and one that is not is drained before the next cell, never waited for.
            reply = self._drain_shell_nowait(reply_to=msg_id)
            if reply and outcome.execution_count is None:
                outcome.execution_count = reply.get("execution_count")
            if reply and reply.get("status") == "error" and outcome.error is None:
                # Deno reports a cell it cannot parse in its reply only, never on iopub.
                outcome.error = ExecutionError(
                    name=str(reply.get("ename") or "Error"),
                    value=str(reply.get("evalue") or "The cell failed."),
                    traceback="\n".join(map(str, reply.get("traceback") or [])),
                )
        return timed_out

    async def _collect_trailing(
        self,
        msg_id: str,
        outcome: KernelOutcome,
        print_marker: Callable[[str], str],
        quiet: float,
        limit: float,
        on_output: OutputCallback | None,
    ) -> None:
        """Collect what a cell printed after its idle status, up to a marker printed next.

        Deno's kernel publishes a cell's output from a queue that can lag behind the idle
        status, under the parent of whichever request came last: without this, the tail of
        a long output would be lost or land in the next cell. The marker goes through the
        same queue, so everything before it is the cell's. It waits while output keeps
        coming (a loaded machine drains the queue slowly), and gives up after `quiet`
        seconds of silence or `limit` seconds in all.
        """
        marker = f"runpad-end-of-output-{secrets.token_hex(8)}"
        barrier = self._client.execute(
            print_marker(marker), silent=True, store_history=False, allow_stdin=False
        )
        deadline = time.monotonic() + limit
        silent_until = time.monotonic() + quiet
        while (remaining := min(deadline, silent_until) - time.monotonic()) > 0:
            frames = await self._next_iopub(min(remaining, 0.2))
            if frames is None:
                if not self._is_alive():
                    raise KernelDied from None
                continue
            message = self._parse(frames)
            if message is None or message[1] == "status":
                continue
            silent_until = time.monotonic() + quiet
            # Under the barrier's parent: the cell's queued output, never the barrier's own
            # input, count or error.
            if not (
                message[0] == msg_id
                or (message[0] == barrier and message[1] in ("stream", "display_data"))
            ):
                continue
            content = self._unpack(message[2])
            if content is None:
                continue
            if message[1] == "stream" and marker in content.get("text", ""):
                before = content["text"].split(marker, 1)[0]
                if before:
                    await self._handle("stream", {**content, "text": before}, outcome, on_output)
                return
            await self._handle(message[1], content, outcome, on_output)
        logger.warning("The kernel's output marker did not arrive; the output may be incomplete")
        outcome.stderr.add(
            "[runpad] The kernel was still sending this cell's output when runpad stopped "
            "waiting; its end may be missing.\n"
        )

    async def run_silently(self, code: str, timeout: float) -> None:
        """Run set-up code before any cell: no output, no history, no execution count.

        Raises SandboxStartError if it fails or does not finish within `timeout`.
        """
        outcome = KernelOutcome(stdout=StreamCapture(4096), stderr=StreamCapture(4096))
        msg_id = self._client.execute(code, silent=True, store_history=False, allow_stdin=False)
        try:
            timed_out = await self._collect(msg_id, outcome, time.monotonic() + timeout, None)
        except KernelDied:
            timed_out = True
        self._drain_shell_nowait()
        if timed_out or outcome.error is not None:
            why = str(outcome.error) if outcome.error else f"no answer within {timeout:g} s"
            raise SandboxStartError(
                f"The sandbox kernel failed its set-up code ({why}); run `runpad sandbox "
                "check` and `runpad sandbox setup` to repair the sandbox environment."
            )

    async def _collect(
        self,
        msg_id: str,
        outcome: KernelOutcome,
        deadline: float,
        on_output: OutputCallback | None,
    ) -> bool:
        """Read iopub until the cell is idle (False) or the deadline passes (True)."""
        received = 0
        while not outcome.finished:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            frames = await self._next_iopub(min(remaining, 0.2))
            if frames is None:
                if not self._is_alive():
                    raise KernelDied from None
                continue
            received += 1
            if received % 64 == 0:  # a flood arrives without waiting: let other tasks run
                await asyncio.sleep(0)
            message = self._parse(frames)
            if message is not None and message[0] == msg_id:
                content = self._unpack(message[2])
                if content is not None:
                    await self._handle(message[1], content, outcome, on_output)
        return False

    async def _next_iopub(self, timeout: float) -> list[bytes] | None:
        """The frames of the next iopub message, waiting at most `timeout` seconds."""
        try:
            return self._iopub.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            pass
        if not await self._iopub_poll.poll(timeout * 1000, zmq.POLLIN):
            return None
        try:
            return self._iopub.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None

    def _parse(self, frames: list[bytes]) -> tuple[str | None, str, bytes] | None:
        """(parent msg_id, msg_type, content still packed) of a signed message, else None.

        What jupyter_client's `Session.deserialize` does, less what a cell's result does not
        use: header dates parsed into datetimes, the metadata, and the content of messages
        that belong to another request.
        """
        session = self._client.session
        _, frames = session.feed_identities(frames)
        if len(frames) < 5:
            return None
        if session.auth is not None and not hmac.compare_digest(
            frames[0], session.sign(frames[1:5])
        ):
            logger.warning("Dropped a kernel message with a bad signature")
            return None
        try:
            parent, header = session.unpack(frames[2]), session.unpack(frames[1])
        except ValueError:
            return None
        if not isinstance(parent, dict) or not isinstance(header, dict):
            return None  # the kernel runs the model's code, which can read the key
        return parent.get("msg_id"), str(header.get("msg_type")), frames[4]

    def _drain_shell_nowait(self, reply_to: str | None = None) -> dict[str, Any] | None:
        """Read the shell replies that have arrived; the content of the last one, or of the
        one to the request `reply_to` where given."""
        last = None
        while True:
            try:
                frames = self._shell.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return last
            message = self._parse(frames)
            if message is not None and (reply_to is None or message[0] == reply_to):
                last = self._unpack(message[2])

    def _unpack(self, content: bytes) -> dict[str, Any] | None:
        try:
            value = self._client.session.unpack(content)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def _handle(
        self,
        kind: str,
        content: dict[str, Any],
        outcome: KernelOutcome,
        on_output: OutputCallback | None,
    ) -> None:
        if kind == "status" and content["execution_state"] == "idle":
            outcome.finished = True
        elif kind == "stream":
            stream: StreamName = "stderr" if content["name"] == "stderr" else "stdout"
            (outcome.stderr if stream == "stderr" else outcome.stdout).add(content["text"])
            await emit(on_output, OutputChunk(stream=stream, text=content["text"]))
        elif kind == "execute_input":
            outcome.execution_count = content.get("execution_count")
        elif kind in ("execute_result", "display_data"):
            outcome.add_result(
                RichResult(data=content["data"], is_main_result=kind == "execute_result")
            )
        elif kind == "error":
            outcome.error = ExecutionError(
                name=content["ename"],
                value=content["evalue"],
                traceback=_ANSI.sub("", "\n".join(content["traceback"])),
            )
        elif kind == "clear_output":
            outcome.clear_results()

    async def interrupt(self) -> None:
        """Ask the kernel to interrupt its cell (a message: signals do not cross bwrap)."""
        self._client.control_channel.send(self._client.session.msg("interrupt_request", {}))

    def close(self) -> None:
        # Not stop_channels(): it asks for the stdin and heartbeat channels, whose lazy
        # properties would open new sockets to the old kernel's (possibly planted) paths.
        if self._client.channels_running:
            for channel in (
                self._client.shell_channel,
                self._client.iopub_channel,
                self._client.control_channel,
            ):
                channel.stop()
        self._client.context.destroy(linger=0)


def outcome_to_execution(
    outcome: KernelOutcome,
    *,
    language: Language,
    duration_ms: float,
    timed_out: bool,
    restarted: bool,
    timeout: float,
) -> Execution:
    """Turn a kernel outcome into the Execution that callers see."""
    error = outcome.error
    if timed_out:
        how = "it was interrupted" if outcome.finished else "the kernel was restarted"
        error = ExecutionError(
            name="TimeoutError",
            value=f"The cell ran longer than its {timeout:g} s limit and {how}. "
            "Make it faster, or run it with a larger timeout.",
            traceback=error.traceback if error else "",
        )
    return Execution(
        stdout=outcome.stdout.value(),
        stderr=outcome.stderr.value(),
        results=outcome.results,
        error=error,
        duration_ms=duration_ms,
        execution_count=outcome.execution_count,
        stdout_truncated=outcome.stdout.truncated,
        stderr_truncated=outcome.stderr.truncated,
        stdout_spill=outcome.stdout.spill_name,
        stderr_spill=outcome.stderr.spill_name,
        timed_out=timed_out,
        restarted=restarted,
        language=language,
        results_omitted=outcome.budget.omitted if outcome.budget else 0,
    )


class KernelSandbox(Sandbox):
    """A sandbox made of an IPython kernel process and a work dir this machine can see.

    Subclasses decide how the kernel process is started and isolated (`_launch_kernel`,
    `_stop_kernel`); running cells, timeouts, restarts, artifacts and files are shared.
    A backend that also runs JavaScript and TypeScript lists them in `languages` and starts
    a Deno kernel in the same work dir (`_launch_deno_kernel`, `_stop_deno_kernel`); the
    session starts it at its first such cell and drives it like the Python kernel.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self._driver: KernelDriver | None = None
        self._deno: KernelDriver | None = None
        self._workdir: WorkDir | None = None
        self._cells = 0
        # The work dir as the last cell left it (with the host's uploads since): what the
        # next cell's artifacts are measured against, so each cell walks the dir once.
        self._files: Snapshot | None = None
        # Says whether anything in the work dir changed since the last look, so that a cell
        # that wrote nothing needs no walk (None: no inotify here, or too many directories).
        self._watch: WorkDirWatch | None = None

    @property
    def workdir(self) -> WorkDir:
        if self._workdir is None:
            raise SandboxClosed("The sandbox has no work dir until it is started.")
        return self._workdir

    def kernel_connection_info(self) -> dict[str, Any]:
        """The running kernel's Jupyter connection info, as a client on this machine uses it:
        for other Jupyter clients (nbclient, a console) to talk to the same kernel."""
        if self._driver is None:
            raise SandboxClosed("The sandbox's kernel is not running; start the sandbox first.")
        return dict(self._driver.connection_info)

    # -- what a kernel backend implements -----------------------------------------------------

    @abc.abstractmethod
    async def _launch_kernel(self) -> KernelDriver:
        """Start the kernel process and return a connected driver."""

    @abc.abstractmethod
    async def _stop_kernel(self) -> None:
        """Kill the kernel process and everything it started; wait until it is gone."""

    def _death_reason(self) -> str:
        """Why the kernel process died, in words, for the error the model reads."""
        return "the kernel process exited"

    def _kernel_alive(self) -> bool:
        """Whether the kernel process still runs; backends that own a process override it."""
        return True

    async def _launch_deno_kernel(self) -> KernelDriver:
        """Start the Deno kernel process (`runpad.sandbox.kernel.deno`), return a connected
        driver; backends that list JavaScript in `languages` override it. Raises
        SandboxUnavailable (DenoUnavailable) when the sandbox has no Deno."""
        raise DenoUnavailable(f"The {self.backend!r} sandbox backend runs no Deno kernel.")

    async def _stop_deno_kernel(self) -> None:
        """Kill the Deno kernel process and everything it started; not the Python kernel."""

    def _deno_kernel_alive(self) -> bool:
        return True

    def _npm_versions(self) -> Mapping[str, Sequence[str]] | None:
        """The versions of the cached npm packages (`cached_npm_versions`), where known."""
        return None

    def _deno_death_reason(self) -> str:
        return "the JavaScript kernel process exited"

    def _is_alive(self) -> bool:
        return self._driver is not None and self._kernel_alive()

    # -- shared behaviour ----------------------------------------------------------------------

    async def _close(self) -> None:
        await self._stop_deno()
        await self._stop_driver()
        self._drop_watch()

    def _drop_watch(self) -> None:
        """Stop watching the work dir; from then on each cell walks it."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    async def _stop_driver(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None
        await self._stop_kernel()

    async def _stop_deno(self) -> None:
        if self._deno is not None:
            self._deno.close()
            self._deno = None
        await self._stop_deno_kernel()

    async def _restart(self) -> None:
        # A restart clears every variable: the Deno kernel's too (it starts again at the
        # next JavaScript cell).
        await self._stop_deno()
        await self._restart_python()

    async def _restart_python(self) -> None:
        await self._stop_driver()
        self._driver = await self._launch_kernel()

    async def _start_deno(self) -> None:
        await self._stop_deno()
        driver = await self._launch_deno_kernel()
        try:
            await driver.run_silently(DENO_STARTUP, self.limits.start_timeout)
        except BaseException:
            driver.close()
            await self._stop_deno_kernel()
            raise
        self._deno = driver

    async def _interrupt(self) -> None:
        for driver in (self._driver, self._deno):
            if driver is not None:
                await driver.interrupt()

    async def _run(
        self, code: str, *, language: Language, timeout: float, on_output: OutputCallback | None
    ) -> Execution:
        if language in DENO_LANGUAGES:
            # The versions come from a directory listing (once): off the event loop, which
            # LangGraph's server keeps free of file system calls.
            versions = await asyncio.to_thread(self._npm_versions)
            if (import_error := check_imports(code, versions)) is not None:
                return Execution(error=import_error, language=language)
            try:
                return await self._run_cell(_DenoKernel(self), code, language, timeout, on_output)
            except SandboxUnavailable as exc:  # no Deno here: a value the model reads
                return Execution(
                    error=ExecutionError(name="DenoUnavailable", value=str(exc)),
                    language=language,
                )
        return await self._run_cell(_PythonKernel(self), code, language, timeout, on_output)

    async def _run_cell(
        self,
        kernel: _Kernel,
        code: str,
        language: Language,
        timeout: float,
        on_output: OutputCallback | None,
    ) -> Execution:
        kernel_code = kernel.code(code, language)
        # A kernel that died between cells (killed, out of memory) gets replaced before we
        # send anything: a request to a dead kernel would wait for an answer forever.
        died_idle = kernel.driver is not None and not kernel.alive()
        death = kernel.death_reason() if died_idle else ""
        if died_idle:
            await kernel.restart()
        elif kernel.driver is None:  # not started yet, or a previous cell's restart failed
            await kernel.start()
        driver = kernel.driver
        assert driver is not None
        workdir = self.workdir
        self._cells += 1
        before = self._files
        if before is None:  # the session's first cell, or the first to end since a failure
            self._drop_watch()
            first, self._watch = await asyncio.to_thread(_watched_snapshot, workdir)
            before = first
        outcome = KernelOutcome(
            stdout=self._capture(f"cell-{self._cells}-stdout.txt"),
            stderr=self._capture(f"cell-{self._cells}-stderr.txt"),
            budget=ResultBudget(
                self.limits,
                spill_prefix=f"{RUNPAD_DIR}/cell-{self._cells}-result",
                write_spill=workdir.write_spill,
            ),
        )
        if died_idle:
            outcome.stderr.add(
                f"[runpad] The sandbox {kernel.name} had died since the last cell ({death}); it "
                "was restarted, so variables from earlier cells are gone.\n"
            )
        started = time.monotonic()
        restarted = timed_out = False
        try:
            timed_out = await driver.execute(
                kernel_code,
                outcome,
                timeout=timeout,
                interrupt_grace=self.limits.interrupt_grace,
                on_output=on_output,
                print_marker=kernel.print_marker,
            )
        except KernelDied:
            outcome.error = ExecutionError(
                name="KernelDied",
                value=f"The sandbox {kernel.name} died: {kernel.death_reason()}. It was "
                "restarted; variables from earlier cells are gone, files in the work dir remain.",
            )
            restarted = True
        finally:
            outcome.stdout.close()
            outcome.stderr.close()
        if timed_out and not outcome.finished:
            restarted = True
        if restarted:
            await kernel.restart()
        # Finding the cell's files counts against the cell (Limits.artifact_seconds). A cell
        # the watch saw change nothing is settled here; else in a worker thread, as file
        # system calls on the event loop are refused by LangGraph's server (`langgraph
        # dev` raises BlockingError in the executor node).
        watch = self._watch
        if watch is not None and not watch.changed():
            changes = FileChanges(artifacts=[], omitted=0, complete=True, snapshot=before)
        else:
            changes = await asyncio.to_thread(_cell_changes, workdir, before, self.limits, watch)
            if watch is not None and not (changes.complete and watch.reliable):
                self._drop_watch()  # some directory may be unwatched: walk from now on
        self._files = changes.snapshot
        duration_ms = (time.monotonic() - started) * 1000
        if outcome.error is not None:
            outcome.error = kernel.explain(outcome.error)
        execution = outcome_to_execution(
            outcome,
            language=language,
            duration_ms=duration_ms,
            timed_out=timed_out,
            restarted=restarted or died_idle,
            timeout=timeout,
        )
        return dataclasses.replace(
            execution,
            artifacts=changes.artifacts,
            artifacts_omitted=changes.omitted,
            artifacts_complete=changes.complete,
        )

    def _capture(self, spill_name: str) -> StreamCapture:
        name = f"{RUNPAD_DIR}/{spill_name}"
        workdir = self.workdir
        return StreamCapture(
            self.limits.output_bytes,
            spill_name=name,
            open_spill=lambda: workdir.open_for_write(name),
            spill_limit=self.limits.spill_bytes,
        )

    async def _upload(self, data: bytes, dest: str) -> FileInfo:
        info = await asyncio.to_thread(self.workdir.write, dest, data)
        await self._remember_upload(info.name)
        return info

    async def _remember_upload(self, name: str) -> None:
        """Take a file the host wrote into the work dir state: not the next cell's artifact."""
        if self._files is not None:
            signature = await asyncio.to_thread(self.workdir.signature, name)
            if signature is not None:
                self._files = {**self._files, name: signature}

    async def _download(self, path: str) -> bytes:
        return await asyncio.to_thread(self.workdir.read, path)

    async def _list_files(self, path: str) -> list[FileInfo]:
        return await asyncio.to_thread(self.workdir.list_files, path)


class _Kernel(abc.ABC):
    """One of a session's kernels, as `KernelSandbox._run_cell` uses it."""

    name: str  # as the messages the model reads call it
    print_marker: Callable[[str], str] | None = None  # see KernelDriver.execute

    def __init__(self, sandbox: KernelSandbox) -> None:
        self.sandbox = sandbox

    @property
    @abc.abstractmethod
    def driver(self) -> KernelDriver | None: ...

    @abc.abstractmethod
    def code(self, code: str, language: Language) -> str: ...

    @abc.abstractmethod
    def alive(self) -> bool: ...

    @abc.abstractmethod
    def death_reason(self) -> str: ...

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def restart(self) -> None: ...

    def explain(self, error: ExecutionError) -> ExecutionError:
        return error


class _PythonKernel(_Kernel):
    name = "kernel"

    @property
    def driver(self) -> KernelDriver | None:
        return self.sandbox._driver

    def code(self, code: str, language: Language) -> str:
        return to_kernel_code(code, language)

    def alive(self) -> bool:
        return self.sandbox._is_alive()

    def death_reason(self) -> str:
        return self.sandbox._death_reason()

    async def start(self) -> None:
        self.sandbox._driver = await self.sandbox._launch_kernel()

    async def restart(self) -> None:
        await self.sandbox._restart_python()


class _DenoKernel(_Kernel):
    name = "JavaScript kernel"
    print_marker = staticmethod(deno_print_marker)

    @property
    def driver(self) -> KernelDriver | None:
        return self.sandbox._deno

    def code(self, code: str, language: Language) -> str:
        return code  # Deno runs JavaScript as TypeScript, whose superset it is

    def alive(self) -> bool:
        return self.sandbox._deno_kernel_alive()

    def death_reason(self) -> str:
        return self.sandbox._deno_death_reason()

    async def start(self) -> None:
        await self.sandbox._start_deno()

    async def restart(self) -> None:
        await self.sandbox._start_deno()

    def explain(self, error: ExecutionError) -> ExecutionError:
        return explain_deno_error(error)


def _watched_snapshot(workdir: WorkDir) -> tuple[Snapshot, WorkDirWatch | None]:
    """The work dir's first snapshot, and a watch on each of its directories where
    inotify can watch them all."""
    watch = WorkDirWatch.open()
    snapshot, _ = workdir.snapshot(on_directory=watch.add if watch is not None else None)
    if watch is not None and not watch.reliable:
        watch.close()
        watch = None
    return snapshot, watch


def _cell_changes(
    workdir: WorkDir, before: Snapshot, limits: Limits, watch: WorkDirWatch | None
) -> FileChanges:
    """What a cell changed in the work dir, with the capped, hashing search of
    `changed_since`, which also watches the directories it finds. Without a watch, a short
    walk first settles the common case of a cell that wrote nothing."""
    if watch is None and workdir.unchanged_since(before):
        return FileChanges(artifacts=[], omitted=0, complete=True, snapshot=before)
    return workdir.changed_since(before, limits, watch.add if watch is not None else None)
