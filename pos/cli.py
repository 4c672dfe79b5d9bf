"""The ``pos`` command: one entry point, one sub-command per process or task.

Each sub-command lives beside the code it runs, in a small ``cli`` module that
exposes ``register(subparsers)``; this file only assembles them, so that
``pos --help`` stays fast and no service imports another's dependencies.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pos import __version__
from pos.config import ConfigError

# Modules that add sub-commands, in the order `pos --help` lists them.
COMMAND_MODULES = (
    "pos.demo",
    "pos.till.cli",
    "pos.till.cashier_cli",
    "pos.till.manager.cli",
    "pos.listener.cli",
    "pos.sandbox.cli",
    "pos.printing.cli",
    "pos.reconcile.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pos",
        description="A till for shops that take WeChat Pay by QR code on paper receipts.",
    )
    parser.add_argument("--version", action="version", version=f"pos {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the TOML config file (default: $POS_CONFIG, ~/.config/pos/pos.toml, /etc/pos/pos.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines too")
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
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"pos: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
