"""Where runpad keeps its machine-wide state (the sandbox environment, assembled model
weights, sessions' directories): one place, so every part finds the same folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["runpad_home"]


def runpad_home() -> Path:
    """`$RUNPAD_HOME`, else `$XDG_CACHE_HOME/runpad`, else ~/.cache/runpad."""
    if home := os.environ.get("RUNPAD_HOME"):
        return Path(home)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "runpad"
