"""One output budget for everything a cell returns (see `Limits`).

Streams have their own capture (`runpad.sandbox.output.StreamCapture`); this module holds
rich results and errors to their caps. A kernel backend admits each rich result as it
arrives (`ResultBudget`), so the host never accumulates a flood of display data; every
backend's Execution then passes `fit_execution`, which enforces the same caps on whatever a
backend returned, so no Execution (and nothing built from it: the checkpointed state, the
model's prompt, the report) carries more than `Limits.cell_output_bytes`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import mimetypes
from collections.abc import Callable

from runpad.sandbox.limits import Limits
from runpad.sandbox.results import Execution, ExecutionError, JSONValue, RichResult, format_size
from runpad.text import head_tail

__all__ = ["PREVIEW_CHARS", "ResultBudget", "fit_error", "fit_execution", "result_size"]

PREVIEW_CHARS = 2_000
"""Characters of a too-large result's text/plain form kept in its place (head and tail)."""

SpillWriter = Callable[[str, bytes], bool]
"""`write(name, data) -> saved`: writes a spill file into the work dir (False if it could not)."""


def result_size(data: dict[str, JSONValue]) -> int:
    """Characters a MIME bundle holds (JSON payloads as their JSON text)."""
    return sum(
        len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
        for value in data.values()
    )


def fit_error(error: ExecutionError | None, limits: Limits) -> ExecutionError | None:
    """The error with its value and traceback within `Limits.error_bytes` each."""
    if error is None:
        return None
    value = head_tail(error.value, limits.error_bytes)
    # The end of a traceback names the error and the line that raised it.
    traceback = head_tail(error.traceback, limits.error_bytes, head_share=0.2)
    if value is error.value and traceback is error.traceback:
        return error
    return ExecutionError(name=error.name[:200], value=value, traceback=traceback)


class ResultBudget:
    """The rich results of one cell, held to the per-result, per-cell and count caps.

    Args:
        limits: the caps (`result_bytes`, `results_budget`, `max_results`, `spill_bytes`).
        spill_prefix: the start of spill file names, e.g. ".runpad/cell-3-result".
        write_spill: writes a spill file; None: payloads over a cap are dropped, not saved.
    """

    def __init__(
        self, limits: Limits, *, spill_prefix: str = "", write_spill: SpillWriter | None = None
    ) -> None:
        self.results: list[RichResult] = []
        self.omitted = 0
        """Results neither kept nor previewed: past `Limits.max_results`, or no room left."""
        self._limits = limits
        self._spill_prefix = spill_prefix
        self._write_spill = write_spill
        self._used = 0
        self._spilled = 0
        self._seen = 0
        self._spill_names: set[str] = set()

    def add(self, result: RichResult) -> None:
        """Keep `result` if it fits; else keep a preview and spill its payloads."""
        self._seen += 1
        if len(self.results) >= self._limits.max_results:
            self.omitted += 1
            return
        size = result_size(result.data)
        room = self._limits.results_budget - self._used
        if size <= min(self._limits.result_bytes, room):
            self._keep(result, size)
            return
        preview = self._preview(result, size)
        preview_size = result_size(preview.data)
        if preview_size > room:
            self.omitted += 1
            return
        self._keep(preview, preview_size)

    def clear(self) -> None:
        """`clear_output()`: results shown so far are gone, and give back their room."""
        self.results.clear()
        self._used = 0

    def _keep(self, result: RichResult, size: int) -> None:
        self.results.append(result)
        self._used += size

    def _preview(self, result: RichResult, size: int) -> RichResult:
        saved = [name for mime, value in result.data.items() if (name := self._spill(mime, value))]
        kinds = ", ".join(sorted(result.data))
        where = f"saved to {', '.join(saved)}" if saved else "not saved (spill limit reached)"
        note = (
            f"[runpad: this result ({kinds}) held {format_size(size)}, over the output limit "
            f"(Limits.result_bytes / cell_output_bytes); its payloads were {where}]"
        )
        text = result.data.get("text/plain")
        shown = head_tail(text, PREVIEW_CHARS) + "\n" if isinstance(text, str) else ""
        return RichResult(data={"text/plain": shown + note}, is_main_result=result.is_main_result)

    def _spill(self, mime: str, value: JSONValue) -> str | None:
        if self._write_spill is None:
            return None
        data = _payload_bytes(mime, value)
        if self._spilled + len(data) > self._limits.spill_bytes:
            return None
        extension = _extension(mime)
        name = f"{self._spill_prefix}-{self._seen}{extension}"
        if name in self._spill_names:  # two types of one bundle with the same extension
            name = f"{self._spill_prefix}-{self._seen}-{len(self._spill_names)}{extension}"
        if not self._write_spill(name, data):
            return None
        self._spilled += len(data)
        self._spill_names.add(name)
        return name


def _payload_bytes(mime: str, value: JSONValue) -> bytes:
    """A payload as a file holds it: images decoded from base64, JSON as JSON text."""
    if isinstance(value, str):
        if mime.startswith("image/") and not mime.startswith("image/svg"):
            try:
                return base64.b64decode(value, validate=False)
            except (binascii.Error, ValueError):
                pass
        return value.encode("utf-8", errors="replace")
    return json.dumps(value, default=str).encode()


def _extension(mime: str) -> str:
    known = {"text/plain": ".txt", "image/svg+xml": ".svg"}
    if mime in known:
        return known[mime]
    if mime.endswith("json"):
        return f".{mime.rsplit('/', 1)[-1].replace('+', '.')}" if "+" in mime else ".json"
    return mimetypes.guess_extension(mime) or ".bin"


def fit_execution(execution: Execution, limits: Limits) -> Execution:
    """`execution` within the caps of `limits`: any backend's, whatever it returned.

    Kernel backends admit results as they arrive, so for them this changes nothing; other
    backends (e2b, the fake) are held here, without spilling.
    """
    changes: dict[str, object] = {}
    for stream in ("stdout", "stderr"):
        text: str = getattr(execution, stream)
        if len(text) > limits.output_bytes + 300:  # head, tail and the capture's marker
            changes[stream] = head_tail(text, limits.output_bytes)
            changes[f"{stream}_truncated"] = True
    error = fit_error(execution.error, limits)
    if error is not execution.error:
        changes["error"] = error
    budget = ResultBudget(limits)
    for result in execution.results:
        budget.add(result)
    if budget.omitted or budget.results != execution.results:
        changes["results"] = budget.results
        changes["results_omitted"] = execution.results_omitted + budget.omitted
    if len(execution.artifacts) > limits.max_artifacts:
        changes["artifacts"] = execution.artifacts[: limits.max_artifacts]
        changes["artifacts_omitted"] = (
            execution.artifacts_omitted + len(execution.artifacts) - limits.max_artifacts
        )
    return dataclasses.replace(execution, **changes) if changes else execution  # type: ignore[arg-type]
