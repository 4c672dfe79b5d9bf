"""The app's surface: the three routes and nothing else, health, and errors without tracebacks."""

from __future__ import annotations

import logging

import pytest
import requests

from pos.listener import create_app
from pos.log import fields_of


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/wechatpay/notify"),
        ("PUT", "/wechatpay/notify"),
        ("GET", "/wechatpay/native-callback"),
        ("POST", "/healthz"),
        ("GET", "/static/app.js"),
        ("GET", "/api/sales"),
        ("GET", "/wechatpay/notify/../../etc/passwd"),
        ("POST", "/wechatpay/notify/"),
        ("OPTIONS", "/wechatpay/notify"),
    ],
)
def test_everything_else_is_a_plain_404(stack, method, path):
    response = stack.http.request(method, stack.url + path, timeout=10)
    assert response.status_code == 404
    assert response.text == "not found\n"
    assert "Set-Cookie" not in response.headers


def test_the_server_header_does_not_name_the_software(stack):
    response = stack.http.get(stack.url + "/healthz", timeout=10)
    assert "waitress" not in response.headers.get("Server", "").lower()


def test_healthz_says_ok_while_the_ledger_answers(stack):
    response = stack.http.get(stack.url + "/healthz", timeout=10)
    assert (response.status_code, response.text) == (200, "ok\n")


def test_healthz_says_503_when_the_database_is_gone(stack, serve, tmp_path, database):
    """SQLite: the file is deleted. PostgreSQL: the database is dropped, its connections ended (a
    front's health check then takes the listener out of a fleet's rotation)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from pos.ledger import open_ledger

    url = database.url_in(tmp_path / "gone", empty=True)  # a database of its own, beside the stack's
    ledger = open_ledger(url)
    served = serve(create_app(stack.config, ledger))
    assert requests.get(served.base_url + "/healthz", timeout=10).status_code == 200
    if database.kind == "sqlite":
        ledger.close()
        (tmp_path / "gone" / "pos.sqlite3").unlink()
        (tmp_path / "gone").rmdir()
    else:
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')
        admin.dispose()
    response = requests.get(served.base_url + "/healthz", timeout=10)
    assert (response.status_code, response.text) == (503, "database unavailable\n")
    ledger.close()


def test_a_bug_in_a_handler_answers_fail_without_a_traceback(stack, serve, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    app = create_app(stack.config, stack.ledger)

    def broken(body, *, remote="-"):
        raise RuntimeError(f"secret detail {stack.config.merchant.api_key}")

    monkeypatch.setattr(app.extensions["pos_listener"]["payments"], "handle", broken)
    served = serve(app)
    response = requests.post(served.base_url + "/wechatpay/notify", data=b"<xml/>", timeout=10)
    assert response.status_code == 500
    assert b"<return_code><![CDATA[FAIL]]></return_code>" in response.content  # WeChat will retry
    assert b"secret detail" not in response.content and b"Traceback" not in response.content
    (error,) = [fields_of(r) for r in caplog.records if fields_of(r).get("event") == "listener_error"]
    assert (error["path"], error["error"]) == ("/wechatpay/notify", "RuntimeError")
    assert "Traceback" not in caplog.text and stack.config.merchant.api_key not in caplog.text


def test_the_api_key_never_appears_in_any_reply(stack):
    sale = stack.ring_up(100)
    key = stack.config.merchant.api_key.encode()
    for body in (stack.signed(stack.notice_for(sale)), b"<xml>", b"\xff\xfe"):
        for path in ("/wechatpay/notify", "/wechatpay/native-callback"):
            assert key not in stack.post(body, path=path).content


def test_the_plain_wsgi_notify_route_answers_exactly_as_the_flask_route(stack):
    from werkzeug.test import Client

    app = create_app(stack.config, stack.ledger)
    fast, flask_only = Client(app), Client(app.wsgi_app.app)  # NotifyRoute, and the Flask app behind it
    sale, other = stack.ring_up(100), stack.ring_up(200)
    limit = stack.config.listener.max_body
    bodies = [
        stack.signed(stack.notice_for(sale)),  # first delivery through one, duplicate through the other
        stack.signed(stack.notice_for(other)),
        stack.signed(stack.notice_for(other), key="0" * 32),  # forged
        b"<xml><a>1</a>",
        b"\xff\xfe",
        b"",
        b"x" * (limit + 1),
    ]
    for body in bodies:
        answers = []
        for client in (fast, flask_only):
            response = client.post("/wechatpay/notify", data=body, headers={"Content-Type": "text/xml"})
            answers.append((response.status, response.headers.get("Content-Type"), response.data))
        assert answers[0] == answers[1]
    assert stack.ledger.sale_by_out_trade_no(sale.out_trade_no).state.is_paid
    for method in ("GET", "PUT", "OPTIONS"):
        assert fast.open("/wechatpay/notify", method=method).status_code == 404
