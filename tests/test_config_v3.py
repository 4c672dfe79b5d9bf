"""``[merchant] api = "v3"``: the keys v3 needs, read from files, the environment or credentials."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pos import config
from pos.config import ConfigError

APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
PUB_ID = "PUB_KEY_ID_0114232134912410000000000000"


@pytest.fixture(scope="module")
def pems() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def v3_files(tmp_path, pems, *, private_mode: int = 0o600) -> dict[str, str]:
    private, public = pems
    (tmp_path / "apiclient_key.pem").write_text(private)
    (tmp_path / "apiclient_key.pem").chmod(private_mode)
    (tmp_path / "pub_key.pem").write_text(public)
    (tmp_path / "apiv3.key").write_text(APIV3_KEY + "\n")
    (tmp_path / "apiv3.key").chmod(0o600)
    return {
        "api": "v3",
        "appid": "wx1234567890abcdef",
        "mch_id": "1900000109",
        "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "private_key_file": str(tmp_path / "apiclient_key.pem"),
        "apiv3_key_file": str(tmp_path / "apiv3.key"),
        "wechatpay_public_key_file": str(tmp_path / "pub_key.pem"),
        "wechatpay_public_key_id": PUB_ID,
        "api_base": "https://api.mch.weixin.qq.com",
    }


def test_v2_stays_the_default_and_needs_no_v3_key() -> None:
    cfg = config.from_mapping({}, env={})
    assert cfg.merchant.api == "v2"
    assert cfg.merchant.private_key == "" and cfg.merchant.apiv3_key == ""


def test_api_must_be_v2_or_v3() -> None:
    with pytest.raises(ConfigError, match=r'\[merchant\] api must be "v2" or "v3", not \'V3\''):
        config.from_mapping({"merchant": {"api": "V3"}}, "pos.toml", env={})


def test_a_v3_merchant_with_files_is_read_and_needs_no_v2_key(tmp_path, pems) -> None:
    merchant = config.from_mapping({"merchant": v3_files(tmp_path, pems)}, "pos.toml", env={}).merchant
    assert merchant.api == "v3"
    assert merchant.apiv3_key == APIV3_KEY
    assert merchant.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert merchant.wechatpay_public_key.startswith("-----BEGIN PUBLIC KEY-----")
    # The v2 API key was never set, yet the real gateway is allowed: v3's calls do not use it. It is
    # none, not the sandbox's (the till would sign payment codes with that and fail at the counter).
    assert merchant.api_key == ""


def test_a_v3_merchants_v2_key_for_payment_codes_is_checked_like_v2s(tmp_path, pems) -> None:
    given = {**v3_files(tmp_path, pems), "api_key": "k" * 32}
    assert config.from_mapping({"merchant": given}, "pos.toml", env={}).merchant.api_key == "k" * 32
    with pytest.raises(ConfigError, match=r"api_key .* must be the 32-character key"):
        config.from_mapping({"merchant": {**given, "api_key": "short"}}, "pos.toml", env={})


def test_secrets_come_from_the_environment_or_systemd_credentials(tmp_path, pems) -> None:
    raw = v3_files(tmp_path, pems)
    del raw["private_key_file"], raw["apiv3_key_file"]
    other = "Z" * 32
    env = {"POS_APIV3_KEY": other, "POS_MERCHANT_PRIVATE_KEY": pems[0]}
    merchant = config.from_mapping({"merchant": raw}, "pos.toml", env=env).merchant
    assert merchant.apiv3_key == other and merchant.private_key == pems[0].strip()
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "apiv3_key").write_text("C" * 32)
    (credentials / "merchant_private_key").write_text(pems[0])
    env["CREDENTIALS_DIRECTORY"] = str(credentials)
    merchant = config.from_mapping({"merchant": raw}, "pos.toml", env=env).merchant
    assert merchant.apiv3_key == "C" * 32


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"merchant_serial_no": ""}, r"\[merchant\] api = \"v3\" needs merchant_serial_no"),
        ({"apiv3_key_file": None}, r"needs the APIv3 key"),
        ({"private_key_file": None}, r"needs the merchant's private key"),
        (
            {"wechatpay_public_key_id": None},
            r"needs WeChat Pay's side: wechatpay_public_key_file and "
            r"wechatpay_public_key_id .*or platform_certificates_dir",
        ),
        (
            {"wechatpay_public_key_id": None, "wechatpay_public_key_file": None},
            r"wechatpay_public_key_id .*or platform_certificates_dir",
        ),
        (
            {"platform_certificates_dir": "/tmp"},
            r"sets both wechatpay_public_key_file / wechatpay_public_key_id .* and platform_certificates_dir",
        ),
        ({"wechatpay_public_key_id": "0A1B"}, r"wechatpay_public_key_id must start with PUB_KEY_ID_"),
        ({"wechatpay_public_key_file": "/nonexistent/pub.pem"}, r"wechatpay_public_key_file: no such file"),
        ({"private_key": "-----BEGIN"}, r"private_key may not sit in the config file"),
    ],
)
def test_a_missing_or_wrong_setting_is_named(tmp_path, pems, change, message) -> None:
    raw = v3_files(tmp_path, pems)
    for key, value in change.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    with pytest.raises(ConfigError, match=message):
        config.from_mapping({"merchant": raw}, "pos.toml", env={})


def test_a_private_key_file_others_may_read_is_refused(tmp_path, pems) -> None:
    raw = v3_files(tmp_path, pems, private_mode=0o644)
    with pytest.raises(ConfigError, match=r"\[merchant\] private_key_file.*chmod 600"):
        config.from_mapping({"merchant": raw}, "pos.toml", env={})


def test_an_apiv3_key_of_the_wrong_length_or_a_bad_pem_is_refused_without_quoting_it(tmp_path, pems) -> None:
    raw = v3_files(tmp_path, pems)
    with pytest.raises(ConfigError, match=r"must be the 32-byte key.*not 5 bytes") as caught:
        config.from_mapping({"merchant": raw}, "pos.toml", env={"POS_APIV3_KEY": "short"})
    assert "short" not in str(caught.value)
    (tmp_path / "apiclient_key.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    with pytest.raises(ConfigError, match=r"private_key_file is not an unencrypted PEM private key"):
        config.from_mapping({"merchant": raw}, "pos.toml", env={})


def test_the_sandbox_merchant_on_v3_is_still_refused_off_loopback(tmp_path, pems) -> None:
    raw = v3_files(tmp_path, pems)
    raw["mch_id"] = config.DEMO_MCH_ID
    with pytest.raises(ConfigError, match=r"mch_id is the sandbox merchant's"):
        config.from_mapping({"merchant": raw}, "pos.toml", env={})


def test_v3_secrets_never_show_in_the_configs_repr(tmp_path, pems) -> None:
    merchant = config.from_mapping({"merchant": v3_files(tmp_path, pems)}, "pos.toml", env={}).merchant
    shown = repr(merchant)
    assert APIV3_KEY not in shown and "PRIVATE KEY" not in shown
    assert "merchant_serial_no=" in shown  # the rest is still there to read


def certificate_mode(raw: dict[str, str], folder) -> dict[str, str]:
    del raw["wechatpay_public_key_file"], raw["wechatpay_public_key_id"]
    return {**raw, "platform_certificates_dir": str(folder)}


def test_certificate_mode_names_a_folder_instead_of_the_public_key(tmp_path, pems) -> None:
    raw = certificate_mode(v3_files(tmp_path, pems), "~/platform-certs")
    merchant = config.from_mapping({"merchant": raw}, "pos.toml", env={}).merchant
    assert (
        merchant.platform_certificates_dir.endswith("/platform-certs")
        and "~" not in merchant.platform_certificates_dir
    )
    assert merchant.wechatpay_public_key == "" and merchant.apiv3_key == APIV3_KEY


def test_a_certificates_folder_others_may_write_or_a_file_is_refused(tmp_path, pems) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    folder.chmod(0o777)
    raw = certificate_mode(v3_files(tmp_path, pems), folder)
    with pytest.raises(
        ConfigError, match=r"\[merchant\] platform_certificates_dir: .* may be written by other users"
    ):
        config.from_mapping({"merchant": raw}, "pos.toml", env={})
    folder.chmod(0o755)
    assert config.from_mapping(
        {"merchant": raw}, "pos.toml", env={}
    ).merchant.platform_certificates_dir == str(folder)
    raw["platform_certificates_dir"] = str(tmp_path / "apiv3.key")
    with pytest.raises(ConfigError, match=r"platform_certificates_dir: .* is not a folder"):
        config.from_mapping({"merchant": raw}, "pos.toml", env={})
