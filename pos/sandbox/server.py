"""Serving a WSGI app with waitress in a background thread (tests, the demo).

TLS: the real refund path needs the merchant's client certificate. waitress
speaks plain HTTP, so mutual TLS will come as a TLS front (or a TLS-capable
server) configured from ``ssl_context``; the parameter is here so callers
already pass it. Until then giving one is refused rather than silently ignored.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading

from waitress.server import create_server

log = logging.getLogger(__name__)


def _no_tls_yet(ssl_context: ssl.SSLContext | None) -> None:
    if ssl_context is not None:
        raise NotImplementedError("client-certificate TLS for the simulator is not built yet")


class BackgroundServer:
    """A waitress server on ``host:port`` (0 = any free port) running in a daemon thread."""

    def __init__(
        self, app, host: str = "127.0.0.1", port: int = 0, *, threads: int = 8, ssl_context=None
    ) -> None:
        _no_tls_yet(ssl_context)
        self._server = create_server(
            app, host=host, port=port, threads=threads, clear_untrusted_proxy_headers=True
        )
        self.host = host
        self.port: int = self._server.effective_port  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._run, name=f"waitress-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # the socket map closed under us during stop()
            self._server.run()

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
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
