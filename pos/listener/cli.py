"""``pos listen`` (the WeChat notification endpoint) and ``pos label`` (queue a mode-one shelf label).

``pos listen`` serves :func:`pos.listener.create_app` with waitress on ``[listener]
host:port`` (0.0.0.0:8701 by default; put TLS in front of it), on the ledger at
``[database] url``. ``pos label PRODUCT_ID`` queues a label print job for a
``[[products]]`` entry, carrying its signed ``weixin://wxpay/bizpayurl`` (or the
shorter ``weixin://wxpay/s/...`` from WeChat with ``--short``); the till's spooler
prints it. Neither command touches the printer.

Exit codes: 0 done, 1 WeChat or the database could not be reached, 2 a usage or
configuration problem.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from pos import config as pos_config
from pos.log import get_logger
from pos.ports import bind

log = get_logger("pos.listener.cli")

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE = 0, 1, 2
# WeChat waits 5 s for an answer: give up on a locked database in time to answer FAIL (it retries).
BUSY_TIMEOUT_MS = 3000


def register(subparsers: argparse._SubParsersAction) -> None:
    listen = subparsers.add_parser(
        "listen",
        help="serve the WeChat Pay notification endpoint and mode-one callback",
        description="Serve POST /wechatpay/notify, POST /wechatpay/native-callback and GET /healthz "
        "(nothing else) on [listener] host:port, marking sales paid in the ledger at [database] url.",
    )
    listen.add_argument("--host", help="address to listen on (default: [listener] host, 0.0.0.0)")
    listen.add_argument("--port", type=int, help="port to listen on (default: [listener] port, 8701)")
    listen.add_argument(
        "--workers",
        type=int,
        help="processes serving the port (default: [listener] workers, 1; 2 uses two cores)",
    )
    listen.set_defaults(func=cmd_listen)

    label = subparsers.add_parser(
        "label",
        help="queue a mode-one shelf label (a static pay QR) for a product",
        description="Queue a label print job for a [[products]] entry with its signed mode-one link; "
        "the till's spooler prints it.",
    )
    label.add_argument("product_id", metavar="PRODUCT_ID", help="the id of a [[products]] entry")
    label.add_argument(
        "--short",
        action="store_true",
        help="print WeChat's short link (weixin://wxpay/s/...) instead: a smaller, easier QR",
    )
    label.set_defaults(func=cmd_label)


def _fail(message: str, code: int) -> int:
    print(f"pos: {message}", file=sys.stderr)
    return code


def _open_ledger(config: pos_config.Config, **options):  # -> Ledger | str (the problem)
    from sqlalchemy.exc import SQLAlchemyError

    from pos.ledger import LedgerError, open_ledger

    try:
        return open_ledger(
            config.database.url, timezone=config.store.timezone, **config.database.pool, **options
        )
    except (SQLAlchemyError, LedgerError, OSError) as exc:
        return f"cannot open the ledger at [database] url {config.database.url!r}: {type(exc).__name__}"


def cmd_listen(args: argparse.Namespace) -> int:
    config = pos_config.load(args.config)
    port = config.listener.port if args.port is None else args.port
    if not 0 <= port <= 65535:
        return _fail(f"--port must be 0..65535, not {port}", EXIT_USAGE)
    workers = config.listener.workers if args.workers is None else args.workers
    if not 1 <= workers <= 16:
        return _fail(f"--workers must be 1..16, not {workers}", EXIT_USAGE)
    host = args.host or config.listener.host
    # The port first: a port in use is one line (pos.cli) and leaves no new ledger file behind.
    sock = bind(
        host, port, change="set [listener] port or --port", change_host="set [listener] host or --host"
    )
    with sock:
        ledger = _open_ledger(config, busy_timeout_ms=BUSY_TIMEOUT_MS)  # migrated here, once
        if isinstance(ledger, str):
            return _fail(ledger, EXIT_UNAVAILABLE)
        if workers == 1:
            return _listen_here(config, ledger, sock, host)
        ledger.close()  # each worker opens its own, after the fork
        return _listen_in_processes(config, sock, host, workers)


def _listen_here(config: pos_config.Config, ledger, sock: socket.socket, host: str) -> int:
    """One process: this one."""
    from pos.listener.app import create_app
    from pos.listener.server import build_server

    try:
        server = build_server(create_app(config, ledger), config.listener, sockets=[sock])
        _started(config, host, server.effective_port, workers=1)
        try:
            server.run()
        finally:
            server.close()
            log.info("listener_stopped")
    finally:
        ledger.close()
    return EXIT_OK


def _listen_in_processes(config: pos_config.Config, sock: socket.socket, host: str, workers: int) -> int:
    """``workers`` processes on one socket (see pos.listener.workers)."""
    from pos.listener.workers import serve_in_processes

    def serve(number: int) -> None:  # in a worker process
        from pos.listener.app import create_app
        from pos.listener.server import build_server

        ledger = _open_ledger(config, busy_timeout_ms=BUSY_TIMEOUT_MS)
        if isinstance(ledger, str):
            raise RuntimeError(ledger)
        try:
            server = build_server(create_app(config, ledger), config.listener, sockets=[sock])
            log.info("listener_worker_started", worker=number, pid=os.getpid())
            try:
                server.run()
            finally:
                server.close()
        finally:
            ledger.close()

    _started(config, host, sock.getsockname()[1], workers=workers)
    code = serve_in_processes(workers, serve)
    log.info("listener_stopped")
    return EXIT_OK if code == 0 else EXIT_UNAVAILABLE


def _started(config: pos_config.Config, host: str, port: int, *, workers: int) -> None:
    from pos.listener.reply import lean_log_records, quiet_duplicate_lines

    processes = f"; {workers} processes" if workers > 1 else ""
    print(
        f"pos listen: http://{host}:{port}/wechatpay/notify "
        f"(mode one: /wechatpay/native-callback) for mch_id {config.merchant.mch_id}{processes}; "
        "Ctrl-C stops",
        flush=True,
    )
    log.info("listener_started", host=host, port=port, workers=workers)
    # This process (and the workers it forks) is the listener from here on: its logging is set
    # up for it (see reply.py).
    quiet_duplicate_lines()  # one INFO line per notice, not the ledger's too
    lean_log_records()


def cmd_label(args: argparse.Namespace) -> int:
    from pos.ledger import JobKind
    from pos.listener.modeone import find_product
    from pos.money import format_price, parse_yuan
    from pos.wechatpay import WeChatPayClient, WeChatPayError
    from pos.wechatpay.modeone import bizpayurl

    config = pos_config.load(args.config)
    product = find_product(config, args.product_id)
    if product is None:
        known = ", ".join(p.id for p in config.products) or "none: add [[products]] to the config"
        return _fail(f"no product {args.product_id!r} in [[products]]; known ids: {known}", EXIT_USAGE)
    try:
        url = bizpayurl(
            product.id,
            appid=config.merchant.appid,
            mch_id=config.merchant.mch_id,
            api_key=config.merchant.api_key,
        )
    except ValueError as exc:
        return _fail(f"product {product.id!r}: {exc}", EXIT_USAGE)
    code_url = url
    if args.short:
        with WeChatPayClient.from_config(config.merchant) as client:
            try:
                code_url = client.short_url(url)
            except WeChatPayError as exc:
                return _fail(f"WeChat did not shorten the link ({type(exc).__name__}: {exc})", 1)
    ledger = _open_ledger(config)
    if isinstance(ledger, str):
        return _fail(ledger, EXIT_UNAVAILABLE)
    price_fen = parse_yuan(product.price)
    with ledger:
        job = ledger.enqueue_job(
            JobKind.LABEL,
            store=config.store.id,  # printed by this machine's till (many tills, one ledger)
            lane=config.till.lane,
            payload={
                "product_id": product.id,
                "product_name": product.name,
                "price_fen": price_fen,
                "code_url": code_url,
                "long_url": url,
            },
        )
    print(f"label job {job.id} queued: {product.name} {format_price(price_fen)} -> {code_url}")
    return EXIT_OK
