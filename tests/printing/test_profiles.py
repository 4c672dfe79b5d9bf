"""Printer profiles: the built-in set, site directories, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from escpos.capabilities import CAPABILITIES

from pos.printing.profiles import PrinterProfile, ProfileError, available_profiles, load_profile

B = r"bad\.toml: "
BUILTIN = ("sunmi58", "tm-t20ii", "tm-t88v", "xp58", "xp80")


def test_builtin_profiles_are_listed_and_load():
    assert set(BUILTIN) <= set(available_profiles())
    for name in BUILTIN:
        profile = load_profile(name)
        assert isinstance(profile, PrinterProfile) and profile.name == name
        # Font A cells fit the printable width; the printable width fits the paper.
        assert profile.columns_font_a * 12 <= profile.printable_dots
        assert profile.printable_mm <= profile.paper_width_mm
        # Every python-escpos profile named exists in the installed library.
        assert profile.escpos_profile in CAPABILITIES["profiles"]


def test_builtin_profiles_state_what_the_issue_lists():
    xp58, xp80, t88 = load_profile("xp58"), load_profile("xp80"), load_profile("tm-t88v")
    assert (xp58.printable_dots, xp58.columns, xp58.cut, xp58.qr_mode) == (384, 32, "none", "raster")
    assert (xp80.printable_dots, xp80.columns, xp80.cut != "none", xp80.qr_mode) == (576, 48, True, "native")
    assert (t88.printable_dots, t88.columns, t88.dpi, t88.has_chinese_font) == (512, 42, 180, False)
    assert xp58.has_chinese_font and xp80.has_chinese_font
    assert not load_profile("tm-t20ii").has_chinese_font
    assert load_profile("sunmi58").status is False


def test_escpos_capabilities_carry_our_geometry_and_qr_truth():
    caps = load_profile("xp58").escpos_capabilities()
    assert caps.profile_data["media"]["width"]["pixels"] == 384
    assert caps.supports("qrCode") is False
    assert load_profile("xp80").escpos_capabilities().supports("paperPartCut") is True


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _base() -> str:
    return Path(load_profile("xp80").source).read_text(encoding="utf-8")


def test_a_site_directory_adds_and_overrides_profiles(tmp_path):
    _write(tmp_path, "shop80", _base().replace('qr_mode = "native"', 'qr_mode = "raster"'))
    _write(tmp_path, "xp80", _base().replace('cut = "partial"', 'cut = "full"'))
    assert "shop80" in available_profiles([tmp_path])
    assert load_profile("shop80", [tmp_path]).qr_mode == "raster"
    assert load_profile("xp80", [tmp_path]).cut == "full"  # the site's file wins
    assert load_profile("xp80").cut == "partial"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("", "colour = true\n"), B + r"unknown key 'colour'"),
        (("dpi = 203", 'dpi = "203"'), B + r"dpi must be a whole number, not '203'"),
        (("status = true", "status = 1"), B + r"status must be true or false, not 1"),
        (
            ('qr_mode = "native"', 'qr_mode = "gs-k"'),
            B + r"qr_mode must be one of native, raster, not 'gs-k'",
        ),
        (('cut = "partial"', 'cut = "half"'), B + r"cut must be one of full, partial, none"),
        (("printable_dots = 576", "printable_dots = 900"), B + r"printable_dots must be between 64 and"),
        (("printable_dots = 576", "printable_dots = 570"), B + r"printable_dots must be a multiple of 8"),
        (("columns_font_a = 48", "columns_font_a = 200"), B + r"columns_font_a must be between 16 and 96"),
        (('text_encoding = "gb18030"', 'text_encoding = "cp437"'), B + r"chinese_mode fs-and needs"),
        (('escpos_profile = "TM-T20II"', 'escpos_profile = "XP-80"'), B + r"escpos_profile 'XP-80' is not"),
        (("dpi = 203\n", ""), B + r"missing key 'dpi'"),
        (("raster_scale = 1", "raster_scale = 3"), B + r"raster_scale must be one of 1, 2, not 3"),
    ],
)
def test_a_wrong_file_is_refused_naming_file_key_and_problem(tmp_path, change, expected):
    old, new = change
    text = _base() + new if not old else _base().replace(old, new)
    assert text != _base()
    _write(tmp_path, "bad", text)
    with pytest.raises(ProfileError, match=expected):
        load_profile("bad", [tmp_path])


def test_not_toml_is_refused_with_the_file_name(tmp_path):
    _write(tmp_path, "broken", "dpi = = 3\n")
    with pytest.raises(ProfileError, match=r"broken\.toml: not valid TOML"):
        load_profile("broken", [tmp_path])


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ProfileError, match=r"unknown printer profile 'xp99'; known profiles: .*xp58.*xp80"):
        load_profile("xp99")


@pytest.mark.parametrize("name", ["../etc/passwd", "XP80", "", "a b"])
def test_profile_names_cannot_escape_the_directory(name):
    with pytest.raises(ProfileError, match="not valid"):
        load_profile(name)
