"""Names of a package that are imported on first use (PEP 562).

`import runpad`, `runpad.sandbox`, `runpad.sql` and `runpad.tools` list their public names
but import the modules behind them only when a name is used, so that a command or a run
that never needs LangGraph, a sandbox backend or SQLAlchemy does not wait for them
(`tests/unit/test_lazy_imports.py` keeps it so).

Example:
    ```python
    __getattr__, __dir__ = lazy_names(__name__, {"SqlDatabase": ".database"}, __all__)
    ```
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, sources: Mapping[str, str], public: Collection[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`: `sources` maps each name to the module
    that defines it (relative to `package` when it starts with a dot). A public name is
    kept in the package once loaded, so the next lookup does not come here; the others
    (optional backends, whose SDKs are extras) are looked up each time."""

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, package), name)
        if name in public:
            setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return __getattr__, __dir__
