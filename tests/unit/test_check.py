"""`check_isolation`: a real probe inside a throw-away sandbox, and what it concludes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from runpad.sandbox.limits import Limits, MiB
from runpad.sandbox.local import check
from runpad.sandbox.local.check import (
    ESSENTIAL_LAYERS,
    NAMESPACES,
    IsolationReport,
    Layer,
    check_isolation,
)
from tests.fixtures.requirements import unavailable


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make check_isolation's temp dirs land in a directory this test owns."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def _layers(report: IsolationReport) -> dict[str, Layer]:
    return {layer.name: layer for layer in (*report.layers, *report.limits)}


@pytest.mark.usefixtures("require_sandbox")
def test_this_machine_is_isolated() -> None:
    report = check_isolation()

    assert report.problem is None, report.problem
    assert report.isolated
    layers = _layers(report)
    for name in ESSENTIAL_LAYERS:
        assert layers[name].active, layers[name]
        assert layers[name].essential
    for label in NAMESPACES:
        assert layers[f"{label} namespace"].active
    facts = report.facts
    assert facts is not None
    assert (facts.uid, facts.gid) == (1000, 1000)
    for proc_name, inside in facts.namespaces.items():
        assert inside is not None
        assert inside != os.readlink(f"/proc/self/ns/{proc_name}")
    assert facts.seccomp_mode == 2
    assert facts.interfaces == ["lo"]  # through netlink route, which stays allowed
    assert set(facts.socket_errors.values()) == {"EAFNOSUPPORT"}
    assert facts.routes == []
    assert facts.write_errors["/"] == "EROFS"
    assert facts.write_errors["/usr"] == "EROFS"
    assert facts.write_errors["/work"] is None
    assert facts.nested_userns_error == "EPERM"
    assert facts.hostname == "sandbox"
    assert layers["clean environment"].active
    assert "HOME" in facts.environment
    assert not any(name.startswith(("PYTEST", "RUNPAD")) for name in facts.environment)


@pytest.mark.usefixtures("require_sandbox")
def test_limits_come_from_the_limits_given() -> None:
    limits = Limits(processes=77, memory_mb=300, tmp_mb=32, disk_mb=64, timeout=9)
    report = check_isolation(limits)

    assert report.facts is not None
    layers = _layers(report)
    assert report.facts.tmp_bytes == 32 * MiB
    assert layers["/tmp"].active
    assert "32 MB" in layers["/tmp"].detail
    assert "9 s per cell" in layers["wall time"].detail
    if layers["processes"].active:
        assert "77" in layers["processes"].detail
    if layers["memory"].detail.startswith("cgroup"):
        assert "300 MB" in layers["memory"].detail
    else:
        assert f"{300 * 4} MB" in layers["memory"].detail
    if os.geteuid() == 0:
        assert report.facts.work_bytes == 64 * MiB
        assert layers["disk"].detail == "work dir is a 64 MB tmpfs"
    else:
        assert "64 MB per file" in layers["disk"].detail


@pytest.mark.usefixtures("require_sandbox")
@pytest.mark.parametrize("cpu_seconds", [None, 5])
def test_without_cgroups_rlimits_are_reported(
    monkeypatch: pytest.MonkeyPatch, cpu_seconds: int | None
) -> None:
    monkeypatch.setattr(check, "create_session_cgroup", lambda name, limits: None)

    report = check_isolation(Limits(memory_mb=300, cpu_seconds=cpu_seconds))

    assert report.isolated  # the probe ran under rlimits alone
    layers = _layers(report)
    assert layers["memory"].active
    assert layers["memory"].detail.startswith(f"rlimit AS = {300 * 4} MB")
    if cpu_seconds is None:
        assert not layers["cpu"].active
        assert "Limits.cpu_seconds" in layers["cpu"].detail
    else:
        assert layers["cpu"].detail == "rlimit CPU = 5 s per process"
    if os.getuid() == 0:
        assert not layers["processes"].active
        assert "root" in layers["processes"].detail
    else:
        assert layers["processes"].detail.startswith("rlimit NPROC")


@pytest.mark.usefixtures("require_sandbox")
def test_cleans_up_dirs_mounts_and_cgroups(private_tmp: Path) -> None:
    def own_cgroups() -> list[Path]:
        root, name = Path("/sys/fs/cgroup"), f"{os.getpid()}-check-*"
        return sorted([*root.glob(f"runpad/{name}"), *root.glob(f"*/runpad/{name}")])

    before = own_cgroups()
    report = check_isolation()

    assert report.isolated
    assert list(private_tmp.iterdir()) == []
    assert str(private_tmp) not in Path("/proc/self/mountinfo").read_text()
    assert own_cgroups() == before


def test_missing_bubblewrap_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    report = check_isolation()

    assert not report.isolated
    assert report.problem is not None
    assert "bubblewrap" in report.problem
    assert "apt-get install -y bubblewrap" in report.problem
    assert report.to_dict()["isolated"] is False


def test_missing_environment_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("bwrap") is None:
        unavailable("needs bwrap, to get past the bubblewrap check")
    monkeypatch.setenv("RUNPAD_SANDBOX_ENV", str(tmp_path / "empty"))

    report = check_isolation()

    assert not report.isolated
    assert report.problem is not None
    assert "runpad sandbox setup" in report.problem


@pytest.mark.usefixtures("require_sandbox")
def test_a_failing_probe_is_reported_and_cleaned_up(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check, "PROBE", "import sys; print('boom', file=sys.stderr); sys.exit(3)")

    report = check_isolation()

    assert not report.isolated
    assert report.problem is not None
    assert "exit 3" in report.problem
    assert "boom" in report.problem
    assert list(private_tmp.iterdir()) == []


@pytest.mark.usefixtures("require_sandbox")
def test_leaks_seen_by_the_probe_make_layers_inactive(monkeypatch: pytest.MonkeyPatch) -> None:
    # The probe runs for real, but reports what a badly built sandbox would see.
    host_namespaces = {n: os.readlink(f"/proc/self/ns/{n}") for n in NAMESPACES.values()}
    leaky = {
        "uid": 0,
        "gid": 0,
        "namespaces": {**host_namespaces, "user": "user:[1]"},
        "seccomp_mode": 0,
        "no_new_privs": False,
        "write_errors": {"/": None, "/usr": "EACCES", "/etc": None, "/work": None},
        "interfaces": ["eth0", "lo"],
        "routes": ["eth0\t00000000\t0101A8C0"],
        "socket_errors": {"vsock": None, "packet": "EAFNOSUPPORT"},
        "environment": ["HOME", "AWS_SECRET_ACCESS_KEY"],
        "pid1_environment": 40,
        "tmp_bytes": 8 * 1024 * MiB,
        "work_bytes": None,
        "hostname": "host",
        "nested_userns_error": None,
    }
    monkeypatch.setattr(check, "PROBE", f"print({json.dumps(json.dumps(leaky))})")

    report = check_isolation()

    assert report.problem is None
    assert not report.isolated
    layers = _layers(report)
    assert layers["user namespace"].active  # the one namespace that differs
    for name in ("pid", "network", "mount", "ipc", "uts", "cgroup"):
        assert not layers[f"{name} namespace"].active
        assert "shares the host's" in layers[f"{name} namespace"].detail
    for name in (
        "unprivileged user",
        "seccomp",
        "socket families",
        "read-only root",
        "network",
        "no nested user namespaces",
        "clean environment",
        "/tmp",
    ):
        assert not layers[name].active, name
    assert "eth0" in layers["network"].detail
    # vsock was made; the netlink probes are missing from this probe's answer: neither holds
    assert "vsock, netlink audit, netlink netfilter" in layers["socket families"].detail
    assert "AWS_SECRET_ACCESS_KEY" in layers["clean environment"].detail
    assert "EACCES" in layers["read-only root"].detail


def _report(*, inactive: str | None = None, drop: str | None = None) -> IsolationReport:
    layers = tuple(
        Layer(name, name != inactive, "", essential=True)
        for name in sorted(ESSENTIAL_LAYERS)
        if name != drop
    )
    return IsolationReport(layers=(*layers, Layer("uts namespace", False, "")))


def test_isolated_needs_every_essential_layer_active_and_present() -> None:
    assert _report().isolated  # a non-essential layer may be inactive
    assert not _report(inactive="seccomp").isolated
    assert not _report(drop="network").isolated
    assert not IsolationReport().isolated
    problem = IsolationReport(layers=_report().layers, problem="bwrap failed")
    assert not problem.isolated


def test_to_dict_is_json_native() -> None:
    report = _report(inactive="network")
    data = report.to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["isolated"] is False
    assert data["facts"] is None
    network = next(layer for layer in data["layers"] if layer["name"] == "network")
    assert network == {"name": "network", "active": False, "detail": "", "essential": True}
