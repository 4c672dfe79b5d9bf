"""Mode one end to end: the simulator scans a label, calls our callback, pays the prepay_id, notifies us."""

from __future__ import annotations

import pytest

from pos import config as pos_config
from pos.ledger import JobKind, SaleState
from pos.listener import create_app
from pos.sandbox.testing import SimulatorError
from pos.wechatpay import sign as signing
from pos.wechatpay import xmlcodec
from pos.wechatpay.modeone import bizpayurl


def label_url(stack, product_id: str) -> str:
    m = stack.config.merchant
    return bizpayurl(product_id, appid=m.appid, mch_id=m.mch_id, api_key=m.api_key)


def callback_body(stack, key: str | None = None, **changes: str) -> bytes:
    m = stack.config.merchant
    fields = {
        "appid": m.appid,
        "mch_id": m.mch_id,
        "openid": "o8GeHuLAsgefS_80exEr1cTqekUs",
        "is_subscribe": "N",
        "nonce_str": signing.new_nonce(),
        "product_id": "latte",
        **changes,
    }
    return xmlcodec.encode_as_wechat(signing.signed(fields, key or m.api_key))


def test_a_scanned_label_becomes_a_paid_sale_with_a_confirmation_and_no_qr_slip(stack):
    openid = "oScanner_" + signing.new_nonce()[:12]
    order = stack.sim.scan(label_url(stack, "latte"), openid=openid)
    stack.sim.wait_for_notifications(1, outcome="ok", out_trade_no=order["out_trade_no"])

    sale = stack.ledger.sale_by_out_trade_no(order["out_trade_no"])
    assert sale.state is SaleState.PAID
    assert sale.total_fee == 1800
    assert [(i.name, i.unit_price) for i in sale.items] == [("拿铁", 1800)]
    assert [j.kind for j in stack.ledger.jobs_for_sale(sale.id)] == [JobKind.CONFIRMATION]
    # The order WeChat saw: NATIVE, the label's product id, the payer's openid, our notify_url.
    placed = next(o for o in stack.sim.sim.state.orders.values() if o.out_trade_no == sale.out_trade_no)
    assert placed.param("trade_type") == "NATIVE"
    assert placed.param("product_id") == "latte"
    assert placed.param("openid") == openid
    assert placed.param("notify_url") == stack.notify_url
    assert [m.verdict for m in stack.ledger.messages_for(sale.out_trade_no)] == ["ordered", "paid"]


def test_a_short_link_label_scans_too(stack):
    short = stack.client.short_url(label_url(stack, "bagel"))
    assert short.startswith("weixin://wxpay/s/")
    order = stack.sim.scan(short)
    stack.sim.wait_for_notifications(1, outcome="ok", out_trade_no=order["out_trade_no"])
    sale = stack.ledger.sale_by_out_trade_no(order["out_trade_no"])
    assert (sale.state, sale.total_fee) == (SaleState.PAID, 950)


def test_a_label_printed_with_another_case_of_the_id_still_sells(stack):
    """Ids match without case everywhere, so a label signed as ``LATTE`` sells the ``latte`` entry."""
    order = stack.sim.scan(label_url(stack, "LATTE"))
    stack.sim.wait_for_notifications(1, outcome="ok", out_trade_no=order["out_trade_no"])
    sale = stack.ledger.sale_by_out_trade_no(order["out_trade_no"])
    assert (sale.state, [i.name for i in sale.items]) == (SaleState.PAID, ["拿铁"])


def test_an_unknown_product_gets_a_signed_refusal_the_customer_reads(stack):
    with pytest.raises(SimulatorError) as refused:
        stack.sim.scan(label_url(stack, "gone"))
    assert refused.value.error == "merchant_refused"  # the reply's sign checked out at the simulator
    assert refused.value.message == "商品不存在或已下架"
    assert stack.ledger.pending_sales() == []


def test_the_refusal_is_signed_and_names_our_merchant(stack):
    response = stack.post(callback_body(stack, product_id="gone"), path="/wechatpay/native-callback")
    fields = xmlcodec.decode(response.content)
    assert response.status_code == 200
    assert (fields["return_code"], fields["result_code"]) == ("SUCCESS", "FAIL")
    assert fields["err_code_des"] == "商品不存在或已下架"
    assert fields["appid"] == stack.config.merchant.appid
    assert signing.is_valid(fields, stack.config.merchant.api_key)


def test_a_forged_callback_is_refused_and_rings_up_nothing(stack):
    response = stack.post(callback_body(stack, key="0" * 32), path="/wechatpay/native-callback")
    assert b"<return_code><![CDATA[FAIL]]></return_code>" in response.content
    assert b"prepay_id" not in response.content
    assert stack.ledger.pending_sales() == []


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><product_id>&x;</product_id></xml>',
        b"<xml><product_id><a/></product_id></xml>",
        "<xml><product_id>拿铁</product_id></xml>".encode("gbk"),
    ],
    ids=["xxe", "nested", "gbk"],
)
def test_hostile_callback_bodies_are_refused(stack, body):
    response = stack.post(body, path="/wechatpay/native-callback")
    assert response.status_code == 400
    assert b"FAIL" in response.content and b"Traceback" not in response.content
    assert stack.ledger.pending_sales() == []


def test_when_wechat_cannot_take_the_order_the_customer_is_told_and_the_sale_failed(stack, serve):
    # The same shop, but WeChat's API is unreachable from the listener.
    merchant = pos_config.MerchantConfig(
        **{**stack.config.merchant.__dict__, "api_base": "http://127.0.0.1:9"}
    )
    app = create_app(stack.config.replace(merchant=merchant), stack.ledger)
    served = serve(app)
    response = stack.http.post(
        served.base_url + "/wechatpay/native-callback", data=callback_body(stack), timeout=30
    )
    fields = xmlcodec.decode(response.content)
    assert fields["result_code"] == "FAIL"
    assert fields["err_code_des"].startswith("下单失败")
    assert signing.is_valid(fields, stack.config.merchant.api_key)
    (sale,) = stack.ledger.sales_for_day(stack.ledger.get_sale(1).business_date)
    assert sale.state is SaleState.FAILED
    assert stack.ledger.jobs_for_sale(sale.id) == []
