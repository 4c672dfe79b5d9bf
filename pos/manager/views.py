"""The manager's pages on the till's server: login, the day view and its actions.

Every URL is under ``/manager``. A request without a live, logged-in session
is sent to the login page (HTML) or answered 401 (``/manager/api/...``);
every POST must carry the session's CSRF token (see :mod:`.auth`). Pages are
plain server-rendered HTML with one stylesheet and no script at all, so they
work on any tablet browser and under the till's Content-Security-Policy.

The listener (the internet-facing process) never registers this blueprint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
)
from markupsafe import Markup

from pos import passwords
from pos.inputs import InputError, parse_day
from pos.ledger import Flag, JobKind, LedgerError, SaleState
from pos.ledger.cashiers import CashierTakings, takings_by_cashier
from pos.ledger.models import PAID_STATES
from pos.ledger.reconciliation import latest_reconciliation
from pos.log import get_logger
from pos.manager import auth
from pos.manager.chart import takings_svg
from pos.manager.host import Host
from pos.manager.words import Words
from pos.money import AmountTooLarge, MoneyError, format_price, max_price, parse_yuan
from pos.orders.refunds import RefundError, RefundService
from pos.reconcile import reconcile_day
from pos.reports import day as report

log = get_logger("pos.manager")

bp = Blueprint(
    "manager",
    __name__,
    url_prefix="/manager",
    template_folder="templates",
    static_folder="static",
)

PAGE_SIZE = 100
CHART_WEEKS = 4
EARLIER_TTL = 300.0  # seconds the chart's earlier weeks are kept
PUBLIC_ENDPOINTS = frozenset({"manager.login", "manager.login_post", "manager.static"})
FILTERS = ("all", "flagged", *(s.value for s in SaleState))


@dataclass
class ManagerState:
    """One per app: the sessions, the login guard, and the services built on first use."""

    sessions: auth.SessionStore
    guard: passwords.LoginGuard
    refunds: Any = None
    # The chart's earlier weeks: past days whose takings hardly change, kept a few minutes.
    earlier_takings: dict[tuple[str, date], tuple[float, tuple[int, ...]]] = field(default_factory=dict)


def till() -> Host:
    """The service whose app mounts these pages (the till's, under ``app.extensions["pos_till"]``)."""
    return current_app.extensions["pos_till"]


def state() -> ManagerState:
    app = current_app
    manager = app.extensions.get("pos_manager")
    if manager is None:
        service = till()
        settings = service.config.manager
        manager = ManagerState(
            sessions=auth.SessionStore(settings.session_minutes, service.now),
            guard=passwords.LoginGuard(settings.max_failures, service.now),
        )
        app.extensions["pos_manager"] = manager
    return manager


def words() -> Words:
    return Words(till().config.store.language)


# -- sessions, login, CSRF ---------------------------------------------------------------------------


def _address() -> str:
    return request.remote_addr or "?"


def _is_api() -> bool:
    return request.path.startswith("/manager/api/")


@bp.before_request
def guard_every_request() -> Response | None:
    """Sessions and CSRF for every manager URL except the login page and the stylesheet."""
    session = state().sessions.get(request.cookies.get(auth.COOKIE))
    g.manager_session = session
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if session is None or not session.authenticated:
        return _not_logged_in(expired=bool(request.cookies.get(auth.COOKIE)))
    if request.method == "POST" and not passwords.tokens_match(session.csrf_token, _posted_token()):
        log.warning("manager_csrf_refused", path=request.path, address=_address())
        return _page_error(403, words()("csrf"))
    return None


def _posted_token() -> str | None:
    return request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")


def _not_logged_in(*, expired: bool) -> Response:
    if _is_api():
        response = jsonify(error=words()("unauthorized"))
        response.status_code = 401
        return response
    target = request.full_path.rstrip("?") if request.method == "GET" else "/manager/"
    query = {"next": target}
    if expired:
        query["expired"] = "1"
    response = redirect(f"/manager/login?{urlencode(query)}", code=303)
    if expired:
        response.delete_cookie(auth.COOKIE, path=auth.COOKIE_PATH)
    return response


def _set_cookie(response: Response, session: auth.ManagerSession) -> Response:
    response.set_cookie(
        auth.COOKIE,
        session.id,
        path=auth.COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return response


def _safe_next(target: str | None) -> str:
    """Only our own manager pages: never another site, never a scheme-relative ``//host``."""
    if target and target.startswith("/manager/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/manager/"


@bp.get("/login")
def login() -> Response:
    session = g.manager_session
    if session is not None and session.authenticated:
        return redirect(_safe_next(request.args.get("next")), code=303)
    if session is None:
        session = state().sessions.new(authenticated=False, address=_address())
    notices = []
    if request.args.get("expired"):
        notices.append(("info", words()("login.expired")))
    return _set_cookie(_login_page(session, notices, 200), session)


def _login_page(session: auth.ManagerSession, notices: list[tuple[str, str]], status: int) -> Response:
    w = words()
    config = till().config
    lock = state().guard.locked_for(_address())
    if lock is not None:
        notices.append(("error", w("login.locked", minutes=_minutes(lock))))
    if not config.manager.password_hash:
        notices.append(("error", w("login.no_password")))
    html = render_template(
        "manager/login.html",
        w=w,
        lang=w.language,
        store=config.store,
        csrf_token=session.csrf_token,
        next=_safe_next(request.values.get("next")),
        notices=notices,
        locked=lock is not None,
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _minutes(wait: timedelta) -> int:
    return max(1, int((wait.total_seconds() + 59) // 60))


@bp.post("/login")
def login_post() -> Response:
    w = words()
    manager = state()
    session = g.manager_session
    if session is None:  # no form was opened here (or it expired): a fresh one to try again with
        fresh = manager.sessions.new(authenticated=False, address=_address())
        return _set_cookie(_login_page(fresh, [("error", w("csrf"))], 403), fresh)
    if not passwords.tokens_match(session.csrf_token, request.form.get("csrf_token")):
        # Perhaps a form on another site: refused, and the session this browser has (a manager's
        # logged-in one, perhaps) is left as it is, cookie and all.
        log.warning("manager_csrf_refused", path=request.path, address=_address())
        if session.authenticated:
            return _page_error(403, w("csrf"))
        return _login_page(session, [("error", w("csrf"))], 403)
    address = _address()
    mark = manager.guard.attempt(address)  # counted before the password is checked
    if isinstance(mark, timedelta):
        log.warning("manager_login_locked", address=address)
        return _login_page(session, [], 429)
    password = request.form.get("password", "")
    if not passwords.check_password(till().config.manager.password_hash, password):
        log.warning("manager_login_failed", address=address)
        notices = [("error", w("login.wrong"))]
        left = manager.guard.max_failures - manager.guard.failures(address)
        if manager.guard.locked_for(address) is None and 0 < left <= 2:
            notices.append(("error", w("login.tries_left", n=left, minutes=_minutes(manager.guard.cooling))))
        return _login_page(session, notices, 401)
    manager.guard.succeeded(address, mark)
    manager.sessions.drop(session.id)
    fresh = manager.sessions.new(authenticated=True, address=address)
    log.info("manager_login", address=address)
    return _set_cookie(redirect(_safe_next(request.form.get("next")), code=303), fresh)


@bp.post("/logout")
def logout() -> Response:
    state().sessions.drop(g.manager_session.id)
    response = redirect("/manager/login", code=303)
    response.delete_cookie(auth.COOKIE, path=auth.COOKIE_PATH)
    return response


# -- the day view -----------------------------------------------------------------------------------


def _day_arg() -> date:
    return parse_day(request.values.get("date"), till().today())


def _notice(kind: str, text: str) -> None:
    g.manager_session.notices.append((kind, text))


def _back_to_day(day: date, **extra: Any) -> Response:
    query = {"date": day.isoformat(), **{k: v for k, v in extra.items() if v}}
    return redirect(f"/manager/day?{urlencode(query)}", code=303)


@bp.get("/")
def home() -> Response:
    return redirect("/manager/day", code=303)


@bp.get("/day")
def day_view() -> Response:
    service = till()
    config = service.config
    w = words()
    try:
        day = _day_arg()
    except InputError as exc:  # a malformed day, or one outside the ledger's calendar: say which
        _notice("error", service.t(exc.key, **exc.values))
        return redirect("/manager/day", code=303)
    store = config.store.id
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
    hourly.update(_earlier_takings(earlier_days))
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
        by_cashier=_by_cashier(day),
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
        flags=[_flag_view(f, w) for f in _day_flags(day)],
        reconciliation=_reconciliation(day),
        notices=notices,
        refundable_states=PAID_STATES,
        local=lambda moment: moment.astimezone(zone).strftime("%H:%M:%S") if moment else "",
        local_full=lambda moment: moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "",
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _earlier_takings(days: list[date]) -> dict[date, tuple[int, ...]]:
    """Hourly takings of the chart's earlier weeks, computed at most every EARLIER_TTL seconds.

    Those days are a week old or more: only a late correction (a payment found by the bill)
    changes them, so the chart may show it a few minutes late; the day itself is always fresh.
    """
    service = till()
    store = service.config.store.id
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


def _day_flags(day: date) -> list[Flag]:
    service = till()
    return report.day_flags(
        service.ledger, day, store=service.config.store.id, zone=service.config.store.zone
    )


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
    return {
        "result": result,
        "status": status,
        "ok": status in ("matched", "no_bill"),
        "headline": w(f"recon.status.{status}", n=len(problems)),
        "ran_at": result.ran_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
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
            }
            for d in result.differences
        ],
    }


# -- actions ------------------------------------------------------------------------------------------


@bp.get("/day.csv")
def day_csv() -> Response:
    """The day's CSV, streamed as it is made (:func:`pos.reports.day.csv_chunks`): the header at
    once, then the sales a batch at a time from one snapshot of the day, in bounded memory."""
    service = till()
    config = service.config
    day = _day_arg()
    chunks = report.csv_chunks(
        service.ledger,
        day,
        store=config.store.id,
        zone=config.store.zone,
        language=config.store.language,
        state_words=words().states(),
    )
    response = Response(stream_with_context(chunks), content_type="text/csv; charset=utf-8")
    name = f"pos-{config.store.id}-{day.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/z-report")
def print_z_report() -> Response:
    service = till()
    day = _day_arg()
    job = service.spooler.enqueue(JobKind.Z_REPORT, payload={"business_date": day.isoformat()})
    log.info("manager_z_report", day=day, job=job.id)
    _notice("info", words()("day.z_queued", job=job.id))
    return _back_to_day(day)


@bp.post("/flags/<id:flag_id>/resolve")
def resolve_flag(flag_id: int) -> Response:
    service = till()
    day = _day_arg()
    note = (request.form.get("note") or "").strip()[:500]
    try:
        service.ledger.resolve_flag(flag_id, by=_by(), note=note)
    except LedgerError:
        return _page_error(404, service.t("error.not_found"))
    _notice("info", words()("flags.resolved_now"))
    return _back_to_day(day)


@bp.post("/reconcile")
def reconcile_now() -> Response:
    service = till()
    w = words()
    day = _day_arg()
    try:
        result = reconcile_day(service.ledger, service.client, service.config, day, now=service.now())
    except Exception as exc:  # the page must say what happened, not crash
        log.exception("manager_reconcile_failed", day=day)
        _notice("error", w("recon.failed", detail=str(exc) or type(exc).__name__))
        return _back_to_day(day)
    status = str(getattr(result.status, "value", result.status))
    problems = [d for d in result.differences if str(getattr(d.kind, "value", d.kind)) != "other_channel"]
    kind = "info" if status in ("matched", "no_bill") else "error"
    _notice(
        kind, w(f"recon.status.{status}", n=len(problems)) + (f" {result.message}" if result.message else "")
    )
    return _back_to_day(day)


@bp.post("/sales/<id:sale_id>/refund")
def refund_sale(sale_id: int) -> Response:
    service = till()
    w = words()
    day = _day_arg()
    back = {"show": request.form.get("show"), "page": request.form.get("page")}
    try:
        sale = service.ledger.get_sale(sale_id)
    except LedgerError:
        return _page_error(404, service.t("error.no_sale", id=sale_id))
    if sale.state not in PAID_STATES:
        _notice("error", w("refund.not_paid", out_trade_no=sale.out_trade_no, state=w.status(sale.state)))
        return _back_to_day(day, **back)
    try:
        fee = parse_yuan(request.form.get("amount", "").strip().lstrip("￥¥"))
    except MoneyError as exc:
        _notice("error", w("refund.bad_amount", problem=service.t(_money_problem(exc), max=max_price())))
        return _back_to_day(day, **back)
    if fee > sale.refundable_fee:
        left = format_price(sale.refundable_fee)
        _notice("error", w("refund.too_much", amount=format_price(fee), left=left))
        return _back_to_day(day, **back)
    refunds = _refund_service()
    reason = (request.form.get("reason") or "").strip()[:80]
    try:
        refund = refunds.refund(sale_id, fee, reason=reason, by=_by())
    except RefundError as exc:  # its text is already a sentence for the manager
        log.warning("manager_refund_refused", sale=sale_id, fee=fee, error=exc.code)
        _notice("error", w("refund.refused", detail=str(exc)))
        return _back_to_day(day, **back)
    _notice("info", f"{sale.out_trade_no}: {refunds.describe(refund)}")
    return _back_to_day(day, **back)


def _refund_service() -> RefundService:
    """The refund service over the till's ledger and WeChat client, built once per app."""
    manager = state()
    if manager.refunds is None:
        service = till()
        manager.refunds = RefundService(service.ledger, service.client, service.config, clock=service.clock)
    return manager.refunds


def _money_problem(exc: MoneyError) -> str:
    if isinstance(exc, AmountTooLarge):
        return "money.too_large"
    text = str(exc).lower()
    if "zero" in text or "more than" in text:
        return "money.zero"
    if "negative" in text:
        return "money.negative"
    if "large" in text or "too" in text:
        return "money.too_large"
    return "money.format"


def _by() -> str:
    return f"manager@{_address()}"[:64]


def _page_error(status: int, message: str) -> Response:
    if _is_api():
        response = jsonify(error=message)
        response.status_code = status
        return response
    w = words()
    html = render_template(
        "manager/error.html", w=w, lang=w.language, store=till().config.store, message=message
    )
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def _by_cashier(day: date) -> list[CashierTakings]:
    """The day's takings per cashier, shown once any sale carries a cashier's name."""
    service = till()
    rows = takings_by_cashier(service.ledger, day, store=service.config.store.id)
    return rows if any(r.cashier for r in rows) else []


# -- JSON ----------------------------------------------------------------------------------------------


@bp.get("/api/day")
def api_day() -> Response:
    service = till()
    day = _day_arg()
    figures = report.day_figures(service.ledger, day, store=service.config.store.id, now=service.now())
    return jsonify(
        date=day.isoformat(),
        count=figures.count,
        paid_count=figures.paid_count,
        paid_fee=figures.paid_fee,
        refunded_fee=figures.refunded_fee,
        refund_pending_fee=figures.refund_pending_fee,
        net_fee=figures.net_fee,
        closing={"count": figures.closing_count, "total_fee": figures.closing_fee},
        # Coupons: of the paid sales, what customers paid, the coupons, what the merchant settles.
        cash_fee=figures.cash_fee,
        coupon_fee=figures.coupon_fee,
        settled_fee=figures.settled_fee,
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
            for c in takings_by_cashier(service.ledger, day, store=service.config.store.id)
        ],
        flags=[
            {
                "id": f.id,
                "kind": str(getattr(f.kind, "value", f.kind)),
                "out_trade_no": f.out_trade_no,
                "resolved": f.resolved_at is not None,
            }
            for f in _day_flags(day)
        ],
    )
