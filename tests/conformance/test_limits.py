"""One output budget per cell: rich results and artifacts past their caps, on every backend.

Streams past `Limits.output_bytes` are test_execution.py's; here, display data and the last
value past `result_bytes`, the cell's share (`cell_output_bytes`) and `max_results`, and
artifacts past `max_artifacts`.
"""

from __future__ import annotations

import json

import pytest

from runpad.sandbox import Language, Limits, Sandbox

from .conftest import LIMITS, Backend, OpenSession, pick

SMALL = Limits(
    timeout=LIMITS.timeout,
    interrupt_grace=LIMITS.interrupt_grace,
    start_timeout=LIMITS.start_timeout,
    output_bytes=1_000,
    error_bytes=1_000,
    result_bytes=10_000,
    cell_output_bytes=40_000,
    max_results=20,
    max_artifacts=5,
)
"""Caps small enough for a quick cell to pass them."""


async def test_a_result_over_its_cap_is_a_preview_and_its_payloads_spill(
    open_session: OpenSession, backend: Backend, language: Language
) -> None:
    if language == "python":
        backend.require("display")
    sandbox = await open_session(SMALL)

    execution = await sandbox.run(
        pick(
            language,
            python="from IPython.display import display\n"
            "display({'text/plain': 'small'}, raw=True)\n"
            "display({'text/plain': 'p' * 20_000, 'text/html': '<b>' + 'h' * 20_000 + '</b>'},"
            " raw=True)\n"
            "'v' * 30_000",
            javascript="await Deno.jupyter.display({ 'text/plain': 'small' }, { raw: true })\n"
            "await Deno.jupyter.display({ 'text/plain': 'p'.repeat(20_000), "
            "'text/html': '<b>' + 'h'.repeat(20_000) + '</b>' }, { raw: true })\n"
            "'v'.repeat(30_000)",
        ),
        language=language,
    )

    assert execution.ok, execution.error
    small, big, last = execution.results
    assert small.data == {"text/plain": "small"}
    assert not big.is_main_result
    assert last.is_main_result
    for preview in (big, last):
        assert preview.mime_types == ["text/plain"]
        assert len(preview.text or "") < SMALL.result_bytes
        assert "output limit" in (preview.text or "")
    assert (big.text or "").startswith("pppp")
    spills = {a.name: a for a in execution.artifacts if a.name.startswith(".runpad/")}
    html = [name for name in spills if name.endswith(".html")]
    assert len(html) == 1
    assert html[0] in (big.text or "")  # the preview says where the whole payload is
    assert (await sandbox.download(html[0])).decode() == "<b>" + "h" * 20_000 + "</b>"
    text = [name for name in spills if name.endswith(".txt") and name in (last.text or "")]
    assert len(text) == 1
    whole = pick(
        language,
        python=repr("v" * 30_000),
        # Deno's kernel shows at most 10,000 characters of a string value itself.
        javascript=f'"{"v" * 10_000}"... 20000 more characters',
    )
    assert (await sandbox.download(text[0])).decode() == whole


async def test_results_share_the_cell_budget_and_a_count(
    open_session: OpenSession, backend: Backend, language: Language
) -> None:
    if language == "python":
        backend.require("display")
    sandbox = await open_session(SMALL)

    execution = await sandbox.run(
        pick(
            language,
            python="from IPython.display import display\n"
            "for n in range(60):\n"
            "    display({'text/plain': str(n % 10) * 5_000}, raw=True)\n",
            javascript="for (let n = 0; n < 60; n++) {\n"
            "  await Deno.jupyter.display({ 'text/plain': String(n % 10).repeat(5_000) },"
            " { raw: true })\n"
            "}\n",
        ),
        language=language,
    )

    assert execution.ok, execution.error
    kept = sum(len(json.dumps(r.data)) for r in execution.results)
    assert kept <= SMALL.results_budget + 200 * len(execution.results)  # JSON quoting
    assert len(execution.results) <= SMALL.max_results
    assert len(execution.results) + execution.results_omitted == 60
    assert execution.results[0].text == "0" * 5_000  # the first ones fit whole


async def test_an_error_is_capped_keeping_its_end(sandbox: Sandbox, language: Language) -> None:
    execution = await sandbox.run(
        pick(
            language,
            python="raise ValueError('x' * 1_000_000 + 'END')",
            javascript="throw new RangeError('x'.repeat(1_000_000) + 'END')",
        ),
        language=language,
    )

    assert execution.error is not None
    assert execution.error.name == pick(language, python="ValueError", javascript="RangeError")
    assert len(execution.error.value) <= Limits().error_bytes
    assert len(execution.error.traceback) <= Limits().error_bytes
    assert execution.error.value.endswith("END")


async def test_artifacts_past_the_cap_are_counted(
    open_session: OpenSession, language: Language
) -> None:
    sandbox = await open_session(SMALL)

    execution = await sandbox.run(
        pick(
            language,
            python="import os\nos.makedirs('many', exist_ok=True)\n"
            "for n in range(12):\n"
            "    open(f'many/{n:02}.txt', 'w').write(str(n))\n",
            javascript="Deno.mkdirSync('many', { recursive: true })\n"
            "for (let n = 0; n < 12; n++) {\n"
            "  Deno.writeTextFileSync(`many/${String(n).padStart(2, '0')}.txt`, String(n))\n"
            "}\n",
        ),
        language=language,
    )

    assert execution.ok, execution.error
    assert [a.name for a in execution.artifacts] == [f"many/{n:02}.txt" for n in range(5)]
    assert execution.artifacts_omitted == 7
    assert execution.artifacts_complete
    nothing = await sandbox.run("1 + 1", language=language)
    assert (nothing.artifacts, nothing.artifacts_omitted) == ([], 0)


async def test_an_upload_between_cells_is_not_the_next_cells_artifact(
    sandbox: Sandbox, language: Language
) -> None:
    def write(name: str, text: str) -> str:
        return pick(
            language,
            python=f"open({name!r}, 'w').write({text!r})",
            javascript=f"Deno.writeTextFileSync({name!r}, {text!r})",
        )

    await sandbox.run(write("first.txt", "1"), language=language)
    await sandbox.upload(b"from the host", "uploaded.txt")
    await sandbox.upload(b"replaced", "first.txt")

    execution = await sandbox.run(write("second.txt", "2"), language=language)

    assert [a.name for a in execution.artifacts] == ["second.txt"]


def test_limits_that_leave_results_no_room_are_refused() -> None:
    with pytest.raises(ValueError, match="cell_output_bytes"):
        Limits(output_bytes=1_000_000, cell_output_bytes=1_500_000)
