"""Serving a WSGI app in a background thread (tests, the demo, every service's testing helpers).

A leaf below the services (it knows no app of ours), so the till's, the listener's and the
simulator's helpers can all use it without importing one another.

Plain HTTP goes through waitress. waitress speaks no TLS, so with an
``ssl_context`` (the simulator's HTTPS port, where the refund wants the
merchant's client certificate: see :mod:`pos.sandbox.tls`) the app is served by
werkzeug's threaded server instead, which wraps the listening socket in the
context and hands the verified peer certificate to the app as
``environ["SSL_CLIENT_CERT"]``. A handshake that fails (a client certificate
from another CA) costs that one connection and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from waitress.server import create_server
from werkzeug.serving import WSGIRequestHandler, make_server

from pos.log import get_logger

log = get_logger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its per-request and handshake-error lines on stderr."""

    timeout = 10  # seconds a connection may stay silent (handshake included)

    def log(self, type: str, message: str, *args: object) -> None:
        log.debug("https_" + type, message=message % args if args else message)


class _TlsServer:
    """werkzeug's threaded WSGI server over ``ssl_context``, run and stopped like waitress."""

    def __init__(
        self, app, host: str, port: int, ssl_context: ssl.SSLContext, sock: socket.socket | None = None
    ) -> None:
        if sock is None:
            self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        else:  # serve a socket bound before (werkzeug takes a duplicate of it; ours is closed)
            host, port = sock.getsockname()[:2]
            with sock:
                self._server = make_server(
                    host, port, app, threaded=True, request_handler=_QuietHandler, fd=sock.fileno()
                )
        # werkzeug would wrap the socket so that accept() does the handshake, in the one thread that
        # accepts: a client that connects and stays silent would stall every other. Here the
        # handshake happens on the first read, in the connection's own thread, under its timeout.
        self._server.socket = ssl_context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._server.ssl_context = ssl_context  # werkzeug: https scheme, SSL errors logged, not raised
        self._server.daemon_threads = True
        self.port: int = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"https-{self.port}",
        )  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


class BackgroundServer:
    """A server on ``host:port`` (0 = any free port) running in a daemon thread: waitress for
    plain HTTP, werkzeug's threaded server when ``ssl_context`` is given (``base_url`` is https).
    With ``sock`` (a listening socket, see :func:`pos.ports.bind`) it serves that socket instead
    of binding one: the demo binds every port before it writes a file."""

    def __init__(
        self,
        app,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threads: int = 8,
        ssl_context: ssl.SSLContext | None = None,
        sock: socket.socket | None = None,
        make_server: Callable[..., Any] = create_server,
        **waitress_options: Any,
    ) -> None:
        """``waitress_options`` go to waitress as they are (e.g. the listener's limits, so a demo or a
        test serves the listener exactly as ``pos listen`` does); not with ``ssl_context``.
        ``sock`` is a socket already bound (see :mod:`pos.ports`), else ``host`` and ``port`` are.
        ``make_server`` builds the waitress server (``create_server``'s signature), e.g. the
        listener's :func:`pos.listener.server.create_guarded_server`."""
        if sock is not None:
            host = sock.getsockname()[0]
        self.host = host
        self._tls: _TlsServer | None = None
        if ssl_context is not None:
            self._tls = _TlsServer(app, host, port, ssl_context, sock)
            self.port = self._tls.port
            return
        settings = {"threads": threads, "clear_untrusted_proxy_headers": True, **waitress_options}
        address: dict[str, Any] = {"sockets": [sock]} if sock is not None else {"host": host, "port": port}
        self._server = make_server(app, **address, **settings)
        self.host = host
        self.port: int = self._server.effective_port  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._run, name=f"waitress-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # the socket map closed under us during stop()
            self._server.run()

    def start(self) -> BackgroundServer:
        if self._tls is not None:
            self._tls.start()
        else:
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._tls is not None:
            self._tls.stop()
            return
        server = self._server
        # waitress has no public shutdown. First let the worker threads finish (a late worker
        # would wake the loop through a trigger we are about to close), then close every
        # channel from inside the loop, woken through its trigger, so it sees an empty map and
        # returns at once. If the trigger cannot be pulled, close from here; the short loop
        # timeout then ends the loop soon after.
        logging.getLogger("waitress").setLevel(logging.ERROR)
        server.task_dispatcher.shutdown()  # type: ignore[union-attr]

        def close_all() -> None:
            for channel in list(server._map.values()):  # type: ignore[union-attr]
                channel.handle_close()

        if self._thread.is_alive():
            try:
                server.trigger.pull_trigger(close_all)  # type: ignore[union-attr]
            except OSError:
                close_all()
            self._thread.join(timeout=5)
        else:
            close_all()


def allow_open_files(count: int) -> None:
    """Raise this process's soft limit on open files to ``count`` (as far as the hard limit allows):
    systemd and most shells start a service at 1024, fewer than the connections allowed."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < count:
            wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            if wanted < count:
                log.warning("open_files_limited", limit=wanted, wanted=count)
    except (ValueError, OSError) as exc:  # pragma: no cover - a sandbox that forbids it
        log.warning("open_files_limited", error=type(exc).__name__)
