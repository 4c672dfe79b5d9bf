"""``pos cashier add NAME`` / ``list`` / ``remove NAME``: who may sign in at the till with a PIN.

``add`` asks for a PIN of 4 to 12 digits twice without echo (or reads one line
from standard input with ``--pin-stdin``, for scripted installs), and stores its
hash in the ledger (:mod:`pos.ledger.cashiers`); adding a name that exists gives
that cashier a new PIN. A running till sees the change at once: from the first
cashier on, its page asks for a PIN. ``remove`` forgets a cashier; their sales
keep their name.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from pos.config import load

EXIT_OK = 0
EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    cashier = subparsers.add_parser("cashier", help="the cashiers who sign in at the till with a PIN")
    actions = cashier.add_subparsers(dest="cashier_command", metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a cashier (or give one a new PIN)",
        description="Ask for a PIN (4 to 12 digits) twice and store its hash for NAME in the ledger.",
    )
    add.add_argument("name", help="the cashier's name, as sales and the manager's day view show it")
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from one line of standard input")
    add.set_defaults(func=run_add)
    listing = actions.add_parser("list", help="list the cashiers")
    listing.set_defaults(func=run_list)
    remove = actions.add_parser("remove", help="remove a cashier (their sales keep their name)")
    remove.add_argument("name")
    remove.set_defaults(func=run_remove)

    def usage(args: argparse.Namespace) -> int:
        cashier.print_help(sys.stderr)
        return EXIT_REFUSED

    cashier.set_defaults(func=usage)


def _ledger(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pos.ledger import open_ledger

    config = load(args.config)
    return open_ledger(config.database.url, timezone=config.store.timezone)


def _read_pin(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().strip()
    try:
        pin = getpass.getpass("PIN (4-12 digits): ")
        again = getpass.getpass("the same again: ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None
    if pin != again:
        print("pos cashier add: the two PINs differ; nothing was changed", file=sys.stderr)
        return None
    return pin


def run_add(args: argparse.Namespace) -> int:
    from pos.ledger import InvalidInput
    from pos.ledger.cashiers import check_name, set_cashier
    from pos.till.signin import hash_pin

    try:
        name = check_name(args.name)
    except InvalidInput as exc:
        print(f"pos cashier add: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    pin = _read_pin(args.pin_stdin)
    if pin is None:
        return EXIT_REFUSED
    try:
        pin_hash = hash_pin(pin)
    except ValueError as exc:
        print(f"pos cashier add: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_REFUSED
    with _ledger(args) as ledger:
        new = set_cashier(ledger, name, pin_hash)
    print(f"pos cashier add: {name} {'added' if new else 'has a new PIN'}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    from pos.ledger.cashiers import list_cashiers

    with _ledger(args) as ledger:
        for cashier in list_cashiers(ledger):
            print(f"{cashier.name}\t{cashier.created_at:%Y-%m-%d}")
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    from pos.ledger.cashiers import remove_cashier

    with _ledger(args) as ledger:
        if not remove_cashier(ledger, args.name):
            print(f"pos cashier remove: no cashier named {args.name!r}", file=sys.stderr)
            return EXIT_REFUSED
    print(f"pos cashier remove: {args.name.strip()} removed")
    return EXIT_OK
