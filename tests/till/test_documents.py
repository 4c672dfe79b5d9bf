"""render_job: from ledger records (a real SQLite file) to the receipt templates' Documents."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest

from pos import config
from pos.i18n import translator
from pos.ledger import JobKind, LineItem, open_ledger
from pos.printing.encoder import encode
from pos.printing.profiles import load_profile
from pos.receipts import templates
from pos.receipts.document import QR, Document
from pos.testing.clock import FakeClock
from pos.till.documents import RenderError, render_job
from pos.wechatpay.modeone import parse_bizpayurl

START = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def db_path(database, tmp_path):
    """The SQLite file, for tests that edit or lock it by hand (SQLite only)."""
    if database.kind != "sqlite":
        pytest.skip("edits or locks the SQLite file itself")
    return tmp_path / "pos.sqlite3"


@pytest.fixture
def ledger(database_url, clock):
    with open_ledger(database_url, clock=clock) as opened:
        yield opened


def make_config(language: str = "zh-CN", **store) -> config.Config:
    store_values = {
        "name": "街角咖啡" if language == "zh-CN" else "Corner Cafe",
        "address": "上海市徐汇区漕溪北路 88 号" if language == "zh-CN" else "88 Caoxi North Rd",
        "phone": "021-5555 0000",
        "footer": "欢迎再来" if language == "zh-CN" else "See you again",
        "language": language,
        **store,
    }
    data = {
        "store": store_values,
        "products": [{"id": "P001", "name": "拿铁" if language == "zh-CN" else "Latte", "price": "18.00"}],
    }
    return config.from_mapping(data, "<test>", env={})


@pytest.fixture
def cfg() -> config.Config:
    return make_config()


def awaiting(ledger, clock, items=(("拿铁", 1800, 2), ("司康", 1200, 1)), cashier="小王", lane="01"):
    sale = ledger.create_sale(
        store="S01", lane=lane, items=[LineItem(n, p, q) for n, p, q in items], cashier=cashier
    )
    return ledger.record_order(
        sale.id,
        code_url=f"weixin://wxpay/bizpayurl?pr=Q{sale.id:06d}",
        prepay_id=f"wx{sale.id:030d}",
        expires_at=clock.now + timedelta(minutes=15),
    )


def paid(ledger, clock, sale, transaction_id="4200000001202611270000000001"):
    outcome = ledger.mark_paid(
        sale.out_trade_no,
        transaction_id=transaction_id,
        total_fee=sale.total_fee,
        time_end=clock.now,
        source="notice",
    )
    return outcome.sale


def last_job(ledger, sale_id, kind):
    return [j for j in ledger.jobs_for_sale(sale_id) if j.kind == kind][-1]


def text_of(document: Document) -> str:
    return "\n".join(document.text_lines())


# -- one test per kind --------------------------------------------------------------------------


def test_sale_slip_is_the_sale_as_recorded(ledger, clock, cfg):
    sale = awaiting(ledger, clock)
    job = last_job(ledger, sale.id, JobKind.SALE_SLIP)
    document = render_job(job, ledger, cfg, 48)
    expected = templates.sale_slip(
        templates.SaleSlipData(
            store_name=cfg.store.name,
            lane="01",
            cashier="小王",
            out_trade_no=sale.out_trade_no,
            items=(templates.LineItem("拿铁", 2, 1800), templates.LineItem("司康", 1, 1200)),
            total_fen=4800,
            code_url=sale.code_url,
            expires_at=sale.expires_at,
            timezone="Asia/Shanghai",
            created_at=sale.created_at,
            store_address=cfg.store.address,
            store_phone=cfg.store.phone,
            footer=cfg.store.footer,
        ),
        48,
        "zh-CN",
    )
    assert document == expected
    assert document.qr_data() == [sale.code_url]
    assert document.out_trade_no == sale.out_trade_no
    assert "10:15" in text_of(document)  # the deadline in the store's zone (02:15 UTC)


def test_sale_keyed_in_as_an_amount_prints_its_description(ledger, clock, cfg):
    sale = ledger.create_sale(store="S01", lane="02", total_fee=990, body="快速收款", cashier="")
    sale = ledger.record_order(
        sale.id, code_url="weixin://wxpay/bizpayurl?pr=K1", prepay_id="wx1", expires_at=clock.now
    )
    document = render_job(last_job(ledger, sale.id, JobKind.SALE_SLIP), ledger, cfg, 32)
    text = text_of(document)
    assert "快速收款" in text and "￥9.90" in text and f"{translator('zh-CN')('slip.lane')}: 02" in text


def test_columns_may_be_given_as_a_profile(ledger, clock, cfg):
    sale = awaiting(ledger, clock)
    job = last_job(ledger, sale.id, JobKind.SALE_SLIP)
    narrow = load_profile("xp58")
    assert render_job(job, ledger, cfg, narrow) == render_job(job, ledger, cfg, narrow.columns)
    assert render_job(job, ledger, cfg, 32) != render_job(job, ledger, cfg, 48)


def test_confirmation_carries_the_payment(ledger, clock, cfg):
    sale = awaiting(ledger, clock)
    clock.advance(minutes=3)
    sale = paid(ledger, clock, sale)
    document = render_job(last_job(ledger, sale.id, JobKind.CONFIRMATION), ledger, cfg, 48)
    assert document.kind == "paid"
    text = text_of(document)
    assert "4200000001202611270000000001" in text
    assert "2026-11-27 10:03:00" in text  # paid_at in Shanghai time
    assert "￥48.00" in text and cfg.store.footer in text


def test_confirmation_for_an_unpaid_sale_is_a_render_error(ledger, clock, cfg):
    sale = awaiting(ledger, clock)
    job = ledger.enqueue_job("confirmation", sale_id=sale.id)
    with pytest.raises(RenderError, match=rf"print job {job.id} \(confirmation\).*AWAITING_PAYMENT"):
        render_job(job, ledger, cfg, 48)


def test_void_notice_gives_the_reason_and_expired_notice_says_expired(ledger, clock, cfg):
    voided = awaiting(ledger, clock)
    clock.advance(minutes=1)
    ledger.mark_voided(voided.id, by="小王", reason="顾客改用现金")
    void_doc = render_job(last_job(ledger, voided.id, JobKind.VOID_NOTICE), ledger, cfg, 48)
    assert void_doc.kind == "void"
    assert translator("zh-CN")("slip.void_title") in text_of(void_doc) and "顾客改用现金" in text_of(void_doc)
    assert "2026-11-27 10:01" in text_of(void_doc)

    expired = awaiting(ledger, clock)
    clock.advance(minutes=20)
    ledger.mark_expired(expired.id)
    expired_doc = render_job(last_job(ledger, expired.id, JobKind.EXPIRED_NOTICE), ledger, cfg, 48)
    assert expired_doc.kind == "expired"
    assert translator("zh-CN")("slip.expired_title") in text_of(expired_doc)
    assert expired_doc.out_trade_no == expired.out_trade_no


def test_refund_slip_names_the_refund_from_the_payload_or_the_latest(ledger, clock, cfg):
    sale = paid(ledger, clock, awaiting(ledger, clock))
    first = ledger.start_refund(sale.id, 1200, reason="司康售罄")
    ledger.complete_refund(first.out_refund_no, refund_id="50300000001")
    second = ledger.start_refund(sale.id, 600)
    ledger.complete_refund(second.out_refund_no, refund_id="50300000002")
    jobs = [j for j in ledger.jobs_for_sale(sale.id) if j.kind == JobKind.REFUND_SLIP]
    assert [j.payload for j in jobs] == [
        {"out_refund_no": first.out_refund_no},
        {"out_refund_no": second.out_refund_no},
    ]
    first_doc = render_job(jobs[0], ledger, cfg, 48)
    assert first_doc.kind == "refund"
    assert "50300000001" in text_of(first_doc) and "￥12.00" in text_of(first_doc)
    assert "司康售罄" in text_of(first_doc)
    without_payload = dataclasses.replace(jobs[0], payload=None)
    assert "50300000002" in text_of(render_job(without_payload, ledger, cfg, 48))


def test_refund_slip_for_a_refund_still_pending_is_refused(ledger, clock, cfg):
    sale = paid(ledger, clock, awaiting(ledger, clock))
    pending = ledger.start_refund(sale.id, 100)
    job = ledger.enqueue_job("refund_slip", sale_id=sale.id, payload={"out_refund_no": pending.out_refund_no})
    with pytest.raises(RenderError, match="PENDING"):
        render_job(job, ledger, cfg, 48)
    missing = ledger.enqueue_job("refund_slip", sale_id=sale.id, payload={"out_refund_no": "NOPE-R9"})
    with pytest.raises(RenderError, match="no refund with out_refund_no 'NOPE-R9'"):
        render_job(missing, ledger, cfg, 48)


def test_z_report_adds_up_the_business_day_from_sales_for_day(ledger, clock, cfg):
    paid(ledger, clock, awaiting(ledger, clock))  # 4800, paid
    two = paid(
        ledger, clock, awaiting(ledger, clock, items=(("美式", 1500, 1),)), "4200000001202611270000000002"
    )
    refund = ledger.start_refund(two.id, 500)
    ledger.complete_refund(refund.out_refund_no)  # two: PARTLY_REFUNDED, 500 back
    three = awaiting(ledger, clock, items=(("茶", 800, 1),), lane="02")
    ledger.mark_expired(three.id)
    awaiting(ledger, clock, items=(("水", 300, 1),))  # still awaiting: past its deadline when printed
    ledger.create_sale(store="S02", lane="01", total_fee=99999, body="other store")  # not ours
    clock.advance(days=1)
    ledger.create_sale(store="S01", lane="01", total_fee=77777, body="the next day")
    job = ledger.enqueue_job("z_report", payload={"business_date": "2026-11-27"})
    job = ledger.claim_next_job()  # the sale slips come first
    while job.kind != JobKind.Z_REPORT:
        ledger.job_done(job.id)
        job = ledger.claim_next_job()
    document = render_job(job, ledger, cfg, 48)
    assert document.kind == "z_report"
    expected = templates.z_report(
        templates.ZReportData(
            store_name=cfg.store.name,
            business_day=date(2026, 11, 27),
            printed_at=job.claimed_at,
            by_state=(
                templates.StateTotal("CLOSING", 1, 300),  # a day later: not payable in time, not closed
                templates.StateTotal("PAID", 1, 4800),
                templates.StateTotal("PARTLY_REFUNDED", 1, 1500),
                templates.StateTotal("EXPIRED", 1, 800),
            ),
            paid_fen=6300,
            refunded_fen=500,
        ),
        48,
        "zh-CN",
    )
    assert document == expected
    assert translator("zh-CN").state("EXPIRED") in text_of(document) and "￥58.00" in text_of(document)

    by_lane = ledger.enqueue_job("z_report", payload={"business_date": "2026-11-27", "lane": "02"})
    lane_doc = render_job(by_lane, ledger, cfg, 48)
    assert "￥8.00" in text_of(lane_doc) and "￥48.00" not in text_of(lane_doc)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (None, "must name the day"),
        ({"business_date": "27.11.2026"}, "not a date"),
        ({"day": 1}, "name the day"),
    ],
)
def test_z_report_without_a_good_day_is_a_render_error(ledger, cfg, payload, problem):
    job = ledger.enqueue_job("z_report", payload=payload)
    with pytest.raises(RenderError, match=problem):
        render_job(job, ledger, cfg, 48)


def test_label_from_its_payload(ledger, cfg):
    url = "weixin://wxpay/bizpayurl?appid=wx1&mch_id=1&nonce_str=n&product_id=P9&sign=S&time_stamp=1"
    job = ledger.enqueue_job(
        "label", payload={"product_id": "P9", "name": "手冲咖啡", "price": "25.00", "code_url": url}
    )
    document = render_job(job, ledger, cfg, 48)
    assert document == templates.product_label(templates.LabelData("手冲咖啡", 2500, url, "P9"), 48, "zh-CN")
    fen = ledger.enqueue_job("label", payload={"name": "Tea", "price_fen": 800, "url": url})
    assert "￥8.00" in text_of(render_job(fen, ledger, cfg, 48))


def test_label_for_a_catalogue_product_is_signed_for_mode_one_and_stable(ledger, cfg):
    job = ledger.enqueue_job("label", payload={"product_id": "P001"})
    document = render_job(job, ledger, cfg, 48)
    (url,) = document.qr_data()
    link = parse_bizpayurl(
        url, api_key=cfg.merchant.api_key, appid=cfg.merchant.appid, mch_id=cfg.merchant.mch_id
    )
    assert link.product_id == "P001" and link.time_stamp == int(job.created_at.timestamp())
    assert "拿铁" in text_of(document) and "￥18.00" in text_of(document)
    assert render_job(job, ledger, cfg, 48) == document  # a retry prints the same QR


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"name": "Tea", "price": "8.00"}, "no code_url and no product_id"),
        ({"product_id": "P404", "code_url": "weixin://x"}, "no product name"),
        ({"name": "Tea", "code_url": "weixin://x"}, "no price"),
        ({"name": "Tea", "price": "eight", "code_url": "weixin://x"}, "price 'eight'"),
        ({"name": "Tea", "price_fen": -1, "code_url": "weixin://x"}, "price_fen"),
    ],
)
def test_label_with_bad_payload_is_a_render_error(ledger, cfg, payload, problem):
    job = ledger.enqueue_job("label", payload=payload)
    with pytest.raises(RenderError, match=problem):
        render_job(job, ledger, cfg, 48)


def test_test_job_is_the_calibration_slip_for_the_profile(ledger, cfg):
    job = ledger.enqueue_job("test")
    profile = load_profile("xp58")
    document = render_job(job, ledger, cfg, profile)
    assert document == templates.calibration_slip("xp58", profile.columns, "zh-CN")


def test_store_language_en_prints_english_words(ledger, clock):
    cfg = make_config("en")
    sale = paid(ledger, clock, awaiting(ledger, clock, items=(("Latte", 1800, 1),), cashier="Wang"))
    sale_doc = render_job(last_job(ledger, sale.id, JobKind.SALE_SLIP), ledger, cfg, 42)
    paid_doc = render_job(last_job(ledger, sale.id, JobKind.CONFIRMATION), ledger, cfg, 42)
    assert translator("en")("slip.sale_title") in text_of(sale_doc) and "Corner Cafe" in text_of(sale_doc)
    assert translator("en")("slip.paid_title") in text_of(paid_doc)
    encode(sale_doc, load_profile("tm-t88v"))  # all-ASCII: no Chinese font needed


def test_store_time_zone_is_used_for_printed_times(ledger, clock):
    cfg = make_config(timezone="Europe/London")
    sale = awaiting(ledger, clock)
    text = text_of(render_job(last_job(ledger, sale.id, JobKind.SALE_SLIP), ledger, cfg, 48))
    assert "2026-11-27 02:00" in text and "02:15" in text


# -- jobs that cannot be rendered ---------------------------------------------------------------


def test_sale_kind_without_a_sale_is_a_render_error(ledger, cfg):
    for kind in ("sale_slip", "confirmation", "void_notice", "expired_notice", "refund_slip"):
        job = ledger.enqueue_job(kind)
        with pytest.raises(RenderError, match=rf"print job {job.id} \({kind}\) belongs to no sale"):
            render_job(job, ledger, cfg, 48)


def test_job_whose_sale_was_deleted_is_a_render_error(ledger, clock, cfg, db_path):
    sale = awaiting(ledger, clock)
    job = last_job(ledger, sale.id, JobKind.SALE_SLIP)
    raw = sqlite3.connect(db_path)  # someone edits the file by hand, foreign keys off
    with raw:
        raw.execute("DELETE FROM sale_items WHERE sale_id = ?", (sale.id,))
        raw.execute("DELETE FROM events WHERE sale_id = ?", (sale.id,))
        raw.execute("DELETE FROM sales WHERE id = ?", (sale.id,))
    raw.close()
    with pytest.raises(RenderError, match=rf"print job {job.id} \(sale_slip\): no sale with id {sale.id}"):
        render_job(job, ledger, cfg, 48)


def test_unknown_kind_is_a_render_error(ledger, cfg):
    job = dataclasses.replace(ledger.enqueue_job("test"), kind="poster")
    with pytest.raises(RenderError, match=r"unknown kind 'poster'.*sale_slip, confirmation"):
        render_job(job, ledger, cfg, 48)


def test_sale_slip_for_a_sale_without_an_order_is_a_render_error(ledger, cfg):
    sale = ledger.create_sale(store="S01", lane="01", total_fee=100, body="x")
    job = ledger.enqueue_job("sale_slip", sale_id=sale.id)
    with pytest.raises(RenderError, match="is NEW and has no WeChat order"):
        render_job(job, ledger, cfg, 48)


def test_a_template_refusing_the_values_is_a_render_error(ledger, clock, cfg):
    sale = awaiting(ledger, clock)
    job = last_job(ledger, sale.id, JobKind.SALE_SLIP)
    french = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, language="fr"))
    with pytest.raises(RenderError, match=rf"print job {job.id}.*language must be one of"):
        render_job(job, ledger, french, 48)


def test_rendering_is_deterministic_and_every_document_has_blocks(ledger, clock, cfg):
    sale = paid(ledger, clock, awaiting(ledger, clock))
    for job in ledger.jobs_for_sale(sale.id):
        first = render_job(job, ledger, cfg, 48)
        assert first == render_job(job, ledger, cfg, 48)
        assert first.blocks and (
            job.kind != JobKind.SALE_SLIP or any(isinstance(b, QR) for b in first.blocks)
        )
