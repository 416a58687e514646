"""HTTPS out of the box: the auto certificate (site CA + server certificate, keys 0600), its
reuse and renewal, the config's short form and clear errors for bad files (a whole hub over
HTTPS is in tests/e2e/test_https.py)."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from mediaserver.config import load_settings
from mediaserver.config.network import HttpConfig
from mediaserver.errors import ConfigError
from mediaserver.security.tls import auto_names, ensure_auto_certificate, server_context


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ({str(v) for v in san.get_values_for_type(x509.DNSName)}
            | {str(v) for v in san.get_values_for_type(x509.IPAddress)})


def test_auto_certificate_covers_the_names_and_keeps_keys_private(tmp_path: Path):
    cert, key = ensure_auto_certificate(tmp_path, ("hub.example", "10.0.0.5"))
    assert _sans(cert) == {"hub.example", "10.0.0.5"}
    for private in (key, tmp_path / "ca.key"):
        assert private.stat().st_mode & 0o777 == 0o600
    # verifies against the site CA for an IP address, as a phone that installed ca.crt
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    chain = x509.load_pem_x509_certificates(cert.read_bytes())
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject
    assert context.get_ca_certs()[0]["subject"]  # the CA loaded
    assert ipaddress.ip_address("10.0.0.5") in chain[0].extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)


def test_auto_certificate_is_reused_and_reissued_for_new_names(tmp_path: Path):
    cert, _ = ensure_auto_certificate(tmp_path, ("a.example",))
    first, ca = cert.read_bytes(), (tmp_path / "ca.crt").read_bytes()
    ensure_auto_certificate(tmp_path, ("a.example",))
    assert cert.read_bytes() == first  # same names: kept
    ensure_auto_certificate(tmp_path, ("a.example", "b.example"))
    assert cert.read_bytes() != first and _sans(cert) == {"a.example", "b.example"}
    assert (tmp_path / "ca.crt").read_bytes() == ca  # installed clients keep trusting it


def test_auto_names_include_bind_address_public_host_and_extra():
    http = HttpConfig(host="10.1.2.3", public_url="https://hub.site.example/",
                      tls={"mode": "auto", "names": ["Extra.Example"]})
    names = auto_names(http, http.tls.names)
    assert {"localhost", "127.0.0.1", "10.1.2.3", "hub.site.example",
            "extra.example"} <= set(names)
    assert len(names) == len(set(names))


def test_tls_config_short_form_and_missing_files():
    assert load_settings(None, http={"tls": "auto"}).http.tls.mode == "auto"
    with pytest.raises(ConfigError, match="cert and key"):
        load_settings(None, http={"tls": {"cert": "/x.pem"}})


def test_unreadable_files_give_a_config_error_naming_them(tmp_path: Path):
    (tmp_path / "key.pem").write_text("not a key")
    http = HttpConfig(tls={"cert": tmp_path / "missing.pem", "key": tmp_path / "key.pem"})
    with pytest.raises(ConfigError, match="missing.pem") as info:
        server_context(http, tmp_path)
    assert "not a key" not in str(info.value)
