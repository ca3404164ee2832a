"""StreamCapture: everything while it fits, head and tail beyond, the whole stream spilled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pytest

from runpad.sandbox.output import KernelLog, StreamCapture


class SpillFile:
    """Opens a real spill file on demand and remembers how often it was asked to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.opened = 0

    def __call__(self) -> BinaryIO:
        self.opened += 1
        return self.path.open("wb")


@pytest.fixture
def spill(tmp_path: Path) -> SpillFile:
    return SpillFile(tmp_path / "spill.txt")


def capture(keep: int, spill: SpillFile, spill_limit: int = 1 << 20) -> StreamCapture:
    return StreamCapture(keep, spill_name="spill.txt", open_spill=spill, spill_limit=spill_limit)


def test_a_stream_that_fits_is_kept_whole_and_not_spilled(spill: SpillFile) -> None:
    stream = capture(100, spill)
    for piece in ("hello ", "world", "\n" * 5, "x" * 84):  # exactly 100 characters
        stream.add(piece)
    stream.close()
    assert stream.value() == "hello world" + "\n" * 5 + "x" * 84
    assert not stream.truncated
    assert stream.spill_name is None
    assert spill.opened == 0


def test_a_long_stream_keeps_head_and_tail_and_says_where_the_rest_is(spill: SpillFile) -> None:
    whole = "".join(f"line {i:04d}\n" for i in range(1000))  # 10 characters a line
    stream = capture(100, spill)
    for line in whole.splitlines(keepends=True):
        stream.add(line)
    stream.close()
    value = stream.value()
    assert stream.truncated
    assert value.startswith(whole[:50])
    assert value.endswith(whole[-50:])
    assert f"{len(whole) - 100} characters omitted" in value
    assert "spill.txt" in value
    assert "line 0500" not in value
    assert stream.spill_name == "spill.txt"
    assert spill.opened == 1
    assert spill.path.read_text() == whole


def test_one_huge_piece_is_cut_the_same_way(spill: SpillFile) -> None:
    whole = "a" * 60 + "b" * 10_000 + "c" * 60
    stream = capture(120, spill)
    stream.add(whole)
    stream.close()
    head, _, tail = stream.value().partition("\n[...")
    assert head == "a" * 60
    assert tail.endswith("...]\n" + "c" * 60)
    assert spill.path.read_text() == whole


def test_the_spill_stops_at_its_byte_limit(spill: SpillFile) -> None:
    stream = capture(10, spill, spill_limit=100)
    for _ in range(50):
        stream.add("0123456789")
    stream.close()
    written = spill.path.read_bytes()
    assert written.startswith(b"0123456789" * 10)
    assert b"size limit" in written
    assert len(written) < 100 + 100  # the kept bytes and the note, nothing more
    assert stream.truncated
    assert stream.value().endswith("56789")


def test_the_spill_limit_counts_bytes_and_cuts_between_characters(spill: SpillFile) -> None:
    stream = capture(10, spill, spill_limit=101)
    stream.add("é" * 200)  # two bytes each
    stream.close()
    kept, _, note = spill.path.read_bytes().partition(b"\n[...")
    assert kept.decode() == "é" * 50
    assert b"size limit" in note


def test_without_a_spill_file_head_and_tail_remain(tmp_path: Path) -> None:
    def refuse() -> BinaryIO:
        raise OSError("work dir full")

    stream = StreamCapture(20, spill_name="spill.txt", open_spill=refuse, spill_limit=1000)
    stream.add("x" * 10 + "y" * 100 + "z" * 10)
    stream.close()
    assert stream.truncated
    assert stream.spill_name is None
    value = stream.value()
    assert value.startswith("x" * 10)
    assert value.endswith("z" * 10)
    assert "no spill file" in value


def test_kernel_log_drains_its_pipe_and_keeps_head_and_tail() -> None:
    read_fd, write_fd = os.pipe()
    log = KernelLog(read_fd, keep=1_000)
    with os.fdopen(write_fd, "wb") as writer:  # far more than a pipe buffer: must be drained
        writer.write(b"start-up error\n" + "é".encode() * 500_000 + b"\ncrashed at the end")

    log.wait_closed(timeout=30)

    text = log.text()
    assert text.startswith("start-up error\n")
    assert text.endswith("crashed at the end")
    assert len(text) < 1_000 + 200
    assert "\ufffd" not in text  # characters split between reads are decoded whole


@pytest.mark.usefixtures("require_sandbox")
async def test_a_kernel_that_fails_to_start_shows_its_log_from_the_pipe(tmp_path: Path) -> None:
    from runpad.errors import SandboxStartError
    from runpad.sandbox import LocalSandbox, SandboxEnvironment
    from runpad.sandbox.limits import Limits

    (tmp_path / "bin").mkdir()  # an environment whose python is missing inside the sandbox
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    sandbox = LocalSandbox(Limits(start_timeout=30), environment=SandboxEnvironment(tmp_path))

    with pytest.raises(SandboxStartError, match=r"Kernel log:\n.*bin/python"):
        await sandbox.start()
