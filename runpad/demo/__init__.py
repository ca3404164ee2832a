"""`runpad demo`: real questions and a bundled CSV, answered offline on the embedded defaults.

`sales.csv` (48 rows: month, region, units, unit_price, revenue for 2024) was written for
this project and is under the project's license.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from runpad.context import RunLimits

__all__ = ["DEMO_LIMITS", "DEMO_TASKS", "EMBEDDED_MODEL_NOTE", "DemoTask", "sales_csv"]


@dataclass(frozen=True)
class DemoTask:
    """One question of the demo, with the files it needs."""

    task: str
    files: list[Path] = field(default_factory=list)


def sales_csv() -> Path:
    """The bundled CSV's path."""
    return Path(str(resources.files(__package__).joinpath("sales.csv")))


DEMO_TASKS: tuple[DemoTask, ...] = (
    DemoTask("What is 1234 * 5678?"),
    DemoTask("How many rows does sales.csv have?", [sales_csv()]),
    DemoTask("What is the total of the revenue column in sales.csv?", [sales_csv()]),
)
"""Small questions with one checkable number each, so that what the code computed is plain
to see next to what the model answered."""

DEMO_LIMITS = RunLimits(
    max_attempts_per_step=2, max_cells=4, max_replans=1, max_wall_seconds=300, max_plan_steps=2
)
"""Tight bounds: the embedded model is small, and a demo should end in minutes."""

EMBEDDED_MODEL_NOTE = (
    "The embedded model is small (0.5B parameters, on the CPU) and can be wrong, so each "
    "answer comes with the code that produced it and what that code printed: check them. "
    "A provider model (--model openai:gpt-4.1, ...) does real work; --model local:1.5b is "
    "a larger local coder (make model-1.5b)."
)
"""What the demo says of the embedded model before its first question."""
