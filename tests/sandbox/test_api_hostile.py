"""Whatever arrives, the gateway answers WeChat-shaped XML with HTTP 200: never a 500, never a traceback."""

from __future__ import annotations

import pytest
import requests

from pos.wechatpay import xmlcodec

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><appid>&xxe;</appid><mch_id>10000100</mch_id></xml>"""

LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]><xml><appid>&lol9;</appid></xml>"
)


def fail_msg(response: requests.Response) -> str:
    assert response.status_code == 200, response.status_code
    assert b"Traceback" not in response.content
    fields = xmlcodec.decode(response.content)
    assert fields["return_code"] == "FAIL" and "result_code" not in fields
    return fields["return_msg"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_non_post_is_require_post_method(sim, method):
    response = requests.request(method, sim.base_url + "/pay/unifiedorder", timeout=10)
    assert fail_msg(response) == "请使用post方法"


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_empty_body_is_post_data_empty(sim, api, body):
    assert fail_msg(api.raw_post(sim, "/pay/orderquery", body)) == "post数据为空"


@pytest.mark.parametrize(
    "body",
    [
        XXE,
        LAUGHS,
        b"<xml><appid><inner>1</inner></appid></xml>",  # nested
        b"<xml><appid>1</appid>",  # not closed
        b"<root><appid>1</appid></root>",  # wrong root
        b"<xml><a>1</a><a>2</a></xml>",  # a field twice
        b"not xml at all",
        b'{"appid": "wx"}',
    ],
    ids=["xxe", "billion-laughs", "nested", "unclosed", "root", "duplicate", "text", "json"],
)
def test_hostile_xml_is_xml_format_error(sim, api, body):
    assert fail_msg(api.raw_post(sim, "/pay/unifiedorder", body)).startswith("XML格式错误")


def test_ten_megabytes_is_refused(sim, api):
    body = b"<xml><body>" + b"A" * (10 * 1024 * 1024) + b"</body></xml>"
    assert fail_msg(api.raw_post(sim, "/pay/unifiedorder", body)).startswith("XML格式错误")


def test_ten_megabytes_chunked_without_length_is_refused(sim, api):
    chunks = (b"<xml><body>" if i == 0 else b"A" * 65536 for i in range(161))
    assert fail_msg(api.raw_post(sim, "/pay/unifiedorder", chunks)).startswith("XML格式错误")


def test_non_utf8_is_not_utf8(sim, api):
    body = "<xml><body>咖啡</body></xml>".encode("gb18030")
    assert fail_msg(api.raw_post(sim, "/pay/unifiedorder", body)) == "编码格式错误"


def test_downloadbill_refusals_carry_error_code(sim, api):
    response = api.raw_post(sim, "/pay/downloadbill", XXE)
    fields = xmlcodec.decode(response.content)
    assert fields["return_code"] == "FAIL" and fields["error_code"] == "20001"


def test_the_simulator_still_works_after_all_that(sim, api):
    assert api.place_order(sim)["code_url"]
