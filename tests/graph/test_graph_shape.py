"""The graph's wiring, pinned: a change to it shows up in review as a snapshot diff.

Update the snapshot with: RUNPAD_UPDATE_SNAPSHOTS=1 pytest tests/graph/test_graph_shape.py
"""

from __future__ import annotations

import os
from pathlib import Path

from runpad.graphs import build_analysis_graph

SNAPSHOT = Path(__file__).with_name("analysis_graph.mmd")


def test_analysis_graph_shape() -> None:
    mermaid = build_analysis_graph().compile().get_graph().draw_mermaid()
    if os.environ.get("RUNPAD_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(mermaid)
    assert mermaid == SNAPSHOT.read_text()


def test_every_node_is_reachable_and_reaches_the_end() -> None:
    graph = build_analysis_graph().compile().get_graph()
    edges = {(edge.source, edge.target) for edge in graph.edges}
    nodes = set(graph.nodes)
    reachable = {"__start__"}
    while True:
        more = {target for source, target in edges if source in reachable} - reachable
        if not more:
            break
        reachable |= more
    assert reachable == nodes
    assert ("reporter", "__end__") in edges
