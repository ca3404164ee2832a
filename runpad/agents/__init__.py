"""The graph's nodes, one module per role. Each is a function of (state, runtime)."""

from runpad.agents.approval import approve_cell
from runpad.agents.checker import check_cell
from runpad.agents.coder import write_cell
from runpad.agents.executor import execute_cell
from runpad.agents.planner import plan_task
from runpad.agents.reporter import report
from runpad.agents.reviewer import review_cell
from runpad.agents.router import route_task
from runpad.agents.searcher import search_or_look_up

__all__ = [
    "approve_cell",
    "check_cell",
    "execute_cell",
    "plan_task",
    "report",
    "review_cell",
    "route_task",
    "search_or_look_up",
    "write_cell",
]
