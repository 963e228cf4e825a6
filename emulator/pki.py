"""The emulator's own CA, its TLS server certificate and the apps' client certificates.

Files live in the data directory and are reused when present, so a restarted emulator keeps its
CA (clients keep trusting it) and its app certificates (blocks keep working).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["AppCertificate", "ServerTLS", "app_certificate", "server_tls", "signing_key"]


def _key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return key


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ServerTLS:
    """Paths of the CA bundle and the server's certificate chain and key."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def server_tls(data_dir: Path) -> ServerTLS:
    """Create (or reuse) the CA and a server certificate for ``localhost`` and ``127.0.0.1``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ca_key = _key(data_dir / "ca-key.pem")
    ca_path = data_dir / "ca.pem"
    if ca_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    else:
        ca_cert = _ca_certificate(ca_key)
        ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    key = _key(data_dir / "server-key.pem")
    cert_path = data_dir / "server-cert.pem"
    if not cert_path.exists():
        cert = _server_certificate(key, ca_key, ca_cert)
        cert_path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + ca_cert.public_bytes(serialization.Encoding.PEM)
        )
    return ServerTLS(ca_pem=ca_path, cert_pem=cert_path, key_pem=data_dir / "server-key.pem")


def _ca_certificate(ca_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The emulator's self-signed CA (ten years)."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name("prefect-defender emulator CA"))
        .issuer_name(_name("prefect-defender emulator CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _server_certificate(
    key: rsa.RSAPrivateKey, ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate
) -> x509.Certificate:
    """The server certificate for ``localhost`` and ``127.0.0.1``, signed by the CA."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


@dataclass(frozen=True)
class AppCertificate:
    """An app's client certificate: key and certificate paths, SHA-1 and SHA-256 thumbprints."""

    key_pem: Path
    cert_pem: Path
    sha1: str
    sha256: str
    certificate: x509.Certificate


def app_certificate(data_dir: Path, name: str) -> AppCertificate:
    """Create (or reuse) a self-signed certificate an app registers as its credential."""
    key = _key(data_dir / f"{name}-key.pem")
    path = data_dir / f"{name}-cert.pem"
    if path.exists():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    else:
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} app credential"))
            .issuer_name(_name(f"{name} app credential"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(days=1))
            .not_valid_after(_now() + dt.timedelta(days=730))
            .sign(key, hashes.SHA256())
        )
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    der = cert.public_bytes(serialization.Encoding.DER)
    return AppCertificate(
        key_pem=data_dir / f"{name}-key.pem",
        cert_pem=path,
        sha1=hashlib.sha1(der).hexdigest().upper(),  # noqa: S324 - the x5t thumbprint is SHA-1
        sha256=hashlib.sha256(der).hexdigest().upper(),
        certificate=cert,
    )


def signing_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The token-signing key (persisted, so refresh tokens survive a restart)."""
    return _key(data_dir / "token-signing-key.pem")
