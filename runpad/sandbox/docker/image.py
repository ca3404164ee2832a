"""The Docker image the `docker` backend runs, built from this machine's files.

Two ways to get one:
- with a registry: `docker build -t runpad-sandbox:latest -f docker/Dockerfile .`
  (python:3.11-slim plus the sandbox packages);
- without any registry: `build_local_image()` (the `runpad sandbox docker-build` command)
  packs the sandbox environment, the interpreter it links to and the part of this machine's
  system that they need into a single-layer image, at their original paths, and imports it
  through the Docker API. Nothing is downloaded.

What the local image holds, and why it stays small: the sandbox venv and the interpreter's
standard library (not its site-packages, tests or static library); every shared library
that these, and a set of shell tools, load (found with `ldd`, symlinks kept); the /etc
entries a program needs (the same list the local backend binds), time zones, fonts,
certificates; a synthetic passwd with the sandbox user (uid 1000). No documentation, man
pages, locales or compilers.

Either image carries labels that tell the backend where its Python is
(`runpad.python`), where matplotlib's prebuilt font cache is (`runpad.font-cache`) and where
the Deno binary of JavaScript and TypeScript cells is (`runpad.deno`); a custom image made
`FROM` either keeps them. Deno's npm packages are cached in the environment's DENO_DIR, inside
the image like the rest of the environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runpad.errors import SandboxUnavailable
from runpad.sandbox.environment import SandboxEnvironment, find_environment
from runpad.sandbox.kernel.deno import INSIDE_RELAY, RELAY_FILE, cached_npm_versions
from runpad.sandbox.kernel.driver import STARTUP_FILE
from runpad.sandbox.session_layout import (
    ETC_ENTRIES,
    INSIDE_HOME,
    INSIDE_IPC,
    INSIDE_STARTUP,
    INSIDE_WORK,
    SANDBOX_UID,
)

if TYPE_CHECKING:
    import docker

__all__ = [
    "BUILD_COMMAND",
    "DEFAULT_IMAGE",
    "LABEL_DENO",
    "LABEL_FONT_CACHE",
    "LABEL_NPM_VERSIONS",
    "LABEL_PYTHON",
    "ImageInfo",
    "build_local_image",
    "image_info",
    "write_rootfs",
]

logger = logging.getLogger(__name__)

DEFAULT_IMAGE = "runpad-sandbox:local"
"""The tag `build_local_image` gives its image and `DockerSandbox` runs by default."""

BUILD_COMMAND = "runpad sandbox docker-build"
"""The command that builds `DEFAULT_IMAGE` (named in error messages)."""

LABEL_PYTHON = "runpad.python"
"""Image label: the sandbox Python inside the image (a venv's bin/python)."""
LABEL_FONT_CACHE = "runpad.font-cache"
"""Image label: a directory with matplotlib's font list (fontlist-*.json) built at setup,
copied into each session's fresh home so that the first chart does not rebuild it."""
LABEL_DENO = "runpad.deno"
"""Image label: the Deno binary inside the image (JavaScript and TypeScript cells)."""
LABEL_NPM_VERSIONS = "runpad.npm-versions"
"""Image label on local builds: the versions of the cached npm packages, as JSON
(`runpad.sandbox.kernel.deno.cached_npm_versions`), so that a cell asking for another
version is told before it runs."""
LABEL_SOURCE = "runpad.source"
"""Image label on local builds: a fingerprint of what went in, to tell when to rebuild."""

# Programs a shell cell (`language="shell"`, `!cmd`) may reasonably expect.
_SHELL_TOOLS = (
    "sh", "bash", "env", "cat", "ls", "cp", "mv", "rm", "mkdir", "rmdir", "touch", "echo",
    "printf", "head", "tail", "wc", "sort", "uniq", "cut", "tr", "tee", "paste", "join",
    "comm", "split", "nl", "fold", "tac", "od", "grep", "egrep", "sed", "awk", "find",
    "xargs", "tar", "gzip", "gunzip", "zcat", "bzip2", "xz", "diff", "cmp", "du", "df",
    "date", "sleep", "id", "whoami", "uname", "basename", "dirname", "realpath", "readlink",
    "stat", "chmod", "ln", "seq", "md5sum", "sha1sum", "sha256sum", "base64", "which",
    "true", "false", "test", "[", "expr", "nproc", "pwd", "timeout", "kill", "ps",
    "hostname", "mktemp", "yes", "install", "unshare", "mount", "umount",
)  # fmt: skip
# System data that Python and the data stack read at run time.
_SYSTEM_DATA = (
    "/usr/share/zoneinfo",
    "/usr/share/fonts",
    "/usr/share/ca-certificates",
    "/usr/lib/locale/C.utf8",
    "/usr/lib/locale/C.UTF-8",
)
_MERGED_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Parts of a Python installation the sandbox never needs: what was installed into it (the
# sandbox venv has its own), its tests, IDE, and the static library for embedding.
_STDLIB_SKIP = {"site-packages", "dist-packages", "test", "idlelib", "turtledemo", "ensurepip"}
_ETC_SKIP = {"/etc/ssl/private"}  # host keys never go into an image


@dataclass(frozen=True)
class ImageInfo:
    """What the backend needs to know about a sandbox image, from its labels."""

    image_id: str
    python: str
    font_cache: str | None
    deno: str | None = None
    """The Deno binary; None in an image built before runpad ran JavaScript."""
    npm_versions: dict[str, list[str]] | None = None
    """The cached npm packages' versions, where the image says."""

    @property
    def environment_path(self) -> str:
        """The venv inside the image (the parent of its bin/)."""
        return str(Path(self.python).parent.parent)


def image_info(image: Any) -> ImageInfo:
    """Read a `docker.models.images.Image`'s runpad labels.

    Raises:
        SandboxUnavailable: the image was not built for runpad.
    """
    labels: dict[str, str] = image.labels or {}
    python = labels.get(LABEL_PYTHON)
    if not python:
        tags = ", ".join(image.tags) or image.id
        raise SandboxUnavailable(
            f"The Docker image {tags} is not a runpad sandbox image (it has no "
            f"{LABEL_PYTHON} label). Build one with `{BUILD_COMMAND}`, or from "
            "docker/Dockerfile, and pass its tag as image=."
        )
    try:
        npm_versions = json.loads(labels[LABEL_NPM_VERSIONS])
    except (KeyError, ValueError):
        npm_versions = None
    return ImageInfo(
        image_id=str(image.id),
        python=python,
        font_cache=labels.get(LABEL_FONT_CACHE) or None,
        deno=labels.get(LABEL_DENO) or None,
        npm_versions=npm_versions if isinstance(npm_versions, dict) else None,
    )


def build_local_image(
    client: docker.DockerClient | None = None,
    *,
    tag: str = DEFAULT_IMAGE,
    environment: SandboxEnvironment | None = None,
    force: bool = False,
    log: Callable[[str], None] = logger.info,
) -> str:
    """Build the sandbox image from this machine's files, with no registry; return its id.

    An image with this tag that was built from the same sandbox environment is reused
    unless `force` is set.

    Args:
        client: a Docker client (default: one from the environment, `DOCKER_HOST`).
        tag: the image's tag.
        environment: the sandbox environment to pack (default: `runpad sandbox setup`'s).
        force: rebuild even when an up-to-date image exists.
        log: called with a line for each step.

    Example:
        ```python
        from runpad.sandbox.docker.image import build_local_image

        image_id = build_local_image()  # then: open_sandbox("docker")
        ```
    """
    from runpad.sandbox.docker.sandbox import docker_client

    environment = environment or find_environment()
    if client is not None:
        return _build(client, tag, environment, force, log)
    with contextlib.closing(docker_client()) as own_client:
        return _build(own_client, tag, environment, force, log)


def _build(
    client: docker.DockerClient,
    tag: str,
    environment: SandboxEnvironment,
    force: bool,
    log: Callable[[str], None],
) -> str:
    import docker.errors

    fingerprint = _fingerprint(environment)
    previous = _existing_image(client, tag)
    if not force and previous is not None and previous.labels.get(LABEL_SOURCE) == fingerprint:
        log(f"The image {tag} is up to date ({previous.short_id}); use force to rebuild.")
        return str(previous.id)
    started = time.monotonic()
    log(f"Packing the sandbox environment {environment.path} into the image {tag}")
    changes = [
        f"USER {SANDBOX_UID}:{SANDBOX_UID}",
        f"WORKDIR {INSIDE_WORK}",
        f"ENV HOME={INSIDE_HOME} LANG=C.UTF-8",
        f"LABEL {LABEL_PYTHON}={json.dumps(str(environment.python))}",
        f"LABEL {LABEL_SOURCE}={json.dumps(fingerprint)}",
    ]
    if (font_cache := environment.mpl_font_cache) is not None:
        changes.append(f"LABEL {LABEL_FONT_CACHE}={json.dumps(str(font_cache.parent))}")
    if (deno := environment.deno) is not None:
        versions = json.dumps(cached_npm_versions(environment.deno_dir), separators=(",", ":"))
        changes.append(f"LABEL {LABEL_DENO}={json.dumps(str(deno))}")
        changes.append(f"LABEL {LABEL_NPM_VERSIONS}={json.dumps(versions)}")
    repository, _, version = tag.rpartition(":")
    if not repository:  # a tag without ":" names the repository
        repository, version = version, "latest"
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def pack() -> None:
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                write_rootfs(pipe, environment)
        except BaseException as exc:  # reported once the import has ended
            failure.append(exc)

    # The tar goes to the engine as it is written: no temporary file of a gigabyte.
    writer = threading.Thread(target=pack, name="runpad-rootfs", daemon=True)
    writer.start()
    try:
        with os.fdopen(read_fd, "rb") as source:
            client.api.import_image(
                src=_chunks(source), repository=repository, tag=version, changes=changes
            )
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(f"The Docker engine refused the image {tag}: {exc}") from exc
    finally:
        writer.join()
    image = _existing_image(client, tag)
    if failure:  # the engine got a cut-off tar: never leave that image tagged
        if image is not None and (previous is None or image.id != previous.id):
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image.id, force=True)
        raise SandboxUnavailable(f"Could not pack the sandbox image: {failure[0]}") from failure[0]
    if image is None:
        raise SandboxUnavailable(f"The Docker engine did not tag the imported image as {tag}.")
    if previous is not None and previous.id != image.id:
        with contextlib.suppress(docker.errors.APIError):  # still used by a container
            client.images.remove(previous.id)
    size_mb = (image.attrs.get("Size") or 0) / 1e6
    log(f"Built {tag} ({image.short_id}, {size_mb:.0f} MB) in {time.monotonic() - started:.0f} s")
    return str(image.id)


def _chunks(source: io.BufferedReader, size: int = 1 << 20) -> Iterator[bytes]:
    """Stream the tar to the engine as it is written (no temporary file)."""
    while block := source.read(size):
        yield block


def _existing_image(client: docker.DockerClient, tag: str) -> Any:
    import docker.errors

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _fingerprint(environment: SandboxEnvironment) -> str:
    """Changes when the environment is set up again, or runpad's start-up file or this
    builder (what goes into the image) changes."""
    digest = hashlib.sha256()
    digest.update(str(environment.path).encode())
    for path in (
        environment.path / "runpad-environment.json",
        STARTUP_FILE,
        RELAY_FILE,
        Path(__file__),
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# -- the root file system ---------------------------------------------------------------------


def write_rootfs(stream: io.BufferedWriter | io.BytesIO, environment: SandboxEnvironment) -> None:
    """Write the image's root file system as an uncompressed tar stream."""
    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _RootfsWriter(tar).write(environment)


class _RootfsWriter:
    """Adds host paths to the tar at the same path, with their parents and symlink chains."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self._tar = tar
        self._added: set[str] = set()

    def write(self, environment: SandboxEnvironment) -> None:
        self._skeleton()
        for link in _MERGED_USR_LINKS:
            if os.path.islink(link):
                self.add_path(link)
        self._etc()
        venv = environment.path.resolve()
        elf_files = self._python_install(environment.interpreter_prefix)
        self.add_tree(venv)
        if venv != environment.path:  # keep the venv's own path valid, as local does
            self._symlink(str(environment.path), str(venv))
        for directory in _SYSTEM_DATA:
            if os.path.isdir(directory):
                self.add_tree(Path(directory))
        programs = [found for name in _SHELL_TOOLS if (found := shutil.which(name))]
        for program in programs:
            self.add_path(program)
        elf_files += [*programs, *_shared_objects(venv)]
        if environment.deno is not None:  # in the venv already; its libraries are not
            elf_files.append(str(environment.deno.resolve()))
        for library in sorted(_linked_libraries(elf_files)):
            self.add_path(library)
        self._file(INSIDE_STARTUP, STARTUP_FILE.read_bytes(), 0o644)
        self._file(INSIDE_RELAY, RELAY_FILE.read_bytes(), 0o644)

    # -- entries --------------------------------------------------------------------------------

    def _skeleton(self) -> None:
        for path, mode, uid in (
            ("/tmp", 0o1777, 0),
            ("/home", 0o755, 0),
            (INSIDE_HOME, 0o700, SANDBOX_UID),
            (INSIDE_WORK, 0o755, SANDBOX_UID),
            ("/run", 0o755, 0),
            (INSIDE_IPC, 0o755, SANDBOX_UID),
            ("/proc", 0o555, 0),
            ("/sys", 0o555, 0),
            ("/dev", 0o755, 0),
            ("/etc", 0o755, 0),
            ("/var", 0o755, 0),
            ("/var/tmp", 0o1777, 0),
        ):
            self._dir(path, mode, uid)
        self._file(
            "/etc/passwd",
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:runpad sandbox:{INSIDE_HOME}:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n".encode(),
            0o644,
        )
        self._file(
            "/etc/group",
            f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n".encode(),
            0o644,
        )

    def _etc(self) -> None:
        for entry in ETC_ENTRIES:
            path = Path("/etc", entry)
            if entry == "alternatives":  # only the links a program needs, added with it
                continue
            if path.is_dir() and not path.is_symlink():
                self.add_tree(path, keep=lambda child: child not in _ETC_SKIP)
            elif os.path.lexists(path):
                self.add_path(str(path))

    def _python_install(self, prefix: Path) -> list[str]:
        """The interpreter and its standard library, without what was installed into it.

        Returns the ELF files added, whose libraries the image needs too.
        """
        binaries = [str(binary) for binary in sorted((prefix / "bin").glob("python*"))]
        binaries += [str(library) for library in sorted((prefix / "lib").glob("libpython*"))]
        for binary in binaries:
            self.add_path(binary)
        for stdlib in sorted((prefix / "lib").glob("python3*")):
            if stdlib.is_dir():
                self.add_tree(stdlib, keep=_stdlib_keeps)
                binaries += _shared_objects(stdlib / "lib-dynload")
        return [path for path in binaries if os.path.isfile(path) and not os.path.islink(path)]

    def add_tree(self, root: Path, *, keep: Callable[[str], bool] = lambda _: True) -> None:
        """Add a directory and what it holds; `keep(path)` prunes directories."""
        self.add_path(str(root))
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(name for name in dirnames if keep(os.path.join(dirpath, name)))
            for name in [*dirnames, *sorted(filenames)]:
                self._entry(os.path.join(dirpath, name))

    def add_path(self, path: str) -> None:
        """Add `path` and everything on the way to it: parents, and each symlink's target."""
        path = os.path.normpath(path)
        parent = os.path.dirname(path)
        if parent != path:
            real_parent = os.path.realpath(parent)
            if real_parent != parent:  # the way goes through a symlinked directory
                self.add_path(parent)
                self.add_path(os.path.join(real_parent, os.path.basename(path)))
                return
            self._parents(parent)
        if path in self._added or not os.path.lexists(path):
            return
        self._entry(path)
        if os.path.islink(path):
            target = os.path.join(parent, os.readlink(path))
            self.add_path(target)

    def _parents(self, directory: str) -> None:
        if directory in self._added or directory == "/":
            return
        self._parents(os.path.dirname(directory))
        if os.path.islink(directory):
            self.add_path(directory)
        else:
            self._dir(directory, 0o755, 0)

    def _entry(self, path: str) -> None:
        if path in self._added:
            return
        self._parents(os.path.dirname(path))
        info = self._tar.gettarinfo(path, arcname=path.lstrip("/"))
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode &= ~0o6000  # no set-user-ID programs (mount, umount): nothing to escalate to
        if info.isdir():
            info.mode |= 0o555  # readable by the sandbox user, whatever the host's umask
        elif info.isreg():
            info.mode |= 0o444
        self._added.add(path)
        if info.isreg():
            with open(path, "rb") as handle:
                self._tar.addfile(info, handle)
        elif info.isdir() or info.issym() or info.islnk():
            self._tar.addfile(info)
        # sockets, fifos and devices stay out

    def _dir(self, path: str, mode: int, uid: int) -> None:
        if path in self._added:
            return
        info = tarfile.TarInfo(path.lstrip("/"))
        info.type = tarfile.DIRTYPE
        info.mode = mode
        info.uid = info.gid = uid
        info.mtime = int(time.time())
        self._tar.addfile(info)
        self._added.add(path)

    def _file(self, path: str, data: bytes, mode: int) -> None:
        self._parents(os.path.dirname(path))
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        self._tar.addfile(info, io.BytesIO(data))
        self._added.add(path)

    def _symlink(self, path: str, target: str) -> None:
        self._parents(os.path.dirname(path))
        info = tarfile.TarInfo(path.lstrip("/"))
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self._tar.addfile(info)
        self._added.add(path)


def _stdlib_keeps(path: str) -> bool:
    name = os.path.basename(path)
    return name not in _STDLIB_SKIP and not name.startswith("config-3")


def _shared_objects(root: Path) -> list[str]:
    found = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if ".so" in name and not os.path.islink(os.path.join(dirpath, name)):
                found.append(os.path.join(dirpath, name))
    return found


def _linked_libraries(files: list[str], batch: int = 200) -> set[str]:
    """Every shared library that `files` load, as this machine's dynamic linker finds it."""
    ldd = shutil.which("ldd")
    if ldd is None:
        raise SandboxUnavailable(
            "ldd is not installed, so the local image cannot find the libraries Python needs; "
            "install libc-bin, or build the image from docker/Dockerfile instead."
        )
    libraries: set[str] = set()
    for start in range(0, len(files), batch):
        # ldd exits non-zero when one file is not dynamic (a script); its output still counts.
        result = subprocess.run(
            [ldd, *files[start : start + batch]],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        )
        for line in result.stdout.splitlines():
            # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or, for the dynamic
            # linker itself, "/lib64/ld-linux-x86-64.so.2 (0x...)"; other lines name the file.
            if "=>" in line:
                target = line.split("=>", 1)[1].split("(", 1)[0].strip()
            elif "(0x" in line:
                target = line.split("(", 1)[0].strip()
            else:
                continue
            if target.startswith("/"):
                libraries.add(target)
    return libraries
