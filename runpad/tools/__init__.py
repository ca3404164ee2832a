"""LangChain tools over runpad's sandboxes, usable by any LangChain agent."""

from runpad.tools.python import (
    RUN_PYTHON_DESCRIPTION,
    RunPythonInput,
    RunPythonTool,
    SandboxSource,
    format_execution,
)

__all__ = [
    "RUN_PYTHON_DESCRIPTION",
    "RunPythonInput",
    "RunPythonTool",
    "SandboxSource",
    "format_execution",
]
