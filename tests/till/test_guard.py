"""The till refuses strangers' requests before any route runs: a foreign Host (DNS rebinding), a
cross-site Origin, and a change that is neither JSON nor carries the page's token. Real waitress, a
real SQLite ledger, the simulator as WeChat; the cross-site attack runs in headless Chromium."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import requests
from flask import Flask

from pos.sandbox.testing import running_simulator
from pos.till.guard import HostRule, same_origin
from pos.till.testing import running_till, till_config
from pos.web import BackgroundServer


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


@pytest.fixture
def till(database, sim, tmp_path):
    with running_till(till_config(tmp_path, sim, database=database.config), workers=False) as running:
        yield running


def ring_up(till) -> dict:
    response = till.http.post(till.url("/api/sales"), json={"amount": "12.50"})
    assert response.status_code == 201, response.text
    return response.json()


def refused(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


def jobs(till, sale_id: int) -> int:
    return len(till.till.ledger.jobs_for_sale(sale_id))


def port(till) -> int:
    return int(till.base_url.rsplit(":", 1)[1])


# -- Host: DNS rebinding -------------------------------------------------------------------------------


def test_a_rebound_host_name_cannot_read_the_sales_list(till):
    ring_up(till)
    foreign = {"Host": f"attacker.example:{port(till)}"}
    error = refused(till.http.get(till.url("/api/sales"), headers=foreign), 400)
    assert "allowed_hosts" in error and "主机名" in error  # the store's language, and what to set
    refused(till.http.get(till.url("/"), headers=foreign), 400)
    refused(till.http.get(till.url("/manager/login"), headers=foreign), 400)
    # The till's own names on its own port work; its names on another port do not.
    for host in (f"127.0.0.1:{port(till)}", f"localhost:{port(till)}"):
        assert till.http.get(till.url("/api/sales"), headers={"Host": host}).status_code == 200
    refused(till.http.get(till.url("/api/sales"), headers={"Host": "127.0.0.1:1"}), 400)


def test_allowed_hosts_adds_names(database, sim, tmp_path):
    config = till_config(tmp_path, sim, database=database.config)
    config = config.replace(till=dataclasses.replace(config.till, allowed_hosts=("till.shop.lan",)))
    with running_till(config, workers=False) as till:
        ok = till.http.get(till.url("/api/sales"), headers={"Host": f"till.shop.lan:{port(till)}"})
        assert ok.status_code == 200
        refused(till.http.get(till.url("/api/sales"), headers={"Host": f"other.lan:{port(till)}"}), 400)


def test_host_rule():
    loopback = HostRule("127.0.0.1", ("till.lan", "proxy.lan:443"))
    assert loopback.allows("127.0.0.1:8700", 8700) and loopback.allows("[::1]:8700", 8700)
    assert loopback.allows("TILL.lan:8700", 8700) and loopback.allows("proxy.lan", 8700, "https")
    assert not loopback.allows("192.168.1.5:8700", 8700)  # not bound there
    assert not loopback.allows("evil.example:8700", 8700) and not loopback.allows(None, 8700)
    assert not loopback.allows("127.0.0.1:8700:1", 8700) and not loopback.allows("[::1", 8700)
    everywhere = HostRule("0.0.0.0")
    assert everywhere.allows("192.168.1.5:8700", 8700) and everywhere.allows("[fe80::1]:8700", 8700)
    assert not everywhere.allows("rebind.example:8700", 8700)
    assert same_origin("http://127.0.0.1:8700", "127.0.0.1:8700")
    assert same_origin("https://till.lan", "till.lan:443")
    assert not same_origin("null", "127.0.0.1:8700")
    assert not same_origin("http://localhost:8700", "127.0.0.1:8700")


# -- changes: JSON or the page's token, and the till's own Origin -------------------------------------


def test_an_empty_text_plain_post_changes_nothing(till):
    sale = ring_up(till)
    before = jobs(till, sale["id"])
    for action in ("void", "reprint", "retry"):
        url = till.url(f"/api/sales/{sale['id']}/{action}")
        error = refused(till.http.post(url, data=b"", headers={"Content-Type": "text/plain"}), 400)
        assert "JSON" in error
        cross = {"Content-Type": "text/plain", "Origin": "http://attacker.example"}
        assert "其他网站" in refused(till.http.post(url, data=b"", headers=cross), 403)
        forged = {"Content-Type": "text/plain", "X-CSRF-Token": "guessed"}
        refused(till.http.post(url, data=b"", headers=forged), 403)
    assert till.http.get(till.url(f"/api/sales/{sale['id']}")).json()["state"] == "AWAITING_PAYMENT"
    assert jobs(till, sale["id"]) == before


def test_a_foreign_origin_is_refused_even_with_json(till):
    sale = ring_up(till)
    url = till.url(f"/api/sales/{sale['id']}/void")
    refused(till.http.post(url, json={}, headers={"Origin": "http://attacker.example"}), 403)
    refused(till.http.post(url, json={}, headers={"Sec-Fetch-Site": "cross-site"}), 403)
    assert till.http.get(till.url(f"/api/sales/{sale['id']}")).json()["state"] == "AWAITING_PAYMENT"
    # The till's own origin, and a script that sends none, may void.
    same = till.http.post(url, json={}, headers={"Origin": till.base_url})
    assert same.status_code == 200 and same.json()["state"] in ("AWAITING_PAYMENT", "VOIDED")


def test_english_refusals(database, sim, tmp_path):
    with running_till(
        till_config(tmp_path, sim, database=database.config, language="en"), workers=False
    ) as till:
        error = refused(till.http.get(till.url("/api/sales"), headers={"Host": "evil.example"}), 400)
        assert error.startswith("This till does not answer")


# -- the attack, in a browser -----------------------------------------------------------------------


ATTACK = """<!doctype html><html><body>
<form id="f" method="POST" enctype="text/plain" action="{till}/api/sales/{sale}/reprint" target="sink">
<input type="hidden" name="x" value="y"></form><iframe name="sink"></iframe>
<script>
fetch("{till}/api/sales/{sale}/void", {{method: "POST", mode: "no-cors", body: "",
  headers: {{"Content-Type": "text/plain"}}}}).then(() => document.title = "void sent",
  () => document.title = "void failed");
fetch("{till}/api/sales/{sale}/reprint", {{method: "POST", mode: "no-cors"}});
document.getElementById("f").submit();
</script></body></html>"""


def test_a_page_from_another_site_cannot_void_or_reprint(till, browser):
    sale = ring_up(till)
    before = jobs(till, sale["id"])
    attacker = Flask("attacker")
    # Another site: "localhost" is not the same site as the till's "127.0.0.1".
    attacker.add_url_rule("/", view_func=lambda: ATTACK.format(till=till.base_url, sale=sale["id"]))
    server = BackgroundServer(attacker).start()
    try:
        page = server.base_url.replace("127.0.0.1", "localhost") + "/"
        browser.goto(page)
        browser.wait_for("document.title === 'void sent'")
        time.sleep(0.5)  # the form's POST into the iframe
        assert browser.eval("location.href") == page
    finally:
        server.stop()
    after = till.http.get(till.url(f"/api/sales/{sale['id']}")).json()
    assert after["state"] == "AWAITING_PAYMENT" and not after.get("void_requested")
    assert jobs(till, sale["id"]) == before
    events = [e.event for e in till.till.ledger.events_for_sale(sale["id"])]
    assert "void_requested" not in events and "reprint" not in events, json.dumps(events)
