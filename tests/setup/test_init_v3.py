"""``pos init --api v3`` as an installer runs it, with the simulator's v3 merchant (``GET /_sim/``):
the config it writes loads, passes ``pos doctor`` and rings up a v3 sale; each bad key is refused
naming the setting, with nothing written; no secret is ever printed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pos import config
from pos.config import write_secret_file
from pos.sandbox.testing import running_simulator
from pos.till.testing import running_till
from pos.wechatpay.client import WeChatPayClient
from pos.wechatpay.v3 import WeChatPayV3Client

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sim():
    with running_simulator() as running:
        yield running


def init(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pos.cli", "--config", str(tmp_path / "etc" / "pos.toml"), "init"]
    command += ["--data-dir", str(tmp_path / "data"), *args]
    hidden = ("POS_API_KEY", "POS_APIV3_KEY", "POS_MERCHANT_PRIVATE_KEY", "CREDENTIALS_DIRECTORY")
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in hidden},
    )


def doctor(tmp_path: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pos.cli", "--config", str(tmp_path / "etc" / "pos.toml"), "doctor"]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]}
    )


def downloads(tmp_path: Path, sim) -> dict[str, Path]:
    """What a v3 merchant downloads from the merchant platform, as files (the key 0600)."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    files = {
        name: folder / name for name in ("apiclient_key.pem", "apiclient_cert.pem", "pub_key.pem", "apiv3")
    }
    write_secret_file(files["apiclient_key.pem"], sim.v3["merchant_private_key"])
    write_secret_file(files["apiv3"], sim.v3["apiv3_key"] + "\n")
    files["apiclient_cert.pem"].write_text(sim.v3["merchant_certificate"])
    files["pub_key.pem"].write_text(sim.v3["wechatpay_public_key"])
    return files


def v3_flags(tmp_path: Path, sim, files: dict[str, Path], **changes: str | None) -> list[str]:
    flags: dict[str, str | None] = {
        "--api": "v3",
        "--appid": sim.v3["appid"],
        "--mch-id": sim.v3["mchid"],
        "--apiv3-key-from": str(files["apiv3"]),
        "--private-key-file": str(files["apiclient_key.pem"]),
        "--cert-file": str(files["apiclient_cert.pem"]),
        "--wechatpay-public-key-file": str(files["pub_key.pem"]),
        "--wechatpay-public-key-id": sim.v3["wechatpay_public_key_id"],
        "--notify-url": "http://127.0.0.1:8701/wechatpay/notify",
        "--api-base": sim.base_url,
        "--store-name": "街角咖啡",
        "--timezone": "Asia/Shanghai",
        "--printer": f"dir:{tmp_path / 'printer'}",
        "--profile": "xp58",
    }
    flags.update(changes)
    return [part for pair in flags.items() if pair[1] is not None for part in pair]


def secrets_of(sim) -> list[str]:
    """The secrets no output may show: the keys, and any line of the private key's PEM body."""
    pem_body = [line for line in sim.v3["merchant_private_key"].splitlines() if "-----" not in line]
    return [sim.v3["apiv3_key"], sim.api_key, *pem_body]


def assert_no_secret(sim, *texts: str) -> None:
    for text in texts:
        for secret in secrets_of(sim):
            assert secret not in text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_flag_writes_a_v3_config_that_doctor_passes_and_whose_till_rings_up_on_v3(tmp_path, sim):
    files = downloads(tmp_path, sim)
    result = init(tmp_path, *v3_flags(tmp_path, sim, files), "--api-key", sim.api_key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Setting up" not in result.stdout  # no question asked
    etc = tmp_path / "etc"
    assert mode(etc / "pos.toml") == mode(etc / "apiv3_key") == mode(etc / "api_key") == 0o600
    assert (etc / "apiv3_key").read_text().strip() == sim.v3["apiv3_key"]
    assert (etc / "api_key").read_text().strip() == sim.api_key  # the v2 key, for payment codes
    assert_no_secret(sim, result.stdout, result.stderr, (etc / "pos.toml").read_text())

    cfg = config.load(etc / "pos.toml", env={})
    merchant = cfg.merchant
    assert merchant.api == "v3" and merchant.apiv3_key_file == str(etc / "apiv3_key")
    assert merchant.merchant_serial_no == sim.v3["merchant_serial_no"]  # read from the certificate
    assert merchant.wechatpay_public_key_id == sim.v3["wechatpay_public_key_id"]
    assert (merchant.cert_file, merchant.key_file) == (
        str(files["apiclient_cert.pem"]),
        str(files["apiclient_key.pem"]),
    )
    assert (tmp_path / "data" / "pos.sqlite3").is_file()

    checked = doctor(tmp_path)
    assert checked.returncode == 0, checked.stdout
    assert "ok    wechat-key" in checked.stdout and "ORDERNOTEXIST" in checked.stdout
    assert "APIv3 key from apiv3_key_file" in checked.stdout
    assert_no_secret(sim, checked.stdout, checked.stderr)

    with running_till(cfg, workers=False) as till:
        assert isinstance(till.till.client, WeChatPayV3Client)
        assert isinstance(till.till.code_client, WeChatPayClient)  # codes on v2, with the key given
        sale = till.http.post(till.url("/api/sales"), json={"amount": "12.50"})
        assert sale.status_code == 201, sale.text
        [order] = [o for o in sim.orders() if o["out_trade_no"] == sale.json()["out_trade_no"]]
        assert order["api"] == "v3" and order["total_fee"] == 1250
        coded = till.http.post(till.url("/api/sales"), json={"amount": "3.00", "pay_by": "code"})
        assert coded.status_code == 201, coded.text
        paid = till.http.post(
            till.url(f"/api/sales/{coded.json()['id']}/pay-code"), json={"auth_code": sim.paycode("paid")}
        )
        assert paid.status_code == 200 and paid.json()["state"] == "PAID", paid.text  # the v2 key works


def test_certificate_mode_without_v2_key_writes_no_v2_key_and_doctor_downloads_the_certificates(
    tmp_path, sim
):
    files = downloads(tmp_path, sim)
    folder = tmp_path / "certificates"
    flags = v3_flags(
        tmp_path,
        sim,
        files,
        **{
            "--cert-file": None,
            "--wechatpay-public-key-file": None,
            "--wechatpay-public-key-id": None,
            "--merchant-serial-no": sim.v3["merchant_serial_no"].lower(),  # typed in lower case: fine
            "--platform-certificates-dir": str(folder),
        },
    )
    result = init(tmp_path, *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "etc" / "api_key").exists()
    cfg = config.load(tmp_path / "etc" / "pos.toml", env={})
    assert cfg.merchant.api_key == "" and cfg.merchant.cert_file == ""
    assert cfg.merchant.platform_certificates_dir == str(folder)
    assert cfg.merchant.merchant_serial_no == sim.v3["merchant_serial_no"]
    checked = doctor(tmp_path)
    assert checked.returncode == 0, checked.stdout
    assert "no v2 API key (payment codes off)" in checked.stdout
    assert sim.v3["platform_serial_no"] in checked.stdout  # downloaded by the key check, then listed
    with running_till(cfg, workers=False) as till:
        assert till.till.code_client is None  # no v2 key: printed QRs only
        refused = till.http.post(till.url("/api/sales"), json={"amount": "3.00", "pay_by": "code"})
        assert refused.status_code == 409, refused.text


def test_interactive_v3_bad_answers_asked_again_naming_the_setting_no_secret_shown(tmp_path, sim):
    files = downloads(tmp_path, sim)
    readable = tmp_path / "downloads" / "copy_key.pem"
    readable.write_text(sim.v3["merchant_private_key"])
    readable.chmod(0o644)
    answers = [
        "v4",  # re-asked
        "v3",
        sim.v3["appid"],
        sim.v3["mchid"],
        "tooshort",  # re-asked
        sim.v3["apiv3_key"],
        str(readable),  # others may read it: re-asked
        str(files["apiv3"]),  # 0600 but not a private key: re-asked
        str(files["apiclient_key.pem"]),
        str(files["pub_key.pem"]),  # not a certificate: re-asked
        str(files["apiclient_cert.pem"]),
        "ABCDEF",  # not the certificate's serial: re-asked
        "",  # the certificate's serial, offered as the default
        str(tmp_path / "nope.pem"),  # no such file: re-asked
        str(files["pub_key.pem"]),
        "KEY_ID_1",  # re-asked
        sim.v3["wechatpay_public_key_id"],
        "short-v2",  # re-asked
        "",  # no v2 key
        "http://127.0.0.1:8701/wechatpay/notify",
        "测试店",
        "",  # the default time zone
        f"dir:{tmp_path / 'printer'}",
        "",  # the default profile
        "n",  # no calibration slip
    ]
    result = init(tmp_path, "--api-base", sim.base_url, stdin="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "[merchant] api must be v2 or v3, not 'v4'" in out
    assert (
        "[merchant] apiv3_key must be the 32-byte key set in WeChat Pay's merchant platform, not 8 bytes"
        in out
    )
    assert "[merchant] private_key_file is unusable" in out and "chmod 600" in out
    assert "[merchant] private_key_file is not an unencrypted PEM private key" in out
    assert "[merchant] cert_file does not hold a PEM certificate" in out
    assert "[merchant] merchant_serial_no is not the serial of the certificate given" in out
    assert f"[{sim.v3['merchant_serial_no']}]" in out  # the serial offered as the default
    assert "[merchant] wechatpay_public_key_file no such file" in out
    assert "[merchant] wechatpay_public_key_id must start with PUB_KEY_ID_" in out
    assert "[merchant] api_key must be 32 letters and digits" in out
    assert "payment codes" in out  # the v2 key's question says what it is for
    assert_no_secret(sim, out, result.stderr)
    assert "tooshort" not in out and "short-v2" not in out  # a refused key is not repeated either
    cfg = config.load(tmp_path / "etc" / "pos.toml", env={})
    assert cfg.merchant.api == "v3" and cfg.merchant.apiv3_key == sim.v3["apiv3_key"]
    assert cfg.merchant.private_key_file == str(files["apiclient_key.pem"]) and cfg.merchant.api_key == ""
    assert mode(tmp_path / "etc" / "apiv3_key") == 0o600
    assert not (tmp_path / "printer").exists()


def _weak_key(tmp_path: Path) -> str:
    path = tmp_path / "weak.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_secret_file(path, pem.decode())
    return str(path)


def _readable_key(tmp_path: Path, sim) -> str:
    path = tmp_path / "readable.pem"
    path.write_text(sim.v3["merchant_private_key"])
    path.chmod(0o644)
    return str(path)


def _platform_certificate(tmp_path: Path, sim) -> str:
    path = tmp_path / "platform.pem"
    path.write_text(sim.v3["platform_certificate"])  # a real certificate, of another key pair
    return str(path)


def _open_folder(tmp_path: Path, sim) -> str:
    path = tmp_path / "open"
    path.mkdir()
    path.chmod(0o777)
    return str(path)


def _short_key_file(tmp_path: Path, sim) -> str:
    path = tmp_path / "short_apiv3"
    write_secret_file(path, "tooshort\n")
    return str(path)


BAD = {
    "apiv3-file-short": (
        {"--apiv3-key-from": _short_key_file},
        "--apiv3-key-from ([merchant] apiv3_key) must be the 32-byte",
    ),
    "apiv3-short": (
        {"--apiv3-key-from": None, "--apiv3-key": "tooshort"},
        "--apiv3-key ([merchant] apiv3_key) must be the 32-byte",
    ),
    "key-readable": (
        {"--private-key-file": _readable_key},
        "--private-key-file ([merchant] private_key_file) is unusable",
    ),
    "key-weak": (
        {"--private-key-file": lambda t, s: _weak_key(t)},
        "([merchant] private_key_file) must be an RSA key of 2048 bits",
    ),
    "key-not-pem": (
        {"--private-key-file": lambda t, s: str(t / "downloads" / "apiv3")},
        "is not an unencrypted PEM private key",
    ),
    "cert-other": (
        {"--cert-file": _platform_certificate},
        "--cert-file ([merchant] cert_file) is not the certificate of this private key",
    ),
    "serial-other": (
        {"--merchant-serial-no": "ABCDEF"},
        "--merchant-serial-no ([merchant] merchant_serial_no) is not the serial",
    ),
    "serial-garbage": (
        {"--cert-file": None, "--merchant-serial-no": "no-such"},
        "([merchant] merchant_serial_no) must be the certificate's serial number",
    ),
    "public-not-pem": (
        {"--wechatpay-public-key-file": lambda t, s: str(t / "downloads" / "apiclient_cert.pem")},
        "([merchant] wechatpay_public_key_file) does not hold a PEM public key",
    ),
    "public-id": (
        {"--wechatpay-public-key-id": "KEY_ID_1"},
        "--wechatpay-public-key-id ([merchant] wechatpay_public_key_id) must start with PUB_KEY_ID_",
    ),
    "both-modes": ({"--platform-certificates-dir": lambda t, s: str(t / "certs")}, "give one of the two"),
    "open-folder": (
        {
            "--wechatpay-public-key-file": None,
            "--wechatpay-public-key-id": None,
            "--platform-certificates-dir": _open_folder,
        },
        "([merchant] platform_certificates_dir)",
    ),
    "v2-key-short": ({"--api-key": "tooshort"}, "--api-key ([merchant] api_key) must be 32 letters"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_v3_flag_is_refused_naming_the_setting_and_nothing_is_written(tmp_path, sim, case):
    files = downloads(tmp_path, sim)
    changes, expected = BAD[case]
    resolved = {flag: value(tmp_path, sim) if callable(value) else value for flag, value in changes.items()}
    result = init(tmp_path, *v3_flags(tmp_path, sim, files, **resolved))
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "nothing written" in result.stderr
    assert "Setting up" not in result.stdout  # refused before anything was asked
    assert_no_secret(sim, result.stdout, result.stderr)
    assert "tooshort" not in result.stderr
    assert not (tmp_path / "etc").exists()


def test_v3_refuses_to_replace_its_key_file_without_force(tmp_path, sim):
    files = downloads(tmp_path, sim)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "apiv3_key").write_text("old\n")
    refused = init(tmp_path, *v3_flags(tmp_path, sim, files))
    assert refused.returncode == 2 and "apiv3_key exists; use --force" in refused.stderr
    assert not (tmp_path / "etc" / "pos.toml").exists()
    forced = init(tmp_path, *v3_flags(tmp_path, sim, files), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "etc" / "apiv3_key").read_text().strip() == sim.v3["apiv3_key"]


def test_v3_flags_missing_with_no_one_to_ask_write_nothing(tmp_path, sim):
    files = downloads(tmp_path, sim)
    result = init(tmp_path, *v3_flags(tmp_path, sim, files, **{"--apiv3-key-from": None}))
    assert result.returncode == 2 and "[merchant] apiv3_key: no answer" in result.stderr
    assert not (tmp_path / "etc").exists()
