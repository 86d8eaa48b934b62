"""A node's public identity: a real one round-trips, a hand-edited one is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from redline.core.errors import InvalidInput, InvalidKey, RedlineError
from redline.core.identity import Identity, cert_sha256
from redline.node import NodeDir, init_node

NOW = datetime(2026, 11, 22, 8, 40, tzinfo=UTC)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[NodeDir, NodeDir]:
    base = tmp_path_factory.mktemp("identity")
    us = init_node(base / "us", party="us", name="US Department of Defense", now=NOW)
    prc = init_node(base / "prc", party="prc", name="PRC Ministry of National Defense", now=NOW)
    return us, prc


@pytest.fixture
def identity_json(nodes: tuple[NodeDir, NodeDir]) -> dict[str, Any]:
    return nodes[0].identity().to_json()


def refused(obj: Any) -> RedlineError:
    with pytest.raises((InvalidInput, InvalidKey)) as info:
        Identity.from_json(obj)
    return info.value


def test_real_identity_round_trips_through_json(nodes: tuple[NodeDir, NodeDir]) -> None:
    identity = nodes[0].identity()
    text = json.dumps(identity.to_json())
    again = Identity.from_json(json.loads(text))
    assert again == identity
    assert again.party == "us"
    assert again.name == "US Department of Defense"
    assert again.tls_cert_sha256 == cert_sha256(nodes[0].tls_cert_file.read_text())
    assert again.public_key().public_bytes_raw() == (
        nodes[0].signing_key().public_key().public_bytes_raw()
    )
    assert again.log_vkey.startswith("redline.us/log+")
    assert again.witness_vkey.startswith("redline.us/witness+")


def test_two_nodes_have_different_keys(nodes: tuple[NodeDir, NodeDir]) -> None:
    us, prc = (node.identity() for node in nodes)
    assert us.signing_key != prc.signing_key
    assert us.tls_cert_sha256 != prc.tls_cert_sha256
    assert us.log_vkey != prc.log_vkey


def test_changed_fingerprint_is_refused(identity_json: dict[str, Any]) -> None:
    fingerprint = identity_json["tls_cert_sha256"]
    identity_json["tls_cert_sha256"] = ("0" if fingerprint[0] != "0" else "1") + fingerprint[1:]
    exc = refused(identity_json)
    assert isinstance(exc, InvalidInput)
    assert exc.field == "tls_cert_sha256"


def test_another_nodes_certificate_is_refused(
    nodes: tuple[NodeDir, NodeDir], identity_json: dict[str, Any]
) -> None:
    identity_json["tls_cert_pem"] = nodes[1].tls_cert_file.read_text()
    assert refused(identity_json).field == "tls_cert_sha256"


@pytest.mark.parametrize("pem", ["not a certificate", "-----BEGIN CERTIFICATE-----\nAA==\n"])
def test_bad_certificate_is_refused(identity_json: dict[str, Any], pem: str) -> None:
    identity_json["tls_cert_pem"] = pem
    assert refused(identity_json).field == "tls_cert_pem"


@pytest.mark.parametrize("name", ["log_vkey", "witness_vkey"])
@pytest.mark.parametrize(
    "vkey",
    [
        "garbage",
        "redline.us/log+00000000+AAAA",
        "redline.us/log+deadbeef+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
        7,
    ],
)
def test_bad_verifier_key_is_refused(identity_json: dict[str, Any], name: str, vkey: Any) -> None:
    identity_json[name] = vkey
    exc = refused(identity_json)
    assert isinstance(exc, InvalidKey)
    assert exc.field == name


@pytest.mark.parametrize(
    "key",
    [
        "not base64!",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        "",
        None,
    ],
)
def test_bad_signing_key_is_refused(identity_json: dict[str, Any], key: Any) -> None:
    identity_json["signing_key"] = key
    exc = refused(identity_json)
    assert isinstance(exc, InvalidKey)
    assert exc.field == "signing_key"


@pytest.mark.parametrize("version", [0, 2, "1", None, True, 1.0])
def test_wrong_version_is_refused(identity_json: dict[str, Any], version: Any) -> None:
    identity_json["redline_identity"] = version
    assert refused(identity_json).field == "redline_identity"


def test_missing_version_is_refused(identity_json: dict[str, Any]) -> None:
    del identity_json["redline_identity"]
    assert refused(identity_json).field == "redline_identity"


@pytest.mark.parametrize(
    "name",
    ["party", "name", "signing_key", "log_vkey", "witness_vkey", "tls_cert_pem", "tls_cert_sha256"],
)
def test_missing_field_is_refused(identity_json: dict[str, Any], name: str) -> None:
    del identity_json[name]
    assert refused(identity_json).field == name


@pytest.mark.parametrize("party", ["US", "", "1us", "a" * 33, 5])
def test_bad_party_is_refused(identity_json: dict[str, Any], party: Any) -> None:
    identity_json["party"] = party
    assert refused(identity_json).field == "party"


@pytest.mark.parametrize("name", ["", "   ", "n" * 201, None])
def test_bad_name_is_refused(identity_json: dict[str, Any], name: Any) -> None:
    identity_json["name"] = name
    assert refused(identity_json).field == "name"


@pytest.mark.parametrize("obj", [[], "identity", None, 1])
def test_not_an_object_is_refused(obj: Any) -> None:
    assert isinstance(refused(obj), InvalidInput)


def test_identity_file_written_by_a_node_reads_back(
    nodes: tuple[NodeDir, NodeDir], tmp_path: Path
) -> None:
    path = tmp_path / "us.json"
    path.write_text(json.dumps(nodes[0].identity().to_json(), indent=2))
    assert Identity.from_json(json.loads(path.read_text())) == nodes[0].identity()


def test_a_pem_with_two_certificates_is_refused(tmp_path: Path) -> None:
    # TLS would trust every certificate in the PEM while the pin covers only one.
    from redline.core.identity import cert_sha256
    from redline.node import init_node
    from redline.service.node import system_clock

    a = init_node(tmp_path / "a", party="aa", name="A", now=system_clock())
    b = init_node(tmp_path / "b", party="bb", name="B", now=system_clock())
    both = a.tls_cert_file.read_text() + b.tls_cert_file.read_text()
    with pytest.raises(InvalidInput) as info:
        cert_sha256(both)
    assert info.value.field == "tls_cert_pem"
