"""Shared fixtures: sandboxes that tests need start here and are always closed.

Every test runs under tests/fixtures/network.py's guard: nothing beyond loopback, no model
provider keys.
"""

from __future__ import annotations

# requirements first: the others import it, and a plugin must be registered (its asserts
# rewritten) before anything imports it.
pytest_plugins = [
    "tests.fixtures.requirements",
    "tests.fixtures.network",
    "tests.fixtures.browser",
    "tests.fixtures.dockerd",
    "tests.fixtures.postgres",
    "tests.fixtures.ray_cluster",
    "tests.fixtures.sandboxes",
    "tests.fixtures.scripted",
    "tests.fixtures.stored_runs",
    "pytester",  # tests/unit/test_test_harness.py runs a session inside a test
]
