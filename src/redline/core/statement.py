"""Signed statements: the envelope every Redline act travels in.

A statement is a JSON object in RFC 8785 canonical form::

    {"v": 1, "from": "us", "to": "prc", "kind": "message", "seq": 7,
     "time": "2026-11-22T08:40:00.123456Z", "body": {...}, "sig": "<base64>"}

``sig`` is an Ed25519 signature over ``SIGNING_CONTEXT`` followed by the
canonical bytes of the object without ``sig``. The statement's id is the hex
SHA-256 of the canonical bytes of the whole object, signature included.

Parsing happens once, at the edge: :meth:`Statement.from_wire` turns any byte
string into a valid :class:`Statement` or raises :class:`InvalidStatement`.
Signature checks are separate (:func:`verify_statement`): parsing says the
envelope is well formed, verification says who made it.

Floats are refused anywhere in a statement: RFC 8785's number rules make them
a trap for a signed format (DESIGN.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from redline.core.canonical import canonical_json, plain_json
from redline.core.errors import BadSignature, InvalidStatement, UnknownSigner
from redline.core.fields import Body
from redline.core.registry import BODIES, validate_body
from redline.core.times import format_time, parse_time

__all__ = [
    "MAX_STATEMENT_BYTES",
    "RECEIPT_STREAM",
    "MAIN_STREAM",
    "SIGNING_CONTEXT",
    "VERSION",
    "Statement",
    "format_time",
    "parse_time",
    "stream_of",
    "verify_statement",
]

VERSION = 1
SIGNING_CONTEXT = b"redline-statement/v1\n"
MAX_STATEMENT_BYTES = 64 * 1024
MAIN_STREAM = "main"
RECEIPT_STREAM = "receipt"

_PARTY_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}(\.[a-z][a-z0-9-]{0,31})?$")
_PARTY_RULE = "must be a party id: lowercase letters, digits and '-', at most 32"
_FIELDS = frozenset({"v", "from", "to", "kind", "seq", "time", "body", "sig"})
_MAX_SEQ = 2**53 - 1  # the largest integer RFC 8785 (I-JSON) carries exactly
B = TypeVar("B", bound=Body)


def stream_of(kind: str) -> str:
    """Name the sequence stream a kind is numbered in.

    Receipts travel in HTTP responses rather than in the ordered push stream,
    so they are numbered in a stream of their own; everything else shares the
    main stream, which a receiver accepts strictly in order.
    """
    return RECEIPT_STREAM if kind == "receipt" else MAIN_STREAM


def _canonical(value: Any, *, ascii_keys: bool | None = None) -> bytes:
    try:
        return canonical_json(value, ascii_keys=ascii_keys)
    except ValueError as exc:  # rfc8785 refuses e.g. a lone surrogate
        raise InvalidStatement(f"cannot be canonicalized: {exc}", field="body") from exc


_TIME_KEY = b',"time":"'


def _with_signature(unsigned: bytes, signature: bytes) -> bytes:
    """The canonical bytes of the signed statement, from those of the unsigned one.

    RFC 8785 sorts keys, so ``sig`` sits just before ``time``. Searching from
    the end finds the top-level ``time``: only ``time``, ``to`` and ``v``
    follow it, and their validated values cannot contain that text. This
    saves canonicalizing the statement twice (the test suite checks the
    result against RFC 8785 of the whole object).
    """
    at = unsigned.rindex(_TIME_KEY) + 1
    sig = binascii.b2a_base64(signature, newline=False)
    return b"".join((unsigned[:at], b'"sig":"', sig, b'",', unsigned[at:]))


def _check_json_value(value: Any, path: str) -> None:
    if plain_json(value):
        return
    _name_bad_value(value, path)


def _name_bad_value(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SEQ:
            raise InvalidStatement("integer out of the exactly representable range", field=path)
        return
    if isinstance(value, float):
        raise InvalidStatement("floats are not allowed in statements", field=path)
    if isinstance(value, list):
        for i, item in enumerate(value):
            _name_bad_value(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _name_bad_value(item, f"{path}.{key}")
        return
    raise InvalidStatement(f"unsupported JSON type {type(value).__name__}", field=path)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidStatement(f"duplicate key {key!r}", field=key)
        result[key] = value
    return result


def _refuse_duplicate_keys(text: str) -> None:
    """Raise :class:`InvalidStatement` naming a duplicate key, if ``text`` has one."""
    json.loads(text, object_pairs_hook=_no_duplicate_keys)


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """A parsed, well-formed statement. Construction validates every field.

    The body is validated once, here, against its kind's model
    (:mod:`redline.core.registry`); :attr:`model` is that typed body, and
    :meth:`typed` hands it out as the model a reader expects. ``body`` stays
    the wire object that was signed.

    Raises :class:`InvalidStatement` naming the field that is wrong.
    """

    sender: str
    to: str
    kind: str
    seq: int
    time: str
    body: Mapping[str, Any]
    signature: bytes
    version: int = VERSION
    canonical: bytes = field(default=b"", compare=False, repr=False)
    _unsigned: bytes = field(default=b"", compare=False, repr=False)
    id: str = field(default="", compare=False)
    model: Body = field(init=False, compare=False, repr=False)
    #: The body already validated as its kind's model (:meth:`create` passes
    #: it for a body an act built as a model): it is not validated again.
    typed_body: InitVar[Body | None] = None

    def __post_init__(self, typed_body: Body | None) -> None:
        # Every statement a node receives or verifies is built here, so the
        # checks read each field once into a local (bench/record.py measures it).
        # type() rather than ==: 1.0 and true compare equal to 1, and would let a
        # float (or bool) through in a signed envelope that refuses floats.
        version, sender, to, kind, seq = self.version, self.sender, self.to, self.kind, self.seq
        if type(version) is not int or version != VERSION:
            raise InvalidStatement(f"unsupported version {version!r}", field="v")
        if not isinstance(sender, str) or not _PARTY_RE.match(sender):
            raise InvalidStatement(_PARTY_RULE, field="from")
        if not isinstance(to, str) or not _PARTY_RE.match(to):
            raise InvalidStatement(_PARTY_RULE, field="to")
        if sender == to:
            raise InvalidStatement("a statement cannot be addressed to its sender", field="to")
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise InvalidStatement("must be a lowercase kind name", field="kind")
        if type(seq) is not int and (not isinstance(seq, int) or isinstance(seq, bool)):
            raise InvalidStatement("must be an integer", field="seq")
        if not 1 <= seq <= _MAX_SEQ:
            raise InvalidStatement("must be between 1 and 2^53-1", field="seq")
        if not isinstance(self.time, str):
            raise InvalidStatement("must be a string", field="time")
        parse_time(self.time)
        body = self.body
        if type(body) is not dict:
            if not isinstance(body, Mapping):
                raise InvalidStatement("must be a JSON object", field="body")
            body = dict(body)
        signature = self.signature
        if type(signature) is not bytes or len(signature) != 64:
            raise InvalidStatement("must be a 64-byte Ed25519 signature", field="sig")
        try:
            plain = plain_json(body)
            if not plain:
                _name_bad_value(body, "body")  # raises unless only keys are non-ASCII
            if typed_body is not None and type(typed_body) is BODIES.get(kind):
                model = typed_body
            else:
                model = validate_body(kind, body)
            # Envelope keys are ASCII; the body's were checked just above.
            unsigned = _canonical(
                {
                    "v": version,
                    "from": sender,
                    "to": to,
                    "kind": kind,
                    "seq": seq,
                    "time": self.time,
                    "body": body,
                },
                ascii_keys=plain,
            )
        except RecursionError:
            # The walks above recurse; JSON nested near the interpreter's limit
            # (which parsers accept) must be refused, not crash the caller.
            raise InvalidStatement("is nested too deeply", field="body") from None
        canonical = _with_signature(unsigned, signature)
        if len(canonical) > MAX_STATEMENT_BYTES:
            raise InvalidStatement(
                f"statement is {len(canonical)} bytes; the limit is {MAX_STATEMENT_BYTES}",
                field="body",
            )
        set_field = object.__setattr__
        set_field(self, "canonical", canonical)
        set_field(self, "_unsigned", unsigned)
        set_field(self, "id", hashlib.sha256(canonical).hexdigest())
        set_field(self, "model", model)

    def typed(self, model: type[B]) -> B:
        """The body as ``model``, the model of this statement's kind.

        Raises:
            InvalidStatement: (field ``kind``) the body is not a ``model``,
                which means the caller read a statement of another kind.
        """
        body = self.model
        if not isinstance(body, model):
            raise InvalidStatement(f"a {self.kind} body is not a {model.__name__}", field="kind")
        return body

    # -- construction -----------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        key: Ed25519PrivateKey,
        sender: str,
        to: str,
        kind: str,
        seq: int,
        time: datetime,
        body: Mapping[str, Any] | Body,
    ) -> Statement:
        """Build and sign a new statement.

        ``body`` is the wire object, or its kind's model (then it is not
        validated a second time: a model is valid by construction).

        Raises :class:`InvalidStatement` naming the field if any is invalid.
        """
        typed_body = body if isinstance(body, Body) else None
        wire: Mapping[str, Any] = body.wire() if isinstance(body, Body) else body
        unsigned = cls._unsigned_json(sender, to, kind, seq, format_time(time), wire)
        try:
            _check_json_value(dict(wire), "body")
            signing_input = SIGNING_CONTEXT + _canonical(unsigned)
        except RecursionError:
            raise InvalidStatement("is nested too deeply", field="body") from None
        signature = key.sign(signing_input)
        return cls(
            sender=sender,
            to=to,
            kind=kind,
            seq=seq,
            time=unsigned["time"],
            body=wire,
            signature=signature,
            typed_body=typed_body,
        )

    @classmethod
    def from_wire(cls, data: bytes) -> Statement:
        """Parse a statement from bytes received from anywhere.

        Raises :class:`InvalidStatement` for every way the bytes can be wrong
        (not UTF-8, not JSON, duplicate or missing or unknown keys, bad types,
        floats, a malformed signature, not the RFC 8785 canonical form). The
        signature itself is not checked here.
        """
        if not isinstance(data, bytes | bytearray):
            raise InvalidStatement("statement must be bytes")
        if len(data) > MAX_STATEMENT_BYTES:
            raise InvalidStatement(
                f"statement is {len(data)} bytes; the limit is {MAX_STATEMENT_BYTES}"
            )
        data = data if type(data) is bytes else bytes(data)
        try:
            statement = cls.from_json(orjson.loads(data))
        except (orjson.JSONDecodeError, InvalidStatement):
            # The fast parser refused, or the object is invalid: parse again
            # with the standard library, whose errors name the fault.
            statement = cls._from_text(data)
        if statement.canonical != data:
            # One wire form per statement: anything else (whitespace, key order,
            # escapes, a duplicate key that the parser silently dropped) is refused.
            _refuse_duplicate_keys(data.decode("utf-8"))
            raise InvalidStatement("statement is not in RFC 8785 canonical form")
        return statement

    @classmethod
    def _from_text(cls, data: bytes) -> Statement:
        """The slow path of :meth:`from_wire`, which explains what is wrong."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidStatement(f"statement is not UTF-8: {exc.reason}") from exc
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidStatement(f"malformed JSON: {exc}") from exc
        try:
            return cls.from_json(obj)
        except InvalidStatement:
            _refuse_duplicate_keys(text)  # a duplicate explains it
            raise

    @classmethod
    def from_json(cls, obj: Any) -> Statement:
        """Validate an already-decoded JSON object as a statement.

        Raises :class:`InvalidStatement` naming the field that is wrong.
        """
        if not isinstance(obj, dict):
            raise InvalidStatement("statement must be a JSON object")
        if obj.keys() != _FIELDS:
            missing = sorted(_FIELDS - obj.keys())
            if missing:
                raise InvalidStatement("required field is missing", field=missing[0])
            raise InvalidStatement("unknown field", field=sorted(obj.keys() - _FIELDS)[0])
        sig = obj["sig"]
        if not isinstance(sig, str):
            raise InvalidStatement("must be a base64 string", field="sig")
        try:
            # base64.b64decode(sig, validate=True), without its wrapper's cost.
            signature = binascii.a2b_base64(sig, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidStatement("is not valid base64", field="sig") from exc
        return cls(
            version=obj["v"],
            sender=obj["from"],
            to=obj["to"],
            kind=obj["kind"],
            seq=obj["seq"],
            time=obj["time"],
            body=obj["body"],
            signature=signature,
        )

    # -- views ------------------------------------------------------------

    @staticmethod
    def _unsigned_json(
        sender: str, to: str, kind: str, seq: int, time: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "v": VERSION,
            "from": sender,
            "to": to,
            "kind": kind,
            "seq": seq,
            "time": time,
            "body": dict(body),
        }

    def unsigned_json(self) -> dict[str, Any]:
        """The object the signature covers (the statement without ``sig``)."""
        return self._unsigned_json(self.sender, self.to, self.kind, self.seq, self.time, self.body)

    def to_json(self) -> dict[str, Any]:
        """The whole statement as a JSON-ready dict."""
        obj = self.unsigned_json()
        obj["sig"] = base64.b64encode(self.signature).decode("ascii")
        return obj

    def signed_bytes(self) -> bytes:
        """The exact bytes the Ed25519 signature is computed over."""
        return SIGNING_CONTEXT + self._unsigned

    @property
    def stream(self) -> str:
        """The sequence stream this statement is numbered in."""
        return stream_of(self.kind)

    @property
    def sent_at(self) -> datetime:
        """The statement's time as an aware datetime."""
        return parse_time(self.time)

    @property
    def digest(self) -> bytes:
        """The raw SHA-256 of the canonical bytes (the id, as bytes)."""
        return bytes.fromhex(self.id)


def verify_statement(statement: Statement, *, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Check that ``statement`` was signed by the pinned key of its sender.

    ``keys`` maps party id to that party's pinned signing key. Fails closed:
    an empty mapping is refused rather than read as "trust everyone".

    Raises :class:`UnknownSigner` if the sender has no pinned key (or ``keys``
    is empty) and :class:`BadSignature` if the signature does not verify.
    """
    if not keys:
        raise UnknownSigner("no trusted keys were given; refusing to verify", field="from")
    key = keys.get(statement.sender)
    if key is None:
        raise UnknownSigner(f"sender {statement.sender!r} has no pinned key", field="from")
    try:
        key.verify(statement.signature, statement.signed_bytes())
    except InvalidSignature as exc:
        raise BadSignature(
            f"signature of statement {statement.id[:16]} does not verify with the pinned key "
            f"of {statement.sender!r}",
            field="sig",
        ) from exc
