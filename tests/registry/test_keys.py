"""Signing keys and the certificate chain a registry trusts, created on first start."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from reconciler.registry import TokenIssuer
from reconciler.registry.keys import (
    CA_FILE,
    CA_KEY_FILE,
    LEAF_LIFETIME,
    SIGNER_FILE,
    SigningKeys,
)
from schemas.server import RegistryConfig


def _public(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_first_start_creates_private_files_and_later_starts_reuse_them(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    first = SigningKeys.load_or_create(folder)
    for name in (CA_KEY_FILE, SIGNER_FILE):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / CA_FILE).read_bytes() == first.ca_pem

    again = SigningKeys.load_or_create(folder)
    assert again.private_key_pem == first.private_key_pem
    assert _public(again.leaf) == _public(first.leaf)
    assert again.ca_pem == first.ca_pem


def test_leaf_is_issued_by_a_ca_and_x5c_lists_the_chain(tmp_path: Path) -> None:
    keys = SigningKeys.load_or_create(tmp_path / "registry")
    keys.leaf.verify_directly_issued_by(keys.ca)
    constraints = keys.ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    leaf_constraints = keys.leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert not leaf_constraints.value.ca
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in keys.x5c]
    assert chain == [keys.leaf, keys.ca]


def test_leaf_close_to_expiry_is_renewed_by_the_same_ca(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    first = SigningKeys.load_or_create(folder)
    later = dt.datetime.now(dt.UTC) + LEAF_LIFETIME - dt.timedelta(days=10)
    renewed = SigningKeys.load_or_create(folder, clock=lambda: later)
    assert _public(renewed.leaf) != _public(first.leaf)
    assert renewed.ca_pem == first.ca_pem  # registries keep trusting rise
    renewed.leaf.verify_directly_issued_by(first.ca)
    assert renewed.expires_at > later + dt.timedelta(days=300)
    assert SigningKeys.load_or_create(folder).private_key_pem == renewed.private_key_pem


def test_concurrent_first_starts_agree_on_one_ca(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: SigningKeys.load_or_create(folder), range(8)))
    assert len({keys.ca_pem for keys in results}) == 1
    assert len({keys.private_key_pem for keys in results}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry"]  # no staging left


def test_a_folder_without_the_ca_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    folder.mkdir()
    (folder / "stray.txt").write_text("not keys")
    with pytest.raises(RuntimeError, match=r"holds no ca\.pem"):
        SigningKeys.load_or_create(folder)
    assert (folder / "stray.txt").read_text() == "not keys"


def test_issuer_from_server_config_keeps_its_keys_in_the_data_dir(tmp_path: Path) -> None:
    config = RegistryConfig(service="reg", issuer="rise-test", token_ttl=120, prefix="apps/")
    issuer = TokenIssuer.from_config(config, tmp_path)
    assert (tmp_path / "registry" / CA_FILE).read_bytes() == issuer.keys.ca_pem
    assert (issuer.service, issuer.issuer, issuer.ttl) == ("reg", "rise-test", 120)
    assert issuer.repository("web") == "apps/web"
    assert TokenIssuer.from_config(config, tmp_path).keys.ca_pem == issuer.keys.ca_pem
