"""The config file: defaults that run the demo, and a clear message for every mistake."""

from __future__ import annotations

import pytest

from pos import config
from pos.config import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "pos.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file(tmp_path) -> None:
    cfg = config.load(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg.source == "<defaults>"
    # The README's promise: with no file, the sandbox merchant talks to the local simulator.
    assert cfg.merchant.api_base == "http://127.0.0.1:8702"
    assert (cfg.merchant.appid, cfg.merchant.mch_id) == (config.DEMO_APPID, config.DEMO_MCH_ID)
    assert cfg.merchant.sign_type == "MD5"
    assert cfg.till.order_ttl == 15
    assert cfg.store.zone.key == "Asia/Shanghai"


def test_full_file(tmp_path) -> None:
    path = write(
        tmp_path,
        """
[merchant]
appid = "wx1"
mch_id = "1900000109"
api_key = "k"
sign_type = "HMAC-SHA256"
notify_url = "https://shop.example/wechatpay/notify"
api_base = "http://127.0.0.1:8702"
timeout = 5

[store]
name = "小店"
other_channels = ["MP", "APP"]

[till]
order_ttl = 10
lane = "02"

[[products]]
id = "SKU1"
name = "咖啡"
price = "12.50"
barcode = "6901234567890"
""",
    )
    cfg = config.load(path, env={})
    assert cfg.merchant.sign_type == "HMAC-SHA256"
    assert cfg.merchant.timeout == 5.0
    assert cfg.store.other_channels == ("MP", "APP")
    assert cfg.till.order_ttl == 10
    assert cfg.products[0].name == "咖啡"
    assert cfg.source == str(path)


def test_config_from_environment_variable(tmp_path) -> None:
    path = write(tmp_path, '[store]\nname = "env shop"\n')
    assert config.load(env={"POS_CONFIG": str(path)}).store.name == "env shop"


def test_platform_config_dir(tmp_path) -> None:
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "pos.toml").write_text('[till]\nlane = "07"\n', encoding="utf-8")
    assert config.load(env={"XDG_CONFIG_HOME": str(tmp_path)}).till.lane == "07"


def test_secrets_from_environment_and_credentials(tmp_path) -> None:
    path = write(tmp_path, '[merchant]\napi_key = "in-file"\n')
    assert config.load(path, env={"POS_API_KEY": "from-env"}).merchant.api_key == "from-env"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api_key").write_text("from-systemd\n", encoding="utf-8")
    (creds / "manager_password_hash").write_text("hash\n", encoding="utf-8")
    cfg = config.load(path, env={"CREDENTIALS_DIRECTORY": str(creds), "POS_API_KEY": "from-env"})
    assert cfg.merchant.api_key == "from-systemd"
    assert cfg.manager.password_hash == "hash"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[merchant]\nsign_type = "HMAC_SHA256"\n',
            r"\[merchant\] sign_type must be one of MD5, HMAC-SHA256",
        ),
        ("[merchant]\nappid = 12\n", r"\[merchant\] appid must be a string"),
        ('[merchant]\nnotify_url = "https://x/notify?a=1"\n', "without a query string"),
        ('[merchant]\napi_base = "ftp://x"\n', "must be an http"),
        (
            '[merchant]\nrefund_notify_url = "shop.example/refund"\n',
            r"\[merchant\] refund_notify_url must be empty",
        ),
        ('[merchant]\nsecret = "x"\n', r"\[merchant\] has no key 'secret'"),
        ("[till]\norder_ttl = 3\n", "between 5 and 120"),
        ('[till]\norder_ttl = "15"\n', "must be a whole number"),
        ("[till]\nport = 70000\n", "TCP port"),
        ("[database]\npool_size = 0\n", r"\[database\] pool_size must be 1..100"),
        ("[database]\nmax_overflow = -1\n", r"\[database\] max_overflow must be 0..100"),
        ('[store]\ntimezone = "Mars/Olympus"\n', "not a known time zone"),
        ('[store]\nlanguage = "fr"\n', "zh-CN or en"),
        ('[stor]\nname = "x"\n', r"unknown section \[stor\]"),
        ("store = 1\n", "must be a \\[store\\] table"),
        ('[[products]]\nid = "a"\nname = "x"\nprice = "-1"\n', "price"),
        ('[[products]]\nid = "a"\nname = "x"\n', "needs price"),
        (
            '[[products]]\nid = "a"\nname = "x"\nprice = "1"\n'
            '[[products]]\nid = "a"\nname = "y"\nprice = "2"\n',
            "used twice",
        ),
        (
            '[[products]]\nid = "LATTE"\nname = "x"\nprice = "1"\n'
            '[[products]]\nid = "TEA"\nname = "t"\nprice = "1"\n'
            '[[products]]\nid = "Latte"\nname = "y"\nprice = "2"\n',
            r"\[\[products\]\] #3 id 'Latte' differs from \[\[products\]\] #1 id 'LATTE' only in case",
        ),
        ("[merchant\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_key(tmp_path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        config.load(path, env={})
    assert str(path) in str(info.value)


def test_product_ids_are_found_in_any_case(tmp_path) -> None:
    path = write(
        tmp_path,
        '[[products]]\nid = "LATTE"\nname = "拿铁"\nprice = "18.00"\nbarcode = "6901234567892"\n'
        '[[products]]\nid = "tea"\nname = "茶"\nprice = "6.00"\n',
    )
    cfg = config.load(path, env={})
    assert [cfg.find_product(typed).id for typed in ("latte", "LATTE", "Latte", "TEA", "tea")] == [
        "LATTE", "LATTE", "LATTE", "tea", "tea",
    ]  # fmt: skip
    assert cfg.find_product("LATTES") is None and cfg.find_product("6901234567892") is None


def test_missing_and_unreadable_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.toml", env={})
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[store]\nname = "\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(bad, env={})


def test_refund_notify_url_defaults_to_empty_and_takes_an_absolute_url(tmp_path):
    assert config.from_mapping({}, "<t>", env={}).merchant.refund_notify_url == ""
    path = tmp_path / "pos.toml"
    path.write_text(
        '[merchant]\nrefund_notify_url = "https://shop.example/pos/refund-notify"\n', encoding="utf-8"
    )
    assert config.load(path, env={}).merchant.refund_notify_url == "https://shop.example/pos/refund-notify"


def test_api_key_file_is_read_when_only_its_owner_may_read_it(tmp_path) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text("k" * 32 + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    path = write(tmp_path, f'[merchant]\napi_key_file = "{key_file}"\n')
    assert config.load(path, env={}).merchant.api_key == "k" * 32
    # The environment and systemd credentials still win over the file.
    assert config.load(path, env={"POS_API_KEY": "from-env"}).merchant.api_key == "from-env"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_api_key_file_readable_by_others_is_refused_naming_the_setting(tmp_path, mode) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text("k" * 32, encoding="utf-8")
    key_file.chmod(mode)
    path = write(tmp_path, f'[merchant]\napi_key_file = "{key_file}"\n')
    with pytest.raises(config.ConfigError, match=r"\[merchant\] api_key_file.*chmod 600"):
        config.load(path, env={})


def test_api_key_file_missing_empty_or_beside_api_key_is_refused(tmp_path) -> None:
    missing = write(tmp_path, f'[merchant]\napi_key_file = "{tmp_path / "nope"}"\n')
    with pytest.raises(config.ConfigError, match=r"api_key_file: no such file"):
        config.load(missing, env={})
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    empty.chmod(0o400)
    with pytest.raises(config.ConfigError, match=r"api_key_file: .* is empty"):
        config.load(write(tmp_path, f'[merchant]\napi_key_file = "{empty}"\n'), env={})
    both = write(tmp_path, f'[merchant]\napi_key = "x"\napi_key_file = "{empty}"\n')
    with pytest.raises(config.ConfigError, match="both api_key and api_key_file"):
        config.load(both, env={})


# -- the sandbox merchant never meets the real gateway -------------------------------------------

REAL_KEY = "8934e7d15453e97507ef794cf7b0519d"  # 32 characters, not the sandbox's
OWN = f'appid = "wx8888888888888888"\nmch_id = "1900000109"\napi_key = "{REAL_KEY}"\n'
NOT_LOOPBACK = [
    "https://api.mch.weixin.qq.com",
    "https://api2.mch.weixin.qq.com",
    "https://10.0.0.5:8702",
    "http://sim.example:8702",
    "http://127.0.0.1.example.com",
]


@pytest.mark.parametrize("api_base", NOT_LOOPBACK)
@pytest.mark.parametrize(
    ("merchant", "setting"),
    [
        ("", "[merchant] appid"),  # the embedded sandbox identity as a whole
        (OWN.replace('"wx8888888888888888"', f'"{config.DEMO_APPID}"'), "[merchant] appid"),
        (OWN.replace('"1900000109"', f'"{config.DEMO_MCH_ID}"'), "[merchant] mch_id"),
        (OWN.replace(REAL_KEY, config.DEMO_API_KEY), "[merchant] api_key"),
    ],
    ids=["defaults", "appid", "mch_id", "api_key"],
)
def test_the_sandbox_merchant_is_refused_against_a_gateway_that_is_not_loopback(
    tmp_path, api_base, merchant, setting
):
    path = write(tmp_path, f'[merchant]\n{merchant}api_base = "{api_base}"\n')
    with pytest.raises(ConfigError) as refused:
        config.load(path, env={})
    message = str(refused.value)
    assert setting in message and "sandbox" in message and str(path) in message
    assert config.DEMO_API_KEY not in message  # a key is never repeated back


@pytest.mark.parametrize("key", ["k", "x" * 31, "x" * 33, REAL_KEY + " "])
def test_an_api_key_that_is_not_32_characters_is_refused_against_the_real_gateway(tmp_path, key):
    path = write(
        tmp_path, "[merchant]\n" + OWN.replace(REAL_KEY, key) + f'api_base = "{config.REAL_GATEWAY}"\n'
    )
    with pytest.raises(ConfigError) as refused:
        config.load(path, env={})
    assert "[merchant] api_key" in str(refused.value) and "32" in str(refused.value)
    assert len(key) < 2 or key.strip() not in str(refused.value)  # a key is never repeated back
    # The key from the environment (or a systemd credential) is held to the same rule.
    good = write(tmp_path, "[merchant]\n" + OWN + f'api_base = "{config.REAL_GATEWAY}"\n')
    with pytest.raises(ConfigError, match=r"\[merchant\] api_key"):
        config.load(good, env={"POS_API_KEY": "short"})


def test_a_real_merchant_against_the_real_gateway_is_accepted(tmp_path):
    path = write(tmp_path, "[merchant]\n" + OWN + f'api_base = "{config.REAL_GATEWAY}"\n')
    assert config.load(path, env={}).merchant.api_key == REAL_KEY


@pytest.mark.parametrize(
    "api_base", ["http://127.0.0.1:8702", "http://localhost:8702", "https://[::1]:8702", "http://127.0.0.2:9"]
)
def test_the_sandbox_merchant_on_loopback_is_the_demo_and_is_accepted(tmp_path, api_base):
    path = write(tmp_path, f'[merchant]\napi_key = "short"\napi_base = "{api_base}"\n')
    assert config.load(path, env={}).merchant.appid == config.DEMO_APPID
