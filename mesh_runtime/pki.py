"""The mesh's private PKI: a CA and one certificate per service, in ``<data dir>/pki/``.

``trademesh up`` calls :func:`ensure_pki` before it starts anything: the CA is created once
and kept; a service certificate is (re)issued when it is missing, expires within
``RENEW_BEFORE``, was signed by another CA or lacks a name it must carry. Every certificate
is ECDSA P-256 and names its service as a URI SAN ``spiffe://trademesh/<service>`` — the
identity the servers' call-policy interceptor trusts — and carries the DNS names and IP
addresses clients dial (``localhost``, loopback, the service's own name, extra names).
Private keys are written with mode 0600. A deployment brings its own files instead
(``TRADEMESH_TLS_CA_FILE``, ``_CERT_FILE``, ``_KEY_FILE``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = "trademesh"
SPIFFE_PREFIX = f"spiffe://{TRUST_DOMAIN}/"
SERVICES = ("engine", "persistence", "feed", "gateway")
CA_LIFETIME = datetime.timedelta(days=3650)
LEAF_LIFETIME = datetime.timedelta(days=90)
RENEW_BEFORE = datetime.timedelta(days=30)
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


class PkiError(Exception):
    """A PKI file is missing or unusable; the message names the file."""


def spiffe_id(service: str) -> str:
    return SPIFFE_PREFIX + service


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where one process finds the CA it trusts and its own certificate and key."""

    ca: Path
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        """(ca, certificate chain, private key) as PEM bytes; :class:`PkiError` names a
        missing file."""
        return _read(self.ca), _read(self.cert), _read(self.key)

    def read_ca(self) -> bytes:
        return _read(self.ca)


def service_files(pki_dir: Path, service: str) -> TlsFiles:
    return TlsFiles(pki_dir / "ca.pem", pki_dir / f"{service}.pem", pki_dir / f"{service}-key.pem")


def ensure_pki(
    pki_dir: Path,
    services: Sequence[str] = SERVICES,
    extra_names: Iterable[str] = (),
    now: datetime.datetime | None = None,
) -> list[str]:
    """Creates or renews what is due in ``pki_dir``; returns the services (re)issued."""
    now = now or datetime.datetime.now(datetime.UTC)
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ensure_ca(pki_dir, now)
    issued = []
    for service in services:
        names = _names(service, extra_names)
        files = service_files(pki_dir, service)
        if _leaf_is_current(files, ca_cert, names, now):
            continue
        cert, key = _issue_leaf(service, names, ca_cert, ca_key, now)
        _write_key(files.key, key)
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.append(service)
    return issued


def _ensure_ca(
    pki_dir: Path, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = pki_dir / "ca.pem", pki_dir / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > now:
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trademesh mesh CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _names(service: str, extra: Iterable[str]) -> list[str]:
    names = [*DEFAULT_NAMES, service]
    for name in extra:
        if name and name not in names and name not in ("0.0.0.0", "::"):
            names.append(name)
    return names


def _san(service: str, names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = [x509.UniformResourceIdentifier(spiffe_id(service))]
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _issue_leaf(
    service: str, names: Sequence[str], ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey, now: datetime.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_san(service, names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _leaf_is_current(
    files: TlsFiles, ca_cert: x509.Certificate, names: Sequence[str], now: datetime.datetime
) -> bool:
    if not (files.cert.exists() and files.key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return False
    wanted = set(_san(files.cert.stem, names))
    present = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    return wanted <= present


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.chmod(path, 0o600)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise PkiError(f"{path}: {err.strerror or err}") from None


def peer_service(spiffe_ids: Iterable[str]) -> str | None:
    """The service named by the first ``spiffe://trademesh/<service>`` among ``spiffe_ids``."""
    for value in spiffe_ids:
        if value.startswith(SPIFFE_PREFIX):
            name = value[len(SPIFFE_PREFIX):]
            if name and "/" not in name:
                return name
    return None
