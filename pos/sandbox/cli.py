"""``pos sim``: run the WeChat Pay v2 simulator on this machine until Ctrl-C.

The merchant identity it accepts comes from ``--appid/--mch-id/--api-key``, else
the ``[merchant]`` section of the config (``--config``), else the demo identity,
so a till with the default config talks to it with no setup at all.

As at WeChat, the certificate-checked paths (``/secapi/pay/refund``, ``/secapi/pay/reverse``)
need the merchant's API client certificate over mutual TLS. The plain HTTP port refuses them as
the gateway refuses a request without a certificate; ``--tls-port PORT`` serves every path over
HTTPS too, with a throwaway CA that issues the sandbox merchant's client certificate (written to
``--pki-dir``, or a temporary folder removed at exit), and refuses ``/secapi/`` without it.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

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
    parser.add_argument(
        "--tls-port",
        dest="tls_port",
        type=int,
        help="also serve HTTPS on this port (0: any free port); /secapi/ (refund, reverse) there needs "
        "the merchant's client certificate, and is refused on the plain port",
    )
    parser.add_argument(
        "--pki-dir",
        dest="pki_dir",
        metavar="DIR",
        help="with --tls-port: keep the CA, server and merchant certificates here (kept across "
        "restarts while valid; default: a temporary folder removed at exit)",
    )
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
    if args.tls_port is not None and not 0 <= args.tls_port <= 65535:
        print(f"pos sim: --tls-port must be 0..65535, not {args.tls_port}")
        return 2
    if args.pki_dir and args.tls_port is None:
        print("pos sim: --pki-dir needs --tls-port")
        return 2
    merchant = pos_config.load(args.config).merchant
    # The port first: a port in use is one line (pos.cli), before a --state file is read or made.
    sock = bind(args.host, args.port, change="use --port", change_host="use --host")
    tls_sock = (
        bind(args.host, args.tls_port, change="use --tls-port", change_host="use --host")
        if args.tls_port is not None
        else None
    )
    from waitress.server import create_server

    from pos.sandbox.app import FILES_NEEDED, SERVER_OPTIONS, create_app
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
        if tls_sock is not None:
            tls_sock.close()
        print(f"pos sim: {exc}")
        return 2
    from pos.sandbox.tls import PlainPortGate
    from pos.web import allow_open_files

    allow_open_files(FILES_NEEDED)
    server = create_server(PlainPortGate(app), sockets=[sock], **SERVER_OPTIONS)
    base_url = f"http://{args.host}:{server.effective_port}"  # type: ignore[union-attr]
    sim = app.extensions["pos_sim"]
    try:
        tls = _TlsPort(app, tls_sock, args.pki_dir, settings.mch_id) if tls_sock is not None else None
    except OSError as exc:  # --pki-dir cannot be written
        sim.close()
        server.close()
        print(f"pos sim: --pki-dir {args.pki_dir}: {exc.strerror or exc}")
        return 2
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
    if tls is None:
        print("  /secapi/   refused here (no client certificate over plain HTTP): use --tls-port")
    else:
        print(f"  tls        {tls.base_url}  (/secapi/ needs the merchant's client certificate)")
        print(f"  ca_file    {tls.pki.ca_file}")
        print(f"  cert_file  {tls.pki.client_cert}")
        print(f"  key_file   {tls.pki.client_key}")
    if settings.v3_sign_with == "certificate":
        serial = sim.v3.identity.platform_serial_no
        print(f"  v3 signs   with platform certificate {serial}")
    try:  # from the line that says Ctrl-C stops it, Ctrl-C stops it cleanly
        print("Ctrl-C to stop.", flush=True)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
        server.close()
        if tls is not None:
            tls.stop()
    return 0


class _TlsPort:
    """The HTTPS port: the simulator behind the client-certificate gate, and its certificates."""

    def __init__(self, app: Any, sock: socket.socket, pki_dir: str | None, mch_id: str) -> None:
        from pos.sandbox.tls import ClientCertGate, load_or_make_pki, server_context
        from pos.web import BackgroundServer

        self._temporary = not pki_dir
        folder = Path(pki_dir) if pki_dir else Path(tempfile.mkdtemp(prefix="pos-sim-pki-"))
        self.pki = load_or_make_pki(folder, mch_id=mch_id)
        self._server = BackgroundServer(
            ClientCertGate(app, mch_id), ssl_context=server_context(self.pki), sock=sock
        ).start()
        self.base_url = self._server.base_url

    def stop(self) -> None:
        self._server.stop()
        if self._temporary:
            shutil.rmtree(self.pki.directory, ignore_errors=True)
