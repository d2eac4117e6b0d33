"""Start-up reachability check: can this peer be dialled at the addresses it announces?

Run before joining, so a firewalled or loopback-only peer finds out at once, with the fix in
the message, instead of silently receiving nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

_TCP = re.compile(r"^/ip[46]/([^/]+)/tcp/(\d+)")


def tcp_endpoint(addr: str) -> tuple[str, int] | None:
    """(host, port) of a `/ip4/H/tcp/P...` multiaddr or an `mqtt://H:P` URL; None for other forms."""
    match = _TCP.match(addr)
    if match:
        return match.group(1), int(match.group(2))
    url = re.match(r"^mqtts?://(?:[^@/]*@)?([^:/]+):(\d+)", addr)
    return (url.group(1), int(url.group(2))) if url else None


async def can_connect(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def check(announced: list[str], bootstrap: list[str]) -> list[str]:
    """Problems found, each with how to fix it; empty when all is well."""
    problems = []
    for addr in announced:
        endpoint = tcp_endpoint(addr)
        if endpoint and not await can_connect(*endpoint):
            problems.append(f"cannot connect to own address {addr}: another process or a firewall is in the "
                            f"way; open TCP port {endpoint[1]} or choose another with --listen")
    local = [a for a in announced if (e := tcp_endpoint(a)) and _is_loopback(e[0])]
    remote = [b for b in bootstrap if (e := tcp_endpoint(b)) and not _is_loopback(e[0])]
    if local and len(local) == len(announced) and remote:
        problems.append("listening on loopback only, but the bootstrap peers are on other machines: they cannot "
                        "dial back; use --listen /ip4/0.0.0.0/tcp/PORT and open that port")
    return problems
