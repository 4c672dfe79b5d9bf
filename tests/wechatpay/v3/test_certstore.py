"""Certificate mode against the simulator over real HTTP: platform certificates downloaded,
kept on disk, loaded at start, refreshed before expiry and on a rotation, tampering refused."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from pos.sandbox.testing import running_simulator
from pos.testing.clock import FakeClock
from pos.wechatpay.errors import (
    AnswerNotVerified,
    BusinessError,
    NoticeNotVerified,
    TransportError,
    V3BusinessError,
)
from pos.wechatpay.v3 import notices as v3notices
from pos.wechatpay.v3.certstore import (
    MIN_INTERVAL,
    REFRESH_MARGIN,
    CertificateStore,
    Held,
    StoreVerifier,
    read_file,
    render_file,
)


@pytest.fixture
def sim(merchant):
    """The simulator signing answers and notices with its platform certificate (certificate mode)."""
    with running_simulator(
        time_scale=0.001, v3_sign_with="certificate", refund_notify_url=merchant.url + "/refund-notify"
    ) as running:
        yield running


def cert_mode(sim, helpers, folder: Path, clock: FakeClock | None = None):
    """Our v3 client in certificate mode: a store in ``folder`` that downloads through the client."""
    store = CertificateStore(folder, sim.v3["apiv3_key"], clock=clock or FakeClock())
    client = helpers.v3_client(sim, StoreVerifier(store))
    store.fetch = client.certificates
    return client, store


def ask(client) -> None:
    """One verified round trip: a query for an order nobody made (WeChat answers ORDER_NOT_EXIST)."""
    with pytest.raises(BusinessError) as caught:
        client.query_order("CERTSTORE00000")
    assert caught.value.err_code == "ORDERNOTEXIST"


def notice(sim, helpers, client, merchant, out_trade_no: str):
    """Order, pay, and the notice the simulator then sends to the merchant's /notify."""
    order = client.unified_order(
        out_trade_no=out_trade_no, total_fee=990, body="茶", notify_url=merchant.url + "/notify"
    )
    sim.pay(order.code_url)
    return helpers.wait_for(merchant, "/notify")[-1]


def test_the_first_call_downloads_verifies_and_keeps_the_certificates(sim, helpers, tmp_path) -> None:
    folder = tmp_path / "certs"
    client, store = cert_mode(sim, helpers, folder)
    assert store.certificates == () and store.due() == "none"
    ask(client)
    assert store.downloads == 1
    [held] = store.certificates
    assert held.serial_no == sim.v3["platform_serial_no"]
    path = folder / f"{held.serial_no}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not stat.S_IMODE(folder.stat().st_mode) & 0o022
    assert read_file(path, sim.v3["apiv3_key"]) == held
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left behind

    # A second process starts from the folder: no download, answers verified at once.
    again, second = cert_mode(sim, helpers, folder)
    assert [h.serial_no for h in second.certificates] == [held.serial_no] and second.due() == ""
    ask(again)
    assert second.downloads == 0


def test_a_notice_signed_with_the_platform_certificate_is_verified(sim, helpers, merchant, tmp_path) -> None:
    client, _store = cert_mode(sim, helpers, tmp_path / "certs")
    seen = notice(sim, helpers, client, merchant, "CERTNOTICE0001")
    assert seen.headers["Wechatpay-Serial"] == sim.v3["platform_serial_no"]
    envelope = v3notices.open_notice(
        seen.headers, seen.body, verifier=client.verifier, apiv3_key=sim.v3["apiv3_key"]
    )
    paid = v3notices.payment_notice(envelope, mchid=sim.v3["mchid"], appid=sim.v3["appid"])
    assert paid.out_trade_no == "CERTNOTICE0001" and paid.total_fee == 990


def test_certificates_are_refreshed_when_the_newest_nears_expiry(sim, helpers, tmp_path) -> None:
    clock = FakeClock()
    client, store = cert_mode(sim, helpers, tmp_path / "certs", clock)
    ask(client)
    [old] = store.certificates
    rotated = sim.rotate_platform_certificate(valid_days=10 * 365)  # listed beside the old one

    clock.advance(3600)  # far from the end, and downloaded within MAX_AGE: no download
    ask(client)
    assert store.downloads == 1
    to_margin = old.not_after - clock() - REFRESH_MARGIN
    clock.advance(to_margin.total_seconds() + 60)  # the old one now ends within the margin
    assert store.due() == "expiring"
    ask(client)
    assert store.downloads == 2
    assert [h.serial_no for h in store.certificates] == [old.serial_no, rotated["platform_serial_no"]]
    assert store.due() == ""  # the newest has ten years left
    ask(client)
    assert store.downloads == 2


def test_a_stale_download_is_repeated_after_max_age(sim, helpers, tmp_path) -> None:
    clock = FakeClock()
    client, store = cert_mode(sim, helpers, tmp_path / "certs", clock)
    ask(client)
    clock.advance(store.max_age.total_seconds() - 1)
    ask(client)
    assert store.downloads == 1
    clock.advance(1)
    ask(client)
    assert store.downloads == 2


def test_a_rotation_is_met_by_one_refresh(sim, helpers, merchant, tmp_path) -> None:
    clock = FakeClock()
    client, store = cert_mode(sim, helpers, tmp_path / "certs", clock)
    ask(client)
    clock.advance(MIN_INTERVAL.total_seconds())  # downloads are a minute apart at least
    new = sim.rotate_platform_certificate()["platform_serial_no"]
    seen = notice(sim, helpers, client, merchant, "CERTROTATE0001")
    assert seen.headers["Wechatpay-Serial"] == new  # a serial we have not downloaded yet
    envelope = v3notices.open_notice(
        seen.headers, seen.body, verifier=client.verifier, apiv3_key=sim.v3["apiv3_key"]
    )
    assert envelope.event_type == "TRANSACTION.SUCCESS"
    assert store.downloads == 2 and new in {h.serial_no for h in store.certificates}


def test_an_unknown_serial_is_refused_after_one_refresh(sim, helpers, tmp_path) -> None:
    clock = FakeClock()
    client, store = cert_mode(sim, helpers, tmp_path / "certs", clock)
    ask(client)
    clock.advance(MIN_INTERVAL.total_seconds())
    sim.set_faults(v3_answer="wrong_serial")
    with pytest.raises(AnswerNotVerified, match="names no key we trust"):
        client.query_order("CERTSTORE00000")
    # One refresh was tried (its answer, spoiled the same way, brought nothing), then refused.
    assert store.attempts == 2 and store.downloads == 1
    # Within a minute of that refresh, another unknown serial is refused without a download.
    with pytest.raises(AnswerNotVerified, match="names no key we trust"):
        client.query_order("CERTSTORE00000")
    assert store.attempts == 2
    sim.set_faults(v3_answer="")
    ask(client)


def test_a_tampered_certificate_file_is_refused(sim, helpers, merchant, tmp_path) -> None:
    folder = tmp_path / "certs"
    client, store = cert_mode(sim, helpers, folder)
    ask(client)
    [held] = store.certificates
    path = folder / f"{held.serial_no}.pem"

    # Someone without the APIv3 key plants a certificate of their own beside WeChat's.
    from pos.sandbox.v3keys import rotate_platform

    forger = rotate_platform(sim.sim.v3.identity)  # a fresh key the simulator never uses
    stranger = Held(forger.platform_serial_no, held.not_before, held.not_after, forger.platform_certificate)
    (folder / f"{stranger.serial_no}.pem").write_text(render_file(stranger, "x" * 32), encoding="ascii")
    # ... and one under WeChat's serial name.
    (folder / "0ABC.pem").write_text(render_file(held, sim.v3["apiv3_key"]), encoding="ascii")
    _, reloaded = cert_mode(sim, helpers, folder)
    assert [h.serial_no for h in reloaded.certificates] == [held.serial_no]
    assert sorted(reason.split(":")[0] for reason in reloaded.refused) == sorted(
        ["0ABC.pem", f"{stranger.serial_no}.pem"]
    )
    assert any("does not match" in reason for reason in reloaded.refused)
    reloaded.fetch = client.certificates
    assert reloaded.refresh("stale") is False  # nothing new: WeChat lists the one we hold
    assert [p.name for p in folder.iterdir()] == [path.name]  # the refused files are gone

    # One changed character in the PEM: refused too.
    text = render_file(held, sim.v3["apiv3_key"])
    body_at = text.index("-----BEGIN CERTIFICATE-----") + 40
    path.write_text(
        text[:body_at] + ("A" if text[body_at] != "A" else "B") + text[body_at + 1 :], encoding="ascii"
    )
    again, reloaded = cert_mode(sim, helpers, folder)
    assert reloaded.certificates == () and reloaded.refused
    # The next use downloads WeChat's certificate again and writes it back, checked.
    ask(again)
    assert reloaded.downloads == 1 and read_file(path, sim.v3["apiv3_key"]) == held


def test_a_notice_signed_by_a_stranger_is_refused_in_certificate_mode(
    sim, helpers, merchant, tmp_path
) -> None:
    client, _store = cert_mode(sim, helpers, tmp_path / "certs")
    seen = notice(sim, helpers, client, merchant, "CERTFORGED0001")
    forged = dict(seen.headers, **{"Wechatpay-Signature": seen.headers["Wechatpay-Signature"][::-1]})
    with pytest.raises(NoticeNotVerified, match="does not match"):
        v3notices.open_notice(forged, seen.body, verifier=client.verifier, apiv3_key=sim.v3["apiv3_key"])


def test_no_certificate_and_no_gateway_is_a_transport_error(helpers, sim, tmp_path, dead_url) -> None:
    client, store = cert_mode(sim, helpers, tmp_path / "certs")
    client.api_base = dead_url
    client.retries = 0
    with pytest.raises(TransportError):
        client.query_order("CERTSTORE00000")
    assert store.certificates == () and store.downloads == 0


def test_the_certificates_answer_must_be_signed_by_a_certificate_it_carries(sim, helpers, tmp_path) -> None:
    client, store = cert_mode(sim, helpers, tmp_path / "certs")
    sim.set_faults(v3_answer="bad_signature")
    with pytest.raises(AnswerNotVerified):
        client.certificates()
    assert store.downloads == 0 and not list((tmp_path / "certs").glob("*.pem"))


def test_expired_certificates_on_disk_are_not_used(sim, helpers, tmp_path) -> None:
    clock = FakeClock()
    client, store = cert_mode(sim, helpers, tmp_path / "certs", clock)
    ask(client)
    [held] = store.certificates
    cert = x509.load_pem_x509_certificate(held.pem.encode())
    clock.advance((cert.not_valid_after_utc - clock()).total_seconds() + timedelta(hours=1).total_seconds())
    later = CertificateStore(tmp_path / "certs", sim.v3["apiv3_key"], clock=clock)
    assert later.certificates == () and later.due() == "none"


def test_a_notice_naming_a_serial_wechat_never_issued_is_refused_after_one_download(
    sim, helpers, merchant, tmp_path
) -> None:
    clock = FakeClock()
    client, store = cert_mode(sim, helpers, tmp_path / "certs", clock)
    seen = notice(sim, helpers, client, merchant, "CERTUNKNOWN001")
    assert store.attempts == 1
    clock.advance(MIN_INTERVAL.total_seconds())
    forged = dict(seen.headers, **{"Wechatpay-Serial": "1234ABCD"})
    for _ in range(3):  # a storm of them costs WeChat one call
        with pytest.raises(NoticeNotVerified, match="names no key we trust"):
            v3notices.open_notice(forged, seen.body, verifier=client.verifier, apiv3_key=sim.v3["apiv3_key"])
    assert store.attempts == 2 and store.downloads == 2


def test_a_reader_never_sees_half_a_file_while_another_process_rewrites_it(tmp_path) -> None:
    """The till and the listener share the folder: one rewrites while the other loads."""
    import threading

    from pos.sandbox.v3keys import make_identity
    from pos.wechatpay.v3.certstore import _held, write_atomically

    key = "k" * 32
    held = _held(make_identity("1900000109", "wx1").platform_certificate)
    path = tmp_path / f"{held.serial_no}.pem"
    text = render_file(held, key)
    write_atomically(path, text)
    failures: list[Exception] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                assert read_file(path, key) == held
            except Exception as exc:  # a torn read would show here
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(300):
        write_atomically(path, text)
    done.set()
    reader.join()
    assert failures == []
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_certificate_wechat_stops_listing_is_dropped_with_its_file(
    sim, helpers, merchant, tmp_path
) -> None:
    clock = FakeClock()
    folder = tmp_path / "certs"
    client, store = cert_mode(sim, helpers, folder, clock)
    ask(client)
    [old] = store.certificates
    clock.advance(MIN_INTERVAL.total_seconds())
    new = sim.rotate_platform_certificate(keep_old=False)["platform_serial_no"]  # the old one withdrawn
    # The next call names the withdrawn serial, which WeChat refuses; its signed refusal names the
    # new one, so the store downloads the list once (without naming any) and trusts what it says.
    with pytest.raises(V3BusinessError, match="INVALID_REQUEST"):
        client.query_order("CERTSTORE00000")
    assert [h.serial_no for h in store.certificates] == [new]
    assert [p.stem for p in folder.glob("*.pem")] == [new]
    seen = notice(sim, helpers, client, merchant, "CERTREVOKE0001")
    v3notices.open_notice(seen.headers, seen.body, verifier=client.verifier, apiv3_key=sim.v3["apiv3_key"])
    # A message naming the withdrawn certificate is no longer believed (the store does not ask
    # WeChat again within the minute, and WeChat would not list it anyway).
    stale = dict(seen.headers, **{"Wechatpay-Serial": old.serial_no})
    with pytest.raises(NoticeNotVerified, match="names no key we trust"):
        v3notices.open_notice(stale, seen.body, verifier=client.verifier, apiv3_key=sim.v3["apiv3_key"])
