"""WorkDir: paths stay inside the root, links are never followed out, changes are found."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from runpad.errors import SandboxFileError
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import FileInfo
from runpad.sandbox.workdir import QUICK_WALK_FILES, WorkDir


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the work dir, holding a file the sandbox must never reach."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("host secret")
    return path


def test_resolve_maps_relative_and_sandbox_absolute_paths(root: Path) -> None:
    workdir = WorkDir(root)
    assert workdir.resolve("data/in.csv") == root / "data" / "in.csv"
    assert workdir.resolve("./a/../b.txt") == root / "b.txt"
    assert workdir.resolve("/work/b.txt") == root / "b.txt"  # the path the code sees
    assert workdir.resolve(".") == root
    assert workdir.resolve("/work") == root


@pytest.mark.parametrize(
    "name", ["../x", "a/../../x", "..", "/etc/passwd", "/work/../../x", "", "a\x00b"]
)
def test_resolve_refuses_escapes(root: Path, name: str) -> None:
    with pytest.raises(SandboxFileError):
        WorkDir(root).resolve(name)


def test_write_read_and_missing_files(root: Path) -> None:
    workdir = WorkDir(root)
    info = workdir.write("deep/er/file.bin", b"\x00\x01payload")
    assert info == FileInfo(name="deep/er/file.bin", size=9, is_dir=False)
    assert (root / "deep" / "er" / "file.bin").read_bytes() == b"\x00\x01payload"
    assert workdir.read("deep/er/file.bin") == b"\x00\x01payload"
    with pytest.raises(SandboxFileError, match="No file"):
        workdir.read("deep/missing.bin")
    with pytest.raises(SandboxFileError):
        workdir.read("deep")  # a directory is not a file
    with pytest.raises(SandboxFileError):
        workdir.write("deep/er/file.bin/below", b"x")  # a file is not a directory


def test_a_symlink_to_the_outside_is_refused_for_read_and_write(root: Path, outside: Path) -> None:
    workdir = WorkDir(root)
    (root / "link").symlink_to(outside)  # in the middle of a path
    (root / "secret-link.txt").symlink_to(outside / "secret.txt")  # at its end
    for name in ("link/secret.txt", "secret-link.txt"):
        with pytest.raises(SandboxFileError):
            workdir.read(name)
        with pytest.raises(SandboxFileError):
            workdir.write(name, b"overwritten")
    with pytest.raises(SandboxFileError):
        workdir.write("link/new.txt", b"planted")
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "host secret"


def test_a_link_swapped_in_after_the_check_is_not_followed(
    root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code may replace a directory with a link between resolve() and the open: the
    open itself must refuse links, for reading and for writing."""
    workdir = WorkDir(root)
    (root / "link").symlink_to(outside)
    (root / "secret-link.txt").symlink_to(outside / "secret.txt")
    monkeypatch.setattr(WorkDir, "resolve", lambda self, name: self.root / name)
    for name in ("link/secret.txt", "secret-link.txt"):
        with pytest.raises(SandboxFileError):
            workdir.read(name)
        with pytest.raises(SandboxFileError):
            workdir.write(name, b"overwritten")
        with pytest.raises(OSError, match=r"Not a directory|symbolic links"):
            workdir.describe(name)
    with pytest.raises(SandboxFileError):
        workdir.write("link/new.txt", b"planted")
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "host secret"


def test_changed_since_reports_new_and_changed_regular_files(root: Path, outside: Path) -> None:
    workdir = WorkDir(root)
    workdir.write("same.txt", b"unchanged")
    workdir.write("grows.txt", b"short")
    workdir.write("gone.txt", b"deleted later")
    before, complete = workdir.snapshot()
    assert complete
    assert set(before) == {"same.txt", "grows.txt", "gone.txt"}

    workdir.write("grows.txt", b"much longer now")
    workdir.write("sub/new.csv", b"a,b\n1,2\n")
    (root / "gone.txt").unlink()
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "empty-dir").mkdir()

    changes = workdir.changed_since(before, Limits())
    artifacts = changes.artifacts
    assert (changes.omitted, changes.complete) == (0, True)
    assert [artifact.name for artifact in artifacts] == ["grows.txt", "sub/new.csv"]
    new = artifacts[1]
    assert new.size == 8
    assert new.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert new.mime_type == "text/csv"
    assert artifacts[0].size == len(b"much longer now")
    assert workdir.changed_since(changes.snapshot, Limits()).artifacts == []
    assert workdir.changed_since(workdir.snapshot()[0], Limits()).artifacts == []


def test_artifacts_past_the_cap_are_counted_and_spills_come_first(root: Path) -> None:
    workdir = WorkDir(root)
    before, _ = workdir.snapshot()
    for number in range(30):
        (root / f"file-{number:02}.txt").write_text("x")
    workdir.write(".runpad/cell-1-stdout.txt", b"spilled")

    changes = workdir.changed_since(before, Limits(max_artifacts=5))

    names = [artifact.name for artifact in changes.artifacts]
    assert names == [".runpad/cell-1-stdout.txt", *(f"file-{n:02}.txt" for n in range(4))]
    assert changes.omitted == 26
    assert len(changes.snapshot) == 31  # the next cell compares with all of them


def test_sparse_and_large_files_are_listed_unhashed(root: Path) -> None:
    workdir = WorkDir(root)
    before, _ = workdir.snapshot()
    with open(root / "sparse.bin", "wb") as handle:  # a terabyte of holes: never read
        handle.truncate(1 << 40)
    (root / "big.bin").write_bytes(b"b" * 3000)
    (root / "small.bin").write_bytes(b"s" * 1000)

    # Files are taken by name: big.bin uses 3000 of the 3500 bytes, small.bin does not fit.
    changes = workdir.changed_since(before, Limits(hash_bytes=3500))

    found = {artifact.name: artifact for artifact in changes.artifacts}
    assert found["sparse.bin"].size == 1 << 40
    assert found["sparse.bin"].sha256 == ""
    assert found["big.bin"].sha256 == hashlib.sha256(b"b" * 3000).hexdigest()
    assert found["small.bin"].sha256 == ""
    assert found["small.bin"].size == 1000


def test_collection_stops_at_its_time_limit(root: Path) -> None:
    workdir = WorkDir(root)
    before, _ = workdir.snapshot()
    for number in range(3):
        (root / f"d{number}").mkdir()
        (root / f"d{number}" / "f.txt").write_text("x")

    changes = workdir.changed_since(before, Limits(artifact_seconds=1e-9))

    assert not changes.complete
    assert all(artifact.sha256 == "" for artifact in changes.artifacts)
    # The files not reached are taken as unchanged, never as removed.
    assert set(before) <= set(changes.snapshot)


def test_the_walk_does_not_follow_a_directory_link(root: Path, outside: Path) -> None:
    (root / "inside").mkdir()
    (root / "inside" / "a.txt").write_text("a")
    (root / "escape").symlink_to(outside)

    snapshot, complete = WorkDir(root).snapshot()

    assert complete
    assert set(snapshot) == {"inside/a.txt"}


def test_list_files_is_recursive_sorted_and_does_not_enter_links(root: Path, outside: Path) -> None:
    workdir = WorkDir(root)
    workdir.write("b.txt", b"bb")
    workdir.write("a/z.bin", b"zzz")
    workdir.write("a/inner/y.txt", b"y")
    (root / "a" / "to-outside").symlink_to(outside)
    assert workdir.list_files() == [
        FileInfo("a", 0, is_dir=True),
        FileInfo("a/inner", 0, is_dir=True),
        FileInfo("a/inner/y.txt", 1, is_dir=False),
        FileInfo("a/to-outside", len(str(outside)), is_dir=False),
        FileInfo("a/z.bin", 3, is_dir=False),
        FileInfo("b.txt", 2, is_dir=False),
    ]
    assert [info.name for info in workdir.list_files("a/inner")] == ["a/inner/y.txt"]
    with pytest.raises(SandboxFileError):
        workdir.list_files("b.txt")
    with pytest.raises(SandboxFileError):
        workdir.list_files("a/to-outside")


def test_unchanged_since_sees_every_kind_of_change(root: Path) -> None:
    """The quick walk that lets a cell skip the full scan answers False on any change."""
    workdir = WorkDir(root)
    workdir.write("a.txt", b"first")
    workdir.write("deep/er/b.txt", b"second")
    before, _ = workdir.snapshot()
    assert workdir.unchanged_since(before)

    # Rewritten in place with the same size, at once (well within the same second).
    (root / "deep" / "er" / "b.txt").write_bytes(b"SECOND")
    assert not workdir.unchanged_since(before)
    before, _ = workdir.snapshot()
    (root / "deep" / "er" / "new.txt").write_bytes(b"")  # an empty file, two levels down
    assert not workdir.unchanged_since(before)
    before, _ = workdir.snapshot()
    (root / "a.txt").unlink()
    assert not workdir.unchanged_since(before)
    before, _ = workdir.snapshot()
    os.utime(root / "deep" / "er" / "b.txt", ns=(0, 0))  # mtime set back: ctime still moves
    assert not workdir.unchanged_since(before)
    before, _ = workdir.snapshot()
    assert workdir.unchanged_since(before)


def test_unchanged_since_leaves_large_work_dirs_to_the_full_scan(root: Path) -> None:
    workdir = WorkDir(root)
    for number in range(QUICK_WALK_FILES + 1):
        (root / f"f{number}").write_bytes(b"")
    before, _ = workdir.snapshot()

    assert not workdir.unchanged_since(before)  # not walked: the full scan decides
    assert workdir.changed_since(before, Limits()).artifacts == []


def test_changed_since_after_a_quick_walk_lists_the_rewrite(root: Path) -> None:
    """A same-size rewrite found by the quick walk is then listed, with its new hash."""
    workdir = WorkDir(root)
    workdir.write("out/data.bin", b"aaaa")
    before, _ = workdir.snapshot()
    (root / "out" / "data.bin").write_bytes(b"bbbb")

    assert not workdir.unchanged_since(before)
    artifacts = workdir.changed_since(before, Limits()).artifacts
    assert [(a.name, a.sha256) for a in artifacts] == [
        ("out/data.bin", hashlib.sha256(b"bbbb").hexdigest())
    ]
