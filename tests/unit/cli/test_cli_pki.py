"""The mesh PKI as ``trademesh up`` prepares it (reused while valid, reissued when close to
expiry, nothing made when the deployment brings its own files), ``trademesh pki``, the
banner's TLS lines and the dial targets of :mod:`mesh_runtime.tls`."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from mesh_runtime.config import Settings
from mesh_runtime.pki import LEAF_LIFETIME, RENEW_BEFORE, SERVICES, ensure_pki, service_files
from mesh_runtime.supervisor import prepare_pki
from mesh_runtime.tls import dial_target
from trademesh_cli.main import main
from trademesh_cli.up import banner


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _names(path: Path) -> set[str]:
    san = _cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in san}


def _files(pki_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(pki_dir.iterdir())}


def test_up_creates_the_pki_with_the_host_and_extra_names(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="10.1.2.3", tls_server_names="mesh.example, ,")
    assert prepare_pki(settings) == list(SERVICES)
    for service in SERVICES:
        files = service_files(settings.pki_dir, service)
        assert {f"spiffe://trademesh/{service}", service, "localhost", "127.0.0.1",
                "10.1.2.3", "mesh.example"} <= _names(files.cert)
        assert files.key.stat().st_mode & 0o777 == 0o600
        _cert(files.cert).verify_directly_issued_by(_cert(settings.ca_path))


def test_up_reuses_valid_certificates(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    prepare_pki(settings)
    before = _files(settings.pki_dir)
    assert prepare_pki(settings) == []
    assert _files(settings.pki_dir) == before


def test_up_reissues_certificates_close_to_expiry(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    now = datetime.datetime.now(datetime.UTC)
    issued_long_ago = now - (LEAF_LIFETIME - RENEW_BEFORE) - datetime.timedelta(days=1)
    ensure_pki(settings.pki_dir, extra_names=[settings.host], now=issued_long_ago)
    ca_before = settings.ca_path.read_bytes()
    assert prepare_pki(settings) == list(SERVICES)
    assert settings.ca_path.read_bytes() == ca_before  # the CA is kept: clients still trust
    engine = _cert(service_files(settings.pki_dir, "engine").cert)
    assert engine.not_valid_after_utc - now > RENEW_BEFORE


def test_up_adds_a_new_name_by_reissuing(tmp_path: Path) -> None:
    prepare_pki(Settings(data_dir=tmp_path))
    settings = Settings(data_dir=tmp_path, tls_server_names="gw.example")
    assert prepare_pki(settings) == list(SERVICES)
    assert "gw.example" in _names(service_files(settings.pki_dir, "feed").cert)


def test_up_generates_nothing_when_the_files_are_configured(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, tls_ca_file=str(tmp_path / "own-ca.pem"))
    assert prepare_pki(settings) == []
    assert not settings.pki_dir.exists()


def test_pki_command_writes_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TRADEMESH_TLS_SERVER_NAMES", raising=False)
    target = tmp_path / "deploy"
    assert main(["pki", "--dir", str(target), "--name", "192.0.2.7"]) == 0
    first = capsys.readouterr().out
    assert first.count(" issued ") == len(SERVICES) and str(target / "ca.pem") in first
    assert ipaddress.ip_address("192.0.2.7") in _cert(target / "gateway.pem").extensions \
        .get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.IPAddress)
    assert main(["pki", "--dir", str(target), "--name", "192.0.2.7"]) == 0
    assert capsys.readouterr().out.count(" current ") == len(SERVICES)


def test_banner_names_the_ca_and_the_mesh_ports(tmp_path: Path) -> None:
    text = banner(Settings(data_dir=tmp_path, postgres_url="postgresql://p@h:1/d",
                           redis_url="redis://h:2/0"), (False, False))
    assert str(tmp_path / "pki" / "ca.pem") in text
    for port in (50061, 50062, 50063, 50064):
        assert f"127.0.0.1:{port}" in text


@pytest.mark.parametrize(("target", "dialed"), [
    ("0.0.0.0:50061", "127.0.0.1:50061"),
    ("[::]:50061", "[::1]:50061"),
    ("engine:50061", "engine:50061"),
    ("127.0.0.1:1", "127.0.0.1:1"),
])
def test_a_wildcard_target_is_dialed_on_loopback(target: str, dialed: str) -> None:
    assert dial_target(target) == dialed
