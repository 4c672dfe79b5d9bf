"""Signing in to the manager's pages: the guard on every request, login, logout.

A request without a live, logged-in session is sent to the login page (HTML) or answered 401
(``/manager/api/...``); every POST must carry the session's CSRF token (see :mod:`.auth`).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from flask import Response, g, jsonify, redirect, render_template, request

from pos import passwords
from pos.manager import auth
from pos.manager.blueprint import (
    PUBLIC_ENDPOINTS,
    bp,
    client_address,
    is_api,
    log,
    page_error,
    state,
    till,
    words,
)


@bp.before_request
def guard_every_request() -> Response | None:
    """Sessions and CSRF for every manager URL except the login page and the stylesheet."""
    session = state().sessions.get(request.cookies.get(auth.COOKIE))
    g.manager_session = session
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if session is None or not session.authenticated:
        return _not_logged_in(expired=bool(request.cookies.get(auth.COOKIE)))
    if request.method == "POST" and not passwords.tokens_match(session.csrf_token, _posted_token()):
        log.warning("manager_csrf_refused", path=request.path, address=client_address())
        return page_error(403, words()("csrf"))
    return None


def _posted_token() -> str | None:
    return request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")


def _not_logged_in(*, expired: bool) -> Response:
    if is_api():
        response = jsonify(error=words()("unauthorized"))
        response.status_code = 401
        return response
    target = request.full_path.rstrip("?") if request.method == "GET" else "/manager/"
    query = {"next": target}
    if expired:
        query["expired"] = "1"
    response = redirect(f"/manager/login?{urlencode(query)}", code=303)
    if expired:
        response.delete_cookie(auth.COOKIE, path=auth.COOKIE_PATH)
    return response


def _set_cookie(response: Response, session: auth.ManagerSession) -> Response:
    response.set_cookie(
        auth.COOKIE,
        session.id,
        path=auth.COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return response


def _safe_next(target: str | None) -> str:
    """Only our own manager pages: never another site, never a scheme-relative ``//host``."""
    if target and target.startswith("/manager/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/manager/"


@bp.get("/login")
def login() -> Response:
    session = g.manager_session
    if session is not None and session.authenticated:
        return redirect(_safe_next(request.args.get("next")), code=303)
    if session is None:
        session = state().sessions.new(authenticated=False, address=client_address())
    notices = []
    if request.args.get("expired"):
        notices.append(("info", words()("login.expired")))
    return _set_cookie(_login_page(session, notices, 200), session)


def _login_page(session: auth.ManagerSession, notices: list[tuple[str, str]], status: int) -> Response:
    w = words()
    config = till().config
    lock = state().guard.locked_for(client_address())
    if lock is not None:
        notices.append(("error", w("login.locked", minutes=_minutes(lock))))
    if not (config.manager.password_hash or config.manager.chain_password_hash):
        notices.append(("error", w("login.no_password")))
    html = render_template(
        "manager/login.html",
        w=w,
        lang=w.language,
        store=config.store,
        csrf_token=session.csrf_token,
        next=_safe_next(request.values.get("next")),
        notices=notices,
        locked=lock is not None,
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _minutes(wait: timedelta) -> int:
    return max(1, int((wait.total_seconds() + 59) // 60))


@bp.post("/login")
def login_post() -> Response:
    w = words()
    manager = state()
    session = g.manager_session
    if session is None:  # no form was opened here (or it expired): a fresh one to try again with
        fresh = manager.sessions.new(authenticated=False, address=client_address())
        return _set_cookie(_login_page(fresh, [("error", w("csrf"))], 403), fresh)
    if not passwords.tokens_match(session.csrf_token, request.form.get("csrf_token")):
        # Perhaps a form on another site: refused, and the session this browser has (a manager's
        # logged-in one, perhaps) is left as it is, cookie and all.
        log.warning("manager_csrf_refused", path=request.path, address=client_address())
        if session.authenticated:
            return page_error(403, w("csrf"))
        return _login_page(session, [("error", w("csrf"))], 403)
    address = client_address()
    mark = manager.guard.attempt(address)  # counted before the password is checked
    if isinstance(mark, timedelta):
        log.warning("manager_login_locked", address=address)
        return _login_page(session, [], 429)
    password = request.form.get("password", "")
    settings = till().config.manager
    chain = bool(settings.chain_password_hash) and passwords.check_password(
        settings.chain_password_hash, password
    )
    if not chain and not passwords.check_password(settings.password_hash, password):
        log.warning("manager_login_failed", address=address)
        notices = [("error", w("login.wrong"))]
        left = manager.guard.max_failures - manager.guard.failures(address)
        if manager.guard.locked_for(address) is None and 0 < left <= 2:
            notices.append(("error", w("login.tries_left", n=left, minutes=_minutes(manager.guard.cooling))))
        return _login_page(session, notices, 401)
    manager.guard.succeeded(address, mark)
    manager.sessions.drop(session.id)
    fresh = manager.sessions.new(authenticated=True, address=address, chain=chain)
    log.info("manager_login", address=address, scope="chain" if chain else "store")
    return _set_cookie(redirect(_safe_next(request.form.get("next")), code=303), fresh)


@bp.post("/logout")
def logout() -> Response:
    state().sessions.drop(g.manager_session.id)
    response = redirect("/manager/login", code=303)
    response.delete_cookie(auth.COOKIE, path=auth.COOKIE_PATH)
    return response
