"""Throwaway certificates and the client-certificate gate of the simulator's HTTPS port.

WeChat's ``/secapi/`` paths (the refund) want the merchant's API client
certificate: mutual TLS on ``api.mch.weixin.qq.com``. To test that for real,
:func:`make_pki` writes, into a folder of the caller's choosing (a temp dir):

- a CA of its own (WeChat plays this part: it issues the merchant's certificate),
  with its key, so a test can issue more (:func:`client_certificate`),
- a server certificate for ``127.0.0.1`` and ``localhost`` signed by that CA
  (clients verify the simulator against ``ca_file``, the ``verify=`` of requests),
- the merchant's client certificate, subject CN = the mch_id, like WeChat's
  ``apiclient_cert.pem`` / ``apiclient_key.pem`` (unencrypted PEM),
- a "stranger" client certificate from another CA, which the simulator must refuse.

:func:`server_context` makes the ``ssl.SSLContext`` the simulator serves with,
and :class:`ClientCertGate` wraps the simulator's WSGI app on that port. The
behaviour copies what merchants meet at WeChat (nginx with an optional client
certificate, then a check per path):

- a client certificate not issued by the CA: the TLS handshake fails;
- no certificate on a ``/secapi/`` path: HTTP 400 "No required SSL certificate
  was sent" (the page merchants report from WeChat);
- a certificate of the CA but for another mch_id: ``return_code=FAIL``,
  ``return_msg=certificate not match``;
- other paths (orderquery, refundquery, ...) need no certificate, as at WeChat.

Nothing here is for production: the keys are made fresh for each run and the
folder is the caller's to delete.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pos.wechatpay import xmlcodec

SECURE_PREFIXES = ("/secapi/", "/sandboxnew/secapi/")
NO_CERT_PAGE = (
    b"<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n"
    b"<center><h1>400 Bad Request</h1></center>\r\n"
    b"<center>No required SSL certificate was sent</center>\r\n</body>\r\n</html>\r\n"
)
_VALID = dt.timedelta(days=2)


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files :func:`make_pki` wrote."""

    directory: Path
    ca_file: Path  # trust this to verify the simulator (requests' verify=)
    ca_key: Path  # to issue more certificates (client_certificate)
    server_cert: Path
    server_key: Path
    client_cert: Path  # the merchant's apiclient_cert.pem: [merchant] cert_file
    client_key: Path  # apiclient_key.pem: [merchant] key_file
    stranger_cert: Path  # a client certificate from another CA
    stranger_key: Path

    @property
    def client(self) -> tuple[str, str]:
        """``(cert_file, key_file)`` as requests' ``cert=`` takes it."""
        return str(self.client_cert), str(self.client_key)


def _key() -> ec.EllipticCurvePrivateKey:
    # P-256: fast to make (tests make a fresh set each run) and accepted by every TLS stack.
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pos sandbox"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    extensions: Iterable[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    name = _name(common_name, "CA")
    cert = _certificate(
        name,
        key,
        name,
        key,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                True,
            ),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        ],
    )
    return cert, key


def _leaf(
    common_name: str,
    unit: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
    names: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([usage]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), False),
    ]
    if names:
        extensions.append((x509.SubjectAlternativeName(names), False))
    cert = _certificate(_name(common_name, unit), key, ca[0].subject, ca[1], extensions)
    return cert, key


def _write(path: Path, *, cert: x509.Certificate | None = None, key: Any = None) -> Path:
    if cert is not None:
        data = cert.public_bytes(serialization.Encoding.PEM)
    else:
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    path.write_bytes(data)
    if key is not None:
        path.chmod(0o600)
    return path


def make_pki(directory: str | Path, *, mch_id: str, hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> Pki:
    """Write a throwaway CA, a server certificate for ``hosts`` and client certificates into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("pos sandbox CA (WeChat Pay stand-in)")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server = _leaf("api.mch.weixin.qq.com (simulated)", "server", ca, ExtendedKeyUsageOID.SERVER_AUTH, names)
    client = _leaf(mch_id, "merchant", ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    other_ca = _ca("someone else's CA")
    stranger = _leaf(mch_id, "merchant", other_ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(
        directory=folder,
        ca_file=_write(folder / "ca.pem", cert=ca[0]),
        ca_key=_write(folder / "ca_key.pem", key=ca[1]),
        server_cert=_write(folder / "server_cert.pem", cert=server[0]),
        server_key=_write(folder / "server_key.pem", key=server[1]),
        client_cert=_write(folder / "apiclient_cert.pem", cert=client[0]),
        client_key=_write(folder / "apiclient_key.pem", key=client[1]),
        stranger_cert=_write(folder / "stranger_cert.pem", cert=stranger[0]),
        stranger_key=_write(folder / "stranger_key.pem", key=stranger[1]),
    )


_FILES = {
    "ca_file": "ca.pem",
    "ca_key": "ca_key.pem",
    "server_cert": "server_cert.pem",
    "server_key": "server_key.pem",
    "client_cert": "apiclient_cert.pem",
    "client_key": "apiclient_key.pem",
    "stranger_cert": "stranger_cert.pem",
    "stranger_key": "stranger_key.pem",
}
_RENEW_BEFORE = dt.timedelta(hours=1)


def load_or_make_pki(directory: str | Path, *, mch_id: str) -> Pki:
    """The PKI in ``directory`` if a earlier run wrote it for ``mch_id`` and it is valid for at least
    another hour, else a fresh one (:func:`make_pki`). So ``pos sim --tls-port --pki-dir DIR``
    restarted keeps the files a till's config names, until they are about to expire."""
    folder = Path(directory)
    paths = {name: folder / file for name, file in _FILES.items()}
    if all(path.is_file() for path in paths.values()):
        try:
            client = x509.load_pem_x509_certificate(paths["client_cert"].read_bytes())
            server = x509.load_pem_x509_certificate(paths["server_cert"].read_bytes())
        except ValueError:
            client = server = None
        soon = dt.datetime.now(dt.UTC) + _RENEW_BEFORE
        if (
            client is not None
            and server is not None
            and certificate_cn(client.public_bytes(serialization.Encoding.PEM).decode("ascii")) == mch_id
            and min(client.not_valid_after_utc, server.not_valid_after_utc) > soon
        ):
            return Pki(directory=folder, **paths)
    return make_pki(folder, mch_id=mch_id)


def client_certificate(pki: Pki, common_name: str) -> tuple[str, str]:
    """Another merchant's certificate from the same CA (CN = ``common_name``): "certificate not match"."""
    ca_cert = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    cert, key = _leaf(common_name, "merchant", (ca_cert, ca_key), ExtendedKeyUsageOID.CLIENT_AUTH)  # type: ignore[arg-type]
    cert_path = _write(pki.directory / f"client_{common_name}_cert.pem", cert=cert)
    key_path = _write(pki.directory / f"client_{common_name}_key.pem", key=key)
    return str(cert_path), str(key_path)


def server_context(pki: Pki) -> ssl.SSLContext:
    """The simulator's HTTPS context: its certificate, and client certificates of the CA optional.

    Optional, not required, because WeChat's host serves the queries without one too; the
    ``/secapi/`` paths are checked by :class:`ClientCertGate`. A certificate that *is* sent
    must verify, or the handshake fails.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(cafile=pki.ca_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def certificate_cn(pem: str) -> str:
    """The subject common name of a PEM certificate ("" if it has none)."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _no_certificate(start_response: Callable[..., Any]) -> list[bytes]:
    start_response(
        "400 Bad Request", [("Content-Type", "text/html"), ("Content-Length", str(len(NO_CERT_PAGE)))]
    )
    return [NO_CERT_PAGE]


class PlainPortGate:
    """WSGI middleware for the command line simulator's plain HTTP port: ``/secapi/`` paths are
    refused as WeChat refuses a request without a client certificate (HTTP 400, "No required SSL
    certificate was sent"), since plain HTTP can carry none. Refunds and reverses go to the HTTPS
    port (``pos sim --tls-port``) with the merchant's certificate; everything else is served here."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith(SECURE_PREFIXES):
            return _no_certificate(start_response)
        return self.app(environ, start_response)


class ClientCertGate:
    """WSGI middleware for the HTTPS port: ``/secapi/`` paths need the merchant's certificate.

    The server puts the verified peer certificate in ``environ["SSL_CLIENT_CERT"]`` (werkzeug
    does, as nginx and Apache do); its CN must be the simulator's mch_id.
    """

    def __init__(self, app: Callable[..., Any], mch_id: str) -> None:
        self.app = app
        self.mch_id = mch_id

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(SECURE_PREFIXES):
            pem = environ.get("SSL_CLIENT_CERT")
            if not pem:
                return _no_certificate(start_response)
            if certificate_cn(pem) != self.mch_id:
                refusal = {"return_code": "FAIL", "return_msg": "certificate not match"}
                body = xmlcodec.encode_as_wechat(refusal)
                start_response(
                    "200 OK",
                    [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)
