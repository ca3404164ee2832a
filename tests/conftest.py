"""Shared fixtures: sandboxes that tests need start here and are always closed."""

from __future__ import annotations

import shutil

import pytest

from runpad.errors import SandboxUnavailable
from runpad.sandbox.environment import find_environment

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.dockerd",
    "tests.fixtures.postgres",
    "tests.fixtures.scripted",
    "tests.fixtures.stored_runs",
]


def sandbox_ready() -> str | None:
    """Why the local sandbox cannot run here, or None when it can."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (make setup installs it)"
    try:
        find_environment()
    except SandboxUnavailable as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def require_sandbox() -> None:
    """Skip locally when the sandbox is missing; in CI a missing sandbox is a failure."""
    reason = sandbox_ready()
    if reason is not None:
        import os

        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to run the local sandbox: {reason}")
        pytest.skip(reason)
