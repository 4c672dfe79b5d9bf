"""Mode-one bizpayurl links: the published vector, and reading them back."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from pos.wechatpay import modeone
from pos.wechatpay.errors import BadBizPayUrl

KEY = "192006250b4c09247ec02edce69f6a2d"
APPID = "wx2421b1c4370ec43b"
MCH_ID = "10000100"


def vector_url():
    return modeone.bizpayurl(
        "88888",
        appid=APPID,
        mch_id=MCH_ID,
        api_key=KEY,
        time_stamp=1414488825,
        nonce_str="f6808210402125e30663234f94c87a8c",
    )


def test_reproduces_the_published_vector():
    url = vector_url()
    assert url.startswith("weixin://wxpay/bizpayurl?sign=F7F116C5B792712848C3297798FEAAE8&")
    assert dict(parse_qsl(urlsplit(url).query)) == {
        "sign": "F7F116C5B792712848C3297798FEAAE8",
        "appid": APPID,
        "mch_id": MCH_ID,
        "product_id": "88888",
        "time_stamp": "1414488825",
        "nonce_str": "f6808210402125e30663234f94c87a8c",
    }


def test_parse_reads_back_and_verifies():
    link = modeone.parse_bizpayurl(vector_url(), api_key=KEY, appid=APPID, mch_id=MCH_ID)
    assert (link.product_id, link.time_stamp, link.nonce_str) == (
        "88888",
        1414488825,
        "f6808210402125e30663234f94c87a8c",
    )
    assert link.fields["sign"] == "F7F116C5B792712848C3297798FEAAE8"


def test_parameter_order_does_not_matter():
    query = dict(parse_qsl(urlsplit(vector_url()).query))
    shuffled = "weixin://wxpay/bizpayurl?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
    assert modeone.parse_bizpayurl(shuffled, api_key=KEY).product_id == "88888"


def test_defaults_give_fresh_nonce_and_current_time():
    a = modeone.parse_bizpayurl(
        modeone.bizpayurl("SKU-1", appid=APPID, mch_id=MCH_ID, api_key=KEY), api_key=KEY
    )
    b = modeone.parse_bizpayurl(
        modeone.bizpayurl("SKU-1", appid=APPID, mch_id=MCH_ID, api_key=KEY), api_key=KEY
    )
    assert a.nonce_str != b.nonce_str
    assert len(str(a.time_stamp)) == 10


def test_product_ids_that_need_escaping_survive():
    url = modeone.bizpayurl("A&B=C 1", appid=APPID, mch_id=MCH_ID, api_key=KEY)
    assert modeone.parse_bizpayurl(url, api_key=KEY).product_id == "A&B=C 1"


@pytest.mark.parametrize("product_id", ["", "x" * 33])
def test_product_id_length(product_id):
    with pytest.raises(ValueError):
        modeone.bizpayurl(product_id, appid=APPID, mch_id=MCH_ID, api_key=KEY)


def test_tampered_or_wrong_key_or_foreign():
    url = vector_url()
    with pytest.raises(BadBizPayUrl, match="sign"):
        modeone.parse_bizpayurl(url.replace("product_id=88888", "product_id=88889"), api_key=KEY)
    with pytest.raises(BadBizPayUrl, match="sign"):
        modeone.parse_bizpayurl(url, api_key="0" * 32)
    with pytest.raises(BadBizPayUrl, match="appid"):
        modeone.parse_bizpayurl(url, api_key=KEY, appid="wx0")
    with pytest.raises(BadBizPayUrl, match="mch_id"):
        modeone.parse_bizpayurl(url, api_key=KEY, mch_id="1")


@pytest.mark.parametrize(
    "url",
    [
        "weixin://wxpay/bizpayurl?pr=GkbUkg4",
        "https://example.com/?product_id=1",
        "weixin://wxpay/bizpayurl?appid=a&mch_id=b&product_id=c&time_stamp=1&nonce_str=n",
        "weixin://wxpay/bizpayurl?appid=a&appid=b&mch_id=b&product_id=c&time_stamp=1&nonce_str=n&sign=X",
        "weixin://wxpay/bizpayurl?appid=a&mch_id=b&product_id=c&time_stamp=soon&nonce_str=n&sign=X",
    ],
    ids=["mode-two", "not-weixin", "no-sign", "duplicate", "bad-time"],
)
def test_malformed_links(url):
    with pytest.raises(BadBizPayUrl):
        modeone.parse_bizpayurl(url, api_key=KEY)


def test_is_bizpayurl_tells_mode_one_from_mode_two():
    assert modeone.is_bizpayurl(vector_url())
    assert not modeone.is_bizpayurl("weixin://wxpay/bizpayurl?pr=GkbUkg4")
    assert not modeone.is_bizpayurl("weixin://wxpay/s/An4baqw")
