"""The public surface: what `__all__` lists is importable, and the error tree is complete."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import runpad
import runpad.errors
import runpad.sandbox
import runpad.sql


@pytest.mark.parametrize("module", [runpad, runpad.sandbox, runpad.sql], ids=lambda m: m.__name__)
def test_every_name_in_all_is_importable(module: ModuleType) -> None:
    assert module.__all__, f"{module.__name__} has an empty __all__"
    assert len(set(module.__all__)) == len(module.__all__), "duplicates in __all__"
    for name in module.__all__:
        assert getattr(module, name, None) is not None, f"{module.__name__}.{name} is missing"
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)
    assert set(module.__all__) <= set(namespace)


@pytest.mark.parametrize("module", [runpad, runpad.sandbox, runpad.sql], ids=lambda m: m.__name__)
def test_public_classes_and_functions_are_listed(module: ModuleType) -> None:
    """Everything a package imports for its users is in `__all__` (nothing forgotten)."""
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("runpad")
    }
    assert public <= set(module.__all__)


def test_errors_all_matches_the_exception_classes_of_the_module() -> None:
    errors = runpad.errors
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and value.__module__ == errors.__name__
    }
    assert set(errors.__all__) == defined
    for name in defined:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.RunpadError)
        assert name in (errors.__doc__ or ""), f"{name} is missing from the tree in the docstring"


def test_sandbox_errors_are_reexported_as_the_same_classes() -> None:
    assert runpad.SandboxError is runpad.errors.SandboxError
    assert runpad.SandboxUnavailable is runpad.errors.SandboxUnavailable
    # The fake runs code in the test process: it opens for tests, but no list offers it.
    assert runpad.sandbox.FakeSandbox.backend not in runpad.sandbox.BACKENDS
    assert isinstance(runpad.open_sandbox("fake"), runpad.sandbox.FakeSandbox)
