"""``pos demo``: the command, its options, and the log file that keeps the console for the banner."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the simulator, the listener and the till together on loopback",
        description="The whole loop on this machine: a WeChat Pay simulator, the notification "
        "listener and the till with a virtual printer. Ctrl-C stops it.",
    )
    parser.add_argument("--dir", default="pos-demo", help="where the demo keeps its files (default pos-demo)")
    parser.add_argument(
        "--auto", action="store_true", help="run a short scripted shift, print a summary, exit"
    )
    parser.add_argument("--till-port", type=int, default=8700, help="the till (default 8700)")
    parser.add_argument("--listener-port", type=int, default=8701, help="the listener (default 8701)")
    parser.add_argument("--sim-port", type=int, default=8702, help="the simulator (default 8702)")
    parser.add_argument(
        "--sim-tls-port",
        type=int,
        default=8703,
        help="the simulator over HTTPS with client certificates, as refunds need (default 8703)",
    )
    parser.add_argument("--language", choices=("zh-CN", "en"), default="zh-CN", help="the cashier's language")
    parser.add_argument(
        "--api",
        choices=("v2", "v3"),
        default="v2",
        help="the WeChat Pay API the till speaks (default v2); v3 keys are read from the simulator",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="run a small chain on this ledger (postgresql://user:password@host/db): three stores, "
        "two lanes each, two listener processes",
    )
    parser.add_argument(
        "--cashiers",
        action="store_true",
        help="sign in as on a shop's network: a cashier with a printed PIN, and an API token for scripts",
    )
    parser.set_defaults(func=run)


def log_to_file(directory: Path, *, verbose: bool) -> Path:
    """Send the services' key=value log lines to ``<dir>/pos.log``; keep the console for the banner,
    the summary and warnings (everything with ``pos -v demo``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pos.log"
    root = logging.getLogger()
    if not verbose:
        for handler in root.handlers:
            handler.setLevel(logging.WARNING)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    root.addHandler(file_handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return path


def run(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    for name in ("till_port", "listener_port", "sim_port", "sim_tls_port"):
        port = getattr(args, name)
        if not 0 <= port <= 65535:
            print(f"pos demo: --{name.replace('_', '-')} must be 0..65535, not {port}")
            return 2
    if args.database:
        return run_chain(args, directory)
    from pos.demo.files import DemoBusy
    from pos.demo.shift import auto_shift
    from pos.demo.shop import banner, running_shop

    try:
        with running_shop(
            directory,
            till_port=args.till_port,
            listener_port=args.listener_port,
            sim_port=args.sim_port,
            sim_tls_port=args.sim_tls_port,
            language=args.language,
            cashiers=args.cashiers,
            api=args.api,
        ) as shop:
            log_path = log_to_file(directory, verbose=getattr(args, "verbose", False))
            print(banner(shop), flush=True)
            print(f"  log                 {log_path}", flush=True)
            if args.auto:
                return auto_shift(shop)
            wait_for_stop()
            return 0
    except DemoBusy as exc:
        print(f"pos demo: {exc}; stop it or use --dir")
        return 1
    except OSError as exc:
        print(f"pos demo: cannot start: {exc.strerror or exc} (is another demo running on these ports?)")
        return 1


def run_chain(args: argparse.Namespace, directory: Path) -> int:
    """``--database URL``: the chain demo (:mod:`pos.demo.chain`)."""
    from pos.demo.chain import chain_banner, chain_shift, running_chain
    from pos.demo.files import DemoBusy

    if args.cashiers:
        print("pos demo: the chain demo runs without cashiers' sign-in; drop --cashiers")
        return 2
    log_path = log_to_file(directory, verbose=getattr(args, "verbose", False))  # six tills start-up lines
    try:
        with running_chain(
            directory,
            database=args.database,
            sim_port=args.sim_port,
            sim_tls_port=args.sim_tls_port,
            language=args.language,
            api=args.api,
        ) as shop:
            print(chain_banner(shop), flush=True)
            print(f"  log                 {log_path}", flush=True)
            if args.auto:
                return chain_shift(shop)
            wait_for_stop()
            return 0
    except DemoBusy as exc:
        print(f"pos demo: {exc}; stop it or use --dir")
        return 1
    except (OSError, RuntimeError) as exc:
        print(f"pos demo: cannot start the chain: {exc}")
        return 1


def wait_for_stop() -> None:
    """Until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    print("pos demo: stopping", flush=True)
