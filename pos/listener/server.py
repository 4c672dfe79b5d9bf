"""Serving the listener with waitress, with limits fit for a port open to the internet.

waitress reads a whole request before the app sees it, so the body cap is set
on waitress too (``max_request_body_size``): a 10 MB body is refused with 413
as soon as its Content-Length is read, and a chunked one as soon as it passes
the cap, without being buffered to disk. Headers are capped, the ``Server``
header does not name the software, and tracebacks are never sent.

Slow clients. waitress parses requests in its one event loop and hands a thread
only a complete request, so a connection that trickles its headers costs no
thread; what it costs is a place among the open connections. Out of the box
waitress stops accepting at 100 of them, and closes a connection only after
``channel_timeout`` seconds *without a byte*, so about a hundred clients sending
a byte every few seconds shut everyone out, ``/healthz`` included. waitress has
no setting for a deadline on a whole request, so it is added at the lowest seam,
a small subclass of its server and channel (:class:`GuardedServer`,
:class:`GuardedChannel`), rather than a second server or proxy in front:

- every connection has :data:`REQUEST_DEADLINE` seconds, from the moment it
  connected or its last response was done, to deliver a whole request, headers
  and body; bytes arriving do not extend it. Once a request is complete the
  app's own time does not count. A sweep every second closes the late ones.
- up to :data:`MAX_CONNECTIONS` connections are open at once (waitress's event
  loop uses ``poll``, so not bounded by ``select``'s 1024); past that, each new
  connection closes the one that has waited longest for its own request, so a
  genuine client (which sends its notice at once) always gets in, and only a
  flood far bigger than that can delay it, by at most the deadline.

A TLS front (nginx, Caddy) should still set its own timeouts and limits (see the
README's "TLS in front of the listener").
"""

from __future__ import annotations

import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from pos.config import ListenerConfig
from pos.log import get_logger
from pos.web import allow_open_files

log = get_logger("pos.listener.server")

THREADS = 8
MAX_HEADER_BYTES = 16 * 1024
REQUEST_DEADLINE = 10  # seconds to deliver a whole request (headers and body), from connect or last reply
MAX_CONNECTIONS = 1000  # open at once; past this the longest-waiting connection makes room
SWEEP_SECONDS = 1  # how often late connections are looked for
# waitress's own stop (it stops accepting): never reached while there is a connection to shed.
HARD_CONNECTION_LIMIT = MAX_CONNECTIONS + 100
FILES_NEEDED = HARD_CONNECTION_LIMIT + 200  # sockets, the ledger's files, logs


class GuardedChannel(HTTPChannel):
    """waitress's connection, knowing since when it has been waiting for its own next request."""

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map)
        # monotonic seconds since it has waited for a complete request; None while one is served
        self.waiting_since: float | None = time.monotonic()

    def service(self) -> None:
        """Serve the complete request (in a worker thread); the deadline starts again after it."""
        self.waiting_since = None
        try:
            super().service()
        finally:
            self.waiting_since = time.monotonic()


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server with a whole-request deadline and room made for new connections."""

    channel_class = GuardedChannel
    request_deadline: float = REQUEST_DEADLINE
    max_connections: int = MAX_CONNECTIONS

    def handle_accept(self) -> None:
        super().handle_accept()
        if len(self.active_channels) > self.max_connections:
            self._shed_one()

    def maintenance(self, now: float) -> None:
        """Close every connection that has not delivered a whole request in time (run every
        ``cleanup_interval`` seconds from the event loop; ``now`` is waitress's wall clock)."""
        cutoff = time.monotonic() - self.request_deadline
        late = 0
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "waiting_since", None)
            if since is not None and since < cutoff and not channel.requests and not channel.will_close:
                channel.will_close = True  # the loop closes it on its next pass
                late += 1
        if late:
            log.warning(
                "slow_connections_cut",
                count=late,
                deadline=f"{self.request_deadline}s",
                open=len(self.active_channels),
            )

    def _shed_one(self) -> None:
        """Close the connection that has waited longest for its own request (never one being served)."""
        waiting = [
            c for c in self.active_channels.values()
            if getattr(c, "waiting_since", None) is not None and not c.requests and not c.will_close
        ]  # fmt: skip
        if waiting:
            oldest = min(waiting, key=lambda c: c.waiting_since)
            oldest.will_close = True
            log.debug("connection_shed", open=len(self.active_channels))


def waitress_limits(listener: ListenerConfig) -> dict[str, Any]:
    """The waitress settings for a port open to the internet (everything but host and port)."""
    return {
        "threads": THREADS,
        # waitress refuses when Content-Length >= this, so allow exactly max_body.
        "max_request_body_size": listener.max_body + 1,
        "max_request_header_size": MAX_HEADER_BYTES,
        # A connection waiting for a request is closed by GuardedServer's deadline; this is
        # waitress's own idle limit, kept as a backstop for servers without the guard.
        "channel_timeout": REQUEST_DEADLINE,
        "cleanup_interval": SWEEP_SECONDS,
        "connection_limit": HARD_CONNECTION_LIMIT,
        "asyncore_use_poll": True,  # select() fails past file descriptor 1024
        "expose_tracebacks": False,
        "ident": "pos",
        "clear_untrusted_proxy_headers": True,
    }


def create_guarded_server(app: Any, **settings: Any) -> Any:
    """Like :func:`waitress.create_server` (TCP only), with :class:`GuardedServer` for each socket.

    Returns the one server, or waitress's ``MultiSocketServer`` over several (a host name that
    resolves to more than one address). ``.run()``, ``.close()`` and ``.effective_port`` as waitress's.
    """
    adj = Adjustments(**settings)
    allow_open_files(FILES_NEEDED)
    socket_map: dict[int, Any] = {}
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    servers: list[GuardedServer] = []
    for sock in adj.sockets:
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        servers.append(GuardedServer(app, socket_map, True, sock, dispatcher=dispatcher, adj=adj,
                                     bind_socket=False, sockinfo=sockinfo))  # fmt: skip
    if not adj.sockets:
        for sockinfo in adj.listen:
            servers.append(GuardedServer(app, socket_map, True, None, dispatcher=dispatcher, adj=adj,
                                         sockinfo=sockinfo))  # fmt: skip
    if len(servers) == 1:
        return servers[0]
    listening = [(server.effective_host, server.effective_port) for server in servers]
    return MultiSocketServer(socket_map, adj=adj, effective_listen=listening, dispatcher=dispatcher)


def build_server(
    app: Any, listener: ListenerConfig, *, host: str | None = None, port: int | None = None, **options: Any
) -> Any:
    """A waitress server for ``app`` on ``host:port`` (defaults from ``[listener]``), not yet running.

    Call ``.run()`` to serve until interrupted; ``.effective_port`` is the bound port
    (useful with port 0). ``options`` override :func:`waitress_limits`; with ``sockets=[sock]``
    it serves an already listening socket (several processes share one: pos.listener.workers).
    """
    address = {} if "sockets" in options else {
        "host": listener.host if host is None else host,
        "port": listener.port if port is None else port,
    }  # fmt: skip
    return create_guarded_server(app, **address, **{**waitress_limits(listener), **options})
