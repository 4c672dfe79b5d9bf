"""The simulator's v3 gate over real HTTP: who it lets in, and the error JSON it answers with."""

from __future__ import annotations

import json
import time

import pytest
import requests

from pos.wechatpay.v3 import Verifier, crypto


def signed_request(
    sim, method: str, target: str, body: bytes = b"", *, key=None, serial=None, stamp=None, headers=None
) -> requests.Response:
    v3 = sim.v3
    auth = crypto.authorize(
        key or crypto.load_private_key(v3["merchant_private_key"]),
        mchid=v3["mchid"],
        serial_no=serial or v3["merchant_serial_no"],
        method=method,
        url=target,
        body=body,
        timestamp=int(time.time()) if stamp is None else stamp,
    )
    sent = {
        "Authorization": auth.header(),
        "Accept": "application/json",
        "User-Agent": "test",
        "Content-Type": "application/json",
    }
    sent.update(headers or {})
    return requests.request(method, sim.base_url + target, data=body or None, headers=sent, timeout=10)


def verified(sim, response: requests.Response) -> dict:
    verifier = Verifier.public_key(sim.v3["wechatpay_public_key_id"], sim.v3["wechatpay_public_key"])
    verifier.verify(response.headers, response.content)
    return response.json() if response.content else {}


def test_sim_lists_the_v3_merchant_and_wechats_public_key(sim):
    identity = requests.get(sim.base_url + "/_sim/", timeout=10).json()
    for name in (
        "mchid",
        "appid",
        "apiv3_key",
        "merchant_private_key",
        "merchant_serial_no",
        "wechatpay_public_key",
        "wechatpay_public_key_id",
    ):
        assert identity[name] == sim.v3[name]
    assert identity["wechatpay_public_key_id"].startswith("PUB_KEY_ID_")
    assert len(identity["apiv3_key"]) == 32
    assert "BEGIN PRIVATE KEY" in identity["merchant_private_key"]
    assert identity["mch_id"] == identity["mchid"]  # one merchant, both APIs


def test_a_good_request_gets_a_signed_answer(sim):
    response = signed_request(
        sim, "GET", f"/v3/pay/transactions/out-trade-no/NOSUCH01?mchid={sim.v3['mchid']}"
    )
    assert response.status_code == 404
    assert verified(sim, response)["code"] == "ORDER_NOT_EXIST"  # error answers are signed too
    assert response.headers["Request-ID"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"serial": "0123ABCD"}, 401, "SIGN_ERROR"),
        ({"stamp": int(time.time()) - 301}, 401, "SIGN_ERROR"),
        ({"stamp": int(time.time()) + 3600}, 401, "SIGN_ERROR"),
        ({"headers": {"Accept": ""}}, 400, "INVALID_REQUEST"),
        ({"headers": {"Authorization": "WECHATPAY2-SHA256-RSA2048 mchid=1"}}, 400, "INVALID_REQUEST"),
        ({"headers": {"Authorization": ""}}, 401, "SIGN_ERROR"),
        ({"headers": {"Wechatpay-Serial": "PUB_KEY_ID_0000"}}, 400, "INVALID_REQUEST"),
    ],
)
def test_requests_with_a_wrong_serial_timestamp_or_header_are_refused(sim, change, status, code):
    target = f"/v3/pay/transactions/out-trade-no/NOSUCH02?mchid={sim.v3['mchid']}"
    response = signed_request(sim, "GET", target, **change)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.json()["message"]


def test_a_signature_over_other_bytes_is_sign_error_with_wechats_detail(sim):
    body = json.dumps({"mchid": sim.v3["mchid"]}).encode()
    v3 = sim.v3
    auth = crypto.authorize(
        crypto.load_private_key(v3["merchant_private_key"]),
        mchid=v3["mchid"],
        serial_no=v3["merchant_serial_no"],
        method="POST",
        url="/v3/pay/transactions/out-trade-no/OTHER001/close",
        body=body,
        timestamp=int(time.time()),
    )
    response = requests.post(
        sim.base_url + "/v3/pay/transactions/out-trade-no/MINE0001/close",
        data=body,
        headers={
            "Authorization": auth.header(),
            "Accept": "application/json",
            "User-Agent": "t",
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    assert response.status_code == 401
    answer = response.json()
    assert answer["code"] == "SIGN_ERROR"
    assert answer["detail"]["sign_information"]["url"] == "/v3/pay/transactions/out-trade-no/MINE0001/close"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "PARAM_ERROR"),
        (b"[1, 2]", "PARAM_ERROR"),
        (b"\xff\xfe", "PARAM_ERROR"),
        (b'{"appid": 1}', "PARAM_ERROR"),
        (b'{"amount": {"total": "12.50"}}', "PARAM_ERROR"),
    ],
)
def test_hostile_bodies_get_a_4xx_and_change_nothing(sim, body, code):
    response = signed_request(sim, "POST", "/v3/pay/transactions/native", body)
    assert response.status_code == 400 and response.json()["code"] in (code, "INVALID_REQUEST")
    assert sim.orders() == []


def test_an_oversized_body_and_unknown_paths_are_refused_as_json(sim):
    response = signed_request(sim, "POST", "/v3/pay/transactions/native", b"{" + b" " * (70 * 1024) + b"}")
    assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"
    response = signed_request(sim, "GET", "/v3/nothing/here")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    response = signed_request(sim, "GET", "/v3/pay/transactions/native")
    assert response.status_code == 405 and response.json()["code"] == "INVALID_REQUEST"


def test_an_order_needs_https_notify_url_and_a_valid_number(sim):
    base = {"appid": sim.v3["appid"], "mchid": sim.v3["mchid"], "description": "x", "amount": {"total": 1}}
    for bad in (
        {"out_trade_no": "short", "notify_url": "https://example.com/n"},
        {"out_trade_no": "GOOD000001", "notify_url": "http://example.com/n"},
        {"out_trade_no": "GOOD000001", "notify_url": "https://example.com/n?x=1"},
    ):
        response = signed_request(
            sim, "POST", "/v3/pay/transactions/native", json.dumps({**base, **bad}).encode()
        )
        assert (response.status_code, response.json()["code"]) == (400, "PARAM_ERROR"), bad
    assert sim.orders() == []


def test_certificates_are_listed_encrypted_and_a_rotation_keeps_the_old_beside_the_new(sim):
    from pos.wechatpay.errors import DecryptError
    from pos.wechatpay.v3 import read_certificates

    def listed() -> tuple[list[str], requests.Response]:
        answer = signed_request(sim, "GET", "/v3/certificates")
        assert answer.status_code == 200, answer.text
        found = read_certificates(answer.json(), sim.v3["apiv3_key"])
        trusting = Verifier.certificates([c.pem for c in found])
        assert trusting.verify(answer.headers, answer.content).serial == answer.headers["Wechatpay-Serial"]
        return [c.serial_no for c in found], answer

    serials, answer = listed()
    assert serials == [sim.v3["platform_serial_no"]]
    assert answer.headers["Wechatpay-Serial"] == sim.v3["platform_serial_no"]
    with pytest.raises(DecryptError, match="does not decrypt"):  # another APIv3 key cannot open them
        read_certificates(answer.json(), "x" * 32)

    rotated = requests.post(sim.base_url + "/_sim/v3/rotate", json={"valid_days": 3650}, timeout=30).json()
    assert rotated["retired_serial_nos"] == [sim.v3["platform_serial_no"]]
    serials, answer = listed()
    assert serials == [sim.v3["platform_serial_no"], rotated["platform_serial_no"]]
    assert answer.headers["Wechatpay-Serial"] == rotated["platform_serial_no"]  # the new one signs
    # A request naming the old serial still gets an answer signed with it (WeChat's overlap).
    old = signed_request(
        sim, "GET", "/v3/certificates", headers={"Wechatpay-Serial": sim.v3["platform_serial_no"]}
    )
    assert old.status_code == 200


@pytest.mark.parametrize(
    "body", [{"valid_days": 0}, {"valid_days": "10"}, {"valid_days": True}, {"valid_days": 10**9}]
)
def test_a_bad_rotation_request_is_a_400_and_changes_nothing(sim, body):
    answer = requests.post(sim.base_url + "/_sim/v3/rotate", json=body, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"
    assert (
        requests.get(sim.base_url + "/_sim/", timeout=10).json()["platform_serial_no"]
        == sim.v3["platform_serial_no"]
    )
