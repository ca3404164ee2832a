"""One sandbox conformance suite, run against every backend and every cell language.

Each backend declares what it can do beyond the protocol (a set of capability names); a test
that needs a capability the backend lacks is skipped and says why. Everything else every
backend must pass. Add a backend here and the whole suite runs against it.

Languages are a second axis: a case that makes sense in more than Python asks for the
`language` fixture and runs once per language in `CELL_LANGUAGES`, skipped only where the
backend does not declare that language (its `Sandbox.languages`); `pick` chooses the case's
code in the language under test.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from runpad.errors import SandboxUnavailable
from runpad.sandbox import Language, Limits, Sandbox, find_environment, open_sandbox
from runpad.sandbox.factory import sandbox_class
from runpad.sandbox.unsafe_local import UnsafeSandboxWarning

CAPABILITIES: dict[str, str] = {
    "matplotlib": "figures come back as image/png display data",
    "dataframe": "pandas data frames come back as text, HTML and Frictionless table data",
    "interrupt": "a timeout stops a busy cell (pure Python or C-level) and the session answers",
    "restart": "restart() clears the interpreter's state",
    "kernel-death": "the interpreter may die (os._exit) and the session restarts it",
    "shell-escape": "IPython's `!command` lines run",
    "shell": 'cells with language="shell" run',
    "display": "IPython's display() sends rich results, each a MIME bundle",
}
"""What a backend may do beyond the protocol that every backend must pass."""

_KERNEL = frozenset(CAPABILITIES)

# The fake runs Python in the test process: it has a namespace to clear, nothing else.
BACKEND_CAPABILITIES: dict[str, frozenset[str]] = {
    "local": _KERNEL,
    "unsafe-local": _KERNEL,
    "fake": frozenset({"restart"}),
    "docker": _KERNEL,
    # E2B's kernel is IPython too; a data frame comes back as E2B's columns (no index), and a
    # dead kernel is E2B's server's to replace, not the backend's.
    "e2b": _KERNEL - {"dataframe", "kernel-death"},
    # A local (bubblewrap) session held by a Ray actor on a worker node of a real cluster.
    "ray": _KERNEL,
}
"""The backends under test. A backend that needs the machine set up names the fixture that
skips (or in CI fails) when it is not, in READINESS."""

READINESS: dict[str, str] = {
    "local": "require_sandbox",
    "unsafe-local": "require_sandbox",
    "docker": "docker_image",
    "e2b": "e2b_service",
    "ray": "ray_cluster_with_sandbox",
}

LIVE_E2B = bool(os.environ.get("E2B_API_KEY"))
"""With a key the e2b backend runs against E2B's cloud; without one, against a fake of the
SDK's sandbox over a local kernel (tests/fixtures/e2b_fake.py)."""

LIMITS = Limits(timeout=20, interrupt_grace=0.5, start_timeout=30)
"""Cells here are quick; a test that wants a timeout passes its own."""


CELL_LANGUAGES: tuple[Language, ...] = ("python", "javascript", "typescript")
"""The languages the suite writes cases in (shell cells have cases of their own)."""


@dataclass(frozen=True)
class Backend:
    """The backend under test and what it can do."""

    name: str
    capabilities: frozenset[str]
    languages: tuple[Language, ...] = ("python",)
    """The cell languages the backend declares (`Sandbox.languages`)."""

    def require(self, capability: str) -> None:
        """Skip the calling test when this backend lacks `capability`."""
        if capability not in CAPABILITIES:
            raise ValueError(f"Unknown capability {capability!r}; add it to CAPABILITIES.")
        if capability not in self.capabilities:
            pytest.skip(f"{self.name!r} lacks {capability!r}: {CAPABILITIES[capability]}")


OpenSession = Callable[..., Awaitable[Sandbox]]
"""`await open_session(limits=None)`: another started session of the backend under test."""


def _marks(name: str) -> list[pytest.MarkDecorator]:
    if name == "e2b" and LIVE_E2B:
        return [pytest.mark.live_service]
    if name == "ray":  # a three-node cluster starts once per test session
        return [pytest.mark.sandbox, pytest.mark.slow]
    return [pytest.mark.sandbox] if name in READINESS else []


@pytest.fixture
def e2b_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """E2B's cloud where a key is set; else the fake, whose kernel needs the sandbox
    environment (not bubblewrap: the fake does not isolate)."""
    if LIVE_E2B:
        return
    from tests.fixtures.e2b_fake import FakeE2BSandbox
    from tests.fixtures.requirements import unavailable

    try:
        find_environment()
    except SandboxUnavailable as exc:
        unavailable(str(exc))
    monkeypatch.setattr("runpad.sandbox.e2b.AsyncSandbox", FakeE2BSandbox)
    monkeypatch.setenv("E2B_API_KEY", "fake-key-for-the-conformance-suite")


@pytest.fixture(params=[pytest.param(name, marks=_marks(name)) for name in BACKEND_CAPABILITIES])
def backend(request: pytest.FixtureRequest) -> Backend:
    name: str = request.param
    if name in READINESS:
        request.getfixturevalue(READINESS[name])
    return Backend(name, BACKEND_CAPABILITIES[name], sandbox_class(name).languages)


@pytest.fixture(params=CELL_LANGUAGES)
def language(request: pytest.FixtureRequest, backend: Backend) -> Language:
    """The language of the case's cells; skipped where the backend does not declare it."""
    language: Language = request.param
    if language not in backend.languages:
        pytest.skip(f"{backend.name!r} does not run {language} cells")
    return language


def pick(language: Language, *, python: str, javascript: str, typescript: str | None = None) -> str:
    """The case's code in `language`; TypeScript runs the JavaScript code unless given its own."""
    if language == "python":
        return python
    if language == "javascript":
        return javascript
    if language == "typescript":
        return javascript if typescript is None else typescript
    raise ValueError(f"no code for {language!r} cells")


def quoted(language: Language, text: str) -> str:
    """How the kernel of `language` shows a string value: Python's repr, or Deno's quotes."""
    return repr(text) if language == "python" else json.dumps(text)


@pytest.fixture
async def open_session(backend: Backend) -> AsyncIterator[OpenSession]:
    """Opens started sessions of the backend; every one is closed when the test ends."""
    opened: list[Sandbox] = []

    async def open_(limits: Limits | None = None) -> Sandbox:
        sandbox = open_sandbox(backend.name, limits=limits or LIMITS)
        opened.append(sandbox)
        if backend.name == "unsafe-local":
            with pytest.warns(UnsafeSandboxWarning, match="WITHOUT isolation"):
                await sandbox.start()
        else:
            await sandbox.start()
        return sandbox

    try:
        yield open_
    finally:
        for sandbox in opened:
            await sandbox.close()


@pytest.fixture
async def sandbox(open_session: OpenSession) -> Sandbox:
    """A started session of the backend under test."""
    return await open_session()
