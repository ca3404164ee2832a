"""The work dir: artifacts, uploads and downloads, and paths that must be refused."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from runpad.errors import SandboxFileError
from runpad.sandbox import FileInfo, Language, Sandbox

from .conftest import CELL_LANGUAGES, Backend, OpenSession, pick, quoted


async def test_files_the_code_writes_are_artifacts_with_size_and_sha256(
    sandbox: Sandbox, language: Language
) -> None:
    await sandbox.upload(b"existing", "untouched.txt")
    execution = await sandbox.run(
        pick(
            language,
            python="import os\n"
            "os.makedirs('out', exist_ok=True)\n"
            "blob = os.urandom(4096)\n"
            "open('out/blob.bin', 'wb').write(blob)\n"
            "open('out/table.csv', 'w').write('a,b\\n1,2\\n')\n"
            "len(blob)",
            javascript="Deno.mkdirSync('out', { recursive: true })\n"
            "const blob = crypto.getRandomValues(new Uint8Array(4096))\n"
            "Deno.writeFileSync('out/blob.bin', blob)\n"
            "Deno.writeTextFileSync('out/table.csv', 'a,b\\n1,2\\n')\n"
            "blob.length",
        ),
        language=language,
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
    assert (await sandbox.run("1 + 1", language=language)).artifacts == []

    await sandbox.run(
        pick(
            language,
            python="open('log.txt', 'w').write('one\\n')",
            javascript="Deno.writeTextFileSync('log.txt', 'one\\n')",
        ),
        language=language,
    )
    appended = await sandbox.run(
        pick(
            language,
            python="open('log.txt', 'a').write('two\\n')",
            javascript="Deno.writeTextFileSync('log.txt', 'two\\n', { append: true })",
        ),
        language=language,
    )
    assert [(a.name, a.size) for a in appended.artifacts] == [("log.txt", 8)]
    assert await sandbox.download("log.txt") == b"one\ntwo\n"


async def test_changes_after_a_cell_ends_are_the_next_cells_artifacts(
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    """Whatever a session's code writes is an artifact of the first cell that ends after it:
    a write from a background timer, a file in a directory an earlier cell made (the work
    dir's watch must cover directories it did not start with)."""
    if backend.name == "fake":
        pytest.skip("the fake runs cells in the test's process: a timer outlives the cell's cwd")
    made = await sandbox.run(
        pick(
            language,
            python="import os, threading\nos.makedirs('later')\n"
            "threading.Timer(0.3, lambda: open('later/late.txt', 'w').write('late')).start()",
            javascript="Deno.mkdirSync('later')\n"
            "setTimeout(() => Deno.writeTextFileSync('later/late.txt', 'late'), 300)",
        ),
        language=language,
    )
    assert made.ok, made.error
    assert made.artifacts == []  # a directory alone is no artifact
    await asyncio.sleep(1.5)
    after = await sandbox.run("1 + 1", language=language)
    assert [artifact.name for artifact in after.artifacts] == ["later/late.txt"]
    inside = await sandbox.run(
        pick(
            language,
            python="open('later/again.txt', 'w').write('again')",
            javascript="Deno.writeTextFileSync('later/again.txt', 'again')",
        ),
        language=language,
    )
    assert [artifact.name for artifact in inside.artifacts] == ["later/again.txt"]
    assert (await sandbox.run("1 + 1", language=language)).artifacts == []


async def test_upload_and_download_round_trip(
    sandbox: Sandbox, tmp_path: Path, language: Language
) -> None:
    payload = bytes(range(256)) * 40
    info = await sandbox.upload(payload, "data/raw.bin")
    assert info == FileInfo(name="data/raw.bin", size=len(payload), is_dir=False)
    local = tmp_path / "notes.txt"
    local.write_text("written on the host\n")
    await sandbox.upload(local, "data/notes.txt")
    await sandbox.upload(str(local), "notes-again.txt")

    seen = await sandbox.run(
        pick(
            language,
            python="import hashlib\n"
            "hashlib.sha256(open('data/raw.bin', 'rb').read()).hexdigest() + ' ' + "
            "open('data/notes.txt').read().strip()",
            javascript="const digest = await crypto.subtle.digest("
            "'SHA-256', Deno.readFileSync('data/raw.bin'))\n"
            "Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')"
            " + ' ' + Deno.readTextFileSync('data/notes.txt').trim()",
            typescript="const digest: ArrayBuffer = await crypto.subtle.digest("
            "'SHA-256', Deno.readFileSync('data/raw.bin'))\n"
            "Array.from(new Uint8Array(digest), (b: number) => b.toString(16).padStart(2, '0'))"
            ".join('') + ' ' + Deno.readTextFileSync('data/notes.txt').trim()",
        ),
        language=language,
    )
    assert seen.text == quoted(
        language, f"{hashlib.sha256(payload).hexdigest()} written on the host"
    )
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


async def test_sessions_share_neither_variables_nor_files(
    open_session: OpenSession, language: Language
) -> None:
    first = await open_session()
    second = await open_session()
    written = await first.run(
        pick(
            language,
            python="secret = 'first only'\nopen('mine.txt', 'w').write('first')",
            javascript="const secret = 'first only'\nDeno.writeTextFileSync('mine.txt', 'first')",
        ),
        language=language,
    )
    assert written.ok, written.error
    await first.upload(b"uploaded", "uploaded.txt")

    assert (await first.run("secret", language=language)).text == quoted(language, "first only")
    missing = await second.run("secret", language=language)
    assert missing.error is not None
    assert missing.error.name == pick(language, python="NameError", javascript="ReferenceError")
    seen = await second.run(
        pick(
            language,
            python="import os\nsorted(os.listdir('.'))",
            javascript="[...Deno.readDirSync('.')].length",
        ),
        language=language,
    )
    assert seen.text == pick(language, python="[]", javascript="0")
    assert [entry.name for entry in await second.list_files()] == []
    with pytest.raises(SandboxFileError):
        await second.download("mine.txt")
    assert {"mine.txt", "uploaded.txt"} <= {entry.name for entry in await first.list_files()}


_SHARED_CELLS: dict[str, dict[str, str]] = {
    "python": {
        "write": "import json\n"
        "json.dump({'from': 'python', 'values': [1, 2, 3]}, open('from_python.json', 'w'))",
        "read": "import json\n"
        "data = json.load(open('from_other.json'))\n"
        "data['from'] + ' ' + str(sum(data['values']))",
    },
    "javascript": {
        "write": "Deno.writeTextFileSync('from_other.json', "
        "JSON.stringify({ from: 'deno', values: [4, 5, 6] }))",
        "read": "const data = JSON.parse(Deno.readTextFileSync('from_python.json'))\n"
        "data.from + ' ' + data.values.reduce((a, b) => a + b, 0)",
    },
}


@pytest.mark.parametrize("other", [lang for lang in CELL_LANGUAGES if lang != "python"])
async def test_python_and_another_language_share_the_work_dir(
    sandbox: Sandbox, backend: Backend, other: Language
) -> None:
    if other not in backend.languages:
        pytest.skip(f"{backend.name!r} does not run {other} cells")
    python, deno = _SHARED_CELLS["python"], _SHARED_CELLS["javascript"]

    wrote = await sandbox.run(python["write"])
    read = await sandbox.run(deno["read"], language=other)
    assert read.ok, read.error
    assert read.text == quoted(other, "python 6")
    assert [artifact.name for artifact in wrote.artifacts] == ["from_python.json"]

    wrote_back = await sandbox.run(deno["write"], language=other)
    assert wrote_back.ok, wrote_back.error
    assert [artifact.name for artifact in wrote_back.artifacts] == ["from_other.json"]
    back = await sandbox.run(python["read"])
    assert back.text == "'deno 15'"
    assert read.artifacts == []  # reading is no change
    names = {entry.name for entry in await sandbox.list_files()}
    assert {"from_python.json", "from_other.json"} <= names
