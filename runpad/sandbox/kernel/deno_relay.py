"""Runs inside the sandbox: Deno's Jupyter kernel behind the ipc sockets the host connects to.

Deno's kernel speaks ZeroMQ over TCP only (`Deno.listen`), and the sandbox has no network the
host can reach: only a private loopback. So this script starts the kernel on that loopback
and relays each ipc socket the host expects (`{ip}-{port}` of the connection file) to the
kernel's TCP port, byte for byte: ZeroMQ's wire protocol is the same on both transports.

It uses the standard library only (the sandbox environment's interpreter runs it), creates
the ipc sockets only once the kernel listens (the host connects once and never again), and
exits with the kernel's exit status when the kernel exits. Shipped as package data; the host
never imports it.

Usage: python deno_relay.py CONNECTION_FILE TCP_CONNECTION_FILE DENO [DENO_ARGS...]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
_LISTEN = "0A"  # the TCP_LISTEN state in /proc/net/tcp
_CHUNK = 1 << 16


def _free_ports(count: int) -> list[int]:
    """Ports free on this loopback now (in the sandbox's own network namespace)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _listening_ports() -> set[int]:
    """The local ports in LISTEN state, read without connecting to anything."""
    ports = set()
    try:
        with open("/proc/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[3] == _LISTEN:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    except OSError:
        pass
    return ports


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _relay_to(port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def relay(unix_reader: asyncio.StreamReader, unix_writer: asyncio.StreamWriter) -> None:
        try:
            tcp_reader, tcp_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            unix_writer.close()
            return
        await asyncio.gather(_pipe(unix_reader, tcp_writer), _pipe(tcp_reader, unix_writer))

    return relay


def _tcp_connection(
    connection_file: str, tcp_connection_file: str
) -> tuple[dict[str, Any], dict[str, int]]:
    """The host's connection info, and the loopback ports the kernel gets (written for it)."""
    with open(connection_file) as file:
        info = json.load(file)
    ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
    with open(tcp_connection_file, "w") as file:
        json.dump({**info, "transport": "tcp", "ip": "127.0.0.1", **ports}, file)
    return info, ports


async def _main(info: dict[str, Any], ports: dict[str, int], command: list[str]) -> int:
    kernel = await asyncio.create_subprocess_exec(*command)
    exited = asyncio.ensure_future(kernel.wait())
    while not set(ports.values()) <= _listening_ports():
        if exited.done():
            return exited.result()
        await asyncio.sleep(0.01)
    servers = [
        await asyncio.start_unix_server(_relay_to(ports[name]), path=f"{info['ip']}-{info[name]}")
        for name in _PORTS
    ]
    code = await exited
    for server in servers:
        server.close()
    return code


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    info, ports = _tcp_connection(sys.argv[1], sys.argv[2])
    status = asyncio.run(_main(info, ports, [*sys.argv[3:], sys.argv[2]]))
    sys.stdout.flush()
    os._exit(status if status >= 0 else 128 - status)
