"""The chain's day (``/manager/chain``): every store's takings by lane, for the chain's manager.

One ``GROUP BY store, lane`` in the ledger (:func:`pos.ledger.chain.takings_by_lane`); each
store's line links to that store's day (``/manager/day?store=...``, the day view a store's
manager sees), and the chain's CSV (``/manager/day.csv?store=*``) is one click away. A
store's manager is refused (403): they see their own store only (:mod:`.scope`).

A store or lane that rang up nothing this day but did on one of the
:data:`~pos.ledger.chain.RECENT_DAYS` before is listed too, with zeros and "no sales this day"
(and its last day with a sale): the manager must be able to tell a store that took nothing, its
till down or its doors shut, from one that does not exist. The CSV lists sales, so it has no
line for them.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Response, g, redirect, render_template

from pos.inputs import InputError
from pos.ledger.chain import RECENT_DAYS, takings_by_lane
from pos.manager.blueprint import bp, day_arg, notice, till, words
from pos.manager.scope import require_chain
from pos.money import format_price


@bp.get("/chain")
def chain_day() -> Response:
    require_chain()
    service = till()
    w = words()
    try:
        day = day_arg()
    except InputError as exc:
        notice("error", service.t(exc.key, **exc.values))
        return redirect("/manager/chain", code=303)
    stores = takings_by_lane(service.ledger, day)
    notices, g.manager_session.notices = list(g.manager_session.notices), []
    html = render_template(
        "manager/chain.html",
        w=w,
        lang=w.language,
        store=service.config.store,
        csrf_token=g.manager_session.csrf_token,
        day=day,
        today=service.today(),
        weekday=w.weekday(day.weekday()),
        prev_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        stores=stores,
        any_quiet=any(lane.quiet for s in stores for lane in s.lanes),
        recent_days=RECENT_DAYS,
        paid_count=sum(s.paid_count for s in stores),
        paid_fee=sum(s.paid_fee for s in stores),
        refunded_fee=sum(s.refunded_fee for s in stores),
        price=format_price,
        notices=notices,
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
