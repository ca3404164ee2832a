"""The test suite's own rules: the network guard, and "skip here, fail in CI".

No test here sends a packet beyond loopback: each refused address is first checked with the
guard alone, so that a broken guard fails the test before any socket is used.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from tests.fixtures import network
from tests.fixtures.network import PROVIDER_CREDENTIALS, NetworkBlocked, NetworkGuard
from tests.fixtures.requirements import unavailable

DOCUMENTATION_ADDRESS = "192.0.2.1"  # TEST-NET-1 (RFC 5737): routed nowhere
DOCUMENTATION_ADDRESS_V6 = "2001:db8::1"  # RFC 3849


def test_the_guard_refuses_a_non_loopback_connect_before_it_happens(
    network_guard: NetworkGuard,
) -> None:
    # The guard's own check first: should it let the address through, this fails here,
    # before any socket is touched.
    with pytest.raises(NetworkBlocked, match=re.escape(DOCUMENTATION_ADDRESS)):
        network_guard.check_address(socket.AF_INET, (DOCUMENTATION_ADDRESS, 9))
    with pytest.raises(NetworkBlocked, match="2001:db8::1"):
        network_guard.check_address(socket.AF_INET6, (DOCUMENTATION_ADDRESS_V6, 9, 0, 0))

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        with pytest.raises(NetworkBlocked, match="tests stay on this machine"):
            sock.connect((DOCUMENTATION_ADDRESS, 9))
        with pytest.raises(NetworkBlocked):
            sock.connect_ex((DOCUMENTATION_ADDRESS, 9))
        with pytest.raises(OSError, match="not connected"):  # connect was never called
            sock.getpeername()
    with pytest.raises(NetworkBlocked):
        socket.create_connection((DOCUMENTATION_ADDRESS, 9), timeout=0.5)

    refused = network_guard.reset()  # handled here, so this test does not fail for them
    assert len(refused) == 5
    assert all(DOCUMENTATION_ADDRESS in what or "2001:db8" in what for what in refused)


def test_the_guard_refuses_datagrams_and_name_lookups(network_guard: NetworkGuard) -> None:
    with pytest.raises(NetworkBlocked, match=r"example\.com"):
        network_guard.check_name("example.com")

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(NetworkBlocked):
        sock.sendto(b"x", (DOCUMENTATION_ADDRESS, 53))
    with pytest.raises(NetworkBlocked, match="DNS"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(NetworkBlocked):
        socket.gethostbyname("example.com")

    assert len(network_guard.reset()) == 4


def test_loopback_unix_sockets_and_local_names_pass(network_guard: NetworkGuard) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=5) as client:
                assert client.getpeername()[1] == port
            server.accept()[0].close()

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "s")
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(path)
            listener.listen()
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(path)
            listener.accept()[0].close()

    assert socket.getaddrinfo(None, 0, flags=socket.AI_PASSIVE)
    assert network_guard.refused == []


def test_a_refusal_in_another_thread_is_recorded(network_guard: NetworkGuard) -> None:
    errors: list[BaseException] = []

    def reach_out() -> None:
        try:
            socket.create_connection((DOCUMENTATION_ADDRESS, 9), timeout=0.5)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reach_out)
    thread.start()
    thread.join()
    assert [type(error) for error in errors] == [NetworkBlocked]
    assert network_guard.reset() == [f"{DOCUMENTATION_ADDRESS!r} (port 9)"]


def test_the_guard_fails_a_test_even_when_its_code_swallows_the_refusal(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-key")
    pytester.makepyfile(
        f"""
        import os
        import socket

        import pytest

        def test_reaches_out():
            try:
                socket.create_connection(({DOCUMENTATION_ADDRESS!r}, 9), timeout=0.5)
            except Exception:
                pass  # code under test may catch and carry on

        def test_provider_keys_are_gone():
            assert "OPENAI_API_KEY" not in os.environ
            assert os.environ["LANGSMITH_TRACING"] == "false"

        @pytest.mark.live_service
        def test_a_live_service_test_is_let_through():
            assert "OPENAI_API_KEY" not in os.environ
        """
    )
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    live_service: reaches a live service\n"
    )

    # The module object, not its name: importing it again as a plugin would warn.
    result = pytester.runpytest_inprocess(plugins=[network])

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_reaches_out*",
            f"*this test tried to leave the machine (NetworkBlocked): '{DOCUMENTATION_ADDRESS}'*",
        ]
    )
    assert os.environ["OPENAI_API_KEY"] == "sk-not-a-key"  # put back after the inner session


def test_unavailable_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="thing is missing"):
        unavailable("thing is missing")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        unavailable("thing is missing")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must be able to run this test: thing"):
        unavailable("thing is missing")


def test_no_provider_credentials_reach_the_tests() -> None:
    assert not [name for name in PROVIDER_CREDENTIALS if name in os.environ]
    assert os.environ["LANGSMITH_TRACING"] == "false"
