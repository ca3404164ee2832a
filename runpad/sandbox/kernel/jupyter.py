"""Jupyter kernels that run inside a runpad sandbox, for any Jupyter client (nbclient too).

`SandboxProvisioner` is a jupyter_client kernel provisioner: where jupyter_client would
start a kernel process, it starts a sandbox session of a kernel backend (local, unsafe-local,
docker), uploads the given files into its work dir and hands the kernel's connection info
back. `SandboxKernelManager` is a kernel manager that always uses it, so a notebook runs
with the same isolation and limits as a runpad cell:

```python
from nbclient import NotebookClient

km = SandboxKernelManager(backend="local", files=["sales.csv"])
NotebookClient(notebook, km=km).execute()
```

The provisioner is also registered as the `runpad-sandbox` entry point of
`jupyter_client.kernel_provisioners`, so a kernelspec whose metadata names it
(`{"kernel_provisioner": {"provisioner_name": "runpad-sandbox"}}`) runs its kernels in a
sandbox under Jupyter itself; `sandbox_kernel_spec()` is such a spec.

Restarting the kernel starts a new session (variables and written files are gone; the
given files are uploaded again). Interrupts are messages: signals do not cross bubblewrap.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import zmq
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Any as AnyTrait
from traitlets import List, Unicode

from runpad.cells import KERNEL_NAME
from runpad.errors import ConfigurationError
from runpad.sandbox.factory import open_sandbox
from runpad.sandbox.kernel.driver import KernelSandbox
from runpad.sandbox.limits import Limits

__all__ = [
    "KERNEL_NAME",
    "SandboxKernelManager",
    "SandboxProvisioner",
    "sandbox_kernel_spec",
]

PROVISIONER_NAME = "runpad-sandbox"


def sandbox_kernel_spec(backend: str = "local") -> KernelSpec:
    """A kernelspec whose kernels run in a runpad sandbox of `backend`.

    The argv is what runs inside the sandbox (the backend supplies its own interpreter and
    start-up file); it is there for tools that display it.
    """
    return KernelSpec(
        name=KERNEL_NAME,
        argv=["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name=f"Python 3 (runpad {backend} sandbox)",
        language="python",
        interrupt_mode="message",
        metadata={
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER_NAME,
                "config": {"backend": backend},
            }
        },
    )


class SandboxProvisioner(KernelProvisionerBase):
    """Provides a kernel by starting a runpad sandbox session (a kernel backend).

    Configurable (kernelspec `config` or keyword arguments): `backend`, `files` (host
    paths uploaded into the work dir at every start), `limits` (a `Limits`).
    """

    backend = Unicode("local", config=True, help="The runpad sandbox backend.")
    files = List(Unicode(), config=True, help="Host files to upload into the work dir.")
    limits = AnyTrait(None, allow_none=True, help="runpad.sandbox.Limits of the session.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sandbox: KernelSandbox | None = None
        self._closed = asyncio.Event()

    @property
    def sandbox(self) -> KernelSandbox | None:
        """The session the kernel runs in, while it runs."""
        return self._sandbox

    @property
    def has_process(self) -> bool:
        return self._sandbox is not None

    async def poll(self) -> int | None:
        return None if self._sandbox is not None and self._sandbox.is_running else 0

    async def wait(self) -> int | None:
        # The kernel only ends with its session, and the session only ends in _close().
        if self._sandbox is not None:
            await self._closed.wait()
        return 0

    async def send_signal(self, signum: int) -> None:
        if self._sandbox is None or signum == 0:
            return
        if signum == signal.SIGINT:
            await self._sandbox.interrupt()
        else:  # SIGTERM, SIGKILL: end the session
            await self._close()

    async def kill(self, restart: bool = False) -> None:
        await self._close()

    async def terminate(self, restart: bool = False) -> None:
        await self._close()

    async def shutdown_requested(self, restart: bool = False) -> None:
        # Nothing in the session needs a graceful exit; closing it ends every process in it.
        await self._close()

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("extra_arguments", None)
        kwargs.pop("cwd", None)  # the kernel's directory is the sandbox's work dir
        assert self.kernel_spec is not None
        result: dict[str, Any] = await super().pre_launch(cmd=list(self.kernel_spec.argv), **kwargs)
        return result

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        limits = self.limits if isinstance(self.limits, Limits) else None
        sandbox = open_sandbox(self.backend, limits=limits)
        if not isinstance(sandbox, KernelSandbox):
            raise ConfigurationError(
                f"The {self.backend!r} sandbox backend gives no Jupyter kernel to connect to; "
                "use 'local', 'unsafe-local' or 'docker' to run notebooks."
            )
        await sandbox.start()
        try:
            for name in self.files:
                await sandbox.upload(Path(name), Path(name).name)
            info = sandbox.kernel_connection_info()
        except BaseException:
            await sandbox.close()
            raise
        self._sandbox = sandbox
        self._closed.clear()
        info["key"] = str(info["key"]).encode()  # jupyter_client keeps the key as bytes
        self.connection_info = cast(KernelConnectionInfo, info)
        return self.connection_info

    async def cleanup(self, restart: bool = False) -> None:
        await self._close()

    async def _close(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            try:
                await sandbox.close()
            finally:
                self._closed.set()


class _SandboxKernelSpecs(KernelSpecManager):
    """Knows one kernelspec: the sandbox kernel's."""

    backend = Unicode("local")

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return sandbox_kernel_spec(self.backend)


class SandboxKernelManager(AsyncKernelManager):
    """An async kernel manager whose kernels run in runpad sandbox sessions.

    Args:
        backend: the sandbox backend (a kernel backend: local, unsafe-local, docker).
        files: host files uploaded into the work dir whenever the kernel starts.
        limits: the session's resource limits.

    Example:
        ```python
        from nbclient import NotebookClient

        km = SandboxKernelManager(files=["data.csv"])
        NotebookClient(notebook, km=km, allow_errors=True).execute()
        ```
    """

    def __init__(
        self,
        backend: str = "local",
        *,
        files: Sequence[str | Path] = (),
        limits: Limits | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=_SandboxKernelSpecs(backend=backend),
            **kwargs,
        )
        self.kernel_id = self.kernel_id or str(uuid.uuid4())
        self.provisioner = SandboxProvisioner(
            kernel_id=self.kernel_id,
            kernel_spec=self.kernel_spec,
            parent=self,
            backend=backend,
            files=[str(path) for path in files],
            limits=limits,
        )
        # Code in the kernel can replace its socket files with links to other sockets of
        # this machine; a client that reconnected would follow them. Connect once, never again.
        self.context.setsockopt(zmq.RECONNECT_IVL, -1)

    @property
    def sandbox(self) -> KernelSandbox | None:
        """The session the kernel runs in, while it runs."""
        provisioner = self.provisioner
        return provisioner.sandbox if isinstance(provisioner, SandboxProvisioner) else None

    def client(self, **kwargs: Any) -> Any:
        client = super().client(**kwargs)
        client.context.setsockopt(zmq.RECONNECT_IVL, -1)
        return client
