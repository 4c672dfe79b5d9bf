"""``pos doctor``: each check failing and passing against real parts -- the simulator over real
HTTP(S), certificates made with cryptography, fake printers on real sockets, SQLite files --
and the whole command as a subprocess against a running demo."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pos import config
from pos.demo import running_shop
from pos.ledger import open_ledger
from pos.ledger.database import create_ledger_engine, current_revision, head_revision, upgrade
from pos.printing.devices.testing import FakeNetworkPrinter
from pos.sandbox.testing import running_simulator
from pos.sandbox.tls import client_certificate
from pos.setup import checks, wechat_checks
from pos.setup.checks import Context, Status
from pos.wechatpay.testing import dead_url

pytestmark = pytest.mark.timeout(90)

GOOD_KEY = "0123456789abcdef0123456789ABCDEF"


def context(raw: dict, **extra) -> Context:
    cfg = config.from_mapping(raw, "<test>", env={})
    return Context(cfg=cfg, raw=raw, env={}, **extra)


def merchant(sim, **changes) -> dict:
    section = {
        "appid": sim.appid,
        "mch_id": sim.mch_id,
        "api_key": sim.api_key,
        "api_base": sim.base_url,
        "notify_url": "http://127.0.0.1:9/wechatpay/notify",
        "timeout": 5,
    }
    section.update(changes)
    return {"merchant": section}


@pytest.fixture(scope="module")
def sim():
    with running_simulator(tls=True) as running:
        yield running


# -- the API key and the clock ---------------------------------------------------------------------


def test_the_right_key_gets_ordernotexist_and_the_clock_agrees(sim):
    ctx = context(merchant(sim))
    result = wechat_checks.check_wechat_key(ctx)
    assert result.status is Status.OK, result
    assert "ORDERNOTEXIST" in result.detail
    assert ctx.gateway_time is not None
    assert wechat_checks.check_clock(ctx).status is Status.OK


def test_a_wrong_key_is_a_signature_error_naming_the_fix(sim):
    result = wechat_checks.check_wechat_key(context(merchant(sim, api_key=GOOD_KEY)))
    assert result.status is Status.FAIL
    assert "签名错误" in result.detail and "API key is wrong" in result.detail
    assert "api_key_file" in result.fix


def test_a_gateway_that_does_not_answer_fails_and_the_clock_is_skipped():
    ctx = context({"merchant": {"api_base": dead_url(), "timeout": 2}})
    result = wechat_checks.check_wechat_key(ctx)
    assert result.status is Status.FAIL and "cannot reach" in result.detail
    assert wechat_checks.check_clock(ctx).status is Status.SKIP


def test_a_gateway_whose_clock_differs_by_two_minutes_fails_the_clock_check():
    with running_simulator() as skewed:  # its own clock: moving it does not disturb other tests
        skewed.advance(120)
        ctx = context(merchant(skewed))
        assert wechat_checks.check_wechat_key(ctx).status is Status.OK
        result = wechat_checks.check_clock(ctx)
    assert result.status is Status.FAIL
    assert "behind WeChat's" in result.detail and "timedatectl" in result.fix


# -- the refund certificate ------------------------------------------------------------------------


def test_the_simulators_merchant_certificate_passes(sim):
    cert, key = sim.pki.client
    result = wechat_checks.check_certificate(context(merchant(sim, cert_file=cert, key_file=key)))
    assert result.status is Status.OK, result
    assert "for mch_id" in result.detail


def test_no_certificate_is_a_warning_not_a_failure(sim):
    result = wechat_checks.check_certificate(context(merchant(sim)))
    assert result.status is Status.WARN and "refunds will not work" in result.detail


def _expired_certificate(tmp_path: Path, mch_id: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, mch_id)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=35))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "old_cert.pem", tmp_path / "old_key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


def test_an_expired_certificate_fails(sim, tmp_path):
    cert, key = _expired_certificate(tmp_path, sim.mch_id)
    result = wechat_checks.check_certificate(context(merchant(sim, cert_file=cert, key_file=key)))
    assert result.status is Status.FAIL and "expired on" in result.detail


def test_a_certificate_with_someone_elses_key_fails(sim):
    cert, _ = sim.pki.client
    result = wechat_checks.check_certificate(
        context(merchant(sim, cert_file=cert, key_file=str(sim.pki.stranger_key)))
    )
    assert result.status is Status.FAIL and "do not belong together" in result.detail


def test_a_certificate_for_another_mch_id_fails(sim):
    cert, key = client_certificate(sim.pki, "1900000999")
    result = wechat_checks.check_certificate(context(merchant(sim, cert_file=cert, key_file=key)))
    assert result.status is Status.FAIL
    assert "issued for 1900000999" in result.detail and sim.mch_id in result.detail


def test_a_key_file_others_can_read_fails(sim, tmp_path):
    cert, key = sim.pki.client
    loose = tmp_path / "loose_key.pem"
    loose.write_bytes(Path(key).read_bytes())
    loose.chmod(0o644)
    result = wechat_checks.check_certificate(context(merchant(sim, cert_file=cert, key_file=str(loose))))
    assert result.status is Status.FAIL and "chmod 600" in result.fix


def test_a_missing_certificate_file_fails_naming_it(sim, tmp_path):
    _, key = sim.pki.client
    missing = str(tmp_path / "nope.pem")
    result = wechat_checks.check_certificate(context(merchant(sim, cert_file=missing, key_file=key)))
    assert result.status is Status.FAIL and missing in result.detail


# -- notify_url --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_base", "notify_url", "status"),
    [
        ("http://127.0.0.1:8702", "http://127.0.0.1:8701/wechatpay/notify", Status.OK),  # the demo
        (config.REAL_GATEWAY, "http://1.1.1.1/wechatpay/notify", Status.FAIL),  # not https
        (config.REAL_GATEWAY, "https://127.0.0.1/wechatpay/notify", Status.WARN),  # loopback
        (config.REAL_GATEWAY, "https://192.168.1.20/wechatpay/notify", Status.WARN),  # private
        (config.REAL_GATEWAY, "https://1.1.1.1/wechatpay/notify", Status.OK),  # public
    ],
)
def test_notify_url(api_base, notify_url, status):
    own = {"appid": "wx0000000000000001", "mch_id": "1900000109", "api_key": GOOD_KEY}
    result = wechat_checks.check_notify_url(
        context({"merchant": {**own, "api_base": api_base, "notify_url": notify_url}})
    )
    assert result.status is status, result


# -- secrets -----------------------------------------------------------------------------------


def test_the_sandbox_identity_against_the_real_gateway_fails(tmp_path):
    path = tmp_path / "pos.toml"
    path.write_text(f'[merchant]\napi_base = "{config.REAL_GATEWAY}"\n')
    result = doctor(path)  # pos.config refuses it: no check could run on it
    assert result.returncode == 2 and "[merchant] appid" in result.stdout and "sandbox" in result.stdout


def test_a_real_key_in_a_file_others_can_read_fails(tmp_path):
    path = tmp_path / "pos.toml"
    path.write_text(
        f'[merchant]\nappid = "wx0000000000000001"\nmch_id = "1900000109"\napi_key = "{GOOD_KEY}"\n'
        f'api_base = "{config.REAL_GATEWAY}"\n'
    )
    path.chmod(0o644)
    cfg = config.load(path, env={})
    result = checks.check_secrets(Context(cfg=cfg, raw=checks.load_raw(cfg), env={}))
    assert result.status is Status.FAIL and "api_key_file" in result.fix
    path.chmod(0o600)
    result = checks.check_secrets(Context(cfg=cfg, raw=checks.load_raw(cfg), env={}))
    assert result.status is Status.WARN and "manager password" in result.detail  # no password set yet


def test_a_key_of_the_wrong_length_fails():
    raw = {"merchant": {"appid": "wx0000000000000001", "mch_id": "1900000109", "api_key": "short"}}
    result = checks.check_secrets(context(raw))
    assert result.status is Status.FAIL and "5 characters" in result.detail and "short" not in result.detail


# -- the printer -------------------------------------------------------------------------------


def printer_context(device: str, profile: str = "xp80") -> Context:
    return context({"printer": {"device": device, "profile": profile, "status_timeout": 0.3}})


def test_a_virtual_printer_online_and_unavailable(tmp_path):
    folder = tmp_path / "printer"
    assert checks.check_printer(printer_context(f"dir:{folder}")).status is Status.OK
    folder.mkdir(exist_ok=True)
    (folder / "state").write_text("unavailable\n")
    result = checks.check_printer(printer_context(f"dir:{folder}"))
    assert result.status is Status.FAIL and "offline" in result.detail


def test_a_network_printer_that_answers_passes_and_one_out_of_paper_fails():
    with FakeNetworkPrinter() as printer:
        assert checks.check_printer(printer_context(printer.spec)).status is Status.OK
    with FakeNetworkPrinter(mode="paper-out") as printer:
        result = checks.check_printer(printer_context(printer.spec))
    assert result.status is Status.FAIL and result.fix == "put in a new paper roll"


def test_a_printer_that_is_silent_or_gone_fails():
    with FakeNetworkPrinter(mode="silent") as printer:
        result = checks.check_printer(printer_context(printer.spec))
    assert result.status is Status.FAIL and "unknown" in result.detail
    port = dead_url().rsplit(":", 1)[1]
    result = checks.check_printer(printer_context(f"tcp:127.0.0.1:{port}?connect_timeout=1"))
    assert result.status is Status.FAIL and "unreachable" in result.detail


def test_a_bad_device_string_fails_naming_the_setting():
    result = checks.check_printer(printer_context("lpt:1"))
    assert result.status is Status.FAIL and "[printer] device" in result.detail


# -- the font ----------------------------------------------------------------------------------


def test_the_font_check_uses_font_problem_when_it_exists(monkeypatch):
    if "pos.printing.fonts" not in sys.modules:
        try:
            import pos.printing.fonts  # noqa: F401
        except ImportError:
            assert checks.check_font(context({})).status is Status.SKIP
    fake = types.ModuleType("pos.printing.fonts")
    fake.font_problem = lambda cfg: "[printer] raster_font DejaVuSans.ttf has no 拿"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pos.printing.fonts", fake)
    result = checks.check_font(context({}))
    assert result.status is Status.FAIL and "raster_font" in result.detail
    fake.font_problem = lambda cfg: None  # type: ignore[attr-defined]
    assert checks.check_font(context({})).status is Status.OK


# -- the ledger --------------------------------------------------------------------------------


def ledger_context(path: Path | str) -> Context:
    """The doctor's context for a ledger: a SQLite file's path, or any database URL."""
    return context({"database": {"url": path if isinstance(path, str) else f"sqlite:///{path}"}})


def test_a_migrated_ledger_passes_and_stays_unchanged(database, tmp_path):
    url = database.url_in(tmp_path)
    open_ledger(url).close()
    result = checks.check_ledger(ledger_context(url))
    assert result.status is Status.OK and "writable" in result.detail
    engine = create_ledger_engine(url)
    try:  # the probe's write was rolled back
        assert current_revision(engine) == head_revision()
        with engine.connect() as db:
            assert db.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        engine.dispose()


def test_a_missing_ledger_file_fails_and_is_not_created(tmp_path):
    missing = tmp_path / "none.sqlite3"
    result = checks.check_ledger(ledger_context(missing))
    assert result.status is Status.FAIL and "no ledger" in result.detail
    assert not missing.exists()  # the doctor creates nothing


def test_an_empty_or_old_ledger_fails(database, tmp_path):
    url = database.url_in(tmp_path, empty=True)
    if database.kind == "sqlite":
        sqlite3.connect(tmp_path / "pos.sqlite3").close()  # the file is there, with no table
    result = checks.check_ledger(ledger_context(url))
    assert result.status is Status.FAIL and "not migrated" in result.detail

    engine = create_ledger_engine(url)
    upgrade(engine, "0003")
    engine.dispose()
    result = checks.check_ledger(ledger_context(url))
    assert result.status is Status.FAIL and "schema 0003" in result.detail and "pos till" in result.fix


def test_a_ledger_someone_holds_locked_cannot_be_written(tmp_path):
    path = tmp_path / "pos.sqlite3"
    open_ledger(f"sqlite:///{path}").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = checks.check_ledger(ledger_context(path))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.status is Status.FAIL and "cannot be written" in result.detail and "locked" in result.detail


# -- the listener ------------------------------------------------------------------------------


def test_the_listener_is_skipped_unless_configured_and_fails_when_it_does_not_answer():
    assert checks.check_listener(context({})).status is Status.SKIP
    port = int(dead_url().rsplit(":", 1)[1])
    result = checks.check_listener(context({"listener": {"host": "0.0.0.0", "port": port}}))
    assert result.status is Status.FAIL and "/healthz" in result.detail


# -- the whole command -------------------------------------------------------------------------


def doctor(config_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pos.cli", "--config", str(config_path), "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ("POS_API_KEY", "CREDENTIALS_DIRECTORY")},
    )


def test_doctor_exits_0_while_the_demo_runs_and_1_naming_what_broke(tmp_path):
    with running_shop(tmp_path / "shop", till_port=0, listener_port=0, sim_port=0, language="zh-CN") as shop:
        ready = doctor(shop.config_path)
        assert ready.returncode == 0, ready.stdout + ready.stderr
        lines = ready.stdout.splitlines()
        for name in ("config", "secrets", "wechat-key", "clock", "printer", "ledger", "listener"):
            assert any(line.startswith("ok") and f" {name} " in line for line in lines), (name, ready.stdout)
        assert lines[-1] == "ready: a sale can be taken and paid now"

        printer = Path(shop.config.printer.device[4:])
        printer.mkdir(parents=True, exist_ok=True)
        (printer / "state").write_text("paper-out\n")
        text = shop.config_path.read_text(encoding="utf-8")
        shop.config_path.write_text(text.replace(shop.config.merchant.api_key, GOOD_KEY), encoding="utf-8")
        broken = doctor(shop.config_path)
    assert broken.returncode == 1, broken.stdout
    assert "not ready: 2 failed (wechat-key, printer)" in broken.stdout
    assert "Traceback" not in broken.stderr


def test_doctor_without_a_usable_config_exits_2(tmp_path):
    bad = tmp_path / "pos.toml"
    bad.write_text('[merchant]\nsign_type = "SHA1"\n')
    result = doctor(bad)
    assert result.returncode == 2 and "sign_type" in result.stdout
