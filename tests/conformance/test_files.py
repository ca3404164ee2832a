"""The work dir: artifacts, uploads and downloads, and paths that must be refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from runpad.errors import SandboxFileError
from runpad.sandbox import FileInfo, Sandbox

from .conftest import OpenSession


async def test_files_the_code_writes_are_artifacts_with_size_and_sha256(sandbox: Sandbox) -> None:
    await sandbox.upload(b"existing", "untouched.txt")
    execution = await sandbox.run(
        "import os\n"
        "os.makedirs('out', exist_ok=True)\n"
        "blob = os.urandom(4096)\n"
        "open('out/blob.bin', 'wb').write(blob)\n"
        "open('out/table.csv', 'w').write('a,b\\n1,2\\n')\n"
        "len(blob)"
    )
    assert execution.ok, execution.error
    assert execution.text == "4096"
    artifacts = {artifact.name: artifact for artifact in execution.artifacts}
    assert set(artifacts) == {"out/blob.bin", "out/table.csv"}
    for name, artifact in artifacts.items():
        data = await sandbox.download(name)
        assert artifact.size == len(data)
        assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert artifacts["out/blob.bin"].size == 4096
    assert artifacts["out/table.csv"].mime_type == "text/csv"
    assert (await sandbox.run("1 + 1")).artifacts == []

    await sandbox.run("open('log.txt', 'w').write('one\\n')")
    appended = await sandbox.run("open('log.txt', 'a').write('two\\n')")
    assert [(a.name, a.size) for a in appended.artifacts] == [("log.txt", 8)]
    assert await sandbox.download("log.txt") == b"one\ntwo\n"


async def test_upload_and_download_round_trip(sandbox: Sandbox, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 40
    info = await sandbox.upload(payload, "data/raw.bin")
    assert info == FileInfo(name="data/raw.bin", size=len(payload), is_dir=False)
    local = tmp_path / "notes.txt"
    local.write_text("written on the host\n")
    await sandbox.upload(local, "data/notes.txt")
    await sandbox.upload(str(local), "notes-again.txt")

    seen = await sandbox.run(
        "import hashlib\n"
        "hashlib.sha256(open('data/raw.bin', 'rb').read()).hexdigest() + ' ' + "
        "open('data/notes.txt').read().strip()"
    )
    assert seen.text == repr(f"{hashlib.sha256(payload).hexdigest()} written on the host")
    assert await sandbox.download("data/raw.bin") == payload
    assert await sandbox.download("notes-again.txt") == b"written on the host\n"

    listed = {entry.name: entry for entry in await sandbox.list_files()}
    assert listed["data"].is_dir
    assert listed["data/raw.bin"] == FileInfo("data/raw.bin", len(payload), is_dir=False)
    assert "notes-again.txt" in listed
    assert [entry.name for entry in await sandbox.list_files("data")] == [
        "data/notes.txt",
        "data/raw.bin",
    ]


async def test_bad_paths_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    for path in ("../escape.txt", "data/../../escape.txt", "/etc/passwd", str(tmp_path / "x")):
        with pytest.raises(SandboxFileError, match="outside the sandbox work dir"):
            await sandbox.upload(b"nope", path)
        with pytest.raises(SandboxFileError, match="outside the sandbox work dir"):
            await sandbox.download(path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(SandboxFileError):
        await sandbox.list_files(str(tmp_path))
    with pytest.raises(SandboxFileError, match="No file"):
        await sandbox.download("never-written.txt")
    with pytest.raises(SandboxFileError):
        await sandbox.list_files("no-such-dir")
    assert await sandbox.list_files() == []


async def test_symlinks_planted_by_the_code_are_not_followed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    execution = await sandbox.run(
        "import os\n"
        f"os.symlink({str(secret)!r}, 'leak.txt')\n"
        f"os.symlink({str(tmp_path)!r}, 'outside')\n"
        "os.symlink('/etc/passwd', 'passwd')"
    )
    assert execution.ok, execution.error
    assert execution.artifacts == []  # links are not files the cell made
    for name in ("leak.txt", "outside/secret.txt", "passwd"):
        with pytest.raises(SandboxFileError):
            await sandbox.download(name)
    with pytest.raises(SandboxFileError):
        await sandbox.upload(b"planted", "outside/planted.txt")
    assert not (tmp_path / "planted.txt").exists()
    assert secret.read_text() == "host secret"
    names = {entry.name for entry in await sandbox.list_files()}
    assert {"leak.txt", "outside", "passwd"} <= names
    assert not any(name.startswith("outside/") for name in names)
    with pytest.raises(SandboxFileError):
        await sandbox.list_files("outside")


async def test_sessions_share_neither_variables_nor_files(open_session: OpenSession) -> None:
    first = await open_session()
    second = await open_session()
    await first.run("secret = 'first only'\nopen('mine.txt', 'w').write('first')")
    await first.upload(b"uploaded", "uploaded.txt")

    assert (await first.run("secret")).text == "'first only'"
    missing = await second.run("secret")
    assert missing.error is not None
    assert missing.error.name == "NameError"
    seen = await second.run("import os\nsorted(os.listdir('.'))")
    assert seen.text == "[]"
    assert [entry.name for entry in await second.list_files()] == []
    with pytest.raises(SandboxFileError):
        await second.download("mine.txt")
    assert {"mine.txt", "uploaded.txt"} <= {entry.name for entry in await first.list_files()}
