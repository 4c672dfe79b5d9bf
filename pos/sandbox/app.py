"""The simulator's Flask app factory.

``create_app(state, settings)`` gives a WSGI app serving WeChat Pay v2's real
paths (and the ``/sandboxnew/`` ones), API v3's ``/v3/…`` paths on the same state,
plus ``/_sim/*``; the
:class:`~pos.sandbox.engine.Simulator` behind it is ``app.extensions["pos_sim"]``.
Call ``app.extensions["pos_sim"].close()`` to stop its notification worker.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date

from pos.log import get_logger
from pos.sandbox import api, api_v3, customer, paycode_routes
from pos.sandbox.engine import Simulator
from pos.sandbox.settings import SimSettings
from pos.sandbox.state import SimState

log = get_logger(__name__)

# How ``pos sim`` (and RunningSimulator) serve the app with waitress. Every till of a chain keeps a
# connection open to "WeChat" for its orders and queries, and every customer's phone one for
# /_sim/pay; waitress's own default stops accepting at 100 open connections and frees a slot only
# when one has been idle for two minutes, so at 64 tills new requests sat unaccepted for 30 s and
# more (issue #14). The simulator stands in for a service that takes any number of merchants.
MAX_CONNECTIONS = 1000
SERVER_OPTIONS = {
    "threads": 8,
    "connection_limit": MAX_CONNECTIONS,
    "asyncore_use_poll": True,  # select() fails past file descriptor 1024
}
FILES_NEEDED = MAX_CONNECTIONS + 200  # the connections, the state file, logs, the notifier's sockets


def create_app(state: SimState | None = None, settings: SimSettings | None = None) -> Flask:
    settings = settings or SimSettings()
    sim = Simulator(settings, state)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None  # the gateway applies WeChat's own limit and answer
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["pos_sim"] = sim
    api.Gateway(sim).register(app)
    api_v3.GatewayV3(sim).register(app)
    customer.register(app, sim)
    paycode_routes.register(app, sim)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # never a 500 with a traceback, whatever arrives
        if isinstance(exc, HTTPException):
            return exc
        log.exception("sim_error", path=request.path)
        if request.path.startswith("/_sim"):
            return jsonify(error="internal", message=f"{type(exc).__name__}: {exc}"), 500
        if request.path.startswith("/v3/"):
            return jsonify(code="SYSTEM_ERROR", message="系统错误"), 500
        return api.xml_response({"return_code": "FAIL", "return_msg": "系统错误"})

    @app.after_request
    def date_header(response: Response) -> Response:
        # WeChat's answers carry its own time in Date; ours is the simulator's clock, so a test
        # that moves the clock sees a gateway whose time differs from the machine's (pos doctor).
        response.headers["Date"] = http_date(sim.clock.now())
        return response

    @app.get("/")
    def home() -> Response:
        return Response(
            "WeChat Pay v2 + v3 simulator (pos sim). See /_sim/ for the merchant it accepts, "
            "/_sim/phone to pay a code_url.\n",
            content_type="text/plain; charset=utf-8",
        )

    return app
