"""``pos init`` as an installer runs it: a real subprocess, answers as flags or fed on stdin,
files checked for their content and their modes, the result loaded by pos.config."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pos import config
from pos.printing.devices.testing import FakeNetworkPrinter
from pos.setup import hardware, kiosk

pytestmark = pytest.mark.timeout(90)

KEY = "0123456789abcdef0123456789ABCDEF"


def init(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pos.cli", "--config", str(tmp_path / "etc" / "pos.toml"), "init"]
    command += ["--data-dir", str(tmp_path / "data"), *args]
    return subprocess.run(
        command,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ("POS_API_KEY", "CREDENTIALS_DIRECTORY")},
    )


def all_flags(tmp_path: Path, **changes: str) -> list[str]:
    flags = {
        "--appid": "wx1234567890abcdef",
        "--mch-id": "1900000109",
        "--api-key": KEY,
        "--notify-url": "https://pay.example.com/wechatpay/notify",
        "--store-name": "街角咖啡",
        "--timezone": "Asia/Shanghai",
        "--printer": f"dir:{tmp_path / 'printer'}",
        "--profile": "xp58",
    }
    flags.update(changes)
    return [part for pair in flags.items() for part in pair]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_with_every_flag_it_asks_nothing_and_writes_a_config_that_loads(tmp_path):
    result = init(tmp_path, *all_flags(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "?" not in result.stdout and "Setting up" not in result.stdout  # no question asked
    config_path, key_path = tmp_path / "etc" / "pos.toml", tmp_path / "etc" / "api_key"
    assert mode(config_path) == 0o600 and mode(key_path) == 0o600
    assert KEY not in config_path.read_text() and KEY not in result.stdout + result.stderr
    assert key_path.read_text().strip() == KEY
    cfg = config.load(config_path, env={})
    assert cfg.merchant.api_key == KEY and cfg.merchant.api_key_file == str(key_path)
    assert (cfg.merchant.appid, cfg.merchant.mch_id) == ("wx1234567890abcdef", "1900000109")
    assert (cfg.store.name, cfg.store.timezone, cfg.printer.profile) == ("街角咖啡", "Asia/Shanghai", "xp58")
    assert cfg.merchant.api_base == config.REAL_GATEWAY
    assert (tmp_path / "data" / "pos.sqlite3").is_file()  # the ledger is created and migrated
    assert not (tmp_path / "printer" / "jobs.jsonl").exists()  # no slip unless asked


def test_an_existing_config_is_not_replaced_without_force(tmp_path):
    assert init(tmp_path, *all_flags(tmp_path)).returncode == 0
    before = (tmp_path / "etc" / "pos.toml").read_text()
    again = init(tmp_path, *all_flags(tmp_path, **{"--store-name": "新店"}))
    assert again.returncode == 2 and "use --force" in again.stderr
    assert (tmp_path / "etc" / "pos.toml").read_text() == before
    forced = init(tmp_path, *all_flags(tmp_path, **{"--store-name": "新店"}), "--force")
    assert forced.returncode == 0, forced.stderr
    assert config.load(tmp_path / "etc" / "pos.toml", env={}).store.name == "新店"
    assert mode(tmp_path / "etc" / "pos.toml") == 0o600


@pytest.mark.parametrize(
    ("flag", "value", "setting"),
    [
        ("--appid", "wx123", "[merchant] appid"),
        ("--mch-id", "abc", "[merchant] mch_id"),
        ("--api-key", "tooshort", "[merchant] api_key"),
        ("--notify-url", "http://pay.example.com/notify", "[merchant] notify_url"),
        ("--timezone", "Asia/Atlantis", "[store] timezone"),
        ("--printer", "lpt1", "[printer] device"),
        ("--profile", "epson9000", "[printer] profile"),
    ],
)
def test_a_bad_flag_is_refused_naming_the_setting_and_nothing_is_written(tmp_path, flag, value, setting):
    result = init(tmp_path, *all_flags(tmp_path, **{flag: value}))
    assert result.returncode == 2
    assert f"{flag} ({setting})" in result.stderr and "nothing written" in result.stderr
    assert "tooshort" not in result.stderr  # a key is never repeated back
    assert not (tmp_path / "etc").exists()


def test_interactive_answers_on_stdin_bad_ones_asked_again_the_key_never_shown(tmp_path):
    answers = [
        "",  # the API: v2, the default
        "wxNOPE",  # re-asked
        "wx1234567890abcdef",
        "1900000109",
        "not-a-key",  # re-asked
        KEY,
        "http://pay.example.com/wechatpay/notify",  # not https: re-asked
        "https://pay.example.com/wechatpay/notify",
        "测试店",
        "Moon/Base",  # re-asked
        "",  # the default time zone
        f"dir:{tmp_path / 'printer'}",
        "",  # the default profile
        "",  # no refund certificate yet
        "y",  # print the calibration slip
    ]
    result = init(tmp_path, stdin="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert KEY not in out and "not-a-key" not in out and KEY not in result.stderr
    assert "[merchant] appid must be 'wx'" in out
    assert "[merchant] api_key must be 32 letters and digits (it is 9 characters)" in out
    assert "[merchant] notify_url must be https" in out
    assert "[store] timezone is not a known time zone" in out
    cfg = config.load(tmp_path / "etc" / "pos.toml", env={})
    assert (
        cfg.merchant.api_key == KEY
        and cfg.store.timezone == "Asia/Shanghai"
        and cfg.printer.profile == "xp80"
    )
    [job] = [json.loads(line) for line in (tmp_path / "printer" / "jobs.jsonl").read_text().splitlines()]
    assert job["kind"] == "test"
    assert out.rstrip().endswith(f"next: pos --config {tmp_path / 'etc' / 'pos.toml'} doctor")


def test_input_that_ends_before_every_answer_writes_nothing(tmp_path):
    result = init(tmp_path, stdin="v2\nwx1234567890abcdef\n1900000109\n")
    assert result.returncode == 2
    assert "[merchant] api_key: no answer" in result.stderr
    assert not (tmp_path / "etc").exists()


def test_five_bad_answers_give_up_naming_the_setting(tmp_path):
    result = init(tmp_path, stdin="nope\n" * 5)
    assert result.returncode == 2 and "[merchant] api: no acceptable answer" in result.stderr
    assert "[merchant] api must be v2 or v3, not 'nope'" in result.stdout
    result = init(tmp_path, stdin="\n" + "nope\n" * 5)
    assert result.returncode == 2 and "[merchant] appid: no acceptable answer" in result.stderr


def test_the_key_can_come_from_a_file_and_the_calibration_slip_from_a_flag(tmp_path):
    source = tmp_path / "downloaded_key.txt"
    source.write_text(KEY + "\n")
    flags = [f for f in all_flags(tmp_path) if f != KEY and f != "--api-key"]
    with FakeNetworkPrinter() as printer:
        result = init(
            tmp_path, *flags, "--printer", printer.spec, "--api-key-from", str(source), "--print-test"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        [job] = printer.wait_for_jobs(1)
    assert len(job) > 1000 and "printed the calibration slip for profile" in result.stdout
    assert config.load(tmp_path / "etc" / "pos.toml", env={}).merchant.api_key == KEY


def test_a_calibration_slip_that_cannot_print_exits_1_after_writing(tmp_path):
    with FakeNetworkPrinter() as printer:
        spec = printer.spec  # closed when the with block ends: nothing listens there any more
    result = init(tmp_path, *all_flags(tmp_path, **{"--printer": spec}), "--print-test")
    assert result.returncode == 1
    assert "did not print" in result.stdout
    assert (tmp_path / "etc" / "pos.toml").is_file()


# -- pieces ------------------------------------------------------------------------------------


def test_write_private_is_0600_whatever_the_umask_and_refuses_to_replace(tmp_path):
    target = tmp_path / "secret"
    old = os.umask(0)
    try:
        kiosk.write_private(target, "x\n", force=False)
    finally:
        os.umask(old)
    assert mode(target) == 0o600
    with pytest.raises(kiosk.Exists):
        kiosk.write_private(target, "y\n", force=False)
    assert target.read_text() == "x\n" and [p.name for p in tmp_path.iterdir()] == ["secret"]


class _Interface:
    def __init__(self, cls):
        self.bInterfaceClass = cls


class _Device:
    """What pyusb hands back for one device: configurations of interfaces (no USB here)."""

    def __init__(self, vendor, product, classes):
        self.idVendor, self.idProduct, self.bDeviceClass = vendor, product, 0
        self.iManufacturer = self.iProduct = 0
        self._configurations = [[_Interface(c) for c in classes]]

    def __iter__(self):
        return iter(self._configurations)


def test_usb_listing_offers_printer_class_devices_only(monkeypatch):
    import usb.core

    devices = [_Device(0x04B8, 0x0202, [7]), _Device(0x046D, 0xC52B, [3]), _Device(0x0416, 0x5011, [255, 7])]
    monkeypatch.setattr(usb.core, "find", lambda find_all=False, **_: iter(devices))
    found, note = hardware.usb_printers()
    assert [f.spec for f in found] == ["usb:04b8:0202", "usb:0416:5011"] and note == ""

    def no_backend(**_):
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    found, note = hardware.usb_printers()
    assert found == [] and "libusb is not installed" in note
