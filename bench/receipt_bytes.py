"""Bytes on the wire per slip: our encoder against a naive python-escpos rendering, same run.

For every template and built-in printer profile it prints the job size and the
serial wire time at 9600, 19200 and 115200 baud (8N1: 10 bits per byte, no gaps;
the printer's own print speed comes on top), beside the same receipt rendered
the naive way with python-escpos (``Dummy()``, ``set(align)`` + ``text()`` per
line, ``qr(center=True)`` as an image at the same module size, ``cut()``), and
the ratio. Then it checks the targets:

- an 80 mm native-QR sale slip of 10 items: at most 1,200 bytes;
- a raster-QR sale slip: at most 6,000 bytes, QR at least 25 mm wide;
- the raster path: at least 2.5 times fewer bytes than the naive rendering.

Run: ``.venv/bin/python bench/receipt_bytes.py [--font PATH]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from pos.printing import fonts
from pos.printing import qr as qrmod
from pos.printing.encoder import encode
from pos.printing.profiles import available_profiles, load_profile
from pos.receipts import samples
from pos.receipts.document import QR, Cut, Document, Row, Rule, Text
from pos.receipts.layout import pad_row, wrap

BAUDS = (9600, 19200, 115200)


def wire_seconds(size: int, baud: int) -> float:
    return size * 10 / baud


def naive(document: Document, profile) -> bytes:
    """The same receipt the way most python-escpos code prints it."""
    printer = Dummy()
    printer.profile = profile.escpos_capabilities()
    printer.hw("INIT")
    columns = profile.columns
    for block in document.blocks:
        if isinstance(block, Text):
            printer.set(align=block.align.value, bold=block.bold)
            for line in wrap(block.text, columns // block.width):
                printer.text(line + "\n")
        elif isinstance(block, Row):
            printer.set(align="left", bold=block.bold)
            for line in pad_row(block.left, block.right, columns):
                printer.text(line + "\n")
        elif isinstance(block, Rule):
            printer.text(block.char * columns + "\n")
        elif isinstance(block, QR):
            plan = qrmod.plan(block.data, dpi=profile.dpi, printable_dots=profile.printable_dots)
            printer.qr(block.data, ec=QR_ECLEVEL_M, size=plan.module_dots, center=True)
        elif isinstance(block, Cut):
            printer.cut()
    return printer.output


def qr_widths_mm(document: Document, profile) -> list[float]:
    widths = []
    for block in document.blocks:
        if isinstance(block, QR):
            native = profile.native_qr if block.mode == "auto" else block.mode == "native"
            scale = 1 if native else profile.raster_scale
            plan = qrmod.plan(
                block.data, dpi=profile.dpi, printable_dots=profile.printable_dots, even=scale == 2
            )
            widths.append(plan.width_mm)
    return widths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--font",
        default="",
        help="CJK font for printers without a Chinese font (default: as the till chooses)",
    )
    args = parser.parse_args(argv)
    font = fonts.resolve(args.font)

    head = " | ".join(f"{b} baud" for b in BAUDS)
    print("| profile | QR | template | ours bytes | " + head + " | naive bytes | " + head + " | naive/ours |")
    print("|" + "---|" * (6 + 2 * len(BAUDS)))
    results: dict[tuple[str, str], tuple[int, int, list[float]]] = {}
    for name in available_profiles():
        profile = load_profile(name)
        chinese = profile.has_chinese_font
        docs = samples.documents(
            profile.columns, "zh-CN" if chinese else "en", ascii_only=not chinese, profile_name=name
        )
        for template, document in docs.items():
            ours = len(encode(document, profile, raster_font=font))
            theirs = len(naive(document, profile))
            results[(name, template)] = (ours, theirs, qr_widths_mm(document, profile))
            t_ours = " | ".join(f"{wire_seconds(ours, b):.2f} s" for b in BAUDS)
            t_theirs = " | ".join(f"{wire_seconds(theirs, b):.2f} s" for b in BAUDS)
            print(
                f"| {name} | {profile.qr_mode} | {template} | {ours} | {t_ours} | {theirs} | {t_theirs} "
                f"| {theirs / ours:.1f}x |"
            )

    print()
    ok = True

    def check(label: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok &= passed
        print(f"- [{'PASS' if passed else 'FAIL'}] {label}: {detail}")

    ours, _, _ = results[("xp80", "sale")]
    check("80 mm native-QR sale slip, 10 items, <= 1200 bytes", ours <= 1200, f"xp80 {ours} bytes")
    ours, theirs, widths = results[("xp58", "sale")]
    check(
        "raster-QR sale slip <= 6000 bytes, QR >= 25 mm",
        ours <= 6000 and min(widths) >= 25,
        f"xp58 {ours} bytes, QR {min(widths):.1f} mm",
    )
    check(
        "raster path >= 2.5x fewer bytes than naive", theirs / ours >= 2.5, f"xp58 sale {theirs / ours:.1f}x"
    )
    # The same slip if the printer ignored or lacked GS v 0 scaling (raster_scale = 1): full-size raster.
    xp58 = load_profile("xp58")
    full = dataclasses.replace(xp58, raster_scale=1)
    sale = samples.documents(xp58.columns)["sale"]
    plain = len(encode(sale, full))
    print(
        f"- [info] xp58 sale with raster_scale = 1: {plain} bytes "
        f"({wire_seconds(plain, 9600):.2f} s at 9600), {theirs / plain:.1f}x fewer than naive"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
