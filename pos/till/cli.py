"""``pos till`` serves the cashier's page; ``pos sale`` rings a sale up through it and waits.

``pos till [--host H] [--port P]`` opens the ledger, starts the print spooler
and the payment watcher, and serves the page and the JSON API with waitress
(threads) on ``[till] host:port`` (127.0.0.1:8700 by default). It prints the
URL; Ctrl-C or SIGTERM stops it cleanly.

``pos sale 12.50 [--item NAME=PRICExQTY ...] [--url URL]`` (or ``--item latte x2``, a
``[[products]]`` id in any case) talks to a running
till over HTTP only: it posts the sale, prints its number, total and payment
link, then polls and prints each state change (awaiting -> paid / expired /
failed). Exit status: 0 paid, 1 not paid (expired, voided, failed), 2 refused
input, 3 the till cannot be reached, 130 Ctrl-C (which stops waiting and voids
nothing: the sale stays as it is, on paper and in the ledger).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from pos.config import Config, load
from pos.i18n import Translator
from pos.money import MoneyError, format_price, parse_yuan
from pos.ports import bind

if TYPE_CHECKING:  # imported when a command runs, not for `pos --help`
    import requests

    from pos.ledger import Ledger

EXIT_PAID = 0
EXIT_NOT_PAID = 1
EXIT_REFUSED = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
POLL_SECONDS = 0.5
CODE_WAIT = 180.0  # seconds: a minute of queries, then the reverse and its retries

_ITEM = re.compile(r"^(?P<name>.+)=(?P<price>[^=x×X]+)(?:[x×X](?P<qty>\d+))?$")
# A [[products]] id, alone or times a quantity: "latte", "LATTE x2" (the till matches ids in any case).
_PRODUCT_ITEM = re.compile(r"^(?P<id>[^=\s]+?)(?:\s*[x×X*]\s*(?P<qty>\d+))?$")


def register(subparsers: argparse._SubParsersAction) -> None:
    till = subparsers.add_parser(
        "till",
        help="serve the cashier's page and JSON API, run the print spooler and the payment watcher",
        description="Serve the cashier's page on [till] host:port and run the spooler and the watcher.",
    )
    till.add_argument("--host", help="address to listen on (default: [till] host, 127.0.0.1)")
    till.add_argument("--port", type=int, help="TCP port (default: [till] port, 8700; 0 picks a free one)")
    till.add_argument("--threads", type=int, default=8, help="waitress worker threads (default: 8)")
    till.set_defaults(func=run_till)

    sale = subparsers.add_parser(
        "sale",
        help="ring up a sale through a running till and wait until it is paid",
        description=(
            "Ring up a sale through the till's API and print its state as it changes. "
            "Exit 0 when paid, 1 when it ends unpaid, 2 when refused, 3 when the till cannot be reached. "
            "Ctrl-C stops waiting without voiding the sale."
        ),
    )
    sale.add_argument("amount", nargs="?", help="the amount in yuan, e.g. 12.50 (optional with --item)")
    sale.add_argument(
        "--item",
        action="append",
        default=[],
        metavar="NAME=PRICExQTY",
        help="a line of the sale, e.g. 拿铁=18.00x2, Water=2.00, or a product id: latte, latte*2 "
        "(repeatable)",
    )
    sale.add_argument("--body", help="the description WeChat shows the customer (default: the till's)")
    sale.add_argument("--url", help="the till's address (default: http://[till] host:port)")
    sale.add_argument(
        "--code",
        metavar="AUTH_CODE",
        help="charge the customer's WeChat payment code (18 digits starting 10-15) instead of printing a QR",
    )
    sale.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="stop waiting after this many seconds (default: until final)",
    )
    sale.set_defaults(func=run_sale)


# -- pos till --------------------------------------------------------------------------------------


def run_till(args: argparse.Namespace) -> int:
    config = load(args.config)
    t = Translator(config.store.language)
    host = args.host or config.till.host
    port = config.till.port if args.port is None else args.port
    # The port first: a port in use is one line (pos.cli), before the data folder or the ledger exist.
    sock = bind(host, port, change="set [till] port or --port", change_host="set [till] host or --host")
    with sock:
        from waitress.server import create_server

        from pos.till.app import SERVER_OPTIONS, create_app
        from pos.till.service import Till

        till = Till(config)
        try:
            if exposed(host, config, till.ledger):
                print(f"pos till: {t('cli.exposed', host=host or '0.0.0.0')}", file=sys.stderr)
                return EXIT_REFUSED
            server = create_server(
                create_app(till, host=host), sockets=[sock], threads=max(1, args.threads), **SERVER_OPTIONS
            )
            till.start()
            shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
            print(t("cli.serving", url=f"http://{shown}:{server.effective_port}/"), flush=True)  # type: ignore[union-attr]
            signal.signal(signal.SIGTERM, _raise_interrupt)
            try:
                server.run()
            except KeyboardInterrupt:
                pass
            finally:
                server.close()
        finally:
            till.stop()
    print(t("cli.stopped"), flush=True)
    return 0


def exposed(host: str, config: Config, ledger: Ledger) -> bool:
    """True when the till would listen beyond this machine with nobody able to sign in: no cashier
    (``pos cashier add``) and no ``[till] api_token``. Such a till is anybody's on the network."""
    from pos.ledger.cashiers import has_cashiers
    from pos.till.guard import is_loopback

    return not is_loopback(host) and not config.till.api_token and not has_cashiers(ledger)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# -- pos sale --------------------------------------------------------------------------------------


def parse_item(text: str) -> dict[str, Any]:
    """``拿铁=18.00x2`` -> ``{"name": "拿铁", "price": "18.00", "qty": 2}``, ``latte*2`` ->
    ``{"product_id": "latte", "qty": 2}`` (the till finds the product, whatever the id's case);
    ValueError if unreadable."""
    if "=" not in text:
        by_id = _PRODUCT_ITEM.match(text.strip())
        if not by_id or (by_id["qty"] is not None and int(by_id["qty"]) < 1):
            raise ValueError(text)
        return {"product_id": by_id["id"], "qty": int(by_id["qty"]) if by_id["qty"] else 1}
    match = _ITEM.match(text.strip())
    if not match or not match["name"].strip():
        raise ValueError(text)
    price = match["price"].strip()
    parse_yuan(price)  # MoneyError (a ValueError) for a price the till would refuse anyway
    qty = int(match["qty"]) if match["qty"] else 1
    return {"name": match["name"].strip(), "price": price, "qty": qty}


def sale_request(amount: str | None, items: list[str], body: str | None, t: Translator) -> dict[str, Any]:
    """The POST /api/sales body for the command line; SystemExit-free ValueError with a message."""
    lines = []
    for text in items:
        try:
            lines.append(parse_item(text))
        except ValueError:
            raise ValueError(t("cli.bad_item", item=text)) from None
    request: dict[str, Any] = {}
    if lines:
        request["items"] = lines
        if amount is not None and any("product_id" in line for line in lines):
            raise ValueError(t("cli.amount_with_products", amount=amount))
        if amount is not None:
            total = sum(parse_yuan(line["price"]) * line["qty"] for line in lines)
            try:
                wanted = parse_yuan(amount)
            except MoneyError:
                wanted = None
            if wanted != total:
                raise ValueError(t("cli.amount_mismatch", amount=amount, total=format_price(total)))
    else:
        request["amount"] = amount if amount is not None else ""
    if body:
        request["body"] = body
    return request


def _default_url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_sale(args: argparse.Namespace) -> int:
    import requests

    config = load(args.config)
    t = Translator(config.store.language)
    base = (args.url or _default_url(config.till.host, config.till.port)).rstrip("/")
    if args.amount is None and not args.item:
        print(f"pos sale: {t('error.items_or_amount')}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        body = sale_request(args.amount, args.item, args.body, t)
    except ValueError as exc:
        print(f"pos sale: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.code is not None:
        from pos.wechatpay.micropay import is_payment_code  # here: `pos --help` must not import requests

        if not is_payment_code(args.code):
            print(f"pos sale: {t('paycode.not_a_code')}", file=sys.stderr)
            return EXIT_REFUSED
        body["pay_by"] = "code"
    with requests.Session() as http:
        if config.till.api_token:  # [till] api_token, POS_TILL_API_TOKEN or the systemd credential
            http.headers["Authorization"] = f"Bearer {config.till.api_token}"
        try:
            response = http.post(f"{base}/api/sales", json=body, timeout=30)
        except requests.RequestException as exc:
            print(f"pos sale: {t('cli.unreachable', url=base, detail=type(exc).__name__)}", file=sys.stderr)
            return EXIT_UNREACHABLE
        sale = _json(response)
        if response.status_code != 201:
            error = sale.get("error", response.reason)
            print(f"pos sale: {t('cli.refused', status=response.status_code, error=error)}", file=sys.stderr)
            return EXIT_REFUSED
        print(t("cli.rung_up", id=sale["id"], out_trade_no=sale["out_trade_no"], total=sale["total_text"]))
        if args.code is not None:
            return _pay_code(http, base, sale, args.code.strip(), t)
        if sale.get("code_url"):
            print(t("cli.code_url", code_url=sale["code_url"]))
        if sale.get("expires_at"):
            print(t("cli.deadline", time=sale["expires_at"]))
        return _wait(http, base, sale, t, args.timeout)


def _wait(
    http: requests.Session, base: str, sale: dict[str, Any], t: Translator, timeout: float | None
) -> int:
    """Print each status until the sale is final; Ctrl-C stops waiting (nothing is voided)."""
    import requests

    deadline = None if timeout is None else time.monotonic() + timeout
    shown = None
    warned = False
    try:
        while True:
            if sale["status"] != shown:
                shown = sale["status"]
                print(f"{sale['status']}: {_status_word(t, sale)}", flush=True)
                if sale["status"] == "failed" and sale.get("failure"):
                    print(t("cli.failure", message=sale["failure"]), flush=True)
            if sale["final"]:
                return EXIT_PAID if sale["state"] == "PAID" else EXIT_NOT_PAID
            if deadline is not None and time.monotonic() > deadline:
                print(t("cli.stopped_waiting", id=sale["id"], state=_status_word(t, sale)), file=sys.stderr)
                return EXIT_NOT_PAID
            time.sleep(POLL_SECONDS)
            try:
                response = http.get(f"{base}/api/sales/{sale['id']}", timeout=10)
            except requests.RequestException as exc:  # the till restarting: keep waiting, say so once
                if not warned:
                    warned = True
                    detail = type(exc).__name__
                    print(f"pos sale: {t('cli.unreachable', url=base, detail=detail)}", file=sys.stderr)
                continue
            if response.status_code == 200:
                sale = _json(response) or sale
    except KeyboardInterrupt:
        print(file=sys.stderr)
        print(t("cli.stopped_waiting", id=sale["id"], state=_status_word(t, sale)), file=sys.stderr)
        return EXIT_INTERRUPTED


def _pay_code(http: requests.Session, base: str, sale: dict[str, Any], code: str, t: Translator) -> int:
    """Charge the code; the till answers once the outcome is settled (up to about a minute)."""
    import requests

    try:
        response = http.post(f"{base}/api/sales/{sale['id']}/pay-code", json={"auth_code": code}, timeout=150)
    except requests.RequestException as exc:
        print(f"pos sale: {t('cli.unreachable', url=base, detail=type(exc).__name__)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    answer = _json(response)
    if response.status_code != 200:
        error = answer.get("error", response.reason)
        print(f"pos sale: {t('cli.refused', status=response.status_code, error=error)}", file=sys.stderr)
        return EXIT_REFUSED
    answer = _follow_code(http, f"{base}/api/sales/{sale['id']}/pay-code", answer, t)
    outcome = answer.get("paycode") or {}
    status = outcome.get("status", "")
    known = ("paid", "cancelled", "reversed", "reverse_failed", "flagged")
    key = f"paycode.{status}" if status in known else None
    if outcome.get("status") == "declined":
        key = {"NOTENOUGH": "paycode.not_enough"}.get(outcome.get("err_code", ""))
        if outcome.get("err_code", "").startswith("AUTH"):
            key = "paycode.expired"
    print(t(key) if key else outcome.get("message", ""), flush=True)  # in this command's language
    return EXIT_PAID if answer.get("state") == "PAID" else EXIT_NOT_PAID


def _follow_code(http: requests.Session, url: str, answer: dict[str, Any], t: Translator) -> dict[str, Any]:
    """While the outcome is open (the password; WeChat did not say), say so once and ask the till
    every 2 s: its watcher settles the attempt (paid, cancelled, or reversed after about a minute)."""
    import requests

    shown = None
    deadline = time.monotonic() + CODE_WAIT
    while (answer.get("paycode") or {}).get("pending") and time.monotonic() < deadline:
        status = answer["paycode"].get("status")
        if status != shown:
            shown = status
            print(
                t(f"paycode.{status}") if f"paycode.{status}" in t else answer["paycode"].get("message"),
                flush=True,
            )
        time.sleep(2)
        try:
            response = http.get(url, timeout=10)
        except requests.RequestException:
            continue
        if response.status_code == 200:
            answer = _json(response)
    return answer


def _status_word(t: Translator, sale: dict[str, Any]) -> str:
    """The status in this command's language (the till may speak another)."""
    key = f"status.{sale.get('status')}"
    return t(key) if key in t else str(sale.get("status_text") or sale.get("status"))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
