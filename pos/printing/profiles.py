"""Printer profiles: what one class of ESC/POS printer can do, read from a TOML file.

python-escpos has capability profiles too, but they cannot be trusted for the
two things a pay slip depends on: whether ``GS ( k`` really prints a QR code
(the library sends it whatever the profile says), and whether the printer has
a Chinese font. So each of our profiles states those facts itself, and names
the python-escpos profile it otherwise builds on.

A profile is named by its file name without ``.toml``. The built-in files live
in the ``printer_profiles`` data package; a site adds or overrides files in the
directory named by ``[printer] profiles_dir`` (passed here as ``extra_dirs``,
searched first). A file with an unknown key, a value of the wrong type or an
impossible value is refused with a :class:`ProfileError` naming the file, the
key and the problem.

Keys (all required unless marked optional)::

    description = "Generic 80 mm GB18030 printer"   # optional, free text
    escpos_profile = "TM-T20II"   # optional: python-escpos capability profile name, or ""
    paper_width_mm = 80           # paper roll width
    printable_dots = 576          # dots across the printable width
    dpi = 203                     # dots per inch (203 on most, 180 on Epson TM-T88)
    columns_font_a = 48           # ASCII characters per line in Font A (12-dot cells)
    columns_font_b = 64           # ... in Font B
    text_encoding = "gb18030"     # gb18030 | cp437: the bytes text is sent in
    chinese_mode = "fs-and"       # fs-and: FS & + GB18030 two-byte codes; none: no Chinese font
    qr_mode = "native"            # native: GS ( k works (checked on hardware); raster: GS v 0 image
    raster_scale = 1              # optional, 1 | 2: 2 sends raster QRs at half size with GS v 0 m=3
    cut = "partial"               # full | partial | none
    status = true                 # answers DLE EOT real-time status
    cash_drawer = true            # has a drawer kick-out connector (ESC p)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import printer_profiles
from pos.printing.errors import PrintingError

TEXT_ENCODINGS = ("gb18030", "cp437")
CHINESE_MODES = ("fs-and", "none")
QR_MODES = ("native", "raster")
CUTS = ("full", "partial", "none")
RASTER_SCALES = (1, 2)

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ProfileError(PrintingError, ValueError):
    """A printer profile is missing or wrong; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class PrinterProfile:
    """One printer class, as the encoder and the devices need it. Build with :func:`load_profile`."""

    name: str
    paper_width_mm: float
    printable_dots: int
    dpi: int
    columns_font_a: int
    columns_font_b: int
    text_encoding: str
    chinese_mode: str
    qr_mode: str
    cut: str
    status: bool
    cash_drawer: bool
    raster_scale: int = 1
    escpos_profile: str = ""
    description: str = ""
    source: str = ""

    @property
    def columns(self) -> int:
        """Characters per line in the default font (Font A): what templates lay out for."""
        return self.columns_font_a

    @property
    def has_chinese_font(self) -> bool:
        return self.chinese_mode == "fs-and"

    @property
    def native_qr(self) -> bool:
        return self.qr_mode == "native"

    @property
    def printable_mm(self) -> float:
        return self.printable_dots * 25.4 / self.dpi

    @property
    def dots_per_mm(self) -> float:
        return self.dpi / 25.4

    @property
    def cell_dots(self) -> int:
        """Width of one Font A character cell in dots (12 on common printers)."""
        return self.printable_dots // self.columns_font_a

    def escpos_capabilities(self) -> Any:
        """The python-escpos ``Profile`` this builds on, with our geometry (for its printer classes)."""
        from escpos.capabilities import get_profile

        profile = get_profile(self.escpos_profile or "default")
        profile.profile_data = dict(profile.profile_data)
        profile.profile_data["media"] = {
            "dpi": self.dpi,
            "width": {"mm": self.paper_width_mm, "pixels": self.printable_dots},
        }
        features = dict(profile.profile_data.get("features", {}))
        features["qrCode"] = self.native_qr
        features["paperFullCut"] = self.cut == "full"
        features["paperPartCut"] = self.cut == "partial"
        profile.profile_data["features"] = features
        return profile


# key -> (type, required)
_KEYS: dict[str, tuple[type, bool]] = {
    "description": (str, False),
    "escpos_profile": (str, False),
    "paper_width_mm": (float, True),
    "printable_dots": (int, True),
    "dpi": (int, True),
    "columns_font_a": (int, True),
    "columns_font_b": (int, True),
    "text_encoding": (str, True),
    "chinese_mode": (str, True),
    "qr_mode": (str, True),
    "raster_scale": (int, False),
    "cut": (str, True),
    "status": (bool, True),
    "cash_drawer": (bool, True),
}

_CHOICES: dict[str, tuple[Any, ...]] = {
    "text_encoding": TEXT_ENCODINGS,
    "chinese_mode": CHINESE_MODES,
    "qr_mode": QR_MODES,
    "cut": CUTS,
    "raster_scale": RASTER_SCALES,
}


def builtin_dir() -> Path:
    """The directory of the profiles shipped with pos."""
    for entry in printer_profiles.__path__:
        if Path(entry).is_dir():
            return Path(entry)
    raise ProfileError("the built-in printer_profiles directory is missing")  # pragma: no cover


def _search_dirs(extra_dirs: Iterable[str | Path]) -> list[Path]:
    return [Path(d) for d in extra_dirs if str(d)] + [builtin_dir()]


def available_profiles(extra_dirs: Iterable[str | Path] = ()) -> list[str]:
    """Names of every profile found in the site directories and the built-in set, sorted."""
    names: set[str] = set()
    for directory in _search_dirs(extra_dirs):
        if directory.is_dir():
            names.update(p.stem for p in directory.glob("*.toml") if _NAME.match(p.stem))
    return sorted(names)


def load_profile(name: str, extra_dirs: Iterable[str | Path] = ()) -> PrinterProfile:
    """Find ``NAME.toml`` (site directories first, then the built-in set) and check every key."""
    dirs = _search_dirs(extra_dirs)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProfileError(f"printer profile name {name!r} is not valid (lowercase letters, digits, . _ -)")
    for directory in dirs:
        path = directory / f"{name}.toml"
        if path.is_file():
            return read_profile_file(path)
    known = ", ".join(available_profiles(extra_dirs)) or "none"
    raise ProfileError(f"unknown printer profile {name!r}; known profiles: {known}")


def read_profile_file(path: str | Path) -> PrinterProfile:
    """Read and check one profile file; the profile is named by the file's stem."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read: {exc.strerror}") from exc
    return profile_from_mapping(path.stem, data, str(path))


def profile_from_mapping(name: str, data: Mapping[str, Any], source: str) -> PrinterProfile:
    """Check a parsed profile table key by key and build the profile (also used by tests)."""
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ProfileError(f"{source}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_KEYS))}")
    missing = [k for k, (_, required) in _KEYS.items() if required and k not in data]
    if missing:
        raise ProfileError(f"{source}: missing key {missing[0]!r}")
    values: dict[str, Any] = {}
    for key, raw in data.items():
        expected, _ = _KEYS[key]
        values[key] = _coerce(source, key, expected, raw)
        choices = _CHOICES.get(key)
        if choices and values[key] not in choices:
            shown = ", ".join(str(c) for c in choices)
            raise ProfileError(f"{source}: {key} must be one of {shown}, not {raw!r}")
    _check_values(source, values)
    return PrinterProfile(name=name, source=source, **values)


def _coerce(source: str, key: str, expected: type, value: Any) -> Any:
    where = f"{source}: {key}"
    if expected is bool:
        if not isinstance(value, bool):
            raise ProfileError(f"{where} must be true or false, not {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{where} must be a whole number, not {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(f"{where} must be a number, not {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ProfileError(f"{where} must be a string, not {value!r}")
    return value


def _check_values(source: str, v: dict[str, Any]) -> None:
    def bad(key: str, problem: str) -> ProfileError:
        return ProfileError(f"{source}: {key} {problem}")

    if not 40 <= v["paper_width_mm"] <= 120:
        raise bad("paper_width_mm", f"must be between 40 and 120 mm, not {v['paper_width_mm']:g}")
    if not 100 <= v["dpi"] <= 600:
        raise bad("dpi", f"must be between 100 and 600, not {v['dpi']}")
    paper_dots = v["paper_width_mm"] * v["dpi"] / 25.4
    if not 64 <= v["printable_dots"] <= paper_dots:
        raise bad(
            "printable_dots",
            f"must be between 64 and the paper width ({int(paper_dots)} dots at {v['dpi']} dpi), "
            f"not {v['printable_dots']}",
        )
    if v["printable_dots"] % 8:
        raise bad("printable_dots", f"must be a multiple of 8, not {v['printable_dots']}")
    for key in ("columns_font_a", "columns_font_b"):
        cols = v[key]
        if not 16 <= cols <= v["printable_dots"] // 6:
            raise bad(
                key, f"must be between 16 and {v['printable_dots'] // 6} (cells of 6+ dots), not {cols}"
            )
    if v["columns_font_b"] < v["columns_font_a"]:
        raise bad("columns_font_b", "must be at least columns_font_a (Font B is the smaller font)")
    if v["chinese_mode"] == "fs-and" and v["text_encoding"] != "gb18030":
        raise bad("chinese_mode", 'fs-and needs text_encoding = "gb18030"')
    if v["text_encoding"] == "gb18030" and v["chinese_mode"] != "fs-and":
        raise bad("text_encoding", 'gb18030 needs chinese_mode = "fs-and" (a printer with a Chinese font)')
    name = v.get("escpos_profile", "")
    if name:
        from escpos.capabilities import CAPABILITIES

        known = CAPABILITIES["profiles"]
        if name not in known:
            raise bad(
                "escpos_profile",
                f"{name!r} is not a python-escpos profile; known: {', '.join(sorted(known))}",
            )
