"""``pos printer``: print the calibration slip, preview a byte file, ask a printer how it is.

Defaults come from the config's ``[printer]`` section (device, profile, profiles_dir,
raster_font, status_timeout); ``--device``, ``--profile`` and (for ``test``) ``--font``
override them for one run, so a new printer can be tried before the config is changed. A
font that lacks a character the store's slips need is refused (exit 2), naming
``[printer] raster_font``, as the till refuses it at start-up.

Exit codes: 0 done / printer ready, 1 printer not ready or unreachable (the message says
why), 2 a usage or configuration problem (bad device string, unknown profile, missing file),
3 status unknown (the printer did not answer).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from pos import config as pos_config
from pos.printing.errors import PrintingError

EXIT_OK, EXIT_NOT_READY, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


class _Refused(PrintingError):
    """A problem to report in one line and exit with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "printer",
        help="test, preview and check the receipt printer",
        description="Print the calibration slip, preview a file of ESC/POS bytes, ask a printer how it is.",
        epilog="exit codes: 0 ok, 1 printer not ready, 2 usage or config problem, 3 status unknown",
    )
    commands = parser.add_subparsers(dest="printer_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help() or EXIT_USAGE)

    test = commands.add_parser("test", help="print the calibration slip (native and raster QR side by side)")
    _device_options(test)
    test.add_argument(
        "--font",
        metavar="FILE",
        help="CJK font for Chinese drawn as raster, instead of [printer] raster_font "
        "(default: config, else an installed CJK font, else the bundled one)",
    )
    test.set_defaults(func=_guard(cmd_test))

    preview = commands.add_parser(
        "preview", help="draw a file of ESC/POS bytes as a PNG picture of the paper"
    )
    preview.add_argument("file", metavar="FILE.bin", help="the bytes, e.g. a job from the dir: printer")
    preview.add_argument("-o", "--output", metavar="FILE.png", help="where to write (default: FILE.png)")
    width = preview.add_mutually_exclusive_group()
    width.add_argument("--width-dots", type=int, metavar="N", help="printable width in dots (384, 512, 576)")
    width.add_argument("--profile", metavar="NAME", help="take the width from this printer profile")
    preview.set_defaults(func=_guard(cmd_preview))

    status = commands.add_parser("status", help="ask the printer for its status (DLE EOT), one line")
    _device_options(status)
    status.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="wait per question (default: config)"
    )
    status.set_defaults(func=_guard(cmd_status))


def _device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", metavar="SPEC", help="e.g. usb:04b8:0202, tcp:HOST:9100 (default: config)"
    )
    parser.add_argument("--profile", metavar="NAME", help="printer profile, e.g. xp80 (default: config)")


def _guard(handler):
    """Turn expected failures into one line on stderr and an exit code; never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except _Refused as exc:
            print(f"pos printer: {exc}", file=sys.stderr)
            return exc.code

    return run


def _profile(cfg: pos_config.Config, name: str | None):
    from pos.printing.profiles import ProfileError, load_profile

    extra = [cfg.printer.profiles_dir] if cfg.printer.profiles_dir else []
    try:
        return load_profile(name or cfg.printer.profile, extra)
    except ProfileError as exc:
        raise _Refused(str(exc)) from None


def _device(spec: str, width_dots: int, font=None):
    from pos.printing.devices import DeviceSpecError, open_device

    try:
        return open_device(spec, width_dots=width_dots, font=font)
    except DeviceSpecError as exc:
        raise _Refused(str(exc)) from None


def cmd_test(args: argparse.Namespace) -> int:
    from pos.printing import fonts
    from pos.printing.devices import PrinterUnavailable, PrintJob
    from pos.printing.encoder import EncodeError, encode
    from pos.receipts.templates import calibration_slip

    cfg = pos_config.load(args.config)
    profile = _profile(cfg, args.profile)
    problem = fonts.font_problem(cfg, args.font)
    if problem:
        raise _Refused(problem + (" (given as --font)" if args.font else ""))
    font = fonts.for_config(cfg, args.font)
    spec = args.device or cfg.printer.device
    device = _device(spec, profile.printable_dots, font)
    document = calibration_slip(profile.name, profile.columns, cfg.store.language)
    try:
        data = encode(document, profile, raster_font=font)
    except EncodeError as exc:
        raise _Refused(f"cannot encode the calibration slip for {profile.name}: {exc}") from None
    job = PrintJob(data, job_id=f"test-{datetime.now(UTC):%Y%m%dT%H%M%S}", kind="test")
    try:
        with device:
            device.write(job)
    except PrinterUnavailable as exc:
        raise _Refused(f"not printed: {exc}", EXIT_NOT_READY) from None
    where = f" (see {Path(device.path) / 'jobs.jsonl'})" if device.virtual else ""
    print(f"printed the calibration slip for profile {profile.name}: {len(data)} bytes to {spec}{where}")
    print("scan both QR codes: the native one shows whether this printer supports GS ( k")
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    from pos.printing import fonts
    from pos.printing.preview import render

    cfg = pos_config.load(args.config)
    source = Path(args.file)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise _Refused(f"cannot read {source}: {exc.strerror}") from None
    if args.width_dots is not None:
        width = args.width_dots
        if not 8 <= width <= 4096:
            raise _Refused(
                f"--width-dots must be between 8 and 4096 (printers use 384, 512 or 576), not {width}"
            )
    else:
        width = _profile(cfg, args.profile).printable_dots
    output = Path(args.output) if args.output else source.with_suffix(".png")
    font = fonts.for_config(cfg)  # the font the till's own previews use
    result = render(data, width_dots=width, font_path=font.path, font_index=font.index)
    try:
        result.image.convert("1").save(output, format="PNG", optimize=True)
    except (OSError, ValueError) as exc:
        raise _Refused(f"cannot write {output}: {exc}") from None
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {output} ({result.image.width}x{result.image.height} px, paper {width} dots wide)")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from pos.printing.status import PrinterState, check_status

    cfg = pos_config.load(args.config)
    profile = _profile(cfg, args.profile)
    spec = args.device or cfg.printer.device
    timeout = args.timeout if args.timeout is not None else cfg.printer.status_timeout
    if not 0 < timeout <= 30:
        raise _Refused(f"--timeout must be more than 0 and at most 30 seconds, not {timeout:g}")
    with _device(spec, profile.printable_dots) as device:
        status = check_status(device, timeout=timeout, supported=profile.status)
    print(f"{spec}: {status}")
    if status.can_print:
        return EXIT_OK
    return EXIT_UNKNOWN if status.state is PrinterState.UNKNOWN else EXIT_NOT_READY
