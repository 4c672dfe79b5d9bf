"""Build the CJK font that ships inside the package: pos/printing/fonts/PosReceiptMono-Regular.otf.

Why: slips and their previews need Chinese glyphs on a machine where nobody ran apt. A full
Noto Sans CJK face is ~16 MB; a till needs only what a slip can hold. So this takes one face of
Noto Sans CJK (SIL OFL 1.1), keeps the characters below and renames it (a Modified Version under
the OFL may not use the original's names as its primary name), and writes the OFL text beside it.

Kept characters:
- printable ASCII and Latin-1 (U+0020-007E, U+00A0-00FF);
- every character of GB2312 (each two-byte code decoded with Python's codec);
- CJK symbols and punctuation (U+3000-303F) and the full-width forms (U+FF01-FF5E, U+FFE0-FFE6,
  so ``￥`` U+FFE5 and the encoder's "？" replacement);
- every non-ASCII character in the project's own string literals (the word tables in every
  language, the demo's products, the config's default store name and footer).

Face: "Noto Sans Mono CJK SC" Regular (face 7 of Debian's NotoSansCJK-Regular.ttc). Its Latin
letters are exactly half an em wide, like a printer's 12x24 cell beside a 24x24 Chinese one, so
"500ml" fits its cells instead of being cut to "500rl"; SC for the mainland glyph shapes a
zh-CN till prints; Regular because at 22-24 px on 203 dpi thermal paper Bold's strokes run
together in dense characters (餐, 曦) while Regular stays legible.

Run (fontTools is a build-time tool here; the runtime needs only its cmap reader):
    .venv/bin/pip install fonttools
    .venv/bin/python tools/make_cjk_font.py [--source FILE.ttc] [--face N]
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "pos" / "printing" / "fonts"
OUT_NAME = "PosReceiptMono-Regular.otf"
SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SOURCE_FACE = 7  # Noto Sans Mono CJK SC
LICENCE_SOURCE = "/usr/share/doc/fonts-noto-cjk/copyright"

FAMILY = "Pos Receipt Mono"
STYLE = "Regular"
PS_NAME = "PosReceiptMono-Regular"


def gb2312() -> set[str]:
    """Every character GB2312 encodes: each two-byte code (rows A1-F7, cells A1-FE) decoded."""
    chars = set()
    for lead in range(0xA1, 0xF8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.add(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def ranges() -> set[str]:
    spans = [(0x20, 0x7E), (0xA0, 0xFF), (0x3000, 0x303F), (0xFF01, 0xFF5E), (0xFFE0, 0xFFE6)]
    return {chr(c) for lo, hi in spans for c in range(lo, hi + 1)}


def project_strings() -> set[str]:
    """Non-ASCII characters in every string literal under pos/: the word tables and defaults."""
    chars: set[str] = set()
    for path in sorted((ROOT / "pos").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                chars.update(ch for ch in node.value if ord(ch) > 0x7E and ch.isprintable())
    return chars


def wanted() -> set[str]:
    return gb2312() | ranges() | project_strings()


def rename(font: TTFont) -> None:
    """Our own names everywhere a name is shown; the copyright and licence records stay."""
    name = font["name"]
    keep = {0, 13, 14}  # copyright, licence description, licence URL
    name.names = [r for r in name.names if r.nameID in keep]
    version = f"Version {font['head'].fontRevision:.3f}"
    records = {
        1: FAMILY,
        2: STYLE,
        3: f"{PS_NAME};subset of Noto Sans Mono CJK SC",
        4: f"{FAMILY} {STYLE}",
        5: version,
        6: PS_NAME,
        10: (
            "A subset of Noto Sans Mono CJK SC (SIL OFL 1.1) for receipt slips: ASCII, Latin-1, "
            "GB2312, CJK punctuation, full-width forms. Made by tools/make_cjk_font.py in pos."
        ),
    }
    for name_id, text in records.items():
        name.setName(text, name_id, 3, 1, 0x409)
    cff = font["CFF "].cff
    cff.fontNames = [PS_NAME]
    top = cff[cff.fontNames[0]]
    top.FullName = f"{FAMILY} {STYLE}"
    top.FamilyName = FAMILY
    if hasattr(top, "Notice"):
        del top.Notice


def licence_text(copyright_line: str) -> str:
    """The OFL 1.1 text from Debian's copyright file, with the font's own copyright notice on top."""
    text = Path(LICENCE_SOURCE).read_text(encoding="utf-8")
    block = text.split("License: SIL-1.1\n", 2)[2].split("\nLicense: ", 1)[0]
    lines = [("" if line.strip() == "." else line[1:]) for line in block.splitlines()]
    body = "\n".join(lines).strip("\n")
    return (
        f"{FAMILY} ({OUT_NAME}) is a Modified Version of Noto Sans Mono CJK SC:\n"
        "a subset of its characters, renamed, made by tools/make_cjk_font.py.\n"
        "Source: https://github.com/googlefonts/noto-cjk (Debian package fonts-noto-cjk).\n\n"
        f"{copyright_line}\n\n{body}\n"
    )


def build(source: str, face: int, out_dir: Path) -> Path:
    font = TTFont(source, fontNumber=face, lazy=False, recalcTimestamp=False)
    cmap = font.getBestCmap()
    chars = sorted(ch for ch in wanted() if ord(ch) in cmap)
    options = subset.Options()
    # No layout features: slips draw one character per printer cell, so nothing is shaped, and
    # the locale and vertical alternates would double the glyph count (2.9 MB instead of 1.6 MB).
    options.layout_features = []
    options.name_IDs = ["*"]
    options.name_languages = [0x409]
    options.hinting = False  # a 1-bit 24-dot raster gains nothing from CFF hints
    options.notdef_outline = True  # a character the font lacks shows as its box, not as nothing
    options.drop_tables += ["BASE", "VORG", "vhea", "vmtx", "DSIG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(ch) for ch in chars])
    subsetter.subset(font)
    copyright_line = font["name"].getDebugName(0) or "© 2014-2021 Adobe (http://www.adobe.com/)."
    rename(font)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / OUT_NAME
    font.save(out)
    (out_dir / "OFL.txt").write_text(licence_text(copyright_line), encoding="utf-8")
    print(f"wrote {out}: {len(chars)} characters, {out.stat().st_size:,} bytes")
    missing = sorted(ch for ch in wanted() if ord(ch) not in cmap and not re.match(r"\s", ch))
    if missing:
        print(f"not in the source face (left out): {''.join(missing)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=SOURCE, help="a Noto Sans CJK .ttc or .otf")
    parser.add_argument("--face", type=int, default=SOURCE_FACE, help="face index in a .ttc")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    build(args.source, args.face, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
