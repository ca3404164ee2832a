"""`unsafe-local`: the same kernel as `local`, with no isolation at all.

For machines where bubblewrap cannot run and the code is trusted (your own notebooks, a
throw-away VM). The code runs as you, sees your files and your network. Choosing it is
explicit, and every session warns. JavaScript and TypeScript cells run too, in the same Deno
kernel as `local`'s; Deno's permissions take away its network, subprocesses, FFI and
environment, but not your files (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from runpad.sandbox.environment import SandboxEnvironment, find_environment
from runpad.sandbox.kernel.deno import (
    DENO_LANGUAGES,
    RELAY_FILE,
    deno_env,
    deno_kernel_argv,
    find_deno,
)
from runpad.sandbox.kernel.driver import (
    STARTUP_FILE,
    KernelDriver,
    KernelSandbox,
    connection_info,
    kernel_argv,
)
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import Language
from runpad.sandbox.workdir import WorkDir

__all__ = ["UnsafeLocalSandbox", "UnsafeSandboxWarning"]


class UnsafeSandboxWarning(UserWarning):
    """Code is about to run without any isolation."""


class UnsafeLocalSandbox(KernelSandbox):
    """A kernel in a plain subprocess: stateful and fast, not isolated. Limits are not enforced
    beyond the per-cell timeout.

    Example:
        ```python
        async with UnsafeLocalSandbox() as sandbox:  # warns: no isolation
            await sandbox.run("print('trusted code only')")
        ```
    """

    backend = "unsafe-local"
    languages: ClassVar[tuple[Language, ...]] = ("python", "shell", *DENO_LANGUAGES)

    def __init__(
        self, limits: Limits | None = None, *, environment: SandboxEnvironment | None = None
    ) -> None:
        super().__init__(limits)
        self._environment = environment
        self._session_dir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._deno_process: asyncio.subprocess.Process | None = None

    async def _start(self) -> None:
        warnings.warn(
            "The 'unsafe-local' sandbox runs code WITHOUT isolation: it can read and change "
            "your files and use your network. Use the 'local' backend for untrusted code.",
            UnsafeSandboxWarning,
            stacklevel=3,
        )
        # Off the event loop, like every file call here (LangGraph's server refuses them on it).
        self._environment = self._environment or await asyncio.to_thread(find_environment)
        self._session_dir = await asyncio.to_thread(_make_session_dir)
        self._workdir = WorkDir(self._session_dir / "work")
        try:
            self._driver = await self._launch_kernel()
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, self._session_dir, True)
            raise

    async def _launch_kernel(self) -> KernelDriver:
        assert self._session_dir is not None
        environment = self._environment
        assert environment is not None
        # Fresh socket names at every launch: a killed kernel leaves its socket files behind,
        # and the driver connects once, to the first sockets it finds.
        info = connection_info(str(self._session_dir / f"k{secrets.token_hex(3)}"))
        connection_file = self._session_dir / "kernel.json"
        await asyncio.to_thread(connection_file.write_text, json.dumps(info))
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTHON", "VIRTUAL_ENV", "JPY_", "MPL"))
        }
        env |= {
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        font_cache = await asyncio.to_thread(lambda: environment.mpl_font_cache)  # a glob
        if font_cache is not None:
            env["MPLCONFIGDIR"] = str(font_cache.parent)
        argv = kernel_argv(str(environment.python), str(connection_file), str(STARTUP_FILE))
        self._process = await self._spawn(argv, env, "kernel.log")
        return await self._connect(info, self._kernel_alive, self._stop_kernel)

    async def _launch_deno_kernel(self) -> KernelDriver:
        assert self._session_dir is not None
        assert self._environment is not None
        deno = find_deno(self._environment)
        # The relay's ipc names, and the connection file the kernel reads, are fresh at
        # every launch, as for the Python kernel.
        token = secrets.token_hex(3)
        info = connection_info(str(self._session_dir / f"d{token}"))
        connection_file = self._session_dir / f"deno-{token}.json"
        await asyncio.to_thread(connection_file.write_text, json.dumps(info))
        argv = deno_kernel_argv(str(self._environment.python), str(deno), str(connection_file))
        argv[2:5] = [
            str(RELAY_FILE),
            str(connection_file),
            str(self._session_dir / f"tcp-{token}.json"),
        ]
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTHON", "VIRTUAL_ENV", "JPY_", "DENO_"))
        }
        env |= deno_env(self._environment.deno_dir, self.limits)
        self._deno_process = await self._spawn(argv, env, "deno.log")
        return await self._connect(info, self._deno_kernel_alive, self._stop_deno_kernel)

    async def _spawn(
        self, argv: list[str], env: dict[str, str], log_name: str
    ) -> asyncio.subprocess.Process:
        """A kernel process in the work dir, its output appended to `log_name` in the session."""
        assert self._session_dir is not None
        # Files are opened off the event loop (LangGraph's server refuses blocking calls on it).
        log = await asyncio.to_thread((self._session_dir / log_name).open, "ab")
        with log:
            return await asyncio.create_subprocess_exec(
                *argv,
                cwd=self._workdir.root if self._workdir else None,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )

    async def _connect(
        self,
        info: dict[str, Any],
        alive: Callable[[], bool],
        stop: Callable[[], Awaitable[None]],
    ) -> KernelDriver:
        """The driver of a spawned kernel; the kernel is stopped when it never answers."""
        driver = KernelDriver(info, alive)
        try:
            await driver.connect(self.limits.start_timeout)
        except BaseException:
            driver.close()
            await stop()
            raise
        return driver

    def _deno_kernel_alive(self) -> bool:
        return self._deno_process is not None and self._deno_process.returncode is None

    async def _stop_deno_kernel(self) -> None:
        process, self._deno_process = self._deno_process, None
        await _kill_group(process)

    def _kernel_alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def _stop_kernel(self) -> None:
        process, self._process = self._process, None
        await _kill_group(process)

    async def _close(self) -> None:
        await super()._close()
        if self._session_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._session_dir, True)


async def _kill_group(process: asyncio.subprocess.Process | None) -> None:
    """Kill a kernel and whatever it started (its process group); wait for it."""
    if process is not None and process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()


def _make_session_dir() -> Path:
    """A new session folder with its `work` dir. ipc socket paths must stay short (108
    bytes), so the session lives in /tmp."""
    session = Path(tempfile.mkdtemp(prefix=f"runpad-{secrets.token_hex(3)}-"))
    (session / "work").mkdir()
    return session
