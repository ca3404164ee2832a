"""The seccomp filter every local sandbox runs under.

It allows ordinary programs (the data stack, compilers, shells) and denies the system calls
that exist to cross a sandbox's walls: debugging other processes, mounting, making or
joining namespaces, kernel keyrings, eBPF, perf, userfaultfd and io_uring (both common in
kernel exploits), loading kernel code, and pushing keystrokes into a terminal (TIOCSTI).
Denied calls fail with EPERM, so programs see an ordinary permission error. Calls made
through another architecture's ABI (32-bit `int 0x80`) kill the process.
"""

from __future__ import annotations

import errno
import os
import tempfile
from functools import cache

from runpad.errors import MissingDependencyError

__all__ = ["DENIED_SYSCALLS", "NAMESPACE_CLONE_FLAGS", "seccomp_filter_bpf", "seccomp_filter_fd"]

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
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def seccomp_filter_fd() -> int:
    """A readable file descriptor holding the filter; the caller passes it on and closes it."""
    read_fd, write_fd = os.pipe()
    program = seccomp_filter_bpf()
    # A pipe buffer holds 64 KiB; our program is a few hundred bytes.
    os.write(write_fd, program)
    os.close(write_fd)
    return read_fd
