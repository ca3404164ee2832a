"""The docker and e2b backends are optional extras: lazy imports, install hints, the image."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from runpad.sandbox import BACKENDS
from runpad.sandbox.environment import SANDBOX_NPM_PACKAGES, SANDBOX_PACKAGES

DOCKERFILE = Path(__file__).parents[2] / "docker" / "Dockerfile"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_importing_runpad_loads_no_optional_sdk() -> None:
    result = _python(
        "import sys, runpad.sandbox\n"
        "sdks = ('docker', 'e2b', 'e2b_code_interpreter', 'ray')\n"
        "print(sorted(m for m in sdks if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_both_backends_are_known_and_exported_lazily() -> None:
    assert {"docker", "e2b"} <= set(BACKENDS)
    result = _python(
        "import runpad.sandbox as s\nprint(s.DockerSandbox.backend, s.E2BSandbox.backend)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["docker", "e2b"]


@pytest.mark.parametrize(
    ("backend", "sdk", "extra"),
    [
        ("docker", "docker", "runpad[docker]"),
        ("e2b", "e2b_code_interpreter", "runpad[e2b]"),
        ("ray", "ray", "runpad[ray]"),
    ],
)
def test_a_missing_sdk_names_the_extra_to_install(backend: str, sdk: str, extra: str) -> None:
    result = _python(
        f"import sys\nsys.modules[{sdk!r}] = None  # as if it were not installed\n"
        "from runpad.errors import MissingDependencyError\n"
        "from runpad.sandbox import open_sandbox\n"
        "try:\n"
        f"    open_sandbox({backend!r})\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install '{extra}'" in result.stdout


def test_the_dockerfile_installs_the_sandbox_packages() -> None:
    match = re.search(r'ARG SANDBOX_PACKAGES="([^"]*)"', DOCKERFILE.read_text())
    assert match is not None
    assert tuple(match.group(1).split()) == SANDBOX_PACKAGES


def test_the_dockerfile_caches_the_npm_packages_of_javascript_cells() -> None:
    text = DOCKERFILE.read_text()
    match = re.search(r'ARG SANDBOX_NPM_PACKAGES="([^"]*)"', text)
    assert match is not None
    assert tuple(match.group(1).split()) == SANDBOX_NPM_PACKAGES
    assert "deno cache runpad-npm-packages.ts" in text
    assert "COPY runpad/sandbox/kernel/deno_relay.py /opt/runpad/deno_relay.py" in text


def test_the_dockerfile_labels_what_the_backend_reads() -> None:
    from runpad.sandbox.docker.image import LABEL_DENO, LABEL_FONT_CACHE, LABEL_PYTHON
    from runpad.sandbox.kernel.deno import INSIDE_RELAY

    text = DOCKERFILE.read_text()
    assert f'{LABEL_PYTHON}="/opt/runpad/venv/bin/python"' in text
    assert f'{LABEL_FONT_CACHE}="/opt/runpad/venv/runpad-mplconfig"' in text
    assert f'{LABEL_DENO}="/opt/runpad/venv/bin/deno"' in text
    assert INSIDE_RELAY == "/opt/runpad/deno_relay.py"
    assert "USER 1000:1000" in text


def test_the_rootfs_writer_keeps_symlink_chains_and_parents(tmp_path: Path) -> None:
    from runpad.sandbox.docker.image import _RootfsWriter

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "lib.so").write_bytes(b"elf")
    (tmp_path / "linked").symlink_to("real")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _RootfsWriter(tar).add_path(str(tmp_path / "linked" / "lib.so"))
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        members = {member.name: member for member in tar.getmembers()}
    root = str(tmp_path).lstrip("/")
    assert members[f"{root}/linked"].issym()
    assert members[f"{root}/linked"].linkname == "real"
    assert members[f"{root}/real"].isdir()
    assert members[f"{root}/real/lib.so"].isfile()
    assert members[f"{root}/real/lib.so"].uid == 0
    assert members[root].mode & 0o555 == 0o555  # parents the sandbox user can traverse


class _Image:
    """What `image_info` reads of a `docker.models.images.Image`."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.id = "sha256:0123"
        self.tags = ["runpad-sandbox:test"]
        self.labels = labels


def test_image_labels_say_where_deno_is_and_which_npm_versions_are_cached() -> None:
    from runpad.sandbox.docker.image import (
        LABEL_DENO,
        LABEL_NPM_VERSIONS,
        LABEL_PYTHON,
        image_info,
    )

    info = image_info(
        _Image(
            {
                LABEL_PYTHON: "/opt/runpad/venv/bin/python",
                LABEL_DENO: "/opt/runpad/venv/bin/deno",
                LABEL_NPM_VERSIONS: '{"lodash": ["4.17.21"]}',
            }
        )
    )
    assert info.deno == "/opt/runpad/venv/bin/deno"
    assert info.npm_versions == {"lodash": ["4.17.21"]}
    older = image_info(_Image({LABEL_PYTHON: "/opt/runpad/venv/bin/python"}))
    assert (older.deno, older.npm_versions) == (None, None)


async def test_a_docker_image_without_deno_says_how_to_rebuild_it() -> None:
    from runpad.errors import DenoUnavailable
    from runpad.sandbox.docker.image import ImageInfo
    from runpad.sandbox.docker.sandbox import DockerSandbox

    sandbox = DockerSandbox()
    sandbox._image = ImageInfo("sha256:0123", "/opt/runpad/venv/bin/python", None)  # no Deno
    with pytest.raises(DenoUnavailable, match="runpad sandbox docker-build"):
        await sandbox._launch_deno_kernel()
