"""A node's public identity: what one party hands the other out of band.

::

    {"redline_identity": 1, "party": "us", "name": "US Department of Defense",
     "signing_key": "<base64 raw Ed25519>", "log_vkey": "<C2SP verifier key>",
     "witness_vkey": "<C2SP verifier key>", "tls_cert_pem": "-----BEGIN...",
     "tls_cert_sha256": "<hex>"}

Parsing checks that every key is well formed and that the fingerprint is the
certificate's, so a hand-edited file fails here rather than at first contact.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from redline.core.errors import InvalidInput, InvalidKey
from redline.core.note import Verifier

__all__ = ["IDENTITY_VERSION", "Identity", "cert_sha256", "public_key_b64"]

IDENTITY_VERSION = 1
_PARTY_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def cert_sha256(cert_pem: str) -> str:
    """Hex SHA-256 of a PEM certificate's DER encoding (its pin).

    Raises :class:`InvalidInput` (field ``tls_cert_pem``) if it is not a certificate.
    """
    try:
        certs = x509.load_pem_x509_certificates(cert_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"not a PEM certificate: {exc}", field="tls_cert_pem") from exc
    if len(certs) != 1:
        # TLS would trust every certificate in the PEM, but the pin covers one.
        raise InvalidInput(
            f"must hold exactly one certificate, not {len(certs)}", field="tls_cert_pem"
        )
    cert = certs[0]
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def public_key_b64(key: Ed25519PublicKey) -> str:
    """The raw 32-byte Ed25519 public key, base64."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A party's public identity. Construction validates every field.

    Raises :class:`InvalidInput` or :class:`InvalidKey` naming the field.
    """

    party: str
    name: str
    signing_key: str
    log_vkey: str
    witness_vkey: str
    tls_cert_pem: str
    tls_cert_sha256: str

    def __post_init__(self) -> None:
        if not isinstance(self.party, str) or not _PARTY_RE.match(self.party):
            raise InvalidInput(
                "must be lowercase letters, digits and '-', at most 32", field="party"
            )
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200:
            raise InvalidInput("must be a non-empty name of at most 200 characters", field="name")
        self.public_key()  # validates signing_key
        for field_name in ("log_vkey", "witness_vkey"):
            value = getattr(self, field_name)
            if not isinstance(value, str):
                raise InvalidKey("must be a C2SP verifier key", field=field_name)
            try:
                Verifier.parse(value)
            except InvalidKey as exc:
                raise InvalidKey(exc.message, field=field_name) from exc
        if not isinstance(self.tls_cert_pem, str):
            raise InvalidInput("must be a PEM certificate", field="tls_cert_pem")
        if cert_sha256(self.tls_cert_pem) != self.tls_cert_sha256:
            raise InvalidInput(
                "does not match the SHA-256 of tls_cert_pem", field="tls_cert_sha256"
            )

    def public_key(self) -> Ed25519PublicKey:
        """The party's statement signing key.

        Raises :class:`InvalidKey` (field ``signing_key``) if it is malformed.
        """
        try:
            raw = base64.b64decode(self.signing_key, validate=True)
            return Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidKey("must be a base64 raw Ed25519 key", field="signing_key") from exc

    def to_json(self) -> dict[str, Any]:
        """The identity as the JSON object handed to the other side."""
        return {
            "redline_identity": IDENTITY_VERSION,
            "party": self.party,
            "name": self.name,
            "signing_key": self.signing_key,
            "log_vkey": self.log_vkey,
            "witness_vkey": self.witness_vkey,
            "tls_cert_pem": self.tls_cert_pem,
            "tls_cert_sha256": self.tls_cert_sha256,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Identity:
        """Parse an identity object.

        Raises :class:`InvalidInput` or :class:`InvalidKey` naming the field.
        """
        if not isinstance(obj, dict):
            raise InvalidInput("identity must be a JSON object")
        version = obj.get("redline_identity")
        if type(version) is not int or version != IDENTITY_VERSION:  # true == 1.0 == 1
            raise InvalidInput(
                f"must be {IDENTITY_VERSION} (is this a Redline identity file?)",
                field="redline_identity",
            )
        fields = (
            "party",
            "name",
            "signing_key",
            "log_vkey",
            "witness_vkey",
            "tls_cert_pem",
            "tls_cert_sha256",
        )
        for name in fields:
            if name not in obj:
                raise InvalidInput("required field is missing", field=name)
        return cls(**{name: obj[name] for name in fields})
