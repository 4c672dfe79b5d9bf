"""Binding a server's port before anything else is made, and saying plainly when it cannot be had.

Every serving command (``pos till``, ``pos listen``, ``pos sim``, ``pos demo``)
binds its listening sockets first and only then opens or creates the ledger,
the data folder or the demo's files, and serves on the socket it already holds
(waitress's ``sockets=[...]``). So a port already in use costs nothing: the
command prints one line naming the port and the setting or option that moves
it (``pos: port 8700 is in use (set [till] port or --port)``, printed by
:func:`pos.cli.main`) and exits 1, and no ``pos.sqlite3`` is left behind. It
also means ``--port 0`` gives the port the server really has, with no window
in which another program could take it.

Standard library only: the command modules import this while ``pos --help`` runs.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping

BACKLOG = 1024  # waitress's default: connections the kernel queues while every thread is busy


class PortUnavailable(Exception):
    """The port could not be bound; ``str()`` is the one line a person reads. Not an OSError, so
    that no ``except OSError`` on the way up turns it back into a vaguer message."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (IPv4 or IPv6), as waitress would make it."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def bind(host: str, port: int, *, change: str, change_host: str = "") -> socket.socket:
    """:func:`listening_socket`, or :class:`PortUnavailable` whose message names the port and
    ``change``, what moves it (e.g. ``"set [till] port or --port"``); ``change_host`` says what
    moves the address, for the errors that are about it (no such address on this machine)."""
    if not 0 <= port <= 65535:
        raise PortUnavailable(f"port {port} is not a TCP port (0..65535; {change})")
    try:
        return listening_socket(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"port {port} is in use ({change})") from None
        detail = exc.strerror or str(exc)
        about_host = exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror)
        hint = change_host if about_host and change_host else change
        raise PortUnavailable(f"cannot listen on {host}:{port}: {detail} ({hint})") from None


def bind_all(host: str, wanted: Mapping[str, tuple[int, str]]) -> dict[str, socket.socket]:
    """:func:`bind` for several servers at once, ``{name: (port, change)}`` -> ``{name: socket}``;
    if one cannot be had, the ones already bound are closed and its :class:`PortUnavailable` raised."""
    sockets: dict[str, socket.socket] = {}
    try:
        for name, (port, change) in wanted.items():
            sockets[name] = bind(host, port, change=change)
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    return sockets
