"""Attacks from JavaScript cells: each one fails, and the host and the session both survive.

A JavaScript (or TypeScript) cell runs in the session's Deno kernel, behind two walls: the
sandbox (bubblewrap, or the container) and Deno's own permissions (no network, no
subprocesses, no environment, no FFI, no system information; `runpad.sandbox.kernel.deno`).
Where it can, each test shows each wall holding alone:
- the Deno wall, in the sandbox's view: a cell asks for something the sandbox would allow
  (a loopback connection, a subprocess, the environment) and Deno refuses it;
- the sandbox wall, with every Deno permission granted: the same attack as a script run by
  `deno run --allow-all` from a shell cell, inside the same sandbox, finds nothing.
Reading files is the sandbox's alone (Deno lets cells read, so that they can read the work
dir): those attacks run straight from a cell.

Every test runs in a session that `deno_sandbox` has proven isolated from this host, Deno
kernel included. No test sends a packet to anything but a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import secrets
from pathlib import Path

import pytest

from runpad.sandbox import Execution, Language, Sandbox
from runpad.sandbox.limits import MiB

from .conftest import ATTACK_LIMITS, HOST_SECRET_VARIABLE, RequireLimits
from .test_attacks import (
    CHECKOUT,
    ConnectionCounter,
    PeakMemory,
    assert_flood_bounded,
    report,
    unreachable,
)

_PYTHON_STATE = "_state_before_attack"
_DENO_STATE = "globalThis.stateBeforeAttack"
_REFUSED_BY_DENO = {"NotCapable"}
"""What Deno throws when its permissions refuse an operation (before any system call)."""


def js_cell(code: str, **values: object) -> str:
    """A JavaScript cell that starts by defining `values` (as JSON) and then runs `code`."""
    constants = "".join(f"const {name} = {json.dumps(value)};\n" for name, value in values.items())
    return constants + code


async def attack(
    sandbox: Sandbox,
    code: str,
    *,
    language: Language = "javascript",
    timeout: float | None = None,
) -> Execution:
    """Run an attack, after leaving a variable behind in both kernels that must outlive it."""
    setups: list[tuple[str, Language]] = [
        (f"{_PYTHON_STATE} = 'alive'", "python"),
        (f"{_DENO_STATE} = 'alive'", "javascript"),
    ]
    for setup, setup_language in setups:
        done = await sandbox.run(setup, language=setup_language)
        assert done.ok, done.error
    return await sandbox.run(code, language=language, timeout=timeout)


async def with_every_permission(
    sandbox: Sandbox, script: str, *, timeout: float | None = None
) -> Execution:
    """Run `script` with `deno run --allow-all` from a shell cell: only the sandbox's walls."""
    name = f"attack-{secrets.token_hex(4)}.js"
    await sandbox.upload(script.encode(), name)
    # Deno's cache in the environment is read-only; compiling the script needs a writable one.
    return await attack(
        sandbox,
        f"DENO_DIR=/tmp/deno-cache deno run --allow-all --no-prompt {name}",
        language="shell",
        timeout=timeout,
    )


async def assert_survived(sandbox: Sandbox, attack: Execution) -> None:
    """Both kernels answer, with their state unless the result says that one restarted; the
    host still starts processes."""
    restarted_deno = attack.restarted and attack.language in ("javascript", "typescript")
    restarted_python = attack.restarted and not restarted_deno
    answer = await sandbox.run("1 + 1", language="javascript")
    assert answer.text == "2", answer
    state = await sandbox.run(_DENO_STATE, language="javascript")
    assert state.text == (None if restarted_deno else '"alive"'), state
    answer = await sandbox.run("1 + 1")
    assert answer.text == "2", answer
    state = await sandbox.run(_PYTHON_STATE)
    if restarted_python:
        assert state.error is not None, state
        assert state.error.name == "NameError", state
    else:
        assert state.text == "'alive'", state
    host = await asyncio.create_subprocess_exec("true")
    assert await host.wait() == 0


# -- reading host files: the sandbox's wall (Deno lets cells read) ----------------------------

_READ = """\
const read = (path) => {
  try {
    return `read ${Deno.readFileSync(path).length} bytes`;
  } catch (error) {
    return error.name;
  }
};
const listing = (path) => {
  try {
    return [...Deno.readDirSync(path)].map((entry) => entry.name).sort();
  } catch (error) {
    return error.name;
  }
};
console.log(JSON.stringify({
  reads: Object.fromEntries(paths.map((path) => [path, read(path)])),
  listings: Object.fromEntries(directories.map((path) => [path, listing(path)])),
}));
"""
_NOT_THERE = {"NotFound", "PermissionDenied", "NotADirectory", *_REFUSED_BY_DENO}


async def test_host_files_are_not_readable_from_javascript(deno_sandbox: Sandbox) -> None:
    home = Path.home()
    canary = home / f".runpad-security-{secrets.token_hex(8)}"
    try:
        canary.write_text("a secret in the host's home directory\n")
    except OSError as exc:
        pytest.skip(f"cannot plant a file in the home directory: {exc}")
    secrets_of_the_system = [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_rsa_key",
    ]
    checkout = [CHECKOUT / "pyproject.toml", Path(__file__), CHECKOUT / ".git" / "config"]
    assert checkout[0].is_file()  # the attack has something to find
    try:
        home_files = [str(p) for p in home.iterdir() if p.is_file() and not p.is_symlink()]
        execution = await attack(
            deno_sandbox,
            js_cell(
                _READ,
                paths=[str(canary), *home_files, *secrets_of_the_system, *map(str, checkout)],
                directories=[str(home), str(CHECKOUT), "/etc"],
            ),
        )
        found = report(execution)
    finally:
        canary.unlink()

    assert unreachable(found["reads"], _NOT_THERE) == {}
    assert found["reads"][str(canary)] == "NotFound"
    assert found["listings"][str(CHECKOUT)] == "NotFound"
    if isinstance(home_listing := found["listings"][str(home)], list):
        assert canary.name not in home_listing  # the home may hold the binds' parents
        assert not {".bash_history", ".ssh", ".netrc", ".gitconfig"} & set(home_listing)
    assert not {"shadow", "gshadow", "sudoers", "ssh"} & set(found["listings"]["/etc"])
    await assert_survived(deno_sandbox, execution)


# -- the environment --------------------------------------------------------------------------

_ENVIRONMENT_IN_A_CELL = """\
const attempt = (what) => {
  try {
    return JSON.stringify(what());
  } catch (error) {
    return error.name;
  }
};
console.log(JSON.stringify({
  variable: attempt(() => Deno.env.get(name)),
  everything: attempt(() => Deno.env.toObject()),
  proc: attempt(() => Deno.readTextFileSync("/proc/self/environ")),
}));
"""
_ENVIRONMENT_SCAN = """\
const found = [], scanned = [];
const environment = JSON.stringify(Deno.env.toObject());
if (environment.includes(secret) || environment.includes(name)) found.push("Deno.env");
for (const entry of Deno.readDirSync("/proc")) {
  if (!/^\\d+$/.test(entry.name)) continue;
  for (const part of ["environ", "cmdline"]) {
    let data;
    try {
      data = new TextDecoder().decode(Deno.readFileSync(`/proc/${entry.name}/${part}`));
    } catch {
      continue;
    }
    scanned.push(`/proc/${entry.name}/${part}`);
    if (data.includes(secret) || data.includes(name)) found.push(`/proc/${entry.name}/${part}`);
  }
}
console.log(JSON.stringify({ found, scanned }));
"""


async def test_host_environment_is_not_visible_to_javascript(
    deno_sandbox: Sandbox, host_secret: str
) -> None:
    assert os.environ[HOST_SECRET_VARIABLE] == host_secret  # there is a secret to leak

    # Deno's wall: a cell may not read the environment at all.
    in_a_cell = await attack(
        deno_sandbox, js_cell(_ENVIRONMENT_IN_A_CELL, name=HOST_SECRET_VARIABLE)
    )
    assert report(in_a_cell) == dict.fromkeys(["variable", "everything", "proc"], "NotCapable")

    # The sandbox's wall: with every permission, the environment and /proc hold no secret.
    scan = await with_every_permission(
        deno_sandbox, js_cell(_ENVIRONMENT_SCAN, name=HOST_SECRET_VARIABLE, secret=host_secret)
    )
    found = report(scan)
    assert found["found"] == []
    assert "/proc/1/environ" in found["scanned"]
    await assert_survived(deno_sandbox, scan)


# -- the network --------------------------------------------------------------------------------

_CONNECT = """\
const outcomes = {};
for (const [hostname, port] of targets) {
  try {
    const connection = await Deno.connect({ hostname, port });
    connection.close();
    outcomes[`connect ${hostname}:${port}`] = "connected";
  } catch (error) {
    outcomes[`connect ${hostname}:${port}`] = error.name;
  }
}
"""
_NETWORK_IN_A_CELL = (
    _CONNECT
    + """\
const [hostname, port] = targets[0];
try {
  await fetch(`http://${hostname}:${port}/`);
  outcomes.fetch = "fetched";
} catch (error) {
  outcomes.fetch = error.name;
}
try {
  Deno.listen({ hostname: "127.0.0.1", port: 0 }).close();
  outcomes.listen = "listening";
} catch (error) {
  outcomes.listen = error.name;
}
outcomes.request = (await Deno.permissions.request({ name: "net" })).state;
outcomes.after_request = await Deno.connect({ hostname, port }).then(
  (connection) => (connection.close(), "connected"),
  (error) => error.name,
);
console.log(JSON.stringify(outcomes));
"""
)
_NETWORK_WITH_EVERY_PERMISSION = (
    _CONNECT
    + """\
outcomes.interfaces = [...new Set(Deno.networkInterfaces().map((nic) => nic.name))];
console.log(JSON.stringify(outcomes));
"""
)


async def test_host_loopback_listener_is_unreachable_from_javascript(
    deno_sandbox: Sandbox,
) -> None:
    counter = ConnectionCounter()
    servers = [await asyncio.start_server(counter, "127.0.0.1", 0)]
    with contextlib.suppress(OSError):  # no IPv6 on this host
        servers.append(await asyncio.start_server(counter, "::1", 0))
    targets = [list(server.sockets[0].getsockname()[:2]) for server in servers]
    targets.append(["localhost", targets[0][1]])
    try:
        in_a_cell = await attack(deno_sandbox, js_cell(_NETWORK_IN_A_CELL, targets=targets))
        everything = await with_every_permission(
            deno_sandbox, js_cell(_NETWORK_WITH_EVERY_PERMISSION, targets=targets)
        )
        await asyncio.sleep(0.1)  # let a connection that did arrive reach the counter
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()

    # Deno's wall: refused before any socket, and asking again does not get it back.
    refused = report(in_a_cell)
    assert refused.pop("request") != "granted"
    assert unreachable(refused, _REFUSED_BY_DENO) == {}
    # The sandbox's wall: with every permission, only a loopback of its own.
    reached = report(everything)
    assert set(reached.pop("interfaces")) <= {"lo"}
    assert unreachable(reached, {"ConnectionRefused"}) == {}
    assert counter.count == 0
    await assert_survived(deno_sandbox, everything)


# -- processes ----------------------------------------------------------------------------------

_PROCESSES_IN_A_CELL = """\
const attempt = (what) => {
  try {
    what();
    return "succeeded";
  } catch (error) {
    return error.name;
  }
};
console.log(JSON.stringify({
  command: attempt(() => new Deno.Command("true").outputSync()),
  spawn: attempt(() => new Deno.Command("sleep", { args: ["60"] }).spawn()),
  kill: attempt(() => Deno.kill(bystander, "SIGKILL")),
  ffi: attempt(() => Deno.dlopen("libc.so.6", {})),
}));
"""
_PROCESSES_WITH_EVERY_PERMISSION = """\
const child = new Deno.Command("true").outputSync();
let kill;
try {
  Deno.kill(bystander, "SIGKILL");
  kill = "killed";
} catch (error) {
  kill = error.name;
}
const processes = [...Deno.readDirSync("/proc")].filter((entry) => /^\\d+$/.test(entry.name));
console.log(JSON.stringify({ child: child.code, kill, processes: processes.length }));
"""


async def test_javascript_cannot_reach_host_processes(deno_sandbox: Sandbox) -> None:
    bystander = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        in_a_cell = await attack(
            deno_sandbox, js_cell(_PROCESSES_IN_A_CELL, bystander=bystander.pid)
        )
        everything = await with_every_permission(
            deno_sandbox, js_cell(_PROCESSES_WITH_EVERY_PERMISSION, bystander=bystander.pid)
        )
        assert bystander.returncode is None
    finally:
        bystander.kill()
        await bystander.wait()

    # Deno's wall: no subprocess, no signal, no native code, though the sandbox allows them.
    assert report(in_a_cell) == dict.fromkeys(["command", "spawn", "kill", "ffi"], "NotCapable")
    # The sandbox's wall: a child may start, but it sees and signals only the sandbox.
    seen = report(everything)
    assert seen["child"] == 0
    assert seen["kill"] == "NotFound"  # no such process in the sandbox's pid namespace
    assert seen["processes"] <= 10
    await assert_survived(deno_sandbox, everything)


# -- time, memory, processes --------------------------------------------------------------------


async def test_javascript_infinite_loop_is_interrupted(deno_sandbox: Sandbox) -> None:
    execution = await attack(deno_sandbox, "while (true) {}", timeout=2)

    assert execution.timed_out
    assert execution.error is not None
    assert execution.error.name == "TimeoutError"
    await assert_survived(deno_sandbox, execution)


_MEMORY_BOMBS = {
    # Outside V8's heap: only the session's memory limit stops it.
    "buffers": "const hog = [];\nwhile (true) hog.push(new Uint8Array(64 * 2 ** 20).fill(1));\n",
    # V8's own heap: its limit, or the session's.
    "heap": "const hog = [];\nwhile (true) hog.push(new Array(2 ** 20).fill(1.5));\n",
}


@pytest.mark.destructive
@pytest.mark.parametrize("kind", list(_MEMORY_BOMBS))
async def test_javascript_memory_bomb_is_contained(
    deno_sandbox: Sandbox, require_limits: RequireLimits, kind: str
) -> None:
    require_limits("memory")

    execution = await attack(deno_sandbox, _MEMORY_BOMBS[kind], timeout=60)

    assert execution.restarted
    assert execution.error is not None
    assert execution.error.name == "KernelDied"
    assert "memory_mb" in execution.error.value  # the message names the limit to raise
    await assert_survived(deno_sandbox, execution)  # the Python kernel kept its state


_FORK_BOMB = """\
const script = new URL(import.meta.url).pathname;
while (true) {
  try {
    new Deno.Command(Deno.execPath(), { args: ["run", "--allow-all", script] }).spawn();
  } catch {
    // out of processes or memory: try again
  }
}
"""


@pytest.mark.destructive
async def test_deno_fork_bomb_with_every_permission_is_contained(
    deno_sandbox: Sandbox, require_limits: RequireLimits
) -> None:
    # Deno's wall stops this in a cell (test_javascript_cannot_reach_host_processes); with
    # every permission granted, the sandbox's process limit must hold alone.
    require_limits("pids")

    execution = await with_every_permission(deno_sandbox, _FORK_BOMB, timeout=5)

    # Deno processes are large: the memory limit may end the bomb before the process limit.
    assert execution.timed_out or execution.restarted
    processes = await deno_sandbox.run(
        "import os\nsum(entry.isdigit() for entry in os.listdir('/proc'))"
    )
    assert int(processes.text or "0") <= ATTACK_LIMITS.processes
    await assert_survived(deno_sandbox, execution)


# -- writes outside the work dir ------------------------------------------------------------------

_WRITE_OUTSIDE = """\
const outcomes = {};
for (const [action, path] of attempts) {
  try {
    if (action === "create") Deno.openSync(path, { write: true, createNew: true }).close();
    else if (action === "open for writing") Deno.openSync(path, { write: true }).close();
    else Deno.removeSync(path);
    outcomes[`${action} ${path}`] = "succeeded";
  } catch (error) {
    outcomes[`${action} ${path}`] = error.code ?? `${error.name}: ${error.message}`;
  }
}
console.log(JSON.stringify(outcomes));
"""


def _errno_name(outcome: str) -> str:
    """`EROFS` for Deno's "... (os error 30)" where it gives no code; else the outcome."""
    found = re.search(r"\(os error (\d+)\)", outcome)
    return errno.errorcode.get(int(found.group(1)), outcome) if found else outcome.split(":")[0]


@pytest.mark.destructive
async def test_javascript_writes_outside_the_work_dir_fail(deno_sandbox: Sandbox) -> None:
    name = f"runpad-attack-{secrets.token_hex(4)}"
    prefixes = await deno_sandbox.run(
        "import json, sys\nprint(json.dumps([sys.prefix, sys.base_prefix]))"
    )
    sandbox_prefix, interpreter_prefix = report(prefixes)
    directories = ["/", "/usr", "/etc", "/home", "/root", "/opt", "/run", "/dev"]
    directories += [sandbox_prefix, f"{sandbox_prefix}/runpad-deno", interpreter_prefix]
    directories += [str(Path.home())]
    existing = ["/etc/passwd", "/etc/hosts", "/usr/bin/env", f"{sandbox_prefix}/bin/deno"]
    sysctls = ["/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"]
    attempts = [("create", f"{directory.rstrip('/')}/{name}") for directory in directories]
    attempts += [("open for writing", path) for path in existing + sysctls]
    attempts += [("remove", path) for path in existing]

    execution = await attack(deno_sandbox, js_cell(_WRITE_OUTSIDE, attempts=attempts))

    outcomes = {what: _errno_name(outcome) for what, outcome in report(execution).items()}
    # ETXTBSY: the deno binary runs; its removal shows the read-only file system.
    allowed = {"EROFS", "EACCES", "EPERM", "ENOENT", "EBUSY", "ETXTBSY", *_REFUSED_BY_DENO}
    assert unreachable(outcomes, allowed) == {}
    for directory in directories:  # nothing appeared on the host either
        assert not Path(directory, name).exists()
    await assert_survived(deno_sandbox, execution)


# -- output -----------------------------------------------------------------------------------

_FLOOD_MB = 100


@pytest.mark.slow
async def test_javascript_stdout_flood_stays_bounded(deno_sandbox: Sandbox) -> None:
    flood = (
        'const block = ("x".repeat(1023) + "\\n").repeat(1024).slice(0, -1);\n'
        f"for (let i = 0; i < {_FLOOD_MB}; i++) console.log(block);  // one message per MiB\n"
    )
    with PeakMemory() as memory:
        execution = await attack(deno_sandbox, flood, timeout=120)

    assert_flood_bounded(execution, memory, _FLOOD_MB)
    await assert_survived(deno_sandbox, execution)


async def test_a_huge_javascript_error_is_capped(deno_sandbox: Sandbox) -> None:
    execution = await attack(deno_sandbox, "throw new RangeError('v'.repeat(8 << 20))")

    assert execution.error is not None
    assert execution.error.name == "RangeError"
    assert len(execution.to_json()) < 1 * MiB
    assert len(execution.error.value) <= ATTACK_LIMITS.error_bytes
    assert len(execution.error.traceback) <= ATTACK_LIMITS.error_bytes
    await assert_survived(deno_sandbox, execution)
