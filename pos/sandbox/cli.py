"""``pos sim``: run the WeChat Pay v2 simulator on this machine until Ctrl-C.

The merchant identity it accepts comes from ``--appid/--mch-id/--api-key``, else
the ``[merchant]`` section of the config (``--config``), else the demo identity,
so a till with the default config talks to it with no setup at all.
"""

from __future__ import annotations

import argparse

from pos import config as pos_config
from pos.ports import bind


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run the local WeChat Pay v2 simulator",
        description="A faithful WeChat Pay v2 simulator on loopback: the real API paths, signatures "
        "and notifications, plus a customer's phone page at /_sim/phone.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8702, help="port to listen on (default 8702)")
    parser.add_argument("--appid", help="appid accepted (default: [merchant] appid of the config)")
    parser.add_argument("--mch-id", dest="mch_id", help="mch_id accepted (default: [merchant] mch_id)")
    parser.add_argument("--api-key", dest="api_key", help="API key requests are signed with")
    parser.add_argument(
        "--time-scale",
        dest="time_scale",
        type=float,
        default=1.0,
        help="multiply the notification retry schedule by this (e.g. 0.001)",
    )
    parser.add_argument("--state", metavar="FILE", help="keep orders in this JSON file across restarts")
    parser.add_argument(
        "--callback-url",
        dest="callback_url",
        default="",
        help="mode-one callback URL (WeChat's platform setting 扫码支付回调URL)",
    )
    parser.add_argument(
        "--refund-notify-url",
        dest="refund_notify_url",
        default="",
        help="where refund notices go when a refund request names no notify_url",
    )
    parser.add_argument(
        "--v3-sign-with",
        dest="v3_sign_with",
        choices=("public_key", "certificate"),
        default="public_key",
        help="which of WeChat's keys signs v3 notices and answers: its public key (merchants opened "
        "since late 2024) or a platform certificate from /v3/certificates (certificate mode)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.time_scale <= 0:
        print("pos sim: --time-scale must be more than 0")
        return 2
    if not 0 <= args.port <= 65535:
        print(f"pos sim: --port must be 0..65535, not {args.port}")
        return 2
    merchant = pos_config.load(args.config).merchant
    # The port first: a port in use is one line (pos.cli), before a --state file is read or made.
    sock = bind(args.host, args.port, change="use --port", change_host="use --host")
    from waitress.server import create_server

    from pos.sandbox.app import create_app
    from pos.sandbox.settings import SimSettings
    from pos.wechatpay import sign as signing

    settings = SimSettings(
        appid=args.appid or merchant.appid,
        mch_id=args.mch_id or merchant.mch_id,
        api_key=args.api_key or merchant.api_key,
        time_scale=args.time_scale,
        state_file=args.state or "",
        callback_url=args.callback_url,
        refund_notify_url=args.refund_notify_url,
        v3_sign_with=args.v3_sign_with,
    )
    try:
        app = create_app(settings=settings)
    except ValueError as exc:  # a state file that is not ours
        sock.close()
        print(f"pos sim: {exc}")
        return 2
    server = create_server(app, sockets=[sock], threads=8)
    base_url = f"http://{args.host}:{server.effective_port}"  # type: ignore[union-attr]
    print(f"WeChat Pay v2 simulator at {base_url}  (sandbox: {base_url}/sandboxnew)")
    print(f"  appid      {settings.appid}")
    print(f"  mch_id     {settings.mch_id}")
    print(f"  api_key    {settings.api_key}")
    print(f"  sign_type  {', '.join(signing.SIGN_TYPES)} (sandbox: MD5 with {settings.sandbox_key})")
    print(f"  phone      {base_url}/_sim/phone")
    if settings.state_file:
        print(f"  state      {settings.state_file}")
    if settings.callback_url:
        print(f"  callback   {settings.callback_url}")
    if settings.v3_sign_with == "certificate":
        serial = app.extensions["pos_sim"].v3.identity.platform_serial_no
        print(f"  v3 signs   with platform certificate {serial}")
    print("Ctrl-C to stop.", flush=True)
    sim = app.extensions["pos_sim"]
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
        server.close()
    return 0
