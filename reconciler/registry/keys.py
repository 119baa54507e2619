"""The key that signs registry tokens, and the certificates a registry uses to trust it.

A CNCF distribution registry finds the signing key of a token through the ``x5c`` header: the
leaf certificate must chain to a CA in its ``rootcertbundle``. rise therefore keeps a small
private CA in its data dir, created on first start, and a signing key with a leaf certificate
issued by that CA. The leaf is re-issued from the same CA before it expires, so a registry
configured once with ``ca.pem`` keeps trusting rise.

Files (``<data_dir>/registry/``): ``ca.pem`` (give this to the registry), ``ca-key.pem`` and
``signer.pem`` (private key + leaf certificate; both 0600).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SIGNER_FILE = "signer.pem"

CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
# Clocks of the registry and rise may differ a little; a cert valid "from now" would be
# refused by a registry whose clock is behind.
BACKDATE = dt.timedelta(minutes=5)

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SigningKeys:
    """The private signing key, its certificate chain and the CA bundle registries trust."""

    private_key_pem: bytes
    leaf: x509.Certificate
    ca: x509.Certificate

    @property
    def ca_pem(self) -> bytes:
        return self.ca.public_bytes(serialization.Encoding.PEM)

    @property
    def x5c(self) -> list[str]:
        """The ``x5c`` JWS header: standard base64 DER, leaf first (RFC 7515 §4.1.6)."""
        return [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
            for cert in (self.leaf, self.ca)
        ]

    @property
    def expires_at(self) -> dt.datetime:
        return self.leaf.not_valid_after_utc

    @classmethod
    def generate(cls, clock: Clock = _utcnow) -> SigningKeys:
        """Fresh keys held in memory only (tests, and a second, untrusted issuer)."""
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _ca_certificate(ca_key, clock())
        return _issue_leaf(ca, ca_key, clock())

    @classmethod
    def load_or_create(cls, directory: str | Path, clock: Clock = _utcnow) -> SigningKeys:
        """Load the keys from ``directory``, creating them on first start.

        The leaf is re-issued (same CA) when it has less than ``RENEW_BEFORE`` left.
        """
        directory = Path(directory)
        if not (directory / CA_FILE).exists():
            _create(directory, clock)
        ca = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        keys = _load_signer(directory / SIGNER_FILE, ca)
        if keys.expires_at - clock() < RENEW_BEFORE:
            ca_key = _load_private_key((directory / CA_KEY_FILE).read_bytes())
            keys = _issue_leaf(ca, ca_key, clock())
            _write_private(directory / SIGNER_FILE, _signer_pem(keys))
        return keys


def _create(directory: Path, clock: Clock) -> None:
    """Write a new CA and signer; several processes starting at once agree on one of them."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".registry-keys-", dir=directory.parent))
    try:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _ca_certificate(ca_key, clock())
        keys = _issue_leaf(ca, ca_key, clock())
        (staging / CA_FILE).write_bytes(keys.ca_pem)
        _write_private(staging / CA_KEY_FILE, _private_pem(ca_key))
        _write_private(staging / SIGNER_FILE, _signer_pem(keys))
        # Renaming a whole folder is atomic: the loser of a race finds the winner's keys.
        with contextlib.suppress(OSError):
            staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not (directory / CA_FILE).exists():
        raise RuntimeError(f"{directory} exists but holds no {CA_FILE}; move it away to regenerate")


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rise registry token CA")])
    return (
        _builder(name, name, key.public_key(), now, CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_leaf(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> SigningKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rise registry token signer")])
    leaf = (
        _builder(name, ca.subject, key.public_key(), now, LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return SigningKeys(private_key_pem=_private_pem(key), leaf=leaf, ca=ca)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("registry signing keys must be EC P-256 keys")
    return key


def _signer_pem(keys: SigningKeys) -> bytes:
    return keys.private_key_pem + keys.leaf.public_bytes(serialization.Encoding.PEM)


def _load_signer(path: Path, ca: x509.Certificate) -> SigningKeys:
    data = path.read_bytes()
    key = _load_private_key(data)
    leaf = x509.load_pem_x509_certificates(data)[0]
    return SigningKeys(private_key_pem=_private_pem(key), leaf=leaf, ca=ca)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only, replacing ``path`` atomically."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
