"""A node directory: its configuration, keys, TLS certificate and database.

::

    DIR/redline.toml        configuration (see docs/configuration.md)
    DIR/keys/signing.pem    Ed25519 statement signing key      (0600)
    DIR/keys/log.pem        Ed25519 log (checkpoint) key       (0600)
    DIR/keys/witness.pem    Ed25519 witness (cosignature) key  (0600)
    DIR/tls/key.pem         TLS private key, ECDSA P-256       (0600)
    DIR/tls/cert.pem        self-signed TLS certificate (pinned by peers)
    DIR/api.token           bearer token for the operator API  (0600)
    DIR/redline.db          SQLite database (the default)  (0600, with -wal and -shm)

The directory and its ``keys/`` and ``tls/`` folders are 0700; every file
that holds a secret or traffic is 0600 (``redline.toml`` can hold a database
password). :func:`load_node` tightens the modes of an existing directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from redline.core.errors import ConfigError, InvalidInput
from redline.core.identity import Identity, cert_sha256, public_key_b64
from redline.core.linktests import check_zone, parse_test_time
from redline.core.note import CosignatureSigner, Signer

__all__ = ["NodeConfig", "NodeDir", "init_node", "load_node", "tighten_modes"]

log = logging.getLogger("redline")

CONFIG_FILE = "redline.toml"
PRIVATE_DIRS = (".", "keys", "tls", "recordings")
PRIVATE_FILES = (
    CONFIG_FILE,
    "api.token",
    "keys/signing.pem",
    "keys/log.pem",
    "keys/witness.pem",
    "tls/key.pem",
    "redline.db",
    "redline.db-wal",
    "redline.db-shm",
    "redline.db-journal",
)
_PARTY_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_SETTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
}


@dataclass(slots=True, kw_only=True)
class NodeConfig:
    """Settings read from ``redline.toml``; every one is documented in docs/configuration.md."""

    party: str
    name: str
    database: str = ""
    link_host: str = "127.0.0.1"
    link_port: int = 8443
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    batch_size: int = 256
    retry_base_seconds: float = 0.2
    retry_cap_seconds: float = 5.0
    pull_interval_seconds: float = 30.0
    link_deadline_seconds: float = 60.0
    link_handshake_timeout_seconds: float = 5.0
    link_max_pending_handshakes: int = 64
    unreachable_alarm_seconds: float = 60.0
    checkpoint_every: int = 64
    checkpoint_interval_seconds: float = 5.0
    time_horizon_days: int = 3653
    peer_statements_per_second: float = 200.0
    peer_burst_statements: int = 1000
    peer_bytes_per_day: int = 2 * 1024**3
    link_test_interval_seconds: float = 3600.0
    link_test_timeout_seconds: float = 300.0
    operator_test_time: str = "09:00"
    operator_test_zone: str = "UTC"
    operator_test_timeout_seconds: float = 600.0
    translation_model_dir: str = ""
    notify_webhook_secret: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_from: str = ""
    notify_retry_base_seconds: float = 5.0
    notify_retry_cap_seconds: float = 300.0
    notify_max_attempts: int = 20
    turn_enabled: bool = False
    turn_host: str = "127.0.0.1"
    turn_port: int = 3478
    turn_realm: str = ""
    turn_secret: str = ""
    turn_relay_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> NodeConfig:
        """Build a config from parsed TOML.

        Raises :class:`ConfigError` naming an unknown or mistyped setting.
        """
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        values: dict[str, Any] = {}
        for key, value in data.items():
            spec = known.get(key)
            if spec is None:
                raise ConfigError(f"unknown setting in {CONFIG_FILE}", field=key)
            expected: type | tuple[type, ...] = _SETTING_TYPES[str(spec.type)]
            if not isinstance(value, expected) or (
                isinstance(value, bool) and expected is not bool
            ):
                raise ConfigError(f"must be of type {spec.type}", field=key)
            values[key] = value
        for required in ("party", "name"):
            if required not in values:
                raise ConfigError(f"missing from {CONFIG_FILE}", field=required)
        if values.get("time_horizon_days", 1) < 1:
            raise ConfigError("must be at least 1 day", field="time_horizon_days")
        _check_quotas(values)
        _check_link_tests(values)
        _check_notify(values)
        _check_turn(values)
        return cls(**values)

    def to_toml(self) -> dict[str, Any]:
        """The settings as a TOML-ready dict (without ``extra``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}


# The peer quotas' floors: one statement a minute, one statement at once, and a
# day's budget of 1 MiB (far above one largest statement and its request).
_QUOTA_FLOORS: dict[str, tuple[float, str]] = {
    "peer_statements_per_second": (1 / 60, "at least 0.0167 (one statement a minute)"),
    "peer_burst_statements": (1, "at least 1"),
    "peer_bytes_per_day": (1024 * 1024, "at least 1048576 (1 MiB)"),
}


def _check_quotas(values: dict[str, Any]) -> None:
    for name, (floor, text) in _QUOTA_FLOORS.items():
        value = values.get(name)
        # `not value >= floor` also refuses NaN, which TOML can spell.
        if value is not None and not value >= floor:
            raise ConfigError(f"must be {text}, got {value!r}", field=name)
        if value is not None and value == float("inf"):
            raise ConfigError("must be finite", field=name)


def _check_link_tests(values: dict[str, Any]) -> None:
    for name in (
        "link_test_interval_seconds",
        "link_test_timeout_seconds",
        "operator_test_timeout_seconds",
    ):
        value = values.get(name)
        if name == "link_test_interval_seconds" and value == 0:
            continue  # no scheduled heartbeats
        # `not value >= 1` also refuses NaN, which TOML can spell.
        if value is not None and (not value >= 1 or value == float("inf")):
            raise ConfigError("must be a finite number of seconds, at least 1", field=name)
    try:
        parse_test_time(values.get("operator_test_time", ""))
        check_zone(values.get("operator_test_zone", "UTC"), "operator_test_zone")
    except InvalidInput as exc:
        raise ConfigError(exc.message, field=exc.field) from exc


def _check_notify(values: dict[str, Any]) -> None:
    if values.get("smtp_security", "none") not in ("none", "starttls"):
        raise ConfigError("must be none or starttls", field="smtp_security")
    if not 1 <= values.get("smtp_port", 25) <= 65535:
        raise ConfigError("must be a port number, 1-65535", field="smtp_port")
    if values.get("notify_max_attempts", 1) < 1:
        raise ConfigError("must be at least 1", field="notify_max_attempts")
    for name in ("notify_retry_base_seconds", "notify_retry_cap_seconds"):
        value = values.get(name)
        # `not value > 0` also refuses NaN, which TOML can spell.
        if value is not None and (not value > 0 or value == float("inf")):
            raise ConfigError("must be a finite number of seconds above 0", field=name)


def _check_turn(values: dict[str, Any]) -> None:
    if not 1 <= values.get("turn_port", 3478) <= 65535:
        raise ConfigError("must be a port number, 1-65535", field="turn_port")
    if values.get("turn_enabled") and len(values.get("turn_secret", "")) < 16:
        raise ConfigError(
            "a TURN relay needs a secret of at least 16 characters", field="turn_secret"
        )


def _write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    # Create with 0600 from the start: never a moment where the key is world-readable.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def tighten_modes(path: Path) -> None:
    """Make the node directory ``path`` readable by this user only.

    Folders become 0700 and the files that hold secrets or traffic 0600
    (group and other bits removed; a missing file is skipped). A file owned
    by another user cannot be changed: it is logged, not raised, so that a
    node still starts and the operator sees why.
    """
    targets = [(path / d, 0o700) for d in PRIVATE_DIRS] + [(path / f, 0o600) for f in PRIVATE_FILES]
    for target, mode in targets:
        try:
            current = target.stat().st_mode & 0o777
            if current & 0o077:
                os.chmod(target, current & mode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot make %s private (mode %o): %s", target, mode, exc)


def _pem_private(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ed25519_seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _self_signed_cert(key: ec.EllipticCurvePrivateKey, party: str, now: dt.datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"redline node {party}")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        # Self-signed and pinned: it is its own trust anchor, so it is marked a CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class NodeDir:
    """A node directory on disk. Load it with :func:`load_node`."""

    def __init__(self, path: Path, config: NodeConfig) -> None:
        self.path = path
        self.config = config

    # -- paths -----------------------------------------------------------
    @property
    def tls_cert_file(self) -> Path:
        return self.path / "tls" / "cert.pem"

    @property
    def tls_key_file(self) -> Path:
        return self.path / "tls" / "key.pem"

    @property
    def database_url(self) -> str:
        """The configured database, or the SQLite file in the directory."""
        return self.config.database or f"sqlite:///{self.path / 'redline.db'}"

    @property
    def log_origin(self) -> str:
        """The C2SP checkpoint origin (and log key name) of this node's log."""
        return f"redline.{self.config.party}/log"

    @property
    def witness_name(self) -> str:
        """The name of this node's witness (cosigner) key."""
        return f"redline.{self.config.party}/witness"

    # -- keys --------------------------------------------------------------
    def _load_ed25519(self, name: str) -> Ed25519PrivateKey:
        path = self.path / "keys" / f"{name}.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError as exc:
            raise ConfigError(f"key file {path} is missing", field=name) from exc
        except ValueError as exc:
            raise ConfigError(f"key file {path} is not a PEM private key", field=name) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"key file {path} is not an Ed25519 key", field=name)
        return key

    def signing_key(self) -> Ed25519PrivateKey:
        """The statement signing key. Raises :class:`ConfigError` if missing."""
        return self._load_ed25519("signing")

    def log_signer(self) -> Signer:
        """The signed-note signer for this node's checkpoints."""
        return Signer(self.log_origin, _ed25519_seed(self._load_ed25519("log")))

    def witness_signer(self) -> CosignatureSigner:
        """The cosignature/v1 signer this node witnesses its peers' logs with."""
        return CosignatureSigner(self.witness_name, _ed25519_seed(self._load_ed25519("witness")))

    def api_token(self) -> str:
        """The operator API bearer token. Raises :class:`ConfigError` if missing."""
        try:
            return (self.path / "api.token").read_text().strip()
        except FileNotFoundError as exc:
            raise ConfigError("api.token is missing from the node directory") from exc

    def identity(self) -> Identity:
        """This node's public identity, to hand to peers out of band."""
        cert_pem = self.tls_cert_file.read_text()
        return Identity(
            party=self.config.party,
            name=self.config.name,
            signing_key=public_key_b64(self.signing_key().public_key()),
            log_vkey=self.log_signer().verifier_key,
            witness_vkey=self.witness_signer().verifier_key,
            tls_cert_pem=cert_pem,
            tls_cert_sha256=cert_sha256(cert_pem),
        )

    def save_config(self) -> None:
        """Write the configuration back to ``redline.toml`` (mode 0600).

        Raises :class:`OSError` if the file cannot be written.
        """
        _write_private(
            self.path / CONFIG_FILE, tomli_w.dumps(self.config.to_toml()).encode(), replace=True
        )


def init_node(
    path: Path,
    *,
    party: str,
    name: str,
    now: dt.datetime,
    database: str = "",
    link_port: int = 8443,
    api_port: int = 8080,
) -> NodeDir:
    """Create a node directory with fresh keys, certificate and config.

    The database is created by :func:`redline.store.db.open_store` afterwards.
    Raises :class:`ConfigError` if ``path`` already holds a node, and
    :class:`InvalidInput` for a bad party id or name.
    """
    _validate_party_and_name(party, name)
    if (path / CONFIG_FILE).exists():
        raise ConfigError(f"{path} already holds a Redline node", field="dir")
    config = NodeConfig(
        party=party, name=name, database=database, link_port=link_port, api_port=api_port
    )
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    (path / "keys").mkdir(mode=0o700, exist_ok=True)
    (path / "tls").mkdir(mode=0o700, exist_ok=True)
    tighten_modes(path)  # mkdir's mode is masked, and the folder may have existed
    for key_name in ("signing", "log", "witness"):
        key = Ed25519PrivateKey.generate()
        _write_private(path / "keys" / f"{key_name}.pem", _pem_private(key))
    tls_key = ec.generate_private_key(ec.SECP256R1())
    _write_private(path / "tls" / "key.pem", _pem_private(tls_key))
    (path / "tls" / "cert.pem").write_bytes(_self_signed_cert(tls_key, party, now))
    _write_private(path / "api.token", secrets.token_urlsafe(32).encode() + b"\n")
    node = NodeDir(path, config)
    node.save_config()
    return node


def _validate_party_and_name(party: str, name: str) -> None:
    if not _PARTY_RE.match(party):
        raise InvalidInput(
            "must be lowercase letters, digits and '-', starting with a letter, at most 32",
            field="party",
        )
    if not name.strip() or len(name) > 200:
        raise InvalidInput("must be a non-empty name of at most 200 characters", field="name")


def load_node(path: Path) -> NodeDir:
    """Open an existing node directory, tightening its file modes (:func:`tighten_modes`).

    Raises :class:`ConfigError` if it is missing or its config is invalid.
    """
    config_file = path / CONFIG_FILE
    try:
        data = tomllib.loads(config_file.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} is not a Redline node directory (no {CONFIG_FILE}); run `redline init` first",
            field="dir",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_file} is not valid TOML: {exc}") from exc
    tighten_modes(path)
    return NodeDir(path, NodeConfig.from_toml(data))
