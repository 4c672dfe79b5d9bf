"""Every route of the till, the manager's pages and the listener, under generated hostile requests.

The routes are read from the apps' own ``url_map``, so a route added tomorrow is covered without
touching this file. Hypothesis draws a route (or a path of its own), fills its parameters with ids,
numbers and text (ids beyond any column, Unicode digits, 5,000-digit numbers), and sends it with
any method, a query string (days from year 1 to 9999), headers (hostile Host, Origin, cookies) and
a body (JSON from sale-like to 30,000 levels deep, forms, XML, bytes). Each request goes through
Flask's test client to the real app: a real ledger (SQLite, then PostgreSQL), the simulator over
real HTTP as WeChat.

What must hold for every one of them:
- no answer is a 5xx (a traceback's 500 included);
- a refused request (4xx) leaves the ledger exactly as it was: every table, every row.
  The listener never believes anything generated (nothing here is signed with the merchant's key),
  so no request to it may change the ledger at all.

The manager's pages are driven logged in (a fresh session per example, its CSRF token sent or not)
and not logged in. Example counts are kept modest so the suite stays fast on CI's two cores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, table, text
from werkzeug.routing import Rule
from werkzeug.security import generate_password_hash

from pos.ledger import Ledger
from pos.listener import create_app as create_listener_app
from pos.manager import auth
from pos.sandbox.testing import running_simulator
from pos.till.app import create_app as create_till_app
from pos.till.service import Till
from pos.till.testing import till_config

PASSWORD = "correct horse battery"
CSRF = "\0csrf\0"  # stands for the session's real token; replaced when the request is made
SESSION = "\0session\0"  # stands for the session's real cookie value
# Per test below: a few seconds each. POS_HOSTILE_EXAMPLES=5000 for a long hunt on your machine.
EXAMPLES = int(os.environ.get("POS_HOSTILE_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the apps ----------------------------------------------------------------------------------------


@dataclass
class Stack:
    till: Till
    till_app: Flask
    listener_app: Flask
    ledger: Ledger


@pytest.fixture(scope="module")
def stack(tmp_path_factory, module_database) -> Iterator[Stack]:
    """One stack per database (SQLite, then PostgreSQL), shared by the module's tests."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    with running_simulator() as sim:
        config = till_config(tmp_path, sim, database=module_database.config_in(tmp_path / "data"))
        config = config.replace(
            manager=dataclasses.replace(
                config.manager, password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
            )
        )
        till = Till(config)
        try:
            till_app = create_till_app(till)
            client = till_app.test_client()
            # Something to act on: an awaiting sale (id 1) and a paid one (id 2).
            for _ in range(2):
                response = client.post("/api/sales", json={"amount": "1.00"})
                assert response.status_code == 201, response.text
            sim.pay(till.ledger.get_sale(2).code_url, notify=False)
            till.watcher.poll_once(now=till.now() + timedelta(seconds=3))
            assert client.get("/manager/login").status_code == 200  # the manager's state exists
            yield Stack(till, till_app, create_listener_app(config, till.ledger), till.ledger)
        finally:
            till.stop()


def dump(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: the ledger as a value to compare."""
    with ledger.engine.connect() as connection:
        names = sorted(inspect(connection).get_table_names())
        return {
            name: sorted(
                (tuple(row) for row in connection.execute(select(text("*")).select_from(table(name)))),
                key=repr,
            )
            for name in names
        }


# -- what to send ------------------------------------------------------------------------------------

_PARAMETER = re.compile(r"<(?:(?P<converter>[a-zA-Z_]+)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_]+)>")
EDGE_IDS = ["0", "1", "2", "3", str(2**31 - 1), str(2**31), str(2**63), str(2**64), "9" * 5000, "٣", "-1"]
EDGE_DAYS = ["0001-01-01", "1969-12-31", "1970-01-01", "9998-12-31", "9999-12-31", "2026-02-30", "2026-1-1"]
QUERY_KEYS = ["date", "show", "page", "next", "expired", "kind", "amount"]
FORM_KEYS = ["csrf_token", "password", "next", "date", "amount", "reason", "note", "show", "page"]
HEADER_NAMES = ["Host", "Origin", "Referer", "Cookie", "X-CSRF-Token", "Accept", "Accept-Language",
                "Authorization", "X-Forwarded-For", "User-Agent"]  # fmt: skip
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/xml",
    "text/plain",
    "",
]

short_text = st.text(max_size=24)
header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40
)
days = st.one_of(st.dates().map(lambda d: d.isoformat()), st.sampled_from(EDGE_DAYS))
numbers = st.one_of(st.integers(-(2**80), 2**80).map(str), st.sampled_from(EDGE_IDS))
values = st.one_of(
    days, numbers, short_text, st.sampled_from([PASSWORD, CSRF, "/manager/day", "//evil.example"])
)
ids = st.one_of(
    st.integers(0, 4).map(str),  # the sales (and flags) that exist, and their neighbours: reached often
    st.integers(0, 4).map(str),
    numbers,
    short_text.map(lambda s: quote(s, safe="")),
)


def path_for(rule: Rule) -> st.SearchStrategy[str]:
    """``rule`` with each parameter filled in: ids for ids, anything for the rest."""
    pieces: list[st.SearchStrategy[str]] = []
    position = 0
    for match in _PARAMETER.finditer(rule.rule):
        pieces.append(st.just(rule.rule[position : match.start()]))
        converter = match.group("converter") or "default"
        segment = ids if converter in ("int", "id") else short_text.map(lambda s: quote(s, safe="/"))
        pieces.append(segment)
        position = match.end()
    pieces.append(st.just(rule.rule[position:]))
    return st.tuples(*pieces).map("".join)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | short_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=4),
    max_leaves=12,
)
sale_like = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.one_of(numbers, st.sampled_from(["1.00", "0.01", "99999999.99", "-1", "1e3"])),
        "items": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "product_id": st.sampled_from(["LATTE", "TEA", "NOPE"]),
                    "name": short_text,
                    "price": numbers,
                    "qty": st.integers(-(2**70), 2**70),
                },
            ),
            max_size=3,
        ),
        "body": short_text,
        "cashier": short_text,
        "kind": st.sampled_from(["sale_slip", "confirmation", "z_report", "nope"]),
        "by": short_text,
    },
)
deep = st.tuples(
    st.one_of(st.integers(1, 20), st.integers(20, 12_000), st.integers(12_000, 40_000)),
    st.sampled_from(["[", '{"a":', '{"items": [']),
).map(lambda d: d[1] * d[0])
form = st.dictionaries(st.sampled_from(FORM_KEYS) | short_text, values, max_size=5)
XML_NAMES = ["return_code", "appid", "mch_id", "out_trade_no", "total_fee", "sign", "sign_type", "product_id",
             "openid", "req_info", "transaction_id"]  # fmt: skip
xml_fields = st.dictionaries(
    st.sampled_from(XML_NAMES) | st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    values.map(lambda v: v.replace("]]>", "")),
    max_size=6,
)
HOSTILE_XML = [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><a>&b;</a></xml>',
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><return_code>&e;</return_code></xml>',
    b"<xml>" * 20_000,
    b"<xml><return_code>SUCCESS</return_code>",
]

# A body: (bytes, content type or None); form and JSON bodies may name the session's CSRF token.
bodies = st.one_of(
    st.just((b"", None)),
    st.tuples(json_values.map(lambda v: json.dumps(v).encode()), st.sampled_from(CONTENT_TYPES)),
    st.tuples(sale_like.map(lambda v: json.dumps(v).encode()), st.just("application/json")),
    st.tuples(deep.map(str.encode), st.just("application/json")),
    st.tuples(form.map(lambda f: urlencode(f).encode()), st.sampled_from(CONTENT_TYPES)),
    st.tuples(
        xml_fields.map(
            lambda f: (
                "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in f.items()) + "</xml>"
            ).encode()
        ),
        st.sampled_from(["text/xml", "application/xml", ""]),
    ),
    st.tuples(st.sampled_from(HOSTILE_XML), st.just("text/xml")),
    st.tuples(st.binary(max_size=300), st.sampled_from(CONTENT_TYPES)),
)
HEADER_VALUES = ["127.0.0.1", "localhost:8700", "evil.example", "[::1]", "null", "http://evil.example",
                 "application/json", "text/html", "*/*", CSRF, f"{auth.COOKIE}={SESSION}",
                 f"{auth.COOKIE}=nonsense", "Bearer x"]  # fmt: skip
headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES), st.one_of(header_text, st.sampled_from(HEADER_VALUES)), max_size=4
)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]


@st.composite
def requests_to(draw: st.DrawFn, app: Flask) -> dict[str, Any]:
    """One request to ``app``: a route of its url_map (or a path of our own), any method and input."""
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    rule = draw(st.sampled_from([*rules, None]))
    if rule is None:
        path = "/" + quote(draw(short_text), safe="/")
        method = draw(st.sampled_from(METHODS))
    else:
        path = draw(path_for(rule))
        own = sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"}) or ["GET"]
        method = draw(st.sampled_from(own)) if draw(st.integers(0, 4)) else draw(st.sampled_from(METHODS))
    body, content_type = draw(bodies)
    query = draw(st.lists(st.tuples(st.sampled_from(QUERY_KEYS) | short_text, values), max_size=3))
    return {
        "rule": rule.rule if rule else "(any path)",
        "with_token": draw(st.integers(0, 3)) > 0,  # the session's CSRF token as X-CSRF-Token, if any
        "path": path,
        "method": method,
        "query_string": urlencode(query),
        "data": body,
        "content_type": content_type,
        "headers": draw(headers),
    }


def send(app: Flask, request: dict[str, Any], session: auth.ManagerSession | None) -> Any:
    """Make the request, with the session's cookie and token where the example names them."""
    token = session.csrf_token if session else "no-session"
    cookie = session.id if session else "no-session"

    def real(value: Any) -> Any:
        swaps = [
            (CSRF, token),
            (SESSION, cookie),
            (quote(CSRF, safe=""), token),
            (quote(SESSION, safe=""), cookie),
        ]
        for placeholder, actual in swaps:
            if isinstance(value, bytes):
                value = value.replace(placeholder.encode(), actual.encode())
            else:
                value = value.replace(placeholder, actual)
        return value

    client = app.test_client()
    if session is not None:
        client.set_cookie(auth.COOKIE, session.id, path=auth.COOKIE_PATH)
    headers = {name: real(value) for name, value in request["headers"].items()}
    if session is not None and request["with_token"]:
        headers.setdefault("X-CSRF-Token", token)
    return client.open(
        request["path"],
        method=request["method"],
        query_string=real(request["query_string"]),
        data=real(request["data"]),
        content_type=request["content_type"],
        headers=headers,
    )


def check(
    stack: Stack, app: Flask, request: dict[str, Any], *, logged_in: bool, ledger_may_change: bool
) -> None:
    session = None
    if logged_in:  # a fresh session per example: a drawn logout must not end the others
        manager = stack.till_app.extensions["pos_manager"]
        chain = len(request["path"]) % 2 == 1  # about half the examples as the chain's manager
        session = manager.sessions.new(authenticated=True, address="192.0.2.1", chain=chain)
    before = dump(stack.ledger)
    response = send(app, request, session)
    status = response.status_code
    event(f"{status} {request['rule']}")  # pytest --hypothesis-show-statistics: what was reached, how often
    assert status < 500, (
        f"{request['method']} {request['path']} answered {status}: {response.get_data()[:300]!r}"
    )
    if 400 <= status < 500 or not ledger_may_change:
        assert dump(stack.ledger) == before, (
            f"{request['method']} {request['path']} ({status}) changed the ledger"
        )


# -- the tests -----------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_the_till_and_the_managers_pages_logged_out(stack, data):
    request = data.draw(requests_to(stack.till_app))
    check(stack, stack.till_app, request, logged_in=False, ledger_may_change=True)


@SETTINGS
@given(data=st.data())
def test_the_till_and_the_managers_pages_logged_in(stack, data):
    request = data.draw(requests_to(stack.till_app))
    check(stack, stack.till_app, request, logged_in=True, ledger_may_change=True)


@SETTINGS
@given(data=st.data())
def test_the_listener(stack, data):
    request = data.draw(requests_to(stack.listener_app))
    check(stack, stack.listener_app, request, logged_in=False, ledger_may_change=False)


def test_the_routes_are_read_from_the_apps(stack):
    """The generated requests reach every route the apps have, including ones added later."""
    till_rules = {r.rule for r in stack.till_app.url_map.iter_rules()}
    assert {"/api/sales/<id:sale_id>/void", "/manager/day", "/manager/api/day"} <= till_rules
    listener_rules = {r.rule for r in stack.listener_app.url_map.iter_rules()}
    assert {"/wechatpay/notify", "/healthz"} <= listener_rules
