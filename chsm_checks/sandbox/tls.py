"""The sandbox's TLS files: a local CA and the loopback server certificate it signed, in ``<state>/tls/``.

``ca.pem`` is what a client trusts (``connection_verify=`` in an Azure SDK, ``arm_ca_file`` in a
target file); ``server.pem`` and ``server-key.pem`` (mode 0600) are what uvicorn serves with. The CA's
own key is never written: it signs the one server certificate and is dropped, and the CA is
name-constrained to loopback, so trusting ``ca.pem`` vouches for ``127.0.0.1``, ``::1`` and
``localhost`` only, even for someone who copied the files.

All of it comes from the ``cryptography`` package. The files are reused on restart while they are
whole, match each other and stay valid for another day; otherwise (or on reset) both certificates and
the key are made anew.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"

VALIDITY = timedelta(days=30)
# A certificate this close to its end is replaced at start, so that a sandbox left running for a day
# does not expire under its clients.
RENEW_BEFORE = timedelta(days=1)
# Clocks of a client and the sandbox on one machine agree, but a certificate valid from the very
# second it was made is refused by a client whose clock reads a moment earlier.
BACKDATE = timedelta(minutes=5)

LOOPBACK_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class TlsFiles:
    """Where a state directory's TLS files are."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def tls_files(state_dir: Path) -> TlsFiles:
    """The TLS file paths of ``state_dir`` (absolute, whether or not they exist yet)."""
    directory = state_dir.resolve() / TLS_DIR
    return TlsFiles(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)


def ensure_tls_files(state_dir: Path, *, regenerate: bool = False, now: datetime | None = None) -> TlsFiles:
    """The TLS files of ``state_dir``: reused when :func:`reusable`, else (or when ``regenerate``)
    written anew. ``OSError`` when the directory cannot be written."""
    files = tls_files(state_dir)
    moment = now or datetime.now(UTC)
    if regenerate or not reusable(files, moment):
        _write(files, moment)
    return files


def reusable(files: TlsFiles, now: datetime) -> bool:
    """Whether the three files are there, readable and consistent: the key file private to its owner
    (0600) and matching the server certificate, which the CA signed, names the loopback SANs, and
    which, with the CA, is valid from ``now`` for at least :data:`RENEW_BEFORE`."""
    try:
        if stat.S_IMODE(files.key_file.stat().st_mode) != 0o600:
            return False
        ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
        cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        key = serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return (
        key.public_key() == cert.public_key()
        and _is_ca(ca)
        and server_names(cert) == _expected_names()
        and all(_valid_through(c, now + RENEW_BEFORE, now) for c in (ca, cert))
    )


def server_names(cert: x509.Certificate) -> set[str]:
    """The subject alternative names of ``cert`` as text (IP addresses and DNS names)."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} | set(
        sans.get_values_for_type(x509.DNSName)
    )


def _expected_names() -> set[str]:
    return {str(ip) for ip in LOOPBACK_IPS} | set(LOOPBACK_NAMES)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _valid_through(cert: x509.Certificate, until: datetime, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now and until <= cert.not_valid_after_utc


def _write(files: TlsFiles, now: datetime) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca_certificate(ca_key, now)
    cert = _server_certificate(server_key, ca, ca_key, now)
    files.ca_file.parent.mkdir(parents=True, exist_ok=True)
    # The key first: a certificate on disk whose key is not (yet) is never reused, see reusable().
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_file(files.key_file, key_pem, mode=0o600)
    _write_file(files.cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    _write_file(files.ca_file, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chsm-checks sandbox local CA")])
    permitted: list[x509.GeneralName] = [
        *(x509.IPAddress(ipaddress.ip_network(ip)) for ip in LOOPBACK_IPS),
        *(x509.DNSName(n) for n in LOOPBACK_NAMES),
    ]
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.NameConstraints(permitted, None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: datetime
) -> x509.Certificate:
    sans: list[x509.GeneralName] = [
        *(x509.IPAddress(ip) for ip in LOOPBACK_IPS),
        *(x509.DNSName(n) for n in LOOPBACK_NAMES),
    ]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chsm-checks sandbox")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    """A CA signs certificates (and CRLs); the server signs its TLS handshakes."""
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_file(path: Path, data: bytes, *, mode: int) -> None:
    # mkstemp creates the file 0600, so the key is never readable by others, not even for a moment.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
