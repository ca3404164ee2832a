"""The seccomp filter alone, outside any sandbox: the layer holds without the others.

A child process of the test loads the compiled filter (`seccomp_filter_bpf`) with prctl, as
bubblewrap does, and nothing else: no namespace, no uid change. What it refuses there, the
filter refuses; a family this host supports shows that it is the filter, not the kernel.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Mapping

import pytest

from runpad.sandbox.local.seccomp import ALLOWED_SOCKET_FAMILIES, SECCOMP_RULES, seccomp_filter_bpf

_UNDER_FILTER = r"""
import ctypes, errno, json, socket, sys
program = sys.stdin.buffer.read()
class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if sys.argv[1] == "filtered":
    assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    fprog = SockFprog(len(program) // 8, program)
    assert libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
outcomes = {}
for name, (family, kind, protocol) in json.loads(sys.argv[2]).items():
    try:
        socket.socket(family, kind, protocol).close()
        outcomes[name] = "succeeded"
    except OSError as exc:
        outcomes[name] = errno.errorcode[exc.errno]
print(json.dumps(outcomes))
"""

_DENIED = {
    "AF_VSOCK": (40, socket.SOCK_STREAM, 0),
    "AF_PACKET": (17, socket.SOCK_DGRAM, 0),
    "AF_NETLINK audit": (16, socket.SOCK_RAW, 9),
    "AF_NETLINK uevent": (16, socket.SOCK_RAW, 15),
}
_ALLOWED = {
    "AF_UNIX": (socket.AF_UNIX, socket.SOCK_STREAM, 0),
    "AF_INET": (socket.AF_INET, socket.SOCK_STREAM, 0),
    "AF_INET6": (socket.AF_INET6, socket.SOCK_STREAM, 0),
    "AF_NETLINK route": (16, socket.SOCK_RAW, 0),
}


def _sockets(mode: str, sockets: Mapping[str, tuple[int, int, int]]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", _UNDER_FILTER, mode, json.dumps(sockets)],
        input=seccomp_filter_bpf(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    outcomes: dict[str, str] = json.loads(result.stdout)
    return outcomes


def test_the_filter_alone_refuses_other_socket_families() -> None:
    under_filter = _sockets("filtered", {**_DENIED, **_ALLOWED})

    assert {name: under_filter[name] for name in _DENIED} == dict.fromkeys(_DENIED, "EAFNOSUPPORT")
    assert {name: under_filter[name] for name in _ALLOWED} == dict.fromkeys(_ALLOWED, "succeeded")


def test_the_refusal_is_the_filters() -> None:
    # Run as root, the host itself makes these; without root or the modules, nothing to show.
    unfiltered = _sockets("unfiltered", _DENIED)
    made = [name for name, outcome in unfiltered.items() if outcome == "succeeded"]
    if not made:
        pytest.skip(f"this host makes none of {sorted(_DENIED)} itself: {unfiltered}")

    under_filter = _sockets("filtered", {name: _DENIED[name] for name in made})

    assert under_filter == dict.fromkeys(made, "EAFNOSUPPORT")


def test_the_docker_profile_holds_the_same_rules() -> None:
    docker = pytest.importorskip("runpad.sandbox.docker.sandbox", reason="needs runpad[docker]")

    profile = json.loads(docker.seccomp_profile())

    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    entries = [
        (entry["names"], entry["errnoRet"], len(entry["args"])) for entry in profile["syscalls"]
    ]
    assert entries == [([rule.syscall], rule.errno, len(rule.conditions)) for rule in SECCOMP_RULES]
    socket_rules = [entry["args"] for entry in profile["syscalls"] if entry["names"] == ["socket"]]
    refused = {args[0]["value"] for args in socket_rules if args[0]["op"] == "SCMP_CMP_EQ"}
    above = [args[0]["value"] for args in socket_rules if args[0]["op"] == "SCMP_CMP_GT"]
    assert above == [max(ALLOWED_SOCKET_FAMILIES)]
    assert refused.isdisjoint(ALLOWED_SOCKET_FAMILIES - {socket.AF_NETLINK})
    assert refused | ALLOWED_SOCKET_FAMILIES == set(range(above[0] + 1))
