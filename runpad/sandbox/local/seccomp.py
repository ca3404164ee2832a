"""The seccomp filter every sandbox runs under, as data that the local and docker backends share.

It allows ordinary programs (the data stack, compilers, shells) and denies the system calls
that exist to cross a sandbox's walls: debugging other processes, mounting, making or
joining namespaces, kernel keyrings, eBPF, perf, userfaultfd and io_uring (both common in
kernel exploits), loading kernel code, pushing keystrokes into a terminal (TIOCSTI), and
setting the set-user-ID or set-group-ID bit on a file (the host sees the sandbox's files as
root's: a setuid file in the work dir would be a setuid-root program on the host).
Denied calls fail with EPERM, so programs see an ordinary permission error. Calls made
through another architecture's ABI (32-bit `int 0x80`) kill the process.

Sockets are limited to an allow-list of address families (`ALLOWED_SOCKET_FAMILIES`): a
network namespace isolates IP, but not every family: vsock, for one, reaches the hypervisor
and the host of a virtual machine from any namespace. Other families fail with
EAFNOSUPPORT, what a kernel without them answers, so programs take their "not available"
path.

`SECCOMP_RULES` is the filter as data; `seccomp_filter_bpf` compiles it for bubblewrap and
`runpad.sandbox.docker.seccomp_profile` writes it as a Docker profile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import tempfile
from dataclasses import dataclass
from functools import cache
from typing import Literal, TypeAlias

from runpad.errors import MissingDependencyError

__all__ = [
    "ALLOWED_SOCKET_FAMILIES",
    "DENIED_SYSCALLS",
    "MODE_SETTING_SYSCALLS",
    "NAMESPACE_CLONE_FLAGS",
    "NETLINK_ROUTE",
    "SECCOMP_RULES",
    "ArgCondition",
    "SeccompRule",
    "seccomp_filter_bpf",
    "seccomp_filter_fd",
]

DENIED_SYSCALLS: tuple[str, ...] = (
    # other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    # file systems and namespaces
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "swapon",
    "swapoff",
    # kernel attack surface
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "acct",
    "syslog",
    "lookup_dcookie",
    "vhangup",
    "personality",
)

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
NAMESPACE_CLONE_FLAGS: tuple[int, ...] = (
    0x00020000,
    0x02000000,
    0x04000000,
    0x08000000,
    0x10000000,
    0x20000000,
    0x40000000,
    0x00000080,
)
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C

# System call -> (index of its mode argument, index of its open flags or None): the calls
# that can give a file a mode. The list is systemd's (RestrictSUIDSGID=).
MODE_SETTING_SYSCALLS: dict[str, tuple[int, int | None]] = {
    "chmod": (1, None),
    "fchmod": (1, None),
    "fchmodat": (2, None),
    "fchmodat2": (2, None),
    "mkdir": (1, None),
    "mkdirat": (2, None),
    "mknod": (1, None),
    "mknodat": (2, None),
    "creat": (1, None),
    "open": (2, 1),
    "openat": (3, 2),
}

ALLOWED_SOCKET_FAMILIES: frozenset[int] = frozenset(
    {socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK}
)
"""The only address families `socket` and `socketpair` accept in the sandbox.

Unix sockets carry the kernel's own ipc and every local pipe-like channel; IP works inside
the empty network namespace (loopback only). Netlink is there for one protocol,
`NETLINK_ROUTE`: glibc lists interfaces through it (`if_nameindex`, `getifaddrs`,
`getaddrinfo` with AI_ADDRCONFIG); in the sandbox's namespace it sees only `lo`. Every
other netlink protocol (audit, netfilter, uevents, crypto, ...) is denied.
"""

NETLINK_ROUTE = 0
"""The one netlink protocol allowed (`socket(AF_NETLINK, type, NETLINK_ROUTE)`)."""

Comparison: TypeAlias = Literal["eq", "ne", "gt", "masked_eq"]


@dataclass(frozen=True)
class ArgCondition:
    """A test on one argument of a call, compared as an unsigned 64-bit value.

    `masked_eq` holds when `argument & mask == value`; the others compare the whole argument
    (so stray high bits never slip a 32-bit value past a rule).
    """

    index: int
    op: Comparison
    value: int
    mask: int = 0


@dataclass(frozen=True)
class SeccompRule:
    """Deny `syscall` with `errno` when every condition holds (always, with none).

    `optional` rules name calls that an older kernel or libseccomp may not know; they are
    skipped there, as the call cannot be made anyway.
    """

    syscall: str
    errno: int = errno.EPERM
    conditions: tuple[ArgCondition, ...] = ()
    optional: bool = False


def _socket_family_rules() -> list[SeccompRule]:
    """Deny every family but the allowed ones, and netlink but for NETLINK_ROUTE."""
    highest = max(ALLOWED_SOCKET_FAMILIES)
    denied = [family for family in range(highest) if family not in ALLOWED_SOCKET_FAMILIES]
    rules = []
    for call in ("socket", "socketpair"):
        family_tests = [ArgCondition(0, "eq", family) for family in denied]
        family_tests.append(ArgCondition(0, "gt", highest))
        rules += [SeccompRule(call, errno.EAFNOSUPPORT, (test,)) for test in family_tests]
        rules.append(
            SeccompRule(
                call,
                errno.EAFNOSUPPORT,
                (ArgCondition(0, "eq", socket.AF_NETLINK), ArgCondition(2, "ne", NETLINK_ROUTE)),
            )
        )
    return rules


def _setuid_mode_rules() -> list[SeccompRule]:
    """A call that sets S_ISUID or S_ISGID on a file.

    A call matches when each listed argument has all its bits set. open's mode means
    something only when it creates a file, so those rules also require O_CREAT or O_TMPFILE.
    """
    rules = []
    for name, (mode_arg, flags_arg) in MODE_SETTING_SYSCALLS.items():
        creating: list[tuple[ArgCondition, ...]] = (
            [()]
            if flags_arg is None
            else [
                (ArgCondition(flags_arg, "masked_eq", os.O_CREAT, os.O_CREAT),),
                (ArgCondition(flags_arg, "masked_eq", os.O_TMPFILE, os.O_TMPFILE),),
            ]
        )
        for bit in (stat.S_ISUID, stat.S_ISGID):
            mode = ArgCondition(mode_arg, "masked_eq", bit, bit)
            rules += [
                # fchmodat2 is new (Linux 6.6)
                SeccompRule(name, conditions=(mode, *flags), optional=name == "fchmodat2")
                for flags in creating
            ]
    return rules


def _rules() -> tuple[SeccompRule, ...]:
    rules = [SeccompRule(name, optional=True) for name in DENIED_SYSCALLS]
    rules += [
        SeccompRule("clone", conditions=(ArgCondition(0, "masked_eq", flag, flag),))
        for flag in NAMESPACE_CLONE_FLAGS
    ]
    # clone3 and openat2 pass flags and modes in memory, out of a filter's reach; ENOSYS
    # makes libc fall back to clone and openat, whose arguments the rules see.
    rules += [SeccompRule(name, errno.ENOSYS) for name in ("clone3", "openat2")]
    rules += [
        SeccompRule("ioctl", conditions=(ArgCondition(1, "masked_eq", request, 0xFFFFFFFF),))
        for request in (_TIOCSTI, _TIOCLINUX)
    ]
    rules += _setuid_mode_rules()
    rules += _socket_family_rules()
    return tuple(rules)


SECCOMP_RULES: tuple[SeccompRule, ...] = _rules()
"""Every rule of the filter; anything they do not match is allowed."""


@cache
def seccomp_filter_bpf() -> bytes:
    """The compiled BPF program, for bubblewrap's `--seccomp FD`."""
    try:
        import pyseccomp as seccomp
    except ImportError as exc:  # pragma: no cover - pyseccomp is a core dependency
        raise MissingDependencyError("pyseccomp", "pip install pyseccomp") from exc
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    except Exception as exc:  # libseccomp.so.2 itself is missing
        raise MissingDependencyError(
            "libseccomp", "apt-get install -y libseccomp2 (or your distribution's libseccomp)"
        ) from exc
    operators = {
        "eq": seccomp.EQ,
        "ne": seccomp.NE,
        "gt": seccomp.GT,
        "masked_eq": seccomp.MASKED_EQ,
    }
    for rule in SECCOMP_RULES:
        arguments = [
            # libseccomp takes the mask first for MASKED_EQ
            seccomp.Arg(c.index, operators[c.op], c.mask, c.value)
            if c.op == "masked_eq"
            else seccomp.Arg(c.index, operators[c.op], c.value)
            for c in rule.conditions
        ]
        try:
            rules.add_rule(seccomp.ERRNO(rule.errno), rule.syscall, *arguments)
        except (RuntimeError, ValueError):  # a call this kernel or libseccomp doesn't know
            if not rule.optional:
                raise
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def seccomp_filter_fd() -> int:
    """A readable file descriptor holding the filter; the caller passes it on and closes it."""
    read_fd, write_fd = os.pipe()
    program = seccomp_filter_bpf()
    # A pipe buffer holds 64 KiB; our program is a few KiB.
    with contextlib.closing(os.fdopen(write_fd, "wb")) as pipe:
        pipe.write(program)
    return read_fd
