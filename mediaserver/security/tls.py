"""HTTPS for the HTTP port: the server's SSL context, from a site's files or made by the hub.

``http.tls: auto`` keeps a small site CA under ``<data_dir>/tls/``::

    ca.crt      the site CA (install it on phones and operator PCs once)
    ca.key      its private key (mode 0600)
    server.crt  the server certificate for the configured names, signed by the CA
    server.key  its private key (mode 0600)

The server certificate is re-issued (the CA kept, so installed devices keep trusting the hub)
when the configured names change or it has less than 30 days left. Keys are ECDSA P-256; no
key material is ever logged. Creating and loading certificates is blocking work: callers run
:func:`server_context` in a thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..config.network import HttpConfig
from ..errors import ConfigError

logger = logging.getLogger(__name__)

CA_DAYS = 3650
#: under 398 days, the most that Apple devices accept for a server certificate
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)
KEY_MODE = 0o600


def auto_names(http: HttpConfig, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The names an auto certificate covers: localhost, loopback, this host's name, a concrete
    bind address, public_url's host and ``extra`` (``http.tls.names``), without duplicates."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    if http.host not in ("0.0.0.0", "::", ""):
        names.append(http.host)
    if http.public_url:
        host = urlsplit(http.public_url).hostname
        if host:
            names.append(host)
    names.extend(extra)
    return tuple(dict.fromkeys(n.strip().lower() for n in names if n and n.strip()))


def server_context(http: HttpConfig, data_dir: Path) -> ssl.SSLContext:
    """An SSL context for the HTTP server; ``ConfigError`` when files are missing or bad."""
    tls = http.tls
    assert tls is not None
    if tls.mode == "auto":
        cert, key = ensure_auto_certificate(data_dir / "tls", auto_names(http, tls.names))
    else:
        assert tls.cert is not None and tls.key is not None
        cert, key = tls.cert, tls.key
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        # the message names the files, never their content
        raise ConfigError(f"http.tls: cannot load certificate {cert} / key {key}: "
                          f"{getattr(exc, 'strerror', None) or exc.__class__.__name__}"
                          ) from None
    return context


def ensure_auto_certificate(directory: Path, names: Iterable[str]) -> tuple[Path, Path]:
    """Create (or keep) the site CA and a server certificate for ``names`` in ``directory``;
    return the server certificate and key paths."""
    names = tuple(names)
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = directory / "ca.crt", directory / "ca.key"
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    if ca_cert_path.is_file() and ca_key_path.is_file():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        _write_key(ca_key_path, ca_key)
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        logger.info("[tls] created the site CA %s (install it on clients to trust the hub)",
                    ca_cert_path)
    if _current(cert_path, key_path, ca_cert, names):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_certificate(key, ca_key, ca_cert, names)
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                          + ca_cert.public_bytes(serialization.Encoding.PEM))
    logger.info("[tls] issued %s for %s, valid until %s", cert_path, ", ".join(names),
                cert.not_valid_after_utc.date())
    return cert_path, key_path


def _current(cert_path: Path, key_path: Path, ca_cert: x509.Certificate,
             names: tuple[str, ...]) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have = {str(v).lower() for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    want = {_canonical(n) for n in names}
    fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE
    return fresh and have == want and cert.issuer == ca_cert.subject


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key readable by the owner only, from its very creation."""
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, KEY_MODE)  # whatever the umask did
    os.replace(tmp, path)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fusionhub"),
                      x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"fusionhub site CA {socket.gethostname()}"[:64])])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))


def _server_certificate(key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey,
                        ca_cert: x509.Certificate, names: tuple[str, ...]
                        ) -> x509.Certificate:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
