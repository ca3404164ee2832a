"""The analysis graph: route, plan, (search), code, check, (approve), run, review, report.

```
START -> router -> planner -> coder -> static_check -> [approval] -> executor -> reviewer
           |          |         ^ |         |                                       |
           |          v         | +---------+ findings, no code: back to the coder   |
           |       searcher ----+ <------------ AttributeError / TypeError: docs ---+
           |          ^                                                             |
           |          +-------------------------- next step is a search / docs -----+
           +-----------------------> reporter <-------------------- done / stop ----+
   (a step that fails for good goes back to the planner, once per allowed replan)
```

The planner sends each step to its first node: "search" and "docs" steps to the searcher,
which looks things up and moves on, the rest to the coder, which writes a Python, SQL or
DOT cell that the executor runs. Routing lives in the nodes (they return
`Command(goto=...)`), so every decision is a tested function of the state; this module
only wires.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from runpad.agents import (
    approve_cell,
    check_cell,
    execute_cell,
    plan_task,
    report,
    review_cell,
    route_task,
    search_or_look_up,
    write_cell,
)
from runpad.context import Context
from runpad.graphs.sync import with_sync_nodes
from runpad.state import AnalysisState

__all__ = ["AnalysisInput", "build_analysis_graph"]


class AnalysisInput(TypedDict, total=False):
    """What a run starts from: the task, and files to put in the sandbox's work dir."""

    task: str
    files: list[str]


def build_analysis_graph() -> StateGraph[AnalysisState, Context, AnalysisInput, AnalysisState]:
    """The uncompiled analysis graph; compile it with the checkpointer of your choice.

    Its nodes are coroutines with a synchronous twin each (`runpad.graphs.sync`), so the
    compiled graph works from async callers (`ainvoke`, `astream`) and sync ones (`invoke`,
    `stream`, a sync LangChain chain) alike.

    Example:
        ```python
        from langgraph.checkpoint.memory import InMemorySaver

        graph = build_analysis_graph().compile(checkpointer=InMemorySaver())
        result = await graph.ainvoke(
            {"task": "What is the 20th Fibonacci number?"},
            {"configurable": {"thread_id": "t1"}},
            context=Context(model="openai:gpt-4.1"),
        )
        ```
    """
    graph = StateGraph(AnalysisState, context_schema=Context, input_schema=AnalysisInput)
    graph.add_node("router", route_task)
    graph.add_node("planner", plan_task)
    graph.add_node("searcher", search_or_look_up)
    graph.add_node("coder", write_cell)
    graph.add_node("static_check", check_cell)
    graph.add_node("approval", approve_cell)
    graph.add_node("executor", execute_cell)
    graph.add_node("reviewer", review_cell)
    graph.add_node("reporter", report)
    graph.add_edge(START, "router")
    graph.add_edge("executor", "reviewer")
    graph.add_edge("reporter", END)
    return with_sync_nodes(graph)
