"""`pos printer test|preview|status` through pos.cli.main and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageChops

from pos import cli
from pos.printing import fonts, preview
from pos.printing.devices.testing import FakeNetworkPrinter
from pos.printing.encoder import encode
from pos.printing.profiles import load_profile
from pos.receipts.templates import SAMPLE_CODE_URL, calibration_slip

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "pos.toml"
    path.write_text(
        f'[printer]\ndevice = "dir:{tmp_path / "printer"}"\nprofile = "xp80"\nstatus_timeout = 0.2\n',
        encoding="utf-8",
    )
    return path


def run(config_file, *argv: str) -> int:
    return cli.main(["--config", str(config_file), "printer", *argv])


# --- pos printer test ---------------------------------------------------------------------------


def test_printer_test_prints_the_calibration_slip_on_the_virtual_printer(config_file, tmp_path, capsys):
    assert run(config_file, "test") == 0
    assert "calibration slip for profile xp80" in capsys.readouterr().out
    folder = tmp_path / "printer"
    [job] = [json.loads(line) for line in (folder / "jobs.jsonl").read_text().splitlines()]
    assert job["kind"] == "test"
    data = (folder / job["bin"]).read_bytes()
    assert data == encode(calibration_slip("xp80", 48, "zh-CN"), load_profile("xp80"))
    # Both QR codes on the slip read back: the native one from its stored data, the raster one.
    assert preview.native_qr_payloads(data) == [SAMPLE_CODE_URL.encode()]
    picture = Image.open(folder / job["png"])
    assert [r.text for r in zxingcpp.read_barcodes(picture)] == [SAMPLE_CODE_URL] * 2


def test_printer_test_with_device_and_profile_options(config_file):
    with FakeNetworkPrinter() as printer:
        assert run(config_file, "test", "--device", printer.spec, "--profile", "xp58") == 0
        [job] = printer.wait_for_jobs(1)
    assert job == encode(calibration_slip("xp58", 32, "zh-CN"), load_profile("xp58"))


def test_printer_test_on_an_unreachable_printer_says_not_printed(config_file, capsys):
    with FakeNetworkPrinter() as printer:
        spec = printer.spec
    assert run(config_file, "test", "--device", spec) == 1
    err = capsys.readouterr().err
    assert err.startswith("pos printer: not printed:") and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["test", "--device", "lpt1"], "has no kind"),
        (["test", "--device", "usb:04b8"], "needs VENDOR:PRODUCT"),
        (["test", "--profile", "no-such-printer"], "unknown printer profile 'no-such-printer'"),
        (["status", "--device", "serial:/dev/ttyUSB0?flow=dsrdtr"], "flow='dsrdtr'"),
        (["status", "--timeout", "0"], "--timeout must be more than 0"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(config_file, capsys, argv, message):
    assert run(config_file, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_printer_test_on_an_epson_works_with_no_config_file_on_the_bundled_font(
    tmp_path, monkeypatch, capsys, fresh_box
):
    """A fresh box: no config anywhere, no system CJK font; tm-t20ii has no Chinese font."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if Path("/etc/pos/pos.toml").exists():
        pytest.skip("this machine has /etc/pos/pos.toml")
    assert cli.main(["printer", "test", "--profile", "tm-t20ii"]) == 0
    assert "calibration slip for profile tm-t20ii" in capsys.readouterr().out
    folder = tmp_path / "pos-demo" / "printer"  # the default device
    [job] = [json.loads(line) for line in (folder / "jobs.jsonl").read_text().splitlines()]
    data = (folder / job["bin"]).read_bytes()
    profile = load_profile("tm-t20ii")
    slip = calibration_slip("tm-t20ii", profile.columns, "zh-CN")
    assert data == encode(slip, profile, raster_font=fonts.bundled())
    assert b"\x1c&" not in data and preview.raster_images(data)  # Chinese went as pictures


def test_printer_test_refuses_a_latin_only_font_naming_the_setting(config_file, latin_font, tmp_path, capsys):
    assert run(config_file, "test", "--profile", "tm-t20ii", "--font", latin_font) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "[printer] raster_font" in err and latin_font in err and "--font" in err
    assert "演" in err and "￥" in err  # the missing characters are named
    assert not (tmp_path / "printer").exists()  # nothing was printed


def test_printer_test_refuses_the_configured_font_and_a_good_font_overrides_it(tmp_path, latin_font, capsys):
    config = tmp_path / "pos.toml"
    config.write_text(
        f'[printer]\ndevice = "dir:{tmp_path / "printer"}"\nprofile = "tm-t20ii"\n'
        f'raster_font = "{latin_font}"\n',
        encoding="utf-8",
    )
    assert run(config, "test") == 2
    err = capsys.readouterr().err
    assert err.startswith("pos printer: [printer] raster_font:") and "--font" not in err
    assert run(config, "test", "--font", str(fonts.BUNDLED)) == 0


def test_printer_test_as_a_subprocess_exits_2_on_a_latin_font(config_file, latin_font):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pos.cli",
            "--config",
            str(config_file),
            "printer",
            "test",
            "--font",
            latin_font,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "[printer] raster_font" in done.stderr and "Traceback" not in done.stderr


# --- pos printer preview ------------------------------------------------------------------------


@pytest.fixture
def job_file(tmp_path):
    path = tmp_path / "job.bin"
    path.write_bytes(b"\x1b@\x1ba\x01HELLO\n\x1bp\x00\x32\x32")
    return path


@pytest.mark.parametrize(
    ("argv", "width"),
    [(["--width-dots", "384"], 384), (["--profile", "tm-t88v"], 512), ([], 576)],
)
def test_printer_preview_writes_a_png_of_the_paper_width(
    config_file, job_file, tmp_path, capsys, argv, width
):
    out = tmp_path / "out.png"
    assert run(config_file, "preview", str(job_file), "-o", str(out), *argv) == 0
    assert Image.open(out).width == width + 32
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out
    assert "note: cash drawer kick" in captured.err


def test_printer_preview_defaults_the_output_name(config_file, job_file):
    assert run(config_file, "preview", str(job_file)) == 0
    assert job_file.with_suffix(".png").is_file()


def test_printer_preview_draws_with_the_configured_raster_font(config_file, job_file, tmp_path, box_font):
    assert run(config_file, "preview", str(job_file), "-o", str(tmp_path / "default.png")) == 0
    boxes = box_font("boxes.ttf", "HELO")  # every letter a hollow box
    config_file.write_text(config_file.read_text() + f'raster_font = "{boxes}"\n', encoding="utf-8")
    assert run(config_file, "preview", str(job_file), "-o", str(tmp_path / "boxes.png")) == 0
    default, drawn = (Image.open(tmp_path / n).convert("L") for n in ("default.png", "boxes.png"))
    assert default.size == drawn.size and ImageChops.difference(default, drawn).getbbox()
    left = 16 + (576 - 5 * 12) // 2  # margin, then "HELLO" centred (ESC a 1)
    cells = [drawn.crop((left + 12 * i, 16, left + 12 * i + 12, 40)) for i in range(5)]
    assert all(cell.histogram()[0] > 20 for cell in cells)  # every letter inked...
    assert all(ImageChops.difference(cell, cells[0]).getbbox() is None for cell in cells)  # ...as one box


def test_printer_preview_of_a_missing_file_is_refused(config_file, tmp_path, capsys):
    assert run(config_file, "preview", str(tmp_path / "nope.bin")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_printer_preview_takes_width_or_profile_not_both(config_file, job_file):
    with pytest.raises(SystemExit) as caught:
        run(config_file, "preview", str(job_file), "--width-dots", "384", "--profile", "xp58")
    assert caught.value.code == 2


# --- pos printer status -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "code", "line"),
    [
        (None, 0, "online (virtual)"),
        ("paper-near-end", 0, "paper near end (virtual)"),
        ("paper-out", 1, "paper out (virtual)"),
        ("jammed", 3, "unknown (virtual)"),
    ],
)
def test_printer_status_of_the_virtual_printer(config_file, tmp_path, capsys, state, code, line):
    if state:
        (tmp_path / "printer").mkdir()
        (tmp_path / "printer" / "state").write_text(state)
    assert run(config_file, "status") == code
    out = capsys.readouterr().out
    assert out.startswith(f"dir:{tmp_path / 'printer'}: {line}") and out.count("\n") == 1


@pytest.mark.parametrize(
    ("mode", "code", "words"),
    [("online", 0, "online"), ("cover-open", 1, "cover open"), ("silent", 3, "unknown: no answer")],
)
def test_printer_status_over_tcp(config_file, capsys, mode, code, words):
    with FakeNetworkPrinter(mode) as printer:
        assert run(config_file, "status", "--device", printer.spec, "--timeout", "0.1") == code
    assert words in capsys.readouterr().out


def test_printer_status_as_a_real_subprocess(config_file):
    with FakeNetworkPrinter("paper-out") as printer:
        argv = ["--config", str(config_file), "printer", "status", "--device", printer.spec]
        proc = subprocess.run(
            [sys.executable, "-m", "pos.cli", *argv],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == f"{printer.spec}: paper out: put in a new paper roll"
    assert proc.stderr == ""
