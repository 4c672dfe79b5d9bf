"""The listener: the one process WeChat's servers reach, and the one that decides a sale is paid.

    from pos.listener import build_server, create_app

    app = create_app(config, ledger)                     # POST /wechatpay/notify, /wechatpay/native-callback
    build_server(app, config.listener).run()             # waitress: body, header and time limits set

It believes only WeChat (a signature over every field, our appid and mch_id,
the sale's amount), loses no real payment (everything WeChat signed is stored
before SUCCESS is sent; a database failure answers FAIL so WeChat retries) and
marks nothing paid twice (the ledger's conditional update decides). It never
touches the printer: the ledger queues the confirmation slip in the same
transaction as the PAID state, and the till's spooler prints it.

Modules: :mod:`.app` (Flask routes and limits), :mod:`.notify` (payment
notices), :mod:`.modeone` (scan callbacks), :mod:`.reply` (replies and log
lines), :mod:`.server` (waitress settings, and the whole-request deadline slow
clients meet), :mod:`.cli` (``pos listen``, ``pos label``).
"""

from pos.lazy import lazy_exports

# Loaded when first asked for: ``pos.listener.cli`` lives in this package and must import without
# Flask and the ledger, for ``pos --help`` (see pos/cli.py and pos/lazy.py).
__getattr__ = lazy_exports(
    __name__,
    {
        "PaymentNotices": "pos.listener.notify",
        "Reply": "pos.listener.reply",
        "ScanCallbacks": "pos.listener.modeone",
        "build_server": "pos.listener.server",
        "create_app": "pos.listener.app",
    },
)

__all__ = [
    "PaymentNotices",
    "Reply",
    "ScanCallbacks",
    "build_server",
    "create_app",
]
