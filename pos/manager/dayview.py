"""The manager's day: the day view, its CSV and its JSON (``/manager/day``, ``/day.csv``,
``/api/day``). Pages are plain server-rendered HTML with one stylesheet and no script at all, so
they work on any tablet browser and under the till's Content-Security-Policy.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from flask import Response, g, jsonify, redirect, render_template, request, stream_with_context
from markupsafe import Markup

from pos.inputs import InputError
from pos.ledger import Flag, SaleState
from pos.ledger.cashiers import CashierTakings, takings_by_cashier
from pos.ledger.models import PAID_STATES
from pos.ledger.reconciliation import latest_reconciliation
from pos.manager.blueprint import (
    CHART_WEEKS,
    EARLIER_TTL,
    FILTERS,
    PAGE_SIZE,
    bp,
    day_arg,
    notice,
    state,
    till,
    words,
)
from pos.manager.chart import takings_svg
from pos.manager.held import held_json, held_views
from pos.manager.scope import ALL, is_chain, may_see, shown_store
from pos.manager.words import Words
from pos.money import format_price
from pos.reports import day as report
from pos.reports.chain import chain_csv_chunks


@bp.get("/")
def home() -> Response:
    return redirect("/manager/chain" if is_chain() else "/manager/day", code=303)


@bp.get("/day")
def day_view() -> Response:
    service = till()
    config = service.config
    w = words()
    try:
        day = day_arg()
    except InputError as exc:  # a malformed day, or one outside the ledger's calendar: say which
        notice("error", service.t(exc.key, **exc.values))
        return redirect("/manager/day", code=303)
    store = shown_store()  # the till's own, or for the chain's manager the one asked for
    zone = config.store.zone
    shown = request.args.get("show", "all")
    if shown not in FILTERS:
        shown = "all"
    now = service.now()
    figures = report.day_figures(service.ledger, day, store=store, now=now)
    states = [SaleState(shown)] if shown not in ("all", "flagged") else []
    total = (
        figures.count
        if shown == "all"
        else (
            figures.count_of(SaleState(shown))
            if states
            else report.count_sales(service.ledger, day, store=store, flagged_only=True)
        )
    )
    pages = max(1, -(-total // PAGE_SIZE))
    page = _int_arg("page", 1, 1, pages)
    lines = list(
        report.sale_lines(
            service.ledger,
            day,
            store=store,
            zone=zone,
            states=states,
            flagged_only=shown == "flagged",
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    )
    earlier_days = report.same_weekdays(day, CHART_WEEKS)
    hourly = report.hourly_takings(service.ledger, [day], store=store, zone=zone)
    hourly.update(_earlier_takings(earlier_days, store))
    weekday = w.weekday(day.weekday())
    chart = takings_svg(
        hourly[day],
        [hourly[d] for d in earlier_days],
        label=f"{w('day.chart')} · {w('day.chart_this', day=day.isoformat(), weekday=weekday)}",
        earlier_label=w("day.chart_before", weeks=CHART_WEEKS),
    )
    notices, g.manager_session.notices = list(g.manager_session.notices), []
    html = render_template(
        "manager/day.html",
        w=w,
        lang=w.language,
        store=config.store,
        csrf_token=g.manager_session.csrf_token,
        day=day,
        today=service.today(),
        weekday=weekday,
        prev_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        figures=figures,
        by_cashier=_by_cashier(day, store),
        price=format_price,
        state_word=w.status,
        line_word=lambda line: w.line_state(line, now),
        closing=lambda line: line.closing(now),
        lines=lines,
        shown=shown,
        page=page,
        pages=pages,
        total=total,
        chart=Markup(chart),
        chart_weeks=CHART_WEEKS,
        has_takings=any(hourly[day]),
        flags=[_flag_view(f, w) for f in _day_flags(day, store)],
        held=held_views(service.ledger, store, w, zone),
        reconciliation=_reconciliation(day),
        chain=is_chain(),
        shown_store=store,
        notices=notices,
        refundable_states=PAID_STATES,
        local=lambda moment: moment.astimezone(zone).strftime("%H:%M:%S") if moment else "",
        local_full=lambda moment: moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "",
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _earlier_takings(days: list[date], store: str) -> dict[date, tuple[int, ...]]:
    """Hourly takings of the chart's earlier weeks, computed at most every EARLIER_TTL seconds.

    Those days are a week old or more: only a late correction (a payment found by the bill)
    changes them, so the chart may show it a few minutes late; the day itself is always fresh.
    """
    service = till()
    cache = state().earlier_takings
    now = time.monotonic()
    missing = [d for d in days if (store, d) not in cache or cache[store, d][0] < now]
    if missing:
        fresh = report.hourly_takings(service.ledger, missing, store=store, zone=service.config.store.zone)
        if len(cache) > 1000:
            cache.clear()
        for d in missing:
            cache[store, d] = (now + EARLIER_TTL, fresh[d])
    return {d: cache[store, d][1] for d in days}


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return min(max(value, low), high)


def _day_flags(day: date, store: str) -> list[Flag]:
    service = till()
    return report.day_flags(service.ledger, day, store=store, zone=service.config.store.zone)


def _flag_view(flag: Flag, w: Words) -> dict[str, Any]:
    detail = flag.detail or {}
    kind = str(getattr(flag.kind, "value", flag.kind))

    def fee(key: str) -> str:
        value = detail.get(key)
        return format_price(value) if isinstance(value, int) else "-"

    values = {
        "reported": fee("total_fee"),
        "expected": fee("sale_total_fee"),
        "amount": fee("total_fee") if "total_fee" in detail else fee("refund_fee"),
        "closed": w(f"closed.{detail.get('closed_as', 'VOIDED')}")
        if detail.get("closed_as") in ("VOIDED", "EXPIRED")
        else w("closed.VOIDED"),
        "transaction_id": detail.get("transaction_id", "-"),
        "out_trade_no": flag.out_trade_no or detail.get("out_trade_no", "-"),
        "out_refund_no": detail.get("out_refund_no", "-"),
        "message": detail.get("message", ""),
    }
    known = f"flag.{kind}.what" in w
    return {
        "id": flag.id,
        "kind": kind,
        "title": w(f"flag.{kind}") if f"flag.{kind}" in w else kind,
        "what": w(f"flag.{kind}.what", **values) if known else str(detail),
        "todo": w(f"flag.{kind}.todo") if known else "",
        "out_trade_no": flag.out_trade_no,
        "sale_id": flag.sale_id,
        "raised_at": flag.raised_at,
        "resolved": flag.resolved_at is not None,
        "resolved_text": w(
            "flags.resolved",
            by=flag.resolved_by or "-",
            at=flag.resolved_at.astimezone(till().config.store.zone).strftime("%Y-%m-%d %H:%M")
            if flag.resolved_at
            else "",
            note=flag.resolution or "-",
        )
        if flag.resolved_at
        else "",
    }


def _reconciliation(day: date) -> dict[str, Any]:
    """The day's latest reconciliation with WeChat's bill, shaped for the page."""
    w = words()
    zone = till().config.store.zone
    result = latest_reconciliation(till().ledger, day)
    if result is None:
        return {"result": None}
    status = result.status.value
    problems = result.problems
    # The bill covers every store; a store's manager sees their own store's differences, and those
    # of no store (an order the ledger does not know, another channel's), never another store's.
    shown = [d for d in result.differences if not d.store or may_see(d.store)]
    filtered = len(shown) < len(result.differences)  # the run's counts and message are the chain's
    if filtered:
        problems = tuple(d for d in shown if d.is_difference)
        status = "differences" if problems else "matched" if status == "differences" else status
    return {
        "result": result,
        "status": status,
        "ok": status in ("matched", "no_bill"),
        "headline": w(f"recon.status.{status}", n=len(problems)),
        "ran_at": result.ran_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "message": "" if filtered else result.message,
        "store_only": w("recon.store_only", store=till().config.store.id) if filtered else "",
        "differences": [
            {
                "kind": w(f"diff.{d.kind.value}"),
                "out_trade_no": d.out_trade_no,
                "transaction_id": d.transaction_id,
                "fees": w(
                    "diff.fees",
                    ledger=format_price(d.ledger_fee) if d.ledger_fee is not None else "-",
                    bill=format_price(d.bill_fee) if d.bill_fee is not None else "-",
                ),
                "detail": d.detail,
                "store": d.store,
                "store_label": w("recon.store", store=d.store) if d.store else w("recon.store_unknown"),
            }
            for d in shown
        ],
    }


@bp.get("/day.csv")
def day_csv() -> Response:
    """The day's CSV, streamed as it is made (:func:`pos.reports.day.csv_chunks`): the header at
    once, then the sales a batch at a time from one snapshot of the day, in bounded memory."""
    service = till()
    config = service.config
    day = day_arg()
    store = shown_store(allow_all=True)  # ?store=*: every store, for the chain's manager only
    chunks = (
        chain_csv_chunks(
            service.ledger,
            day,
            zone=config.store.zone,
            language=config.store.language,
            state_words=words().states(),
        )
        if store == ALL
        else report.csv_chunks(
            service.ledger,
            day,
            store=store,
            zone=config.store.zone,
            language=config.store.language,
            state_words=words().states(),
        )
    )
    response = Response(stream_with_context(chunks), content_type="text/csv; charset=utf-8")
    name = f"pos-{'all' if store == ALL else store}-{day.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _by_cashier(day: date, store: str) -> list[CashierTakings]:
    """The day's takings per cashier, shown once any sale carries a cashier's name."""
    service = till()
    rows = takings_by_cashier(service.ledger, day, store=store)
    return rows if any(r.cashier for r in rows) else []


# -- JSON ----------------------------------------------------------------------------------------------


@bp.get("/api/day")
def api_day() -> Response:
    service = till()
    day = day_arg()
    store = shown_store()
    figures = report.day_figures(service.ledger, day, store=store, now=service.now())
    return jsonify(
        date=day.isoformat(),
        store=store,
        count=figures.count,
        paid_count=figures.paid_count,
        paid_fee=figures.paid_fee,
        refunded_fee=figures.refunded_fee,
        refund_pending_fee=figures.refund_pending_fee,
        refund_held={"count": figures.refund_held_count, "fee": figures.refund_held_fee},
        held_refunds=held_json(service.ledger, service.config.store.id),
        net_fee=figures.net_fee,
        closing={"count": figures.closing_count, "total_fee": figures.closing_fee},
        # Coupons: of the paid sales, what customers paid, the coupons, what the merchant settles.
        cash_fee=figures.cash_fee,
        coupon_fee=figures.coupon_fee,
        settled_fee=figures.settled_fee,
        settled_refunded_fee=figures.settled_refunds,
        settled_net_fee=figures.settled_net_fee,
        by_state={
            line.state.value: {"count": line.count, "total_fee": line.total_fee} for line in figures.by_state
        },
        by_cashier=[
            {
                "cashier": c.cashier,
                "sales": c.sales,
                "paid_count": c.paid_count,
                "paid_fee": c.paid_fee,
                "refunded_fee": c.refunded_fee,
                "net_fee": c.net_fee,
            }
            for c in takings_by_cashier(service.ledger, day, store=store)
        ],
        flags=[
            {
                "id": f.id,
                "kind": str(getattr(f.kind, "value", f.kind)),
                "out_trade_no": f.out_trade_no,
                "resolved": f.resolved_at is not None,
            }
            for f in _day_flags(day, store)
        ],
    )
