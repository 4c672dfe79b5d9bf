"""The till's Flask app factory: the cashier's page and the JSON API over one :class:`Till`.

``create_app(till)`` builds no state of its own: the ledger, the WeChat client
and the workers live in the :class:`~pos.till.service.Till` it is given (one
per process), so every request reuses them. ``pos till`` serves the app with
waitress; tests serve it the same way on a free port.
"""

from __future__ import annotations

from flask import Flask, Response

from pos import manager
from pos.till import api, errors, guard, pages, paycode, signin
from pos.till.service import Till
from pos.till.validation import RowIdConverter

MAX_REQUEST_BYTES = 64 * 1024  # a sale of 100 lines is a few kilobytes

# waitress settings for the till's server (``pos till``, the demo, the tests and bench/report.py).
# waitress keeps a response's unsent bytes in memory up to 1 MB and then in a temporary file on disk,
# so a big day's CSV (15 MB) went through the disk and back. Here up to 8 MB stay in memory, and the
# request's thread waits whenever 4 MB are unsent (the browser reads slower than the till writes):
# a download holds a few MB at most and never touches the disk.
SERVER_OPTIONS = {"outbuf_overflow": 8 * 1024 * 1024, "outbuf_high_watermark": 4 * 1024 * 1024}

# Everything comes from this till: no CDN, no inline script, no framing by other sites.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(till: Till, *, host: str | None = None) -> Flask:
    """The till's app; ``host`` is the address it will be bound to (default ``[till] host``), which
    decides the Host names it answers and whether a kiosk may run without anyone signing in."""
    bind_host = till.config.till.host if host is None else host
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  (Chinese names stay readable)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["pos_till"] = till
    # <id:...> in a route: a row id the ledger can hold, else 404 (before any blueprint uses it).
    app.url_map.converters["id"] = RowIdConverter
    guard.install(app, bind_host)  # Host, Origin, JSON-or-token: before anything else
    signin.install(app, bind_host)  # who may drive /api/: a cashier's PIN, the API token, or the kiosk
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(paycode.bp)  # payment codes: pay-code, charge-qr
    app.register_blueprint(manager.bp)  # the manager's pages (login, day view); never on the listener
    errors.register(app)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "application/json":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
