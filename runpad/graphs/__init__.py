"""Graph wiring only: builders return uncompiled StateGraphs."""

from runpad.graphs.analysis import AnalysisInput, build_analysis_graph

__all__ = ["AnalysisInput", "build_analysis_graph"]
