"""The output budget: rich results and errors held to their caps, payloads spilled."""

from __future__ import annotations

import base64

from runpad.sandbox.budget import PREVIEW_CHARS, ResultBudget, fit_execution
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import Artifact, Execution, ExecutionError, RichResult

LIMITS = Limits(
    output_bytes=100,
    error_bytes=300,
    result_bytes=5_000,
    cell_output_bytes=12_000,
    max_results=4,
    spill_bytes=20_000,
    max_artifacts=2,
)


def test_results_within_the_caps_are_kept_as_they_are() -> None:
    budget = ResultBudget(LIMITS)
    shown = RichResult({"text/plain": "x" * 4_000, "text/html": "<p>x</p>"})

    budget.add(shown)

    assert budget.results == [shown]
    assert budget.omitted == 0


def test_a_result_over_its_cap_spills_every_payload_and_keeps_a_preview() -> None:
    written: dict[str, bytes] = {}

    def write(name: str, data: bytes) -> bool:
        written[name] = data
        return True

    budget = ResultBudget(LIMITS, spill_prefix=".runpad/cell-1-result", write_spill=write)
    png = base64.b64encode(b"\x89PNG" + b"\0" * 6_000).decode()
    budget.add(
        RichResult(
            {
                "text/plain": "t" * 6_000,
                "image/png": png,
                "application/x-one": "1",
                "application/x-two": "2",
            },
            is_main_result=True,
        )
    )

    (preview,) = budget.results
    assert preview.is_main_result
    assert preview.mime_types == ["text/plain"]
    assert len(preview.text or "") <= PREVIEW_CHARS + 500
    assert written[".runpad/cell-1-result-1.png"] == b"\x89PNG" + b"\0" * 6_000
    assert written[".runpad/cell-1-result-1.txt"] == b"t" * 6_000
    assert len(written) == 4  # two payloads with one extension get two names
    assert all(name in (preview.text or "") for name in written)


def test_results_share_the_cell_budget_and_a_count() -> None:
    budget = ResultBudget(LIMITS)
    for _ in range(3):
        budget.add(RichResult({"text/plain": "y" * 4_500}))

    # Two fit whole (9,000 of the 11,500 left for results); the third becomes a preview.
    assert [len(r.text or "") for r in budget.results][:2] == [4_500, 4_500]
    assert "output limit" in (budget.results[2].text or "")
    budget.add(RichResult({"text/plain": "z"}))
    budget.add(RichResult({"text/plain": "z"}))
    assert len(budget.results) == LIMITS.max_results
    assert budget.omitted == 1

    budget.clear()  # clear_output() gives the room back
    budget.add(RichResult({"text/plain": "y" * 4_500}))
    assert len(budget.results) == 1


def test_fit_execution_holds_any_backends_execution_to_the_caps() -> None:
    execution = Execution(
        stdout="o" * 10_000,
        results=[RichResult({"text/plain": "r" * 50_000})] * 10,
        error=ExecutionError("ValueError", "v" * 10_000, "line\n" * 10_000 + "ValueError: v"),
        artifacts=[Artifact(f"f{n}", 1, "text/plain", "") for n in range(5)],
    )

    fitted = fit_execution(execution, LIMITS)

    assert len(fitted.stdout) <= LIMITS.output_bytes
    assert fitted.stdout_truncated
    assert fitted.error is not None
    assert len(fitted.error.value) <= LIMITS.error_bytes
    assert fitted.error.traceback.endswith("ValueError: v")
    assert len(fitted.results) + fitted.results_omitted == 10
    assert sum(len(r.text or "") for r in fitted.results) <= LIMITS.results_budget
    assert [a.name for a in fitted.artifacts] == ["f0", "f1"]
    assert fitted.artifacts_omitted == 3
    small = Execution(stdout="fine", results=[RichResult({"text/plain": "1"})])
    assert fit_execution(small, LIMITS) is small
