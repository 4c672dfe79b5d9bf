"""The cashier's page: one HTML document; its script and style are static files served here.

The page needs nothing from the network but this till: the words come inlined
as JSON in the store's language, the products likewise, and the payment QR is
an SVG the till draws (:mod:`pos.till.qrsvg`).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from pos.till.present import product_json

bp = Blueprint("pages", __name__)


@bp.get("/")
def cashier() -> str:
    till = current_app.extensions["pos_till"]
    config = till.config
    return render_template(
        "cashier.html",
        lang=config.store.language,
        t=till.t,
        words=till.t.words("page.", "status.", "printer.", "error."),
        store=config.store,
        lane=config.till.lane,
        show_code_url=config.till.show_code_url,
        products=[product_json(p) for p in till.catalogue.values()],
        settings={"language": config.store.language, "lane": config.till.lane, "store": config.store.id},
    )
