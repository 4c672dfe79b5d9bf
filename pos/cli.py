"""The ``pos`` command: one entry point, one sub-command per process or task.

Each sub-command lives beside the code it runs, in a small module that exposes
``register(subparsers)``; this file only assembles them. Those modules import
the standard library and :mod:`pos.config` at most: Flask, SQLAlchemy, Pillow
and python-escpos are imported inside the handlers, when a command runs. So
``pos --help`` answers before Flask could even be imported, and a process
(``pos listen`` facing the internet) carries only what its own command needs.
``tests/test_cli.py`` holds every registering module to that.

The global options (``--config FILE``, ``-v``) are accepted before or after
any sub-command, at any depth (``pos report --config FILE``, ``pos manager
set-password --config FILE``): every sub-parser gets them from one parent
parser here, with ``SUPPRESS`` defaults so a sub-parser that was not given
one leaves the value given before the sub-command as it was. A command
module therefore never declares ``--config`` or ``-v`` itself.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pos import __version__
from pos.config import ConfigError
from pos.ports import PortUnavailable

# Modules that add sub-commands, in the order `pos --help` lists them. Each must stay light to
# import (see the module's docstring): adding a command is one line here.
COMMAND_MODULES = (
    "pos.demo.cli",
    "pos.till.cli",
    "pos.till.cashier_cli",
    "pos.manager.cli",
    "pos.listener.cli",
    "pos.sandbox.cli",
    "pos.printing.cli",
    "pos.reconcile.cli",
    "pos.setup.init_cli",
    "pos.setup.doctor",
)

CONFIG_HELP = "the TOML config file (default: $POS_CONFIG, ~/.config/pos/pos.toml, /etc/pos/pos.toml)"
VERBOSE_HELP = "log debug lines too"
EXIT_PORT_UNAVAILABLE = 1


def _global_options() -> argparse.ArgumentParser:
    """The options every sub-command accepts after its name, as ``pos`` does before it.

    ``SUPPRESS`` defaults: argparse copies a sub-parser's whole namespace over the main one,
    so a real default here would undo ``pos --config FILE report``.
    """
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("global options (also accepted before the command)")
    group.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP)
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return options


class _SubCommands(argparse._SubParsersAction):
    """``add_subparsers()`` of :class:`PosParser`: every parser it adds takes the global options."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs["parents"] = [*kwargs.get("parents", ()), _global_options()]
        return super().add_parser(name, **kwargs)


class PosParser(argparse.ArgumentParser):
    """An ArgumentParser whose sub-parsers (and theirs: they are PosParsers too) take the global
    options, so no command module has to remember them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubCommands)


def build_parser() -> argparse.ArgumentParser:
    parser = PosParser(
        prog="pos",
        description="A till for shops that take WeChat Pay by QR code on paper receipts.",
        epilog="--config and -v may also be given after the command, e.g. pos report --config FILE.",
    )
    parser.add_argument("--version", action="version", version=f"pos {__version__}")
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    if not args.verbose:
        # alembic says at INFO which plugins it loaded and which database it migrates, on every
        # ledger opened: the ledger's own lines say what matters. (Until the command modules became
        # light, python-escpos configured the root logger at WARNING on import, which hid this and
        # every INFO line of ours: `-v` did nothing.)
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"pos: configuration error: {exc}", file=sys.stderr)
        return 2
    except PortUnavailable as exc:  # one line naming the port and what to change, no traceback
        print(f"pos: {exc}", file=sys.stderr)
        return EXIT_PORT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
