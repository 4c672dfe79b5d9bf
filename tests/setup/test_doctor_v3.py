"""``pos doctor`` on ``[merchant] api = "v3"``: the key check signs a v3 query, the fix names v3's keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pos import config
from pos.sandbox.testing import running_simulator
from pos.sandbox.v3files import write_v3_files
from pos.setup import wechat_checks
from pos.setup.checks import Context, Status

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def sim():
    with running_simulator() as running:
        yield running


def context(sim, tmp_path, **identity_changes) -> Context:
    identity = {**sim.v3, **identity_changes}
    raw = {
        "merchant": {**write_v3_files(tmp_path / "keys", identity), "api_base": sim.base_url, "timeout": 5}
    }
    cfg = config.from_mapping(raw, "<test>", env={})
    return Context(cfg=cfg, raw=raw, env={})


def test_the_right_v3_keys_get_ordernotexist_and_need_no_certificate(sim, tmp_path):
    ctx = context(sim, tmp_path)
    result = wechat_checks.check_wechat_key(ctx)
    assert result.status is Status.OK and "ORDERNOTEXIST" in result.detail, result
    assert ctx.gateway_time is not None
    assert wechat_checks.check_certificate(ctx).status is Status.OK


def test_another_private_key_is_a_signature_error_naming_the_v3_settings(sim, tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    result = wechat_checks.check_wechat_key(context(sim, tmp_path, merchant_private_key=other.decode()))
    assert result.status is Status.FAIL, result
    assert "SIGN_ERROR" in result.detail and "private key or merchant_serial_no" in result.detail
    assert "private_key_file" in result.fix and "api_key_file" not in result.fix
