"""Every error the till's web app answers, as JSON in the store's language, never a traceback.

- :class:`~pos.inputs.InputError` (bad input, unknown sale, a state that
  forbids the action) answers its own status with the translated message;
- HTTP errors Flask raises itself (no such route, wrong method, a body over the
  limit) answer their status with a translated word;
- the ledger's database out of reach (a PostgreSQL server restarting or failing over, a
  connection cut, SQLite locked past its timeout) answers 503, "try again in a moment": each
  change is one transaction, so what failed left nothing half-written, and a retry of a
  ring-up finds the sale where the last committed step left it;
- anything else is logged with its traceback and answers a plain 500 that says
  it was logged, with no detail a customer or a script could misuse.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from pos.i18n import Translator
from pos.inputs import InputError
from pos.log import get_logger

log = get_logger("pos.till.errors")

_HTTP_KEYS = {404: "error.not_found", 405: "error.method", 413: "error.too_large"}


def _t() -> Translator:
    return current_app.extensions["pos_till"].t


def _answer(status: int, message: str) -> tuple[Response, int]:
    if (
        request.path.startswith(("/api/", "/manager/api/"))
        or request.accept_mimetypes.best == "application/json"
    ):
        return jsonify(error=message), status
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8"), status


def register(app: Flask) -> None:
    @app.errorhandler(InputError)
    def refused(exc: InputError) -> tuple[Response, int]:
        t = _t()
        values = dict(exc.values)
        if "problem_key" in values:
            values["problem"] = t(values.pop("problem_key"), **values)
        return _answer(exc.status, t(exc.key, **values))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        key = _HTTP_KEYS.get(status)
        message = _t()(key) if key else (exc.name or "error")
        response, status = _answer(status, message)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response, status

    @app.errorhandler(DBAPIError)
    def ledger_unreachable(exc: DBAPIError) -> tuple[Response, int]:
        if not exc.connection_invalidated and not _is_connection_error(exc):
            return unexpected(exc)
        log.error(
            "ledger_unreachable", method=request.method, path=request.path, error=type(exc.orig).__name__
        )
        return _answer(503, _t()("error.ledger_unavailable"))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("till_error", method=request.method, path=request.path)
        return _answer(500, _t()("error.internal"))


def _is_connection_error(exc: DBAPIError) -> bool:
    """The database could not be reached, dropped the connection or stayed locked (OperationalError
    is what both drivers raise for those), as opposed to a statement it refused (a bug: 500)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)
