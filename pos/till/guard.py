"""Which requests the till's server takes at all: the right Host, and no cross-site writes.

Three rules, checked before any route runs, each refusal a 4xx with
``{"error": ...}`` in the store's language that changes nothing:

- **Host.** Every request must name a host the till serves: the loopback names
  (``localhost``, ``127.0.0.1``, ``[::1]``), the address it is bound to, and
  ``[till] allowed_hosts``, on the port it listens on. A page on another domain
  that rebinds its DNS to the till's address still sends its own name, so it is
  refused (400) and cannot read the sales list. Bound to every address
  (``0.0.0.0``), the till also answers any IP literal: a browser only sends an
  IP as Host when it really connected to that IP, which a rebinding page cannot
  make it do.
- **Origin.** A request that changes something and carries an ``Origin`` (every
  browser sends one on a cross-site POST) must come from the till's own origin,
  the same host and port it was sent to, and a browser's ``Sec-Fetch-Site`` must
  not say another site (403 otherwise). Scripts send neither.
- **JSON or the page's token.** A request that changes something must be JSON
  (``Content-Type: application/json``) or carry the page's CSRF token
  (``X-CSRF-Token``). A browser sends neither cross-site without first asking
  the till (a CORS preflight the till never grants), so an empty ``text/plain``
  POST from someone else's page is refused (400). The manager's pages keep their
  own form tokens (:mod:`pos.manager.views`) and only get the first two rules.

Who may then drive the till (a signed-in cashier, a script with the API token)
is :mod:`pos.till.signin`'s job.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, request

from pos.i18n import Translator
from pos.log import get_logger

log = get_logger("pos.till.guard")

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (where only this machine can connect)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"till.lan:8700"`` -> ``("till.lan", 8700)``; ``"[::1]"`` -> ``("::1", None)``; None if unreadable."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = value.partition(":")
        if ":" in port_text:
            return None
    if not name:
        return None
    if port_text:
        if not port_text.isdigit() or len(port_text) > 5:
            return None
        return name, int(port_text)
    return name, None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostRule:
    """The hosts one till serves: loopback names, its bind address, ``[till] allowed_hosts``."""

    def __init__(self, bind_host: str, allowed: tuple[str, ...] = ()) -> None:
        bind = bind_host.strip("[]").lower()
        self.any_ip = bind in WILDCARDS
        self.names: set[str] = set(LOOPBACK_NAMES)
        if not self.any_ip:
            self.names.add(bind)
        self.with_port: set[tuple[str, int]] = set()
        for entry in allowed:
            parsed = split_host(entry)
            if parsed is None:
                continue
            name, port = parsed
            if port is None:
                self.names.add(name)
            else:
                self.with_port.add((name, port))

    def allows(self, host_header: str | None, server_port: int, scheme: str = "http") -> bool:
        parsed = split_host(host_header or "")
        if parsed is None:
            return False
        name, port = parsed
        port = port if port is not None else (443 if scheme == "https" else 80)
        if (name, port) in self.with_port:
            return True
        if port != server_port:
            return False
        return name in self.names or (self.any_ip and _is_ip(name))


def _t() -> Translator:
    return current_app.extensions["pos_till"].t


def refuse(status: int, key: str, **values: object) -> Response:
    """A refusal as the till's JSON error (the page and scripts read ``error``)."""
    response = jsonify(error=_t()(key, **values))
    response.status_code = status
    return response


def _server_port() -> int:
    try:
        return int(request.environ.get("SERVER_PORT") or 0)
    except ValueError:
        return 0


def same_origin(origin: str, host_header: str) -> bool:
    """The Origin names the host and port the request was sent to (``null`` never does)."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = 443 if parts.scheme == "https" else 80
    mine, theirs = split_host(host_header), split_host(parts.netloc)
    if mine is None or theirs is None:
        return False
    return (mine[0], mine[1] or default) == (theirs[0], theirs[1] or default)


def install(app: Flask, bind_host: str) -> None:
    """Check every request against the three rules above (before the routes, the manager's too)."""
    till = app.extensions["pos_till"]
    rule = HostRule(bind_host, till.config.till.allowed_hosts)
    app.extensions["pos_till_bind_host"] = bind_host

    @app.before_request
    def guard() -> Response | None:
        host = request.headers.get("Host")
        if not rule.allows(host, _server_port(), request.scheme):
            log.warning("till_host_refused", host=(host or "")[:80], address=request.remote_addr)
            return refuse(400, "error.host")
        if request.method in SAFE_METHODS or request.routing_exception is not None:
            return None  # reads, and requests no route takes (404, 405), change nothing
        origin = request.headers.get("Origin")
        # "null" is what a browser sends for the till's own forms under its no-referrer policy (and
        # for sandboxed pages): it says nothing, so the rules below (Sec-Fetch-Site, JSON or token,
        # the manager's form tokens) decide.
        if origin not in (None, "null") and not same_origin(origin, host or ""):
            log.warning("till_origin_refused", origin=origin[:80], path=request.path)
            return refuse(403, "error.origin")
        if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
            return refuse(403, "error.origin")
        if request.path.startswith("/manager/") or request.path == "/manager":
            return None  # the manager's forms carry their own CSRF tokens
        if request.mimetype == "application/json" or request.headers.get(CSRF_HEADER):
            return None  # a token sent here is checked against the session by pos.till.signin
        return refuse(400, "error.not_json")
