"""The manager's login over real HTTP: passwords, sessions, CSRF, lock-out, and who may reach what."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from pos import passwords
from pos.ledger import open_ledger
from pos.listener.app import create_app as listener_app
from pos.manager import auth
from pos.till.testing import running_till
from pos.web import BackgroundServer

PASSWORD = "correct horse battery"  # conftest's


MANAGER_GETS = ("/manager/", "/manager/day", "/manager/day?date=2026-11-27", "/manager/day.csv")
MANAGER_POSTS = (
    "/manager/z-report",
    "/manager/reconcile",
    "/manager/flags/1/resolve",
    "/manager/sales/1/refund",
    "/manager/logout",
)


def test_login_with_the_right_password_opens_the_day_view(manager):
    page = manager.get("/manager/login")
    assert page.status_code == 200 and "店长登录" in page.text
    assert 'type="password"' in page.text
    response = manager.post("/manager/login", {"password": PASSWORD})
    assert response.status_code == 200 and response.url.endswith("/manager/day")
    assert response.history[0].status_code == 303
    assert "营业日" in response.text and "收款" in response.text and "净收入" in response.text


def test_session_cookie_is_httponly_samesite_strict_and_limited_to_manager(manager):
    manager.get("/manager/login")
    before = manager.http.cookies.get(auth.COOKIE, path="/manager")
    response = manager.http.post(
        manager.url("/manager/login"),
        data={"password": PASSWORD, "csrf_token": manager.token},
        allow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{auth.COOKIE}=")
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert "httponly" in attributes and "path" in attributes and "Path=/manager" in cookie
    assert "SameSite=Strict" in cookie
    assert "expires" not in attributes and "max-age" not in attributes  # ends with the browser too
    # A new session id after login (no fixation): the pre-login cookie no longer works.
    assert before and before not in cookie


def test_wrong_password_is_refused_and_says_so(manager):
    response = manager.login("not the password")
    assert response.status_code == 401
    assert "密码错误" in response.text
    day = manager.http.get(manager.url("/manager/day"), allow_redirects=False)
    assert day.status_code == 303 and day.headers["Location"].startswith("/manager/login")


def test_empty_password_config_refuses_everyone_and_tells_how_to_set_one(tmp_path, sim, kit):
    config = kit.manager_config(tmp_path, sim)
    config = config.replace(manager=config.manager.__class__(password_hash=""))
    with running_till(config, workers=False) as till:
        manager = kit.Manager(till)
        page = manager.get("/manager/login")
        assert "pos manager set-password" in page.text
        assert manager.post("/manager/login", {"password": ""}).status_code == 401
        assert manager.post("/manager/login", {"password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("path", MANAGER_GETS)
def test_manager_pages_without_a_session_redirect_to_login(manager, path):
    response = manager.http.get(manager.url(path), allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/manager/login?next=")
    assert "营业日" not in response.text


@pytest.mark.parametrize("path", MANAGER_POSTS)
def test_manager_actions_without_a_session_do_nothing(manager, till, path):
    manager.get("/manager/login")  # a pre-login session with a valid CSRF token is not enough
    response = manager.http.post(
        manager.url(path), data={"csrf_token": manager.token, "date": "2026-11-27"}, allow_redirects=False
    )
    assert response.status_code == 303 and response.headers["Location"].startswith("/manager/login")
    assert till.till.ledger.unfinished_jobs() == []  # no Z report was queued


def test_manager_api_without_a_session_is_401_json(manager):
    response = manager.http.get(manager.url("/manager/api/day"))
    assert response.status_code == 401
    assert response.json() == {"error": "请先登录店长页面"}


def test_cashier_page_and_api_need_no_manager_login(till):
    assert till.http.get(till.url("/")).status_code == 200
    assert till.http.get(till.url("/api/sales")).status_code == 200


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_posts_without_the_sessions_csrf_token_are_refused(logged_in, till, token):
    data = {"date": "2026-11-27"}
    if token is not None:
        data["csrf_token"] = token
    response = logged_in.http.post(logged_in.url("/manager/z-report"), data=data, allow_redirects=False)
    assert response.status_code == 403
    assert "表单已过期" in response.text
    assert till.till.ledger.unfinished_jobs() == []
    # The same form with the token works.
    ok = logged_in.post("/manager/z-report", {"date": "2026-11-27"})
    assert ok.status_code == 200 and len(till.till.ledger.unfinished_jobs()) == 1


def test_another_sessions_csrf_token_is_refused(till, logged_in, kit):
    other = kit.Manager(till)
    other.login()
    response = logged_in.http.post(
        logged_in.url("/manager/z-report"),
        data={"csrf_token": other.token, "date": "2026-11-27"},
        allow_redirects=False,
    )
    assert response.status_code == 403


def test_login_form_needs_its_csrf_token(manager):
    manager.get("/manager/login")
    response = manager.http.post(manager.url("/manager/login"), data={"password": PASSWORD})
    assert response.status_code == 403
    assert manager.http.get(manager.url("/manager/day"), allow_redirects=False).status_code == 303


def test_lock_out_after_max_failures_even_for_the_right_password(manager, clock, config):
    limit = config.manager.max_failures
    for attempt in range(limit):
        response = manager.login(f"wrong {attempt}")
        assert response.status_code == 401
    locked = manager.login(PASSWORD)
    assert locked.status_code == 429
    assert "登录已锁定" in locked.text and "15 分钟" in locked.text
    assert "disabled" in manager.get("/manager/login").text  # the form says so before anyone types
    clock.advance(minutes=14)
    assert manager.login(PASSWORD).status_code == 429
    clock.advance(minutes=1, seconds=1)
    response = manager.login(PASSWORD)
    assert response.status_code == 200 and response.url.endswith("/manager/day")


def test_warning_before_the_lock_out(manager, config):
    for attempt in range(config.manager.max_failures - 2):
        manager.login(f"wrong {attempt}")
    response = manager.login("wrong again")
    assert "再错 1 次将锁定 15 分钟" in response.text


def test_a_successful_login_clears_the_addresss_failures(manager, config):
    for attempt in range(config.manager.max_failures - 1):
        manager.login(f"wrong {attempt}")
    assert manager.login().status_code == 200
    manager.post("/manager/logout")
    for attempt in range(config.manager.max_failures - 1):
        assert manager.login(f"wrong {attempt}").status_code == 401
    assert manager.login().status_code == 200


def test_login_guard_counts_every_address_together_too():
    from datetime import UTC, datetime

    now = [datetime(2026, 11, 27, tzinfo=UTC)]
    guard = passwords.LoginGuard(3, lambda: now[0])
    for n in range(guard.overall_limit - 1):
        guard.failed(f"10.0.0.{n}")  # each address below its own limit
    assert guard.locked_for("10.0.0.200") is None
    guard.failed("10.0.0.99")
    assert guard.locked_for("10.0.0.200") == passwords.COOLING  # nobody may try now
    now[0] += passwords.COOLING
    assert guard.locked_for("10.0.0.200") is None


def test_session_ends_after_idle_minutes(logged_in, clock, config):
    assert logged_in.get("/manager/day").status_code == 200
    clock.advance(minutes=config.manager.session_minutes - 1)
    assert logged_in.get("/manager/day").status_code == 200  # each request restarts the idle time
    clock.advance(minutes=config.manager.session_minutes, seconds=1)
    response = logged_in.get("/manager/day")
    assert response.url.split("?")[0].endswith("/manager/login")
    assert "请重新登录" in response.text


def test_logout_ends_the_session(logged_in):
    response = logged_in.post("/manager/logout")
    assert response.url.endswith("/manager/login")
    assert logged_in.http.get(logged_in.url("/manager/day"), allow_redirects=False).status_code == 303


def test_after_login_back_to_the_page_asked_for_but_never_elsewhere(till, kit):
    manager = kit.Manager(till)
    page = manager.http.get(manager.url("/manager/day?date=2026-11-20"))
    assert page.url.endswith("/manager/login?next=%2Fmanager%2Fday%3Fdate%3D2026-11-20")
    assert 'name="next" value="/manager/day?date=2026-11-20"' in page.text
    manager.token = kit.csrf_token(page.text)
    response = manager.post("/manager/login", {"password": PASSWORD, "next": "/manager/day?date=2026-11-20"})
    assert response.url.endswith("/manager/day?date=2026-11-20")
    for target in ("https://evil.example/", "//evil.example/manager/", "/api/sales", "/manager/\\evil"):
        other = kit.Manager(till)
        other.get("/manager/login")
        response = other.http.post(
            other.url("/manager/login"),
            data={"password": PASSWORD, "csrf_token": other.token, "next": target},
            allow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["Location"] == "/manager/"


def test_listener_app_has_no_manager_routes(config):
    ledger = open_ledger(config.database.url)
    server = None
    try:
        app = listener_app(config, ledger)
        rules = {rule.rule for rule in app.url_map.iter_rules()}
        assert not any(rule.startswith("/manager") for rule in rules), rules
        server = BackgroundServer(app).start()
        for path in ("/manager/", "/manager/login", "/manager/day", "/manager/day.csv", "/manager/api/day"):
            assert requests.get(server.base_url + path, timeout=10).status_code == 404
        assert requests.post(server.base_url + "/manager/login", timeout=10).status_code == 404
    finally:
        if server is not None:
            server.stop()
        ledger.close()


def test_password_hashes_are_scrypt_and_salted():
    first, second = passwords.hash_password(PASSWORD), passwords.hash_password(PASSWORD)
    assert first.startswith("scrypt:") and first != second
    assert passwords.check_password(first, PASSWORD) and not passwords.check_password(first, PASSWORD + "x")
    assert not passwords.check_password("not-a-hash", PASSWORD)
    with pytest.raises(ValueError):
        passwords.hash_password("short")
    assert timedelta(minutes=15) == passwords.COOLING
