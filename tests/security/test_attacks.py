"""Attacks on a sandbox session: each one fails, and the host and the session both survive.

Every test runs its attack as a cell of a session that `isolated_sandbox` has verified, then
checks that it failed, from the inside (what the cell reports) and where it can from the
host (a listener that saw no connection, a file that was not written), and ends with
`assert_survived`: the session still answers, with its variables unless the result says it
was restarted, and the host still starts processes.

No test sends a packet to anything but a loopback address: isolation from the network is
shown by the absence of interfaces, routes and a resolver, never by trying to get out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import platform
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runpad.errors import SandboxFileError
from runpad.sandbox import Execution, Language, Sandbox
from runpad.sandbox.limits import MiB

from .conftest import ATTACK_LIMITS, HOST_SECRET_VARIABLE, RequireLimits

CHECKOUT = Path(__file__).resolve().parents[2]
"""The project checkout these tests run from, on the host."""

_STATE = "_state_before_attack"


def cell(code: str, **values: object) -> str:
    """A cell that starts by defining `values` (by their repr) and then runs `code`."""
    assignments = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return assignments + code


async def attack(
    sandbox: Sandbox, code: str, *, language: Language = "python", timeout: float | None = None
) -> Execution:
    """Run an attack, after leaving a variable behind that must outlive it."""
    setup = await sandbox.run(f"{_STATE} = 'alive'")
    assert setup.ok, setup.error
    return await sandbox.run(code, language=language, timeout=timeout)


def report(execution: Execution) -> Any:
    """What an attack cell printed as its last line of JSON."""
    assert execution.ok, execution.error
    return json.loads(execution.stdout.strip().splitlines()[-1])


async def assert_survived(sandbox: Sandbox, attack: Execution) -> None:
    """The session answers (with its state, unless it says it restarted) and so does the host."""
    answer = await sandbox.run("1 + 1")
    assert answer.text == "2", answer
    state = await sandbox.run(_STATE)
    if attack.restarted:
        assert state.error is not None, state
        assert state.error.name == "NameError", state
    else:
        assert state.text == "'alive'", state
    host = await asyncio.create_subprocess_exec("true")
    assert await host.wait() == 0


def unreachable(outcomes: dict[str, str], allowed: set[str]) -> dict[str, str]:
    """The outcomes that are not one of the `allowed` failures: the holes."""
    return {what: outcome for what, outcome in outcomes.items() if outcome not in allowed}


# -- reading host files ------------------------------------------------------------------------

_READ = """\
import json, os
def _read(path):
    try:
        with open(path, "rb") as handle:
            return f"read {len(handle.read())} bytes"
    except OSError as exc:
        return type(exc).__name__
def _listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__
print(json.dumps({"reads": {path: _read(path) for path in paths}, "listing": _listing(directory)}))
"""
_NOT_THERE = {"FileNotFoundError", "PermissionError", "NotADirectoryError"}


async def test_home_directory_is_not_readable(isolated_sandbox: Sandbox) -> None:
    home = Path.home()
    canary = home / f".runpad-security-{secrets.token_hex(8)}"
    try:
        canary.write_text("a secret in the host's home directory\n")
    except OSError as exc:
        pytest.skip(f"cannot plant a file in the home directory: {exc}")
    try:
        files = [str(path) for path in home.iterdir() if path.is_file() and not path.is_symlink()]
        execution = await attack(
            isolated_sandbox, cell(_READ, paths=[str(canary), *files], directory=str(home))
        )
        found = report(execution)
    finally:
        canary.unlink()

    assert unreachable(found["reads"], _NOT_THERE) == {}
    assert found["reads"][str(canary)] == "FileNotFoundError"
    if isinstance(found["listing"], list):  # the home may hold the binds' parent directories
        assert canary.name not in found["listing"]
        assert not {".bash_history", ".ssh", ".netrc", ".gitconfig"} & set(found["listing"])
    await assert_survived(isolated_sandbox, execution)


async def test_project_checkout_is_not_readable(isolated_sandbox: Sandbox) -> None:
    paths = [CHECKOUT / "pyproject.toml", Path(__file__), CHECKOUT / ".git" / "config"]
    assert (CHECKOUT / "pyproject.toml").is_file()  # the attack has something to find

    execution = await attack(
        isolated_sandbox, cell(_READ, paths=[str(p) for p in paths], directory=str(CHECKOUT))
    )

    found = report(execution)
    assert unreachable(found["reads"], _NOT_THERE) == {}
    assert found["listing"] == "FileNotFoundError"
    await assert_survived(isolated_sandbox, execution)


async def test_system_secrets_are_not_readable(isolated_sandbox: Sandbox) -> None:
    paths = [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_rsa_key",
        "/proc/1/root/etc/shadow",  # pid 1 is the sandbox's own init: the same view
    ]

    execution = await attack(isolated_sandbox, cell(_READ, paths=paths, directory="/etc"))

    found = report(execution)
    assert unreachable(found["reads"], _NOT_THERE) == {}
    assert not {"shadow", "gshadow", "sudoers", "ssh"} & set(found["listing"])
    await assert_survived(isolated_sandbox, execution)


async def test_keys_the_host_hides_by_mode_are_not_readable(isolated_sandbox: Sandbox) -> None:
    # The sandbox's uid is root's outside, so a mode keeps nothing in a bound tree from it:
    # /etc/ssl is bound for its certificates, and its private/ must be covered up.
    private = Path("/etc/ssl/private")
    if not os.access(private, os.W_OK):
        pytest.skip(f"cannot plant a key in {private} (absent, or not running as root)")
    key = private / f"runpad-security-{secrets.token_hex(8)}.key"
    key.write_text("a host TLS key\n")
    key.chmod(0o600)
    try:
        execution = await attack(
            isolated_sandbox, cell(_READ, paths=[str(key)], directory=str(private))
        )
    finally:
        key.unlink()

    found = report(execution)
    assert found["reads"] == {str(key): "FileNotFoundError"}
    assert key.name not in found["listing"]
    await assert_survived(isolated_sandbox, execution)


# -- reading host files through the host --------------------------------------------------------


async def test_download_does_not_follow_a_planted_symlink(
    isolated_sandbox: Sandbox, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("the host's secret\n")
    plant = f"import os\nos.symlink({str(secret)!r}, 'leak')\nos.symlink('/etc', 'etc-link')\n"

    execution = await attack(isolated_sandbox, plant)

    assert execution.ok, execution.error
    assert "leak" not in [artifact.name for artifact in execution.artifacts]
    for name in ("leak", "etc-link/passwd", "/work/leak"):
        with pytest.raises(SandboxFileError):
            await isolated_sandbox.download(name)
    listed = {info.name: info for info in await isolated_sandbox.list_files()}
    assert listed["leak"].size == len(str(secret))  # the link itself, not what it names
    await assert_survived(isolated_sandbox, execution)


async def test_upload_does_not_follow_a_planted_symlink(
    isolated_sandbox: Sandbox, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    plant = (
        f"import os\nos.symlink({str(tmp_path)!r}, 'up')\n"
        f"os.symlink({str(victim)!r}, 'victim.txt')\n"
    )

    execution = await attack(isolated_sandbox, plant)

    assert execution.ok, execution.error
    for name in ("up/pwned.txt", "victim.txt"):
        with pytest.raises(SandboxFileError):
            await isolated_sandbox.upload(b"pwned\n", name)
    assert victim.read_text() == "untouched\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["victim.txt"]
    await assert_survived(isolated_sandbox, execution)


_PLANT_SPILL_LINKS = """\
import os
os.makedirs(".runpad", exist_ok=True)
for n in range(1, 100):
    for stream in ("stdout", "stderr"):
        os.symlink(target, f".runpad/cell-{n}-{stream}.txt")
print("x" * 400_000)
"""
_PLANT_SPILL_DIRECTORY = """\
import os, shutil
shutil.rmtree(".runpad", ignore_errors=True)
os.symlink(target, ".runpad")
print("x" * 400_000)
"""


@pytest.mark.parametrize("plant", ["file", "directory"])
async def test_spilled_output_does_not_follow_a_planted_symlink(
    isolated_sandbox: Sandbox, tmp_path: Path, plant: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    code = (
        cell(_PLANT_SPILL_LINKS, target=str(victim))
        if plant == "file"
        else cell(_PLANT_SPILL_DIRECTORY, target=str(tmp_path))
    )

    execution = await attack(isolated_sandbox, code)

    assert execution.stdout_truncated  # the host had output to spill, and did not follow
    assert victim.read_text() == "untouched\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["victim.txt"]
    await assert_survived(isolated_sandbox, execution)


# -- reading the host's environment -------------------------------------------------------------

_ENVIRONMENT_SCAN = """\
import json, os, subprocess
found, scanned = [], []
if name in os.environ or any(secret in value for value in os.environ.values()):
    found.append("os.environ")
for pid in [entry for entry in os.listdir("/proc") if entry.isdigit()]:
    for part in ("environ", "cmdline"):
        try:
            data = open(f"/proc/{pid}/{part}", "rb").read()
        except OSError:
            continue
        scanned.append(f"/proc/{pid}/{part}")
        if secret.encode() in data or name.encode() in data:
            found.append(f"/proc/{pid}/{part}")
if secret in subprocess.run(["env"], capture_output=True, text=True).stdout:
    found.append("env")
print(json.dumps({"found": found, "scanned": scanned}))
"""


async def test_host_environment_is_not_visible(isolated_sandbox: Sandbox, host_secret: str) -> None:
    assert os.environ[HOST_SECRET_VARIABLE] == host_secret  # there is a secret to leak

    execution = await attack(
        isolated_sandbox,
        cell(_ENVIRONMENT_SCAN, name=HOST_SECRET_VARIABLE, secret=host_secret),
    )

    scan = report(execution)
    assert scan["found"] == []
    assert "/proc/1/environ" in scan["scanned"]  # bwrap's own: --clearenv alone leaks here
    await assert_survived(isolated_sandbox, execution)


# -- the network --------------------------------------------------------------------------------

_CONNECT = """\
import json, socket
def _connect(family, address):
    connection = socket.socket(family, socket.SOCK_STREAM)
    connection.settimeout(3)
    try:
        connection.connect(address)
        return "connected"
    except OSError as exc:
        return type(exc).__name__
    finally:
        connection.close()
outcomes = {}
for family, address in targets:
    address = address if family == "AF_UNIX" else tuple(address)
    outcomes[repr(address)] = _connect(getattr(socket, family), address)
print(json.dumps(outcomes))
"""


class ConnectionCounter:
    """Counts the connections a host-side listener accepted."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count += 1
        writer.close()
        await writer.wait_closed()


async def test_host_loopback_listener_is_unreachable(isolated_sandbox: Sandbox) -> None:
    counter = ConnectionCounter()
    servers = [await asyncio.start_server(counter, "127.0.0.1", 0)]
    with contextlib.suppress(OSError):  # no IPv6 on this host
        servers.append(await asyncio.start_server(counter, "::1", 0))
    targets = []
    for server in servers:
        host, port = server.sockets[0].getsockname()[:2]
        targets.append(("AF_INET6" if ":" in host else "AF_INET", [host, port]))
    targets.append(("AF_INET", ["localhost", targets[0][1][1]]))
    try:
        execution = await attack(isolated_sandbox, cell(_CONNECT, targets=targets))
        await asyncio.sleep(0.1)  # let a connection that did arrive reach the counter
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()

    assert unreachable(report(execution), {"ConnectionRefusedError"}) == {}
    assert counter.count == 0
    await assert_survived(isolated_sandbox, execution)


async def test_host_abstract_unix_socket_is_unreachable(isolated_sandbox: Sandbox) -> None:
    # Abstract sockets have no file to hide: only a private network namespace keeps them out.
    counter = ConnectionCounter()
    name = f"\0runpad-security-{secrets.token_hex(8)}"
    server = await asyncio.start_unix_server(counter, path=name)
    try:
        execution = await attack(isolated_sandbox, cell(_CONNECT, targets=[("AF_UNIX", name)]))
        await asyncio.sleep(0.1)
    finally:
        server.close()
        await server.wait_closed()

    assert unreachable(report(execution), {"ConnectionRefusedError"}) == {}
    assert counter.count == 0
    await assert_survived(isolated_sandbox, execution)


_NETWORK_SURVEY = """\
import json, os, socket
try:
    socket.getaddrinfo("example.com", 443)
    resolved = "resolved"
except OSError as exc:
    resolved = type(exc).__name__
print(json.dumps({
    "interfaces": [name for _, name in socket.if_nameindex()],
    "ipv4_routes": open("/proc/net/route").read().splitlines()[1:],
    "ipv6_route_devices": sorted({line.split()[-1] for line in open("/proc/net/ipv6_route")}),
    # Docker always mounts a resolv.conf: what matters is that it names no server.
    "nameservers": [
        line for line in (open("/etc/resolv.conf").read().splitlines()
                          if os.path.exists("/etc/resolv.conf") else [])
        if line.split()[:1] == ["nameserver"]
    ],
    "example.com": resolved,
}))
"""


async def test_no_route_out_and_no_resolver(isolated_sandbox: Sandbox) -> None:
    # Shown by what is missing; nothing is sent. getaddrinfo with no resolv.conf asks
    # 127.0.0.1:53 of the sandbox's own network namespace, where nothing listens.
    execution = await attack(isolated_sandbox, _NETWORK_SURVEY)

    survey = report(execution)
    assert survey["interfaces"] == ["lo"]
    assert survey["ipv4_routes"] == []
    assert set(survey["ipv6_route_devices"]) <= {"lo"}
    assert survey["nameservers"] == []
    assert survey["example.com"] == "gaierror"
    await assert_survived(isolated_sandbox, execution)


_SOCKET_SURVEY = """\
import json, os, socket, stat
def _sockets(top):
    found, stack = [], [top]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.path != "/proc":
                    stack.append(entry.path)
            elif not entry.is_file(follow_symlinks=False) and not entry.is_symlink():
                try:
                    if stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode):
                        found.append(entry.path)
                except OSError:
                    pass
    return sorted(found)
def _connect(path):
    connection = socket.socket(socket.AF_UNIX)
    try:
        connection.connect(path)
        return "connected"
    except OSError as exc:
        return type(exc).__name__
    finally:
        connection.close()
print(json.dumps({"sockets": _sockets("/"), "daemons": {path: _connect(path) for path in daemons}}))
"""
_DAEMON_SOCKETS = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/run/dbus/system_bus_socket",
    "/run/systemd/private",
]


async def test_docker_and_other_host_sockets_are_unreachable(isolated_sandbox: Sandbox) -> None:
    daemons = _DAEMON_SOCKETS + [
        os.path.realpath(path) for path in _DAEMON_SOCKETS if os.path.exists(path)
    ]

    execution = await attack(isolated_sandbox, cell(_SOCKET_SURVEY, daemons=daemons))

    survey = report(execution)
    assert unreachable(survey["daemons"], {"FileNotFoundError"}) == {}
    # The only sockets in the file system are the kernel's own, in its bound ipc dir.
    assert [path for path in survey["sockets"] if not path.startswith("/run/runpad/")] == []
    await assert_survived(isolated_sandbox, execution)


# -- processes, memory, time --------------------------------------------------------------------

_COUNT_PROCESSES = "import os\nsum(entry.isdigit() for entry in os.listdir('/proc'))"
_FORK_BOMB = """\
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


@pytest.mark.destructive
async def test_python_fork_bomb_is_contained(
    isolated_sandbox: Sandbox, require_limits: RequireLimits
) -> None:
    require_limits("pids")

    execution = await attack(isolated_sandbox, _FORK_BOMB, timeout=3)

    assert execution.timed_out
    processes = await isolated_sandbox.run(_COUNT_PROCESSES)
    assert int(processes.text or "0") <= ATTACK_LIMITS.processes
    await assert_survived(isolated_sandbox, execution)


@pytest.mark.destructive
async def test_shell_fork_bomb_is_contained(
    isolated_sandbox: Sandbox, require_limits: RequireLimits
) -> None:
    require_limits("pids")

    execution = await attack(isolated_sandbox, ":(){ :|:& };:", language="shell", timeout=3)

    assert execution.timed_out
    processes = await isolated_sandbox.run(_COUNT_PROCESSES)
    assert int(processes.text or "0") <= ATTACK_LIMITS.processes
    await assert_survived(isolated_sandbox, execution)


@pytest.mark.destructive
async def test_memory_bomb_is_contained(
    isolated_sandbox: Sandbox, require_limits: RequireLimits
) -> None:
    require_limits("memory")
    bomb = "hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))\n"

    execution = await attack(isolated_sandbox, bomb, timeout=30)

    assert execution.restarted
    assert execution.error is not None
    assert execution.error.name == "KernelDied"
    assert "memory_mb" in execution.error.value  # the message names the limit to raise
    await assert_survived(isolated_sandbox, execution)


async def test_infinite_loop_is_interrupted(isolated_sandbox: Sandbox) -> None:
    started = time.monotonic()
    execution = await attack(isolated_sandbox, "while True:\n    pass\n", timeout=2)

    assert execution.timed_out
    assert execution.error is not None
    assert execution.error.name == "TimeoutError"
    assert time.monotonic() - started < 2 + ATTACK_LIMITS.interrupt_grace + 5
    await assert_survived(isolated_sandbox, execution)


async def test_loop_that_ignores_interrupts_is_killed(isolated_sandbox: Sandbox) -> None:
    stubborn = (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
    )

    execution = await attack(isolated_sandbox, stubborn, timeout=2)

    assert execution.timed_out
    assert execution.restarted
    await assert_survived(isolated_sandbox, execution)


@pytest.mark.destructive
async def test_killing_every_process_stays_inside(isolated_sandbox: Sandbox) -> None:
    # As root on a bare host this kill(-1) would take the machine down.
    bystander = await asyncio.create_subprocess_exec("sleep", "60")
    code = (
        "import os, signal, subprocess\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "os.kill(-1, signal.SIGKILL)\n"
        "child.wait()\n"
    )
    try:
        execution = await attack(isolated_sandbox, code)
        assert bystander.returncode is None
    finally:
        bystander.kill()
        await bystander.wait()

    assert execution.text == "-9"  # the sandbox's own child died: the signal went out
    await assert_survived(isolated_sandbox, execution)


# -- the disk and writes outside the work dir ---------------------------------------------------

_FILL = """\
import errno, json, os
def _fill(directory, ceiling):
    block = b"\\0" * (1 << 20)
    written, error, files = 0, None, []
    try:
        while written < ceiling:  # a limit that fails costs at most the ceiling
            files.append(os.path.join(os.path.expanduser(directory), f"runpad-fill-{len(files)}"))
            with open(files[-1], "wb") as handle:
                for _ in range(16):
                    handle.write(block)
                    written += len(block)
    except OSError as exc:
        error = errno.errorcode.get(exc.errno, str(exc.errno))
    for path in files:
        try:
            os.remove(path)
        except OSError:
            pass
    return {"written": written, "error": error}
print(json.dumps(_fill(directory, ceiling)))
"""
_WRITABLE_PLACES = {
    "/work": ATTACK_LIMITS.disk_mb,
    "/tmp": ATTACK_LIMITS.tmp_mb,
    "/dev/shm": ATTACK_LIMITS.tmp_mb,
    "~": ATTACK_LIMITS.tmp_mb,
}


@pytest.mark.destructive
@pytest.mark.parametrize("directory", list(_WRITABLE_PLACES))
async def test_filling_the_disk_stops_at_the_limit(
    isolated_sandbox: Sandbox, require_limits: RequireLimits, directory: str
) -> None:
    if directory == "/work":
        require_limits("disk")  # else the work dir is the host's disk
    limit = _WRITABLE_PLACES[directory] * MiB

    execution = await attack(isolated_sandbox, cell(_FILL, directory=directory, ceiling=4 * limit))

    fill = report(execution)
    assert fill["error"] in ("ENOSPC", "EFBIG")
    assert fill["written"] <= limit
    await assert_survived(isolated_sandbox, execution)


@pytest.mark.destructive
async def test_filling_the_ipc_dir_stops_at_a_limit(isolated_sandbox: Sandbox) -> None:
    limit = ATTACK_LIMITS.disk_mb * MiB

    execution = await attack(
        isolated_sandbox, cell(_FILL, directory="/run/runpad", ceiling=2 * limit)
    )

    fill = report(execution)
    assert fill["error"] in ("ENOSPC", "EFBIG", "EROFS", "EACCES")
    assert fill["written"] <= limit


_WRITE_OUTSIDE = """\
import errno, json, os
def _attempt(action, path):
    try:
        if action == "create":
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))  # never writes a byte
        elif action == "open for writing":
            os.close(os.open(path, os.O_WRONLY))  # no O_TRUNC: a sysctl is never touched
        elif action == "remove":
            os.remove(path)
        return "succeeded"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps({f"{action} {path}": _attempt(action, path) for action, path in attempts}))
"""


@pytest.mark.destructive
async def test_writes_outside_the_work_dir_fail(isolated_sandbox: Sandbox) -> None:
    name = f"runpad-attack-{secrets.token_hex(4)}"
    prefixes = await isolated_sandbox.run(
        "import json, sys\nprint(json.dumps([sys.prefix, sys.base_prefix]))"
    )
    sandbox_prefix, interpreter_prefix = report(prefixes)
    directories = ["/", "/usr", "/etc", "/home", "/root", "/opt", "/run", "/dev", "/proc"]
    directories += [sandbox_prefix, interpreter_prefix, sys.prefix, str(Path.home())]
    existing = [
        "/etc/passwd",
        "/etc/hosts",
        "/usr/bin/env",
        f"{sandbox_prefix}/pyvenv.cfg",
        "/opt/runpad/kernel_startup.py",
        "/run/runpad/kernel.json",
    ]
    # As the host's root, the sandbox's uid could write global sysctls if /proc allowed it.
    sysctls = ["/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"]
    attempts = [("create", f"{directory.rstrip('/')}/{name}") for directory in directories]
    attempts += [("open for writing", path) for path in existing + sysctls]
    attempts += [("remove", path) for path in existing]
    passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()

    execution = await attack(isolated_sandbox, cell(_WRITE_OUTSIDE, attempts=attempts))

    outcomes = report(execution)
    assert unreachable(outcomes, {"EROFS", "EACCES", "EPERM", "ENOENT", "EBUSY"}) == {}
    for directory in directories:  # nothing appeared on the host either
        assert not Path(directory, name).exists()
    assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() == passwd
    await assert_survived(isolated_sandbox, execution)


_SETUID = """\
import errno, json, os, stat, subprocess
def _attempt(operation, *args):
    try:
        os.close(operation(*args)) if operation is os.open else operation(*args)
        return "succeeded"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
outcomes = {}
for directory in [path for path in ("/work", "/run/runpad", "/tmp") if os.path.isdir(path)]:
    plain, created = os.path.join(directory, "plain"), os.path.join(directory, "created")
    open(plain, "w").close()
    outcomes[f"chmod 4755 {plain}"] = _attempt(os.chmod, plain, 0o4755)
    outcomes[f"chmod 2755 {plain}"] = _attempt(os.chmod, plain, 0o2755)
    outcomes[f"open {created} 4755"] = _attempt(os.open, created, os.O_WRONLY | os.O_CREAT, 0o4755)
    outcomes[f"mkdir {directory}/dir 2755"] = _attempt(os.mkdir, f"{directory}/dir", 0o2755)
    # Tools that copy modes: their failures show in the scan below.
    subprocess.run(["cp", "-p", "/usr/bin/su", directory], capture_output=True)
    subprocess.run(["chmod", "u+s,g+s", plain], capture_output=True)
    subprocess.run(["install", "-m", "4755", plain, f"{directory}/installed"], capture_output=True)
setuid = [
    os.path.join(root, name)
    for top in ("/work", "/run/runpad", "/tmp")
    for root, dirs, names in os.walk(top)
    for name in dirs + names
    if os.lstat(os.path.join(root, name)).st_mode & (stat.S_ISUID | stat.S_ISGID)
]
print(json.dumps({"outcomes": outcomes, "setuid": setuid}))
"""


async def test_no_setuid_file_can_be_made_for_the_host(isolated_sandbox: Sandbox) -> None:
    # The sandbox's uid is root's outside: a setuid file in the work dir (a host mount)
    # would be a setuid-root program for every host user who can reach it.
    execution = await attack(isolated_sandbox, _SETUID)

    found = report(execution)
    assert unreachable(found["outcomes"], {"EPERM"}) == {}
    assert found["setuid"] == []
    await assert_survived(isolated_sandbox, execution)


# -- the kernel's connection files --------------------------------------------------------------

_SWAP_CONNECTION_FILE = """\
import os, signal
connection_file = "/run/runpad/kernel.json"
try:  # replace it by a link
    os.remove(connection_file)
    os.symlink(target, connection_file)
except OSError:
    pass
try:  # or move a link over it
    os.symlink(target, "/run/runpad/link")
    os.rename("/run/runpad/link", connection_file)
except OSError:
    pass
os.kill(os.getpid(), signal.SIGKILL)  # the host rewrites kernel.json when it restarts us
"""


async def test_connection_file_cannot_redirect_host_writes(
    isolated_sandbox: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "clobbered-by-host"

    execution = await attack(isolated_sandbox, cell(_SWAP_CONNECTION_FILE, target=str(target)))

    assert execution.restarted
    assert not target.exists()
    await assert_survived(isolated_sandbox, execution)


_SWAP_SOCKETS = """\
import glob, os, signal
for path in glob.glob("/run/runpad/k-*"):
    os.remove(path)
    os.symlink(target, path)
os.kill(os.getpid(), signal.SIGKILL)  # the host reconnects to these paths when it restarts us
"""


async def test_socket_paths_cannot_redirect_host_connections(
    isolated_sandbox: Sandbox, tmp_path: Path
) -> None:
    counter = ConnectionCounter()
    target = tmp_path / "host.sock"
    server = await asyncio.start_unix_server(counter, path=str(target))
    try:
        execution = await attack(isolated_sandbox, cell(_SWAP_SOCKETS, target=str(target)))
        await asyncio.sleep(0.2)
    finally:
        server.close()
        await server.wait_closed()

    assert execution.restarted
    assert counter.count == 0
    await assert_survived(isolated_sandbox, execution)


# -- debugging, namespaces, mounts, kernel attack surface ---------------------------------------

# System call numbers the attacks need, where libc has no wrapper.
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "clone": 56,
        "clone3": 435,
        "pivot_root": 155,
        "process_vm_readv": 310,
        "keyctl": 250,
        "add_key": 248,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "io_uring_setup": 425,
        "socket": 41,
    },
    "aarch64": {
        "clone": 220,
        "clone3": 435,
        "pivot_root": 41,
        "process_vm_readv": 270,
        "keyctl": 219,
        "add_key": 217,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "io_uring_setup": 425,
        "socket": 198,
    },
}


def syscall_numbers() -> dict[str, int]:
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        pytest.skip(f"no system call numbers for {platform.machine()} in this test")
    return numbers


_PTRACE = """\
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def _outcome(result):
    return "succeeded" if result != -1 else errno.errorcode[ctypes.get_errno()]
PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_DETACH = 0, 16, 17
outcomes = {"PTRACE_ATTACH pid 1": _outcome(libc.ptrace(PTRACE_ATTACH, 1, None, None))}
if outcomes["PTRACE_ATTACH pid 1"] == "succeeded":
    libc.ptrace(PTRACE_DETACH, 1, None, None)
read_end, write_end = os.pipe()
child = os.fork()
if child == 0:
    os.write(write_end, _outcome(libc.ptrace(PTRACE_TRACEME, 0, None, None)).encode())
    os._exit(0)
os.close(write_end)
os.waitpid(child, 0)
outcomes["PTRACE_TRACEME in a child"] = os.read(read_end, 64).decode()
os.close(read_end)
class _iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]
buffer = ctypes.create_string_buffer(8)
local, remote = _iovec(ctypes.addressof(buffer), 8), _iovec(0x400000, 8)
outcomes["process_vm_readv pid 1"] = _outcome(libc.syscall(
    numbers["process_vm_readv"], 1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0
))
print(json.dumps(outcomes))
"""


@pytest.mark.destructive
async def test_ptrace_is_denied(isolated_sandbox: Sandbox) -> None:
    execution = await attack(isolated_sandbox, cell(_PTRACE, numbers=syscall_numbers()))

    assert unreachable(report(execution), {"EPERM"}) == {}
    await assert_survived(isolated_sandbox, execution)


_NAMESPACES = """\
import ctypes, errno, json, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def _outcome(result):
    return "succeeded" if result != -1 else errno.errorcode[ctypes.get_errno()]
outcomes = {}
flags = {
    "CLONE_NEWUSER": 0x10000000, "CLONE_NEWNS": 0x00020000, "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWPID": 0x20000000, "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWCGROUP": 0x02000000,
}
for name, flag in flags.items():
    outcomes[f"unshare({name})"] = _outcome(libc.unshare(flag))
SIGCHLD = 17
child = libc.syscall(numbers["clone"], flags["CLONE_NEWUSER"] | SIGCHLD, 0, 0, 0, 0)
if child == 0:
    os._exit(0)
if child > 0:
    os.waitpid(child, 0)
outcomes["clone(CLONE_NEWUSER)"] = _outcome(child)
outcomes["clone3"] = _outcome(libc.syscall(numbers["clone3"], None, 0))
for kind in ("user", "net", "mnt"):
    try:
        namespace = os.open(f"/proc/1/ns/{kind}", os.O_RDONLY)
    except OSError as exc:
        outcomes[f"setns({kind})"] = errno.errorcode[exc.errno]
        continue
    outcomes[f"setns({kind})"] = _outcome(libc.setns(namespace, 0))
    os.close(namespace)
outcomes["mount tmpfs"] = _outcome(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
outcomes["mount --bind"] = _outcome(libc.mount(b"/work", b"/tmp", None, 0x1000, None))
outcomes["umount /work"] = _outcome(libc.umount2(b"/work", 2))
outcomes["chroot"] = _outcome(libc.chroot(b"/tmp"))
outcomes["pivot_root"] = _outcome(libc.syscall(numbers["pivot_root"], b"/tmp", b"/tmp"))
commands = {}
for command in (
    ["unshare", "-r", "true"],
    ["unshare", "--user", "--map-root-user", "--mount", "true"],
    ["unshare", "--net", "true"],
    ["mount", "-t", "tmpfs", "none", "/tmp"],
):
    result = subprocess.run(command, capture_output=True, text=True)
    commands[" ".join(command)] = [result.returncode, result.stderr.strip()]
print(json.dumps({"calls": outcomes, "commands": commands}))
"""


@pytest.mark.destructive
async def test_namespaces_and_mounts_are_denied(isolated_sandbox: Sandbox) -> None:
    execution = await attack(isolated_sandbox, cell(_NAMESPACES, numbers=syscall_numbers()))

    found = report(execution)
    # clone3 answers ENOSYS, so that libc falls back to clone, whose flags the filter sees.
    assert found["calls"].pop("clone3") == "ENOSYS"
    assert unreachable(found["calls"], {"EPERM"}) == {}
    assert {command: rc for command, (rc, _) in found["commands"].items() if rc == 0} == {}
    await assert_survived(isolated_sandbox, execution)


_KERNEL_SURFACE = """\
import ctypes, errno, fcntl, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def _outcome(result):
    return "succeeded" if result != -1 else errno.errorcode[ctypes.get_errno()]
GET_KEYRING_ID, SESSION_KEYRING = 0, -3
calls = {
    "keyctl": (GET_KEYRING_ID, SESSION_KEYRING, 1),
    "add_key": (b"user", b"runpad", b"x", 1, SESSION_KEYRING),
    "bpf": (0, None, 0),
    "perf_event_open": (None, 0, -1, -1, 0),
    "userfaultfd": (0,),
    "io_uring_setup": (1, None),
}
outcomes = {name: _outcome(libc.syscall(numbers[name], *args)) for name, args in calls.items()}
terminal = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
for name, request in (("TIOCSTI", 0x5412), ("TIOCLINUX", 0x541C)):
    try:
        fcntl.ioctl(terminal, request, b"\\x0c")
        outcomes[name] = "succeeded"
    except OSError as exc:
        outcomes[name] = errno.errorcode[exc.errno]
os.close(terminal)
print(json.dumps(outcomes))
"""


async def test_kernel_attack_surface_is_denied(isolated_sandbox: Sandbox) -> None:
    # Each call is made with arguments that would work, or fail with another error, if the
    # filter let it through; EPERM is the filter's answer.
    execution = await attack(isolated_sandbox, cell(_KERNEL_SURFACE, numbers=syscall_numbers()))

    assert unreachable(report(execution), {"EPERM"}) == {}
    await assert_survived(isolated_sandbox, execution)


# -- output -----------------------------------------------------------------------------------

_FLOOD_MB = 300
_FLOOD = f"""\
import sys
block = ("x" * 1023 + "\\n") * 1024
for _ in range({_FLOOD_MB}):
    sys.stdout.write(block)
    sys.stdout.flush()  # one message per MiB
"""
_FLOOD_UNFLUSHED = _FLOOD.replace("    sys.stdout.flush()  # one message per MiB\n", "")


class PeakMemory:
    """How far this process's resident memory rose above where it was, while a block ran.

    The kernel keeps the peak (VmHWM) exactly; writing 5 to clear_refs restarts it from the
    present. Sampling from a thread would miss it: decoding one big message holds the GIL.
    """

    def __enter__(self) -> PeakMemory:
        Path("/proc/self/clear_refs").write_text("5")
        self.baseline = self.peak = self._status("VmRSS")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.peak = self._status("VmHWM")

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    @staticmethod
    def _status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise LookupError(f"{field} is missing from /proc/self/status")


@pytest.mark.slow
async def test_stdout_flood_stays_bounded(isolated_sandbox: Sandbox) -> None:
    with PeakMemory() as memory:
        execution = await attack(isolated_sandbox, _FLOOD, timeout=60)

    # The host never holds the whole stream; how much it does hold is the next test's.
    assert_flood_bounded(execution, memory, _FLOOD_MB)
    await assert_survived(isolated_sandbox, execution)


def assert_flood_bounded(execution: Execution, memory: PeakMemory, flood_mb: int) -> None:
    """A cell that printed `flood_mb` MiB ended well, with its output cut to the limit, the
    rest spilled within its bound, and the host grown by less than the flood."""
    assert execution.ok, execution.error
    assert execution.stdout_truncated
    assert len(execution.stdout) <= ATTACK_LIMITS.output_bytes + 200  # head, marker, tail
    spills = {artifact.name: artifact for artifact in execution.artifacts}
    assert execution.stdout_spill in spills
    assert spills[execution.stdout_spill].size <= ATTACK_LIMITS.spill_bytes + 200
    assert memory.growth < flood_mb * MiB, f"the host grew by {memory.growth / MiB:.0f} MiB"


@pytest.mark.slow
async def test_stdout_flood_keeps_host_memory_small(isolated_sandbox: Sandbox) -> None:
    with PeakMemory() as memory:
        execution = await attack(isolated_sandbox, _FLOOD_UNFLUSHED, timeout=60)

    assert execution.ok, execution.error
    assert memory.growth < 64 * MiB, f"the host grew by {memory.growth / MiB:.0f} MiB"


# -- socket families ----------------------------------------------------------------------------

_SOCKETS = """\
import ctypes, errno, json, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def _make(family, kind, protocol=0):
    try:
        socket.socket(family, kind, protocol).close()
        return "succeeded"
    except OSError as exc:
        return errno.errorcode[exc.errno]
def _pair(family):
    try:
        for end in socket.socketpair(family, socket.SOCK_STREAM):
            end.close()
        return "succeeded"
    except OSError as exc:
        return errno.errorcode[exc.errno]
denied = {
    "AF_VSOCK stream": _make(40, socket.SOCK_STREAM),
    "AF_VSOCK dgram": _make(40, socket.SOCK_DGRAM),
    "AF_PACKET": _make(17, socket.SOCK_DGRAM),
    "AF_ALG": _make(38, socket.SOCK_SEQPACKET),
    "AF_KEY": _make(15, socket.SOCK_RAW, 2),
    "AF_NETLINK audit": _make(16, socket.SOCK_RAW, 9),
    "AF_NETLINK netfilter": _make(16, socket.SOCK_RAW, 12),
    "AF_NETLINK uevent": _make(16, socket.SOCK_RAW, 15),
    "socketpair AF_VSOCK": _pair(40),
}
# The kernel reads the family as a 32-bit int: high bits must not slip AF_VSOCK past a rule.
fd = libc.syscall(numbers["socket"], (1 << 32) | 40, socket.SOCK_STREAM, 0)
denied["AF_VSOCK with high bits"] = "succeeded" if fd >= 0 else errno.errorcode[ctypes.get_errno()]
allowed = {
    "AF_UNIX": _make(socket.AF_UNIX, socket.SOCK_STREAM),
    "AF_INET": _make(socket.AF_INET, socket.SOCK_STREAM),
    "AF_INET6": _make(socket.AF_INET6, socket.SOCK_STREAM),
    "AF_NETLINK route": _make(16, socket.SOCK_RAW, 0),
    "socketpair AF_UNIX": _pair(socket.AF_UNIX),
}
print(json.dumps({"denied": denied, "allowed": allowed}))
"""


async def test_vsock_and_other_socket_families_are_denied(isolated_sandbox: Sandbox) -> None:
    # vsock reaches the hypervisor and host of a VM from any network namespace. The filter
    # answers EAFNOSUPPORT, as a kernel without the family would; test_seccomp_filter.py
    # shows that the filter alone refuses them where this host would make them.
    execution = await attack(isolated_sandbox, cell(_SOCKETS, numbers=syscall_numbers()))

    found = report(execution)
    assert unreachable(found["denied"], {"EAFNOSUPPORT"}) == {}
    assert found["allowed"] == dict.fromkeys(found["allowed"], "succeeded")
    await assert_survived(isolated_sandbox, execution)


# -- the kernel's own descriptors -----------------------------------------------------------------

_DESCRIPTORS = """\
import json, os, stat
def _descriptors(pid):
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            mode = os.stat(f"/proc/{pid}/fd/{fd}").st_mode
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                flags = int(info.read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError):  # closed meanwhile (the listing's own descriptor)
            continue
        kind = "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"
        found[f"{pid}:{fd}"] = [kind, bool(flags & (os.O_WRONLY | os.O_RDWR)), target]
    return found
seen = {}
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen.update(_descriptors(pid))
        except OSError:
            pass
print(json.dumps({"kernel": os.getpid(), "descriptors": seen}))
"""
# Where the sandbox may write: its work dir and its size-limited tmpfs.
_WRITABLE_INSIDE = ("/work/", "/tmp/", "/dev/shm/", "/home/sandbox/")


async def test_no_process_holds_a_descriptor_to_a_host_file(isolated_sandbox: Sandbox) -> None:
    await isolated_sandbox.restart()  # a fresh kernel, as every session starts with
    child = await isolated_sandbox.run(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "time.sleep(1)  # past its start-up reads"
    )
    assert child.ok, child.error

    execution = await attack(isolated_sandbox, _DESCRIPTORS)

    found = report(execution)
    kernel = str(found["kernel"])
    assert any(key.startswith(f"{kernel}:") for key in found["descriptors"])
    writable = {
        key: target
        for key, (kind, for_writing, target) in found["descriptors"].items()
        if kind == "file" and for_writing and not target.startswith(_WRITABLE_INSIDE)
    }
    # Before: the host's kernel.log, as fds 1 and 2 and ipykernel's copies of them.
    assert writable == {}
    await isolated_sandbox.run("child.kill()")
    await assert_survived(isolated_sandbox, execution)


_LOG_FLOOD_MB = 8
_LOG_FLOOD = f"""\
import json, os, sys
block = b"x" * (1 << 20)
# ipykernel points fds 1 and 2 at its own pipes and keeps a copy of what they were: the
# descriptors the kernel inherited from whoever started it.
inherited = []
for stream in (sys.stdout, sys.stderr):
    copy = getattr(stream, "_original_stdstream_copy", None)
    if copy is not None:
        inherited.append(copy)
written = 0
for fd in inherited:
    for _ in range({_LOG_FLOOD_MB}):
        written += os.write(fd, block)
print(json.dumps({{"descriptors": inherited, "written": written}}))
"""


def _files_outside_the_limits(sandbox: Sandbox) -> dict[str, int]:
    """Files of the session on the host's disk outside the size-limited work dir, by size."""
    from runpad.sandbox.docker.sandbox import DockerSandbox
    from runpad.sandbox.local.sandbox import LocalSandbox

    sizes: dict[str, int] = {}
    if isinstance(sandbox, LocalSandbox):
        session_dir = sandbox.layout.session_dir
        for path in session_dir.rglob("*"):
            relative = path.relative_to(session_dir)
            if relative.parts[0] != "work" and path.is_file() and not path.is_symlink():
                sizes[str(path)] = path.stat().st_size
    elif isinstance(sandbox, DockerSandbox):
        sandbox.container.reload()
        log_path = Path(sandbox.container.attrs["LogPath"])
        for path in log_path.parent.glob(f"{log_path.name}*"):  # the log and its rotations
            sizes[str(path)] = path.stat().st_size
    else:
        raise AssertionError(f"no host view of the {sandbox.backend} backend's files")
    return sizes


@pytest.mark.destructive
async def test_kernel_log_descriptors_do_not_reach_the_host_disk(
    isolated_sandbox: Sandbox,
) -> None:
    execution = await attack(isolated_sandbox, _LOG_FLOOD, timeout=60)

    flood = report(execution)
    assert len(flood["descriptors"]) == 2
    assert flood["written"] == 2 * _LOG_FLOOD_MB * MiB  # the writes went somewhere
    on_disk = await asyncio.to_thread(_files_outside_the_limits, isolated_sandbox)
    # Before: the whole flood landed in kernel.log under the host's cache dir.
    assert sum(on_disk.values()) < 1 * MiB, on_disk
    await assert_survived(isolated_sandbox, execution)


# -- artifact collection ------------------------------------------------------------------------

_SPARSE = """\
import os
for number in range(count):
    with open(f"sparse-{number}.bin", "wb") as handle:
        handle.truncate(size)
print(sum(os.stat(f"sparse-{number}.bin").st_blocks for number in range(count)))
"""


def _bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise LookupError("rchar is missing from /proc/self/io")


@pytest.mark.destructive
async def test_sparse_files_are_not_read_by_the_host(isolated_sandbox: Sandbox) -> None:
    count, size = 20, ATTACK_LIMITS.disk_mb * MiB - MiB  # under the file-size rlimit
    await attack(isolated_sandbox, "pass")
    read_before = _bytes_read_by_this_process()

    execution = await isolated_sandbox.run(cell(_SPARSE, count=count, size=size))

    read = _bytes_read_by_this_process() - read_before
    assert execution.ok, execution.error
    # Before: the host read and hashed all 1.2 GB of zeros after the cell.
    assert read < 64 * MiB, f"the host read {read / MiB:.0f} MiB"
    assert int(execution.stdout) < count * 16  # a few blocks each: holes
    sparse = [a for a in execution.artifacts if a.name.startswith("sparse-")]
    assert len(sparse) == count
    assert all(a.size == size and a.sha256 == "" for a in sparse)
    await assert_survived(isolated_sandbox, execution)


_MANY_FILES = """\
import os
os.makedirs("flood", exist_ok=True)
for number in range(count):
    open(f"flood/{number:05}", "wb").close()
"""


@pytest.mark.destructive
async def test_an_artifact_flood_is_capped_and_summarised(isolated_sandbox: Sandbox) -> None:
    from runpad.tools.python import format_execution

    count = 20_000
    execution = await attack(isolated_sandbox, cell(_MANY_FILES, count=count), timeout=60)

    assert execution.ok, execution.error
    assert len(execution.to_json()) < 100_000  # before: 3.1 MB for this one cell
    listed = len(execution.artifacts)
    assert listed == ATTACK_LIMITS.max_artifacts
    assert execution.artifacts_omitted == count - listed
    assert f"and {count - listed:,} more files" in format_execution(execution)
    # The next cell is measured against the flood, not against an empty dir.
    again = await isolated_sandbox.run("1 + 1")
    assert (again.artifacts, again.artifacts_omitted) == ([], 0)
    await assert_survived(isolated_sandbox, execution)


# -- one output budget ------------------------------------------------------------------------

_DISPLAY_FLOOD = """\
from IPython.display import display
for number in range(24):
    display({"text/plain": str(number) * (1 << 20)}, raw=True)
"x" * (4 << 20)
"""


async def test_display_data_and_last_value_share_the_cell_budget(
    isolated_sandbox: Sandbox,
) -> None:
    execution = await attack(isolated_sandbox, _DISPLAY_FLOOD, timeout=60)

    assert execution.ok, execution.error
    assert len(execution.to_json()) < 4 * MiB  # before: 29.4 million characters
    limits = ATTACK_LIMITS
    kept = sum(len(r.text or "") for r in execution.results)
    returned = kept + len(execution.stdout) + len(execution.stderr)
    assert returned <= limits.cell_output_bytes
    assert all(len(r.text or "") <= limits.result_bytes for r in execution.results)
    assert len(execution.to_json()) <= limits.cell_output_bytes + 100_000
    main = execution.main_result
    assert main is not None  # the last value stays, as a preview naming its spill file
    assert main.text is not None
    assert "xxxx" in main.text
    assert "output limit" in main.text
    # Payloads over the caps were written to spill files, up to the cell's spill limit.
    spills = [a for a in execution.artifacts if a.name.startswith(".runpad/cell-")]
    assert spills
    assert sum(a.size for a in spills) <= limits.spill_bytes
    assert len(execution.results) + execution.results_omitted == 25
    await assert_survived(isolated_sandbox, execution)


async def test_a_huge_error_is_capped(isolated_sandbox: Sandbox) -> None:
    execution = await attack(isolated_sandbox, "raise ValueError('v' * (8 << 20))")

    assert execution.error is not None
    assert execution.error.name == "ValueError"
    assert len(execution.to_json()) < 1 * MiB  # before: the 8 MiB message, twice
    assert len(execution.error.value) <= ATTACK_LIMITS.error_bytes
    assert len(execution.error.traceback) <= ATTACK_LIMITS.error_bytes
    assert execution.error.traceback.rstrip().endswith("v")  # the end is kept
    await assert_survived(isolated_sandbox, execution)
