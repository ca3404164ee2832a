"""Shared fixtures: sandboxes that tests need start here and are always closed."""

from __future__ import annotations

# requirements first: the others import it, and a plugin must be registered (its asserts
# rewritten) before anything imports it.
pytest_plugins = [
    "tests.fixtures.requirements",
    "tests.fixtures.dockerd",
    "tests.fixtures.postgres",
    "tests.fixtures.scripted",
]
