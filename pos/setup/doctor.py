"""``pos doctor``: is this kiosk ready for its first customer? One line per check, with the fix.

Exit 0 when a sale could be rung up and paid now (every check ``ok``, ``warn`` or ``skip``),
1 when any check failed (each failing check is named at the end), 2 when the config cannot
be loaded at all. The checks are in :mod:`pos.setup.checks` and :mod:`pos.setup.wechat_checks`;
this module only runs them in order and prints.

Only the standard library and :mod:`pos.config` are imported at the top: the checks import
what they need (requests, the ledger, the printer) when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from pos import config as pos_config

EXIT_READY, EXIT_NOT_READY, EXIT_NO_CONFIG = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check that this kiosk can take its first sale (config, WeChat, printer, ledger)",
        description="Check everything a shop needs before the first customer: the config and its "
        "secrets, the API key at WeChat, the refund certificate, the clock, notify_url, the printer "
        "and its paper, the font, the ledger and the listener. One line per check, with the fix.",
        epilog="exit codes: 0 ready to take and be paid for a sale, 1 a check failed, 2 no usable config",
    )
    parser.set_defaults(func=run)


def check_order() -> list[tuple[str, Callable]]:
    """The checks in the order they run: the key check before the clock check (it reads WeChat's
    Date header for it)."""
    from pos.setup import checks, v3_checks, wechat_checks

    return [
        ("secrets", checks.check_secrets),
        ("wechat-key", wechat_checks.check_wechat_key),
        ("clock", wechat_checks.check_clock),
        (v3_checks.NAME, v3_checks.check_platform_certificates),
        ("certificate", wechat_checks.check_certificate),
        ("notify-url", wechat_checks.check_notify_url),
        ("printer", checks.check_printer),
        ("font", checks.check_font),
        ("ledger", checks.check_ledger),
        ("listener", checks.check_listener),
    ]


def run_checks(ctx, only: Iterable[str] | None = None) -> list:
    """Every check's :class:`~pos.setup.checks.Result`; a check that crashes is a FAIL, not a
    traceback (the doctor must report on a broken machine, not become one of its problems)."""
    from pos.setup.checks import Result, Status

    wanted = set(only) if only is not None else None
    results = []
    for name, check in check_order():
        if wanted is not None and name not in wanted:
            continue
        try:
            results.append(check(ctx))
        except Exception as exc:
            results.append(Result(name, Status.FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"))
    return results


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from pos.setup.checks import Context, Result, Status, load_raw

    out = out or sys.stdout
    try:
        cfg = pos_config.load(args.config)
    except pos_config.ConfigError as exc:
        print(
            Result("config", Status.FAIL, str(exc), "correct the file, or write one with pos init").line(),
            file=out,
        )
        print("not ready: the config cannot be loaded", file=out)
        return EXIT_NO_CONFIG
    if cfg.source == "<defaults>":
        print(
            Result(
                "config",
                Status.FAIL,
                "no config file found (only the demo's defaults)",
                "pos init writes one",
            ).line(),
            file=out,
        )
        return EXIT_NO_CONFIG
    print(Result("config", Status.OK, f"{cfg.source} loaded").line(), file=out, flush=True)
    results = []
    for result in run_checks(Context(cfg=cfg, raw=load_raw(cfg))):
        print(result.line(), file=out, flush=True)
        results.append(result)
    failed = [r.name for r in results if r.status is Status.FAIL]
    if failed:
        print(f"not ready: {len(failed)} failed ({', '.join(failed)})", file=out)
        return EXIT_NOT_READY
    print("ready: a sale can be taken and paid now", file=out)
    return EXIT_READY
