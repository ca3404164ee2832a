"""The work dir's inotify watch: any change under a watched directory is seen, whatever
made it; nothing is taken as unchanged unless every directory is watched."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runpad.sandbox import watch as watch_module
from runpad.sandbox.watch import WorkDirWatch
from runpad.sandbox.workdir import WorkDir


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, WorkDir, WorkDirWatch]]:
    root = tmp_path / "work"
    (root / "deep" / "er").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"first")
    workdir = WorkDir(root)
    watch = WorkDirWatch.open()
    assert watch is not None, "inotify is available on Linux"
    workdir.snapshot(on_directory=watch.add)
    assert watch.reliable
    assert not watch.changed()  # the walk itself changed nothing
    yield root, workdir, watch
    watch.close()


def test_every_kind_of_change_is_seen_once(watched: tuple[Path, WorkDir, WorkDirWatch]) -> None:
    root, _, watch = watched
    changes: dict[str, Callable[[], object]] = {
        "rewritten in place, same size": lambda: (root / "a.txt").write_bytes(b"FIRST"),
        "created two levels down": lambda: (root / "deep" / "er" / "new.txt").write_bytes(b""),
        "renamed": lambda: os.rename(root / "a.txt", root / "deep" / "a.txt"),
        "mtime set back": lambda: os.utime(root / "deep" / "a.txt", ns=(0, 0)),
        "mode changed": lambda: os.chmod(root / "deep" / "a.txt", 0o600),
        "deleted": lambda: (root / "deep" / "a.txt").unlink(),
        "a new directory": lambda: (root / "made").mkdir(),
    }
    for what, change in changes.items():
        change()
        assert watch.changed(), what
        assert not watch.changed(), f"{what}: the events were read once"


def test_reading_files_is_no_change(watched: tuple[Path, WorkDir, WorkDirWatch]) -> None:
    root, workdir, watch = watched
    assert (root / "a.txt").read_bytes() == b"first"
    assert workdir.read("a.txt") == b"first"
    workdir.snapshot()
    assert not watch.changed()


def test_a_new_directory_is_watched_after_the_walk_that_finds_it(
    watched: tuple[Path, WorkDir, WorkDirWatch],
) -> None:
    root, workdir, watch = watched
    (root / "made").mkdir()
    assert watch.changed()  # seen in its parent: the caller walks again
    workdir.snapshot(on_directory=watch.add)
    assert not watch.changed()
    (root / "made" / "inside.txt").write_bytes(b"x")
    assert watch.changed()


def test_a_link_to_a_directory_outside_is_not_watched(
    watched: tuple[Path, WorkDir, WorkDirWatch], tmp_path: Path
) -> None:
    """The walk opens directories without following links, so code in the sandbox cannot
    point the watch at a host directory (it would only cost walks, but it is not ours)."""
    root, workdir, watch = watched
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    assert watch.changed()
    workdir.snapshot(on_directory=watch.add)
    (outside / "host.txt").write_bytes(b"x")
    assert not watch.changed()


def test_too_many_directories_make_the_watch_unreliable(
    watched: tuple[Path, WorkDir, WorkDirWatch], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, workdir, watch = watched
    monkeypatch.setattr(watch_module, "MAX_WATCHED_DIRECTORIES", 4)
    for number in range(4):
        (root / f"dir{number}").mkdir()
    workdir.snapshot(on_directory=watch.add)
    assert not watch.reliable
    assert watch.changed()  # from now on, always: the caller walks
    assert watch.changed()


def test_removed_directories_stop_counting(
    watched: tuple[Path, WorkDir, WorkDirWatch], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cell that makes and removes a directory again and again never fills the watch."""
    root, workdir, watch = watched
    monkeypatch.setattr(watch_module, "MAX_WATCHED_DIRECTORIES", 5)  # root, deep, er + 2
    for _ in range(10):
        (root / "tmp").mkdir()
        workdir.snapshot(on_directory=watch.add)
        (root / "tmp").rmdir()
        assert watch.changed()
        workdir.snapshot(on_directory=watch.add)
        assert watch.reliable
