"""The seccomp filter every local sandbox runs under.

It allows ordinary programs (the data stack, compilers, shells) and denies the system calls
that exist to cross a sandbox's walls: debugging other processes, mounting, making or
joining namespaces, kernel keyrings, eBPF, perf, userfaultfd and io_uring (both common in
kernel exploits), loading kernel code, pushing keystrokes into a terminal (TIOCSTI), and
setting the set-user-ID or set-group-ID bit on a file (the host sees the sandbox's files as
root's: a setuid file in the work dir would be a setuid-root program on the host).
Denied calls fail with EPERM, so programs see an ordinary permission error. Calls made
through another architecture's ABI (32-bit `int 0x80`) kill the process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from functools import cache

from runpad.errors import MissingDependencyError

__all__ = [
    "DENIED_SYSCALLS",
    "MODE_SETTING_SYSCALLS",
    "NAMESPACE_CLONE_FLAGS",
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
    deny = seccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(deny, name)
        except (RuntimeError, ValueError):  # a call this kernel or libseccomp doesn't know
            continue
    for flag in NAMESPACE_CLONE_FLAGS:
        rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, out of a filter's reach; ENOSYS makes libc fall
    # back to clone(), whose flags the rules above do see.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for request in (_TIOCSTI, _TIOCLINUX):
        rules.add_rule(deny, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    for name, conditions in _setuid_mode_rules():
        arguments = [seccomp.Arg(i, seccomp.MASKED_EQ, bits, bits) for i, bits in conditions]
        with contextlib.suppress(RuntimeError, ValueError):  # fchmodat2 is new (Linux 6.6)
            rules.add_rule(deny, name, *arguments)
    # openat2 passes its mode in memory, out of a filter's reach: ENOSYS makes callers
    # fall back to openat, which the rules above see.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "openat2")
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def _setuid_mode_rules() -> list[tuple[str, tuple[tuple[int, int], ...]]]:
    """(call, ((argument, bits), ...)): a call that sets S_ISUID or S_ISGID on a file.

    A call matches when each listed argument has all its bits set. open's mode means
    something only when it creates a file, so those rules also require O_CREAT or O_TMPFILE.
    """
    rules = []
    for name, (mode_arg, flags_arg) in MODE_SETTING_SYSCALLS.items():
        creating = (
            [()]
            if flags_arg is None
            else [((flags_arg, os.O_CREAT),), ((flags_arg, os.O_TMPFILE),)]
        )
        for bit in (stat.S_ISUID, stat.S_ISGID):
            rules += [(name, ((mode_arg, bit), *flags)) for flags in creating]
    return rules


def seccomp_filter_fd() -> int:
    """A readable file descriptor holding the filter; the caller passes it on and closes it."""
    read_fd, write_fd = os.pipe()
    program = seccomp_filter_bpf()
    # A pipe buffer holds 64 KiB; our program is under 2 KiB.
    os.write(write_fd, program)
    os.close(write_fd)
    return read_fd
