"""``pos doctor`` on ``[merchant] api = "v3"``: the key check signs a v3 query, the fix names v3's keys."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pos import config
from pos.sandbox.testing import running_simulator
from pos.sandbox.v3files import write_v3_files
from pos.setup import v3_checks, wechat_checks
from pos.setup.checks import Context, Status
from pos.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def sim():
    with running_simulator() as running:
        yield running


def context(sim, tmp_path, certificate_mode: bool = False, **identity_changes) -> Context:
    identity = {**sim.v3, **identity_changes}
    files = write_v3_files(tmp_path / "keys", identity, certificate_mode=certificate_mode)
    raw = {"merchant": {**files, "api_base": sim.base_url, "timeout": 5}}
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


def test_certificate_mode_downloads_with_the_key_check_then_lists_the_certificates(sim, tmp_path):
    ctx = context(sim, tmp_path, certificate_mode=True)
    assert v3_checks.check_platform_certificates(ctx).status is Status.FAIL  # nothing downloaded yet
    assert wechat_checks.check_wechat_key(ctx).status is Status.OK
    result = v3_checks.check_platform_certificates(ctx)
    assert result.status is Status.OK, result
    assert sim.v3["platform_serial_no"] in result.detail

    # Near the end of the newest certificate: a warning (the shared fake clock moves "now").
    [path] = Path(ctx.cfg.merchant.platform_certificates_dir).glob("*.pem")
    text = path.read_bytes()
    not_after = x509.load_pem_x509_certificate(text[text.index(b"-----BEGIN") :]).not_valid_after_utc
    clock = FakeClock(not_after - timedelta(hours=2))
    late = Context(cfg=ctx.cfg, raw=ctx.raw, env={}, now=lambda: clock().timestamp())
    assert v3_checks.check_platform_certificates(late).status is Status.WARN
    clock.advance(hours=3)
    assert v3_checks.check_platform_certificates(late).status is Status.FAIL  # expired: none in date

    # A changed file is refused by name.
    path.write_text(path.read_text().replace("# hmac-sha256: ", "# hmac-sha256: 0"))
    result = v3_checks.check_platform_certificates(ctx)
    assert result.status is Status.FAIL and path.name in result.detail and "does not match" in result.detail


def test_public_key_mode_and_v2_need_no_platform_certificates(sim, tmp_path):
    assert v3_checks.check_platform_certificates(context(sim, tmp_path)).status is Status.OK
    v2 = Context(cfg=config.from_mapping({}, "<test>", env={}), raw={}, env={})
    assert v3_checks.check_platform_certificates(v2).status is Status.SKIP
