"""``pos sim``: placeholder until the simulator lands (see pos/sandbox)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sim", help="run the local WeChat Pay v2 simulator")
    parser.set_defaults(func=lambda args: print("the simulator is not built yet") or 1)
