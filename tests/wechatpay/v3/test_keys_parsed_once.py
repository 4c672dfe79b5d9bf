"""A v3 client parses its keys once, when it is made: no key file read, no PEM or certificate
parsed again, however many requests it signs and answers it verifies.

Why it matters: every ring-up and every watcher query is signed and verified, and parsing the
merchant's private key costs far more than the signature itself (cryptography checks the whole
RSA key on load). Counted, not timed: the loaders are wrapped, and the key files are replaced
after the first call, so a client that re-read them would sign with a key the simulator refuses
or check answers with a key that does not match.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pos import config as pos_config
from pos.config import MerchantConfig
from pos.sandbox.testing import RunningSimulator, running_simulator
from pos.sandbox.v3files import v3_merchant
from pos.wechatpay.errors import BusinessError
from pos.wechatpay.factory import client_for
from pos.wechatpay.v3 import WeChatPayV3Client, certstore
from pos.wechatpay.v3 import crypto as v3crypto

_numbers = itertools.count(1)
CALLS = 6  # orders and queries after the first call: each signed, each answer verified


def merchant_config(sim: RunningSimulator, keys: Path, *, certificate_mode: bool = False) -> MerchantConfig:
    """The simulator's v3 merchant as a shop configures it: keys in 0600 files, read by the config."""
    base = dataclasses.replace(
        pos_config.from_mapping({}, "<test>", env={}).merchant, api_base=sim.base_url, timeout=5.0
    )
    return v3_merchant(base, keys, sim.v3, certificate_mode=certificate_mode)


def count_key_parsing(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """From now on, count every PEM key, certificate or certificate file parsed, whoever asks."""
    seen: Counter[str] = Counter()

    def counting(name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[name] += 1
            return target(*args, **kwargs)

        return wrapper

    for module, name in (
        (serialization, "load_pem_private_key"),
        (serialization, "load_pem_public_key"),
        (x509, "load_pem_x509_certificate"),
        (v3crypto, "load_private_key"),
        (v3crypto, "load_public_key"),
        (certstore, "read_file"),
    ):
        monkeypatch.setattr(module, name, counting(name, getattr(module, name)))
    return seen


def another_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ring_up_and_query(client: WeChatPayV3Client, times: int) -> None:
    """``times`` round trips, alternating Native orders and queries of them, all verified."""
    out_trade_no = ""
    for n in range(times):
        if n % 2 == 0:
            out_trade_no = f"KEYS{time.strftime('%H%M%S')}{next(_numbers):05d}"
            order = client.unified_order(
                out_trade_no=out_trade_no, total_fee=990, body="茶", notify_url="http://127.0.0.1:9/notify"
            )
            assert order.code_url
        else:
            assert client.query_order(out_trade_no).trade_state == "NOTPAY"


def test_public_key_mode_reads_and_parses_its_keys_only_when_made(sim, tmp_path, monkeypatch) -> None:
    merchant = merchant_config(sim, tmp_path / "keys")
    with client_for(merchant) as client:
        assert isinstance(client, WeChatPayV3Client)
        ring_up_and_query(client, 1)
        # Other keys in the very files the config named: a client that read them again would sign
        # with a key the simulator does not know (SIGN_ERROR) and check answers with the wrong key.
        Path(merchant.private_key_file).write_text(v3crypto.private_pem(another_key()), encoding="ascii")
        Path(merchant.wechatpay_public_key_file).write_text(
            v3crypto.public_pem(another_key().public_key()), encoding="ascii"
        )
        parsed = count_key_parsing(monkeypatch)
        ring_up_and_query(client, CALLS)
    assert parsed == Counter()


@pytest.fixture
def cert_sim() -> Iterator[RunningSimulator]:
    """The simulator signing answers with its platform certificate (certificate mode)."""
    with running_simulator(time_scale=0.001, v3_sign_with="certificate") as running:
        yield running


def test_certificate_mode_parses_each_certificate_once_and_reads_no_file_per_call(
    cert_sim, tmp_path, monkeypatch
) -> None:
    merchant = merchant_config(cert_sim, tmp_path / "keys", certificate_mode=True)
    folder = Path(merchant.platform_certificates_dir)
    with client_for(merchant) as client:
        ring_up_and_query(client, 1)  # the first call downloads the certificates into the folder
        store = client.verifier.store  # type: ignore[attr-defined]
        assert store.downloads == 1 and sorted(p.stem for p in folder.glob("*.pem")) == [
            cert_sim.v3["platform_serial_no"]
        ]
        for path in folder.glob("*.pem"):  # held in memory from now on: the files are not read again
            path.write_text("not a certificate\n", encoding="ascii")
        Path(merchant.private_key_file).write_text(v3crypto.private_pem(another_key()), encoding="ascii")
        parsed = count_key_parsing(monkeypatch)
        ring_up_and_query(client, CALLS)
        with pytest.raises(BusinessError):  # an error answer is verified too, with the same key
            client.query_order("KEYS-NO-SUCH-ORDER")
    assert parsed == Counter()
    assert store.downloads == 1 and store.attempts == 1
