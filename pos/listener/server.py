"""Serving the listener with waitress, with limits fit for a port open to the internet.

waitress reads a whole request before the app sees it, so the body cap is set
on waitress too (``max_request_body_size``): a 10 MB body is refused with 413
as soon as its Content-Length is read, and a chunked one as soon as it passes
the cap, without being buffered to disk. Headers are capped, idle connections
are closed, the ``Server`` header does not name the software, and tracebacks
are never sent.
"""

from __future__ import annotations

from typing import Any

from waitress.server import create_server

from pos.config import ListenerConfig

THREADS = 8
MAX_HEADER_BYTES = 16 * 1024
CHANNEL_TIMEOUT = 30  # seconds an idle connection may stay open


def waitress_limits(listener: ListenerConfig) -> dict[str, Any]:
    """The waitress settings for a port open to the internet (everything but host and port)."""
    return {
        "threads": THREADS,
        # waitress refuses when Content-Length >= this, so allow exactly max_body.
        "max_request_body_size": listener.max_body + 1,
        "max_request_header_size": MAX_HEADER_BYTES,
        "channel_timeout": CHANNEL_TIMEOUT,
        "expose_tracebacks": False,
        "ident": "pos",
        "clear_untrusted_proxy_headers": True,
    }


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
    return create_server(app, **address, **waitress_limits(listener), **options)
