"""`runpad demo`: real questions and a bundled CSV, answered offline on the embedded defaults.

`sales.csv` (48 rows: month, region, units, unit_price, revenue for 2024) was written for
this project and is under the project's license.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from runpad.state import RunLimits

__all__ = ["DEMO_LIMITS", "DEMO_PROMPTS", "DEMO_TASKS", "DemoTask", "sales_csv"]


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

DEMO_PROMPTS: dict[str, str] = {
    "system": "You write short, correct Python programs. You reply with one ```python code "
    "block and nothing else.",
    "router": "Task: {{ task }}\nReply with exactly: ROUTE: code",
    "planner": "Task: {{ task }}\nReply with exactly this line:\n"
    "1. {{ task }} | check: the answer is printed",
    "coder": "Write a short Python program that prints the answer to this question:\n"
    "{{ task }}\n"
    "{% if files %}The file {{ files | join(', ') }} is in the current directory: read it "
    "with pandas (import pandas as pd; df = pd.read_csv('{{ files[0] }}')).\n{% endif %}"
    "{% if last_error %}Your last program failed:\n{{ last_error }}\nFix it.\n{% endif %}"
    "{% if feedback %}{{ feedback }}\n{% endif %}"
    "Use print() to show the answer. Reply with one ```python code block.",
    "reviewer": "Question: {{ task }}\nA program printed:\n{{ cell.stdout }}"
    "{{ cell.result or '' }}\n\nReply in this form:\nVERDICT: done\n"
    "ANSWER: <the answer to the question, from what the program printed>",
    "reporter": "Question: {{ task }}\nA program printed:\n"
    "{% for cell in cells %}{% if cell.ok %}{{ cell.stdout }}{{ cell.result or '' }}\n"
    "{% endif %}{% endfor %}\nAnswer the question in one sentence, from what it printed.",
}
"""Short prompts for the embedded 135M model, which loses its way in the full ones (it
copies their instructions back). The graph is the same; only the words to the model change."""
