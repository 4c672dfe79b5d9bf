"""``pos report`` (a business day's figures in the terminal, and its CSV) and ``pos manager set-password``.

``pos report --date 2026-11-27 [--csv FILE] [--lane 01]`` prints the same
figures as the manager's day view and the Z report (they all come from
:mod:`pos.reports.day`): counts and amounts by state, paid, refunded and net.
``--csv FILE`` also writes the day's sales as the day view's CSV export
(``-`` writes it to standard output instead of the figures). It reads the
ledger only; it needs no running till.

``pos manager set-password`` asks for the manager's password twice (or reads
one line from standard input with ``--password-stdin``) and writes its hash to
``[manager] password_hash`` in the config file given by ``--config`` (or
``$POS_CONFIG``), leaving the rest of the file as it was. With ``--print`` it
prints the hash instead, for a systemd credential named
``manager_password_hash`` or ``POS_MANAGER_PASSWORD_HASH``. The password itself
is never written anywhere.

``pos manager check-refunds [--lane 01]`` asks WeChat at once about the store's refunds still
pending (what each till's watcher does on a schedule, :mod:`pos.till.refundwatch`) and prints
where each one stands.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import tomllib
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pos.config import Config, ConfigError, load, write_secret_file
from pos.money import format_price

if TYPE_CHECKING:  # imported when a command runs, not for `pos --help` (see pos/cli.py)
    from pos.manager.words import Words

EXIT_OK = 0
EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="a business day's figures (paid, refunded, net, counts by state), and its CSV",
        description="Print a business day's figures from the ledger: the same as the manager's day view "
        "and the Z report. --csv also writes the day's sales as CSV (UTF-8 with BOM).",
    )
    report.add_argument("--date", help="the business day, YYYY-MM-DD (default: today in the store's zone)")
    report.add_argument(
        "--csv", metavar="FILE", help="also write the day's sales as CSV to FILE ('-': stdout)"
    )
    report.add_argument("--lane", help="only this lane's sales")
    report.set_defaults(func=run_report)

    manager = subparsers.add_parser("manager", help="the manager's password")
    actions = manager.add_subparsers(dest="manager_command", metavar="ACTION")
    password = actions.add_parser(
        "set-password",
        help="hash a new manager password into the config file (or print the hash)",
        description="Ask for the manager's password twice and write its hash to [manager] password_hash "
        "in the --config file; --print prints the hash instead (for a systemd credential).",
    )
    password.add_argument(
        "--print", action="store_true", help="print the hash instead of writing it into the config file"
    )
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of standard input"
    )
    password.add_argument(
        "--chain",
        action="store_true",
        help="the chain's manager's password ([manager] chain_password_hash): signs in for every store",
    )
    password.set_defaults(func=run_set_password)
    check = actions.add_parser(
        "check-refunds",
        help="ask WeChat now about the store's refunds still pending, and print where each stands",
        description="Follow up at once every pending refund of this store (the till's watcher does it on "
        "a schedule): completed, failed, held or still processing, one line each.",
    )
    check.add_argument("--lane", help="only this lane's refunds")
    check.set_defaults(func=run_check_refunds)
    manager.set_defaults(func=lambda args: _usage(manager))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_REFUSED


# -- pos report ------------------------------------------------------------------------------------


def run_report(args: argparse.Namespace) -> int:
    from pos.ledger import business_date, open_ledger
    from pos.manager.words import Words
    from pos.reports import day as report

    config = load(args.config)
    w = Words(config.store.language)
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"pos report: {w('error.date')}", file=sys.stderr)
        return EXIT_REFUSED
    problem = _missing_ledger(config)
    if problem:
        print(f"pos report: {problem}", file=sys.stderr)
        return EXIT_REFUSED
    ledger = open_ledger(config.database.url, timezone=config.store.timezone)
    try:
        if day is None:
            from datetime import UTC, datetime

            day = business_date(datetime.now(UTC), config.store.zone)
        lane = args.lane or None
        to_stdout = args.csv == "-"
        if args.csv:
            chunks = report.csv_chunks(
                ledger,
                day,
                store=config.store.id,
                zone=config.store.zone,
                language=config.store.language,
                lane=lane,
                state_words=w.states(),
            )
            if to_stdout:
                written = report.write_csv(sys.stdout.buffer, chunks)
                sys.stdout.buffer.flush()
            else:
                try:
                    with open(args.csv, "wb") as out:
                        written = report.write_csv(out, chunks)
                except OSError as exc:
                    print(f"pos report: {args.csv}: {exc.strerror or exc}", file=sys.stderr)
                    return EXIT_REFUSED
        figures = report.day_figures(ledger, day, store=config.store.id, lane=lane, now=_now())
    finally:
        ledger.close()
    if not to_stdout:
        try:
            print(format_figures(figures, config, w))
            if args.csv:
                print(w("cli.csv_written", path=args.csv, n=written))
            sys.stdout.flush()
        except BrokenPipeError:  # `pos report | head`: the reader had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


# -- pos manager check-refunds ---------------------------------------------------------------------


def run_check_refunds(args: argparse.Namespace) -> int:
    """Follow up the open refunds now, as the till's watcher would at their next due time.

    Safe beside a running till: completing a refund is a conditional update (its slip is queued
    once, and prints at the till that rang the sale up), and a refund WeChat never received is
    re-sent under its own number."""
    from pos.ledger import open_ledger
    from pos.manager.words import Words
    from pos.orders.refunds import RefundError, RefundService
    from pos.wechatpay.factory import client_for

    config = load(args.config)
    w = Words(config.store.language)
    problem = _missing_ledger(config)
    if problem:
        print(f"pos manager check-refunds: {problem}", file=sys.stderr)
        return EXIT_REFUSED
    ledger = open_ledger(config.database.url, timezone=config.store.timezone)
    try:
        pending = ledger.open_refunds(store=config.store.id, lane=args.lane or None)
        if not pending:
            print(w("cli.no_open_refunds"))
            return EXIT_OK
        client = client_for(config.merchant)
        try:
            service = RefundService(ledger, client, config)
            for refund in pending:
                try:
                    print(service.describe(service.follow_up(refund.out_refund_no)))
                except RefundError as exc:  # already a sentence for the manager
                    print(f"{refund.out_refund_no}: {exc}")
        finally:
            client.close()
    finally:
        ledger.close()
    return EXIT_OK


def _missing_ledger(config: Config) -> str | None:
    """A SQLite ledger file that does not exist is a wrong --config, not an empty day."""
    from sqlalchemy.engine import make_url

    url = make_url(config.database.url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).expanduser().exists():
        return f"no ledger at {url.database} (is --config the till's config file?)"
    return None


def _now() -> datetime:
    """The moment a report is read: sales past their deadline then are "closing"."""
    return datetime.now(UTC)


def format_figures(figures: object, config: Config, w: Words) -> str:
    """The figures as a small table for a terminal (CJK-wide characters counted as two columns)."""
    from pos.reports.day import DayFigures, states_with_closing

    assert isinstance(figures, DayFigures)
    title = w("cli.report_title", store=config.store.name, day=figures.day.isoformat())
    if figures.lane:
        title += f"  {w('col.lane')} {figures.lane}"
    rows = [(w("col.state"), w("col.count"), w("col.amount"))]
    rows += [
        (w.status(state), str(count), format_price(fee)) for state, count, fee in states_with_closing(figures)
    ]
    rows.append(
        (w("cli.total_line"), str(figures.count), format_price(sum(s.total_fee for s in figures.by_state)))
    )
    lines = [title, ""]
    for n, (label, count, amount) in enumerate(rows):
        if n == len(rows) - 1:
            lines.append("-" * 36)
        lines.append(f"{_pad(label, 16)}{_right(count, 8)}{_right(amount, 12)}")
    lines += [
        "",
        f"{_pad(w('day.paid'), 16)}{format_price(figures.paid_fee):>20}"
        f"  ({w('day.paid_count', n=figures.paid_count)})",
        f"{_pad(w('day.refunded'), 16)}{format_price(figures.refunded_fee):>20}",
        f"{_pad(w('day.net'), 16)}{format_price(figures.net_fee):>20}",
    ]
    if figures.refund_pending_fee:
        lines.append(w("day.refund_pending", amount=format_price(figures.refund_pending_fee)))
    if figures.refund_held_count:
        lines.append(
            w("day.refund_held", n=figures.refund_held_count, amount=format_price(figures.refund_held_fee))
        )
    if figures.used_coupons:  # takings are at the prices; what customers paid and what settles, apart
        for key, fee in (
            ("cash_paid", figures.cash_fee),
            ("coupon", figures.coupon_fee),
            ("settled", figures.settled_fee),
            ("settled_refunded", figures.settled_refunds),
            ("settled_net", figures.settled_net_fee),
        ):
            lines.append(f"{_pad(w(f'day.{key}'), 16)}{format_price(fee):>20}")
    if figures.flagged_count:
        lines.append(w("day.flagged", n=figures.flagged_count))
    return "\n".join(lines)


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(1, width - _cells(text))


def _right(text: str, width: int) -> str:
    return " " * max(1, width - _cells(text)) + text


# -- pos manager set-password ----------------------------------------------------------------------


def run_set_password(args: argparse.Namespace) -> int:
    from pos.passwords import hash_password

    target = args.config or os.environ.get("POS_CONFIG")
    if not args.print and not target:
        print(
            "pos manager set-password: name the config file to write with --config FILE "
            "(or use --print to get the hash for a systemd credential)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    password = _read_password(args.password_stdin)
    if password is None:
        return EXIT_REFUSED
    password_hash = hash_password(password)
    key = "chain_password_hash" if getattr(args, "chain", False) else "password_hash"
    if args.print:
        print(password_hash)
        print(
            f"pos manager set-password: store this as the systemd credential manager_{key} "
            f"(LoadCredential=) or in POS_MANAGER_{key.upper()}",
            file=sys.stderr,
        )
        return EXIT_OK
    path = Path(target)
    try:
        write_password_hash(path, password_hash, key=key)
    except (OSError, ConfigError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"pos manager set-password: {path}: {detail}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"pos manager set-password: the new password's hash is in {path} ([manager] {key})")
    print("restart the till (pos till) for it to take effect")
    return EXIT_OK


def _read_password(from_stdin: bool) -> str | None:
    from pos.passwords import MIN_PASSWORD

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("new manager password: ")
            again = getpass.getpass("the same again: ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return None
        if password != again:
            print("pos manager set-password: the two passwords differ; nothing was changed", file=sys.stderr)
            return None
    if len(password) < MIN_PASSWORD:
        print(
            f"pos manager set-password: the password needs at least {MIN_PASSWORD} characters; "
            "nothing was changed",
            file=sys.stderr,
        )
        return None
    return password


_SECTION = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def set_password_hash_text(text: str, password_hash: str, key: str = "password_hash") -> str:
    """``text`` (a TOML file) with ``[manager] {key}`` set, every other line unchanged."""
    value = f"{key} = '{password_hash}'"  # a literal string: werkzeug hashes have no quote
    key_line = re.compile(rf"^\s*{key}\s*=")
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if (m := _SECTION.match(line)) and m[1] == "manager"), None
    )
    if start is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{tail}\n[manager]\n{value}\n"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    for i in range(start + 1, end):
        if key_line.match(lines[i]):
            lines[i] = value + "\n"
            break
    else:
        lines.insert(start + 1, value + "\n")
    return "".join(lines)


def write_password_hash(path: Path, password_hash: str, key: str = "password_hash") -> None:
    """Set the hash in the file, atomically (a crash leaves the old file or the new one, never half)."""
    text = path.read_text(encoding="utf-8")
    new = set_password_hash_text(text, password_hash, key)
    try:
        written = tomllib.loads(new).get("manager", {}).get(key)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot edit this file safely ({exc}); set [manager] {key} by hand") from None
    if written != password_hash:
        raise ConfigError(f"cannot edit this file safely; set [manager] {key} by hand")
    # It now holds a password hash: nobody but its owner and group (the till's service user may
    # read /etc/pos/pos.toml through its group) may read it, whatever it was before.
    write_secret_file(path, new, mode=path.stat().st_mode & 0o640)
