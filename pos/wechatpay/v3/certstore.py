"""Certificate mode: WeChat Pay's platform certificates kept on disk, loaded at start, refreshed.

A merchant in certificate mode (``[merchant] platform_certificates_dir``) verifies WeChat's
answers and notices with platform certificates that only ``GET /v3/certificates`` hands out.
This module keeps them:

- **On disk**, one file per certificate, ``<SERIAL>.pem``, written atomically (a temporary file
  in the same folder, fsync, ``os.replace``) so a till and a listener sharing the folder never
  read half a file. Certificates are public, so files are 0644; the folder is made 0755 and
  refused when others may write in it (:mod:`pos.config.v3`), since whoever writes there
  chooses whom we believe. Each file carries, above the PEM, an HMAC-SHA256 keyed with the APIv3
  key over the serial and the PEM: a file changed or planted by someone without that key is
  refused at load (logged, ignored, and replaced by the next download).
- **Loaded at start** without a network call when the folder holds an unexpired certificate.
- **Replaced** by each download: we trust what WeChat lists now, so a certificate it stops listing
  (revoked, or retired after a rotation) is dropped with its file, as wechatpayv3 also forgets
  its list before each download.
- **Refreshed** lazily, by the next verification that needs it (no thread of its own: the till
  and the listener each verify often, and a failed refresh must not stop a process):

  - when none is held;
  - when the newest expires within :data:`REFRESH_MARGIN` (24 h): WeChat lists a successor at
    least 24 h before it signs with it [doc wiki/doc/apiv3/apis/chapter7_1_3.shtml], so once
    ours is that close to its end a successor must be on offer;
  - when the last download is older than :data:`MAX_AGE` (6 h): WeChat asks merchants to poll at
    intervals under 12 h; 6 h puts a successor listed 24 h ahead on disk at least 18 h before it
    signs, for 4 calls a day against a limit of 1000 a second;
  - once, when a message names a ``Wechatpay-Serial`` we do not hold (a rotation we have not
    seen yet): :class:`StoreVerifier`. Downloads for unknown serials are at most one per
    :data:`MIN_INTERVAL` (60 s), and so are scheduled ones, so forged notices naming made-up
    serials (anyone can post to notify_url) cost WeChat one call a minute at most, and a refresh
    that failed is not retried at every message.

  A failed refresh is logged and the certificates held stay in use while they are in date.

How a download is trusted (the chicken-and-egg of the first one): the certificates decrypt only
with our APIv3 key (AES-256-GCM authenticates the ciphertext), and the answer's signature must
verify with one of the certificates it carries or one we already hold
(:meth:`~pos.wechatpay.v3.client.WeChatPayV3Client.certificates`). wechatpayv3 2.0.4 skips
verifying that answer altogether (``request(path, skip_verify=True)`` in ``_update_certificates``)
and writes files in place; we verify, and write atomically. Expiry is read from the certificate
itself, not from the listing's ``expire_time`` (which AES-GCM does not cover).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from pos.log import get_logger
from pos.wechatpay.errors import SignatureError, WeChatPayError
from pos.wechatpay.v3.certificates import PlatformCertificate
from pos.wechatpay.v3.verify import Signed, Verifier, _header, cert_serial

log = get_logger(__name__)

REFRESH_MARGIN = timedelta(hours=24)
MAX_AGE = timedelta(hours=6)
MIN_INTERVAL = timedelta(seconds=60)
_MAC_LINE = "# hmac-sha256: "
_MAC_CONTEXT = b"pos platform certificate\n"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Held:
    """One platform certificate we trust: its serial, its own validity, the PEM."""

    serial_no: str
    not_before: datetime
    not_after: datetime
    pem: str


def _now() -> datetime:
    return datetime.now(UTC)


def _held(pem: str) -> Held:
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return Held(
        cert_serial(certificate), certificate.not_valid_before_utc, certificate.not_valid_after_utc, pem
    )


def _mac(apiv3_key: str, serial: str, pem: str) -> str:
    message = _MAC_CONTEXT + serial.encode("ascii") + b"\n" + pem.encode("ascii")
    return hmac.new(apiv3_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def render_file(held: Held, apiv3_key: str) -> str:
    """A certificate file's text: what it is, when it ends, its MAC, then the PEM as WeChat sent it."""
    pem = held.pem.strip() + "\n"
    return (
        f"# WeChat Pay platform certificate {held.serial_no}, from GET /v3/certificates (kept by pos)\n"
        f"# valid until {held.not_after.isoformat()}\n"
        f"{_MAC_LINE}{_mac(apiv3_key, held.serial_no, pem)}\n"
        f"{pem}"
    )


def read_file(path: Path, apiv3_key: str) -> Held:
    """A certificate file, checked: its MAC with our APIv3 key, its serial against its name.

    Raises :class:`SignatureError` naming what is wrong (never the key)."""
    text = path.read_text(encoding="ascii")
    mac_lines = [line for line in text.splitlines() if line.startswith(_MAC_LINE)]
    begin = text.find("-----BEGIN CERTIFICATE-----")
    if len(mac_lines) != 1 or begin < 0:
        raise SignatureError(f"{path.name}: not a certificate file written by pos (no MAC line)")
    pem = text[begin:]
    try:
        held = _held(pem)
    except ValueError:
        raise SignatureError(f"{path.name}: the PEM is not a certificate") from None
    if held.serial_no != path.stem:
        raise SignatureError(f"{path.name}: holds the certificate {held.serial_no}, not {path.stem}")
    if not hmac.compare_digest(mac_lines[0][len(_MAC_LINE) :].strip(), _mac(apiv3_key, held.serial_no, pem)):
        raise SignatureError(f"{path.name}: changed since pos wrote it (its MAC does not match)")
    return held


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """``text`` at ``path`` all at once: readers see the old file or the new one, never a mix."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class CertificateStore:
    """The platform certificates of one merchant, in ``directory``; thread-safe.

    ``fetch`` downloads and verifies ``/v3/certificates`` (the client's
    :meth:`~pos.wechatpay.v3.client.WeChatPayV3Client.certificates`); it is set after
    construction because the client that downloads needs a verifier built on this store.
    ``clock`` is the expiry clock (``pos.testing.clock.FakeClock`` in tests), separate from the
    verifier's five-minute skew check, which must stay on real time.
    """

    def __init__(
        self,
        directory: str | Path,
        apiv3_key: str,
        *,
        fetch: Callable[[], list[PlatformCertificate]] | None = None,
        clock: Clock = _now,
        margin: timedelta = REFRESH_MARGIN,
        max_age: timedelta = MAX_AGE,
        min_interval: timedelta = MIN_INTERVAL,
    ) -> None:
        self.directory = Path(directory).expanduser()
        self._apiv3_key = apiv3_key
        self.fetch = fetch
        self.clock = clock
        self.margin, self.max_age, self.min_interval = margin, max_age, min_interval
        self._held: dict[str, Held] = {}
        self._lock = threading.RLock()
        self._refreshing = False
        self._checked_at: datetime | None = None  # the last successful download (or the files' time)
        # The last download tried, by what asked: a schedule (none, expiring, stale) or a message
        # naming an unknown serial; each is spaced by min_interval on its own, so a rotation met
        # just after a start is downloaded at once.
        self._tried_at: dict[str, datetime] = {}
        self.attempts = 0  # downloads tried by this process, and those that succeeded (for tests)
        self.downloads = 0
        self.refused: list[str] = []  # why files were refused at the last load
        self.load()

    # -- reading ------------------------------------------------------------------------------------

    def load(self) -> list[Held]:
        """Read every ``*.pem`` in the folder; refuse files that fail their checks or have expired."""
        with self._lock:
            self.refused = []
            found: dict[str, Held] = {}
            newest_file = None
            now = self.clock()
            paths = sorted(self.directory.glob("*.pem")) if self.directory.is_dir() else []
            for path in paths:
                try:
                    held = read_file(path, self._apiv3_key)
                except (OSError, UnicodeDecodeError, SignatureError) as exc:
                    self.refused.append(
                        str(exc) if isinstance(exc, SignatureError) else f"{path.name}: {exc}"
                    )
                    log.warning("platform_certificate_refused", file=str(path), reason=str(exc))
                    continue
                if held.not_after <= now:
                    continue
                found[held.serial_no] = held
                stamp = path.stat().st_mtime
                newest_file = stamp if newest_file is None else max(newest_file, stamp)
            self._held = found
            if found and newest_file is not None:
                self._checked_at = datetime.fromtimestamp(newest_file, UTC)
            return list(found.values())

    @property
    def certificates(self) -> tuple[Held, ...]:
        """The certificates held and in date, newest expiry last."""
        now = self.clock()
        with self._lock:
            return tuple(
                sorted((h for h in self._held.values() if h.not_after > now), key=lambda h: h.not_after)
            )

    def newest(self) -> Held | None:
        held = self.certificates
        return held[-1] if held else None

    def due(self) -> str:
        """Why a download is due now ("" when it is not): ``none``, ``expiring`` or ``stale``."""
        newest = self.newest()
        now = self.clock()
        if newest is None:
            return "none"
        if newest.not_after - now <= self.margin:
            return "expiring"
        if self._checked_at is None or now - self._checked_at >= self.max_age:
            return "stale"
        return ""

    # -- downloading ----------------------------------------------------------------------------------

    def ensure_fresh(self) -> None:
        """Download if :meth:`due`; failures are logged (the certificates held stay in use)."""
        reason = self.due()
        if reason:
            self.refresh(reason)

    def refresh(self, reason: str) -> bool:
        """Download now unless one of the same kind was tried within ``min_interval``; True when it brought a
        certificate we did not hold. The download runs outside the lock: other threads keep
        verifying with the certificates in hand meanwhile, and the download's own verification
        (re-entrant) returns at once."""
        with self._lock:
            if self._refreshing or self.fetch is None:
                return False
            now = self.clock()
            kind = "unknown_serial" if reason == "unknown_serial" else "scheduled"
            tried = self._tried_at.get(kind)
            if tried is not None and now - tried < self.min_interval:
                return False
            self._tried_at[kind] = now
            self.attempts += 1
            self._refreshing = True
            fetch = self.fetch
        found: list[PlatformCertificate] | None = None
        try:
            found = fetch()
        except WeChatPayError as exc:
            log.warning("platform_certificates_refresh_failed", reason=reason, error=str(exc))
        finally:
            with self._lock:
                self._refreshing = False
                added = self._keep(found, reason) if found is not None else False
        return added

    def _keep(self, found: Iterable[PlatformCertificate], reason: str) -> bool:
        """Trust exactly what WeChat lists now (in date): a certificate it no longer lists (revoked,
        or replaced) is dropped, and so is its file, as are files refused at load."""
        now = self.clock()
        fresh = {h.serial_no: h for h in (_held(c.pem) for c in found) if h.not_after > now}
        if not fresh:
            log.warning("platform_certificates_none_in_date", reason=reason)
            return False
        before = set(self._held)
        self._held = dict(fresh)
        try:
            self.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
            for held in fresh.values():
                write_atomically(self.directory / f"{held.serial_no}.pem", render_file(held, self._apiv3_key))
            for path in self.directory.glob("*.pem"):
                if path.stem not in fresh:
                    path.unlink(missing_ok=True)
        except OSError as exc:  # kept in memory all the same; the next start downloads again
            log.error("platform_certificates_not_saved", folder=str(self.directory), error=str(exc))
        self._checked_at = now
        self.downloads += 1
        added = sorted(set(fresh) - before)
        dropped = sorted(before - set(fresh))
        log.info("platform_certificates_refreshed", reason=reason, serials=",".join(sorted(fresh)),
                 added=",".join(added), dropped=",".join(dropped))  # fmt: skip
        return bool(added)


class StoreVerifier(Verifier):
    """A :class:`Verifier` over a :class:`CertificateStore`: refreshes when due, and once more
    (throttled) before refusing a ``Wechatpay-Serial`` it does not know (WeChat rotated)."""

    def __init__(self, store: CertificateStore, now: Callable[[], float] | None = None) -> None:
        super().__init__({}, now or time.time)
        self.store = store
        self._parsed: dict[str, rsa.RSAPublicKey] = {}
        self._sync()

    def _sync(self) -> None:
        """Trust exactly the store's certificates in date (each PEM parsed once, then cached)."""
        keys: dict[str, rsa.RSAPublicKey] = {}
        for held in self.store.certificates:
            key = self._parsed.get(held.serial_no)
            if key is None:
                loaded = x509.load_pem_x509_certificate(held.pem.encode("ascii")).public_key()
                if not isinstance(loaded, rsa.RSAPublicKey):
                    continue  # WeChat's are RSA; anything else cannot verify its signatures
                key = self._parsed[held.serial_no] = loaded
            keys[held.serial_no] = key
        self._keys = keys

    @property
    def serials(self) -> tuple[str, ...]:
        """The serials held, newest last: the client names the last in ``Wechatpay-Serial``.
        Reading them first brings the store up to date (a download when one is due)."""
        self.store.ensure_fresh()
        self._sync()
        return tuple(self._keys)

    def verify(
        self, headers: Mapping[str, str], body: bytes, error: type[SignatureError] = SignatureError
    ) -> Signed:
        self.store.ensure_fresh()
        self._sync()
        serial = _header(headers, "Wechatpay-Serial")
        if serial and self.key_for(serial) is None:
            log.info("platform_certificate_unknown_serial", serial=serial[:64])
            if self.store.refresh("unknown_serial"):
                self._sync()
        return super().verify(headers, body, error)
