"""The node's operators: who they are, how they sign in, what they did.

A *watch* officer handles the node's traffic (messages, acknowledgements); a
*principal* acts for the offices named on their account only (answering the
requests addressed to them); an *admin* does both and manages operators.

Passwords are argon2id hashes (argon2-cffi); TOTP (RFC 6238, pyotp), once
enrolled, is asked for at every sign-in. Console sessions live in the node's
database: the browser holds a random token, the node its SHA-256, with an idle
and an absolute expiry, and a fresh token at every sign-in. Failed sign-ins
are counted per operator name and per client address: from the third in a
row each next attempt must wait twice as long as the one before (1 s, 2 s,
4 s ... up to 15 minutes), whatever the password. A TOTP code is accepted
once: the time step of the last code used is stored, and a code of that step
or an earlier one is refused. Every sign-in, failed sign-in, sign-out and act
is written to the audit trail.

Named API keys are checked like passwords: unknown keys are counted per client
address and throttled the same way. A key's use is recorded (``last_used_at``
and an ``api-key-used`` audit row) at most once a minute per key, so a script
polling every second does not write on every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from redline.core.errors import Conflict, InvalidInput, LocalError, NotFound, Unauthorized
from redline.core.statement import format_time, parse_time
from redline.store import operators as op_store
from redline.store.db import Store

__all__ = [
    "API_KEY_PREFIX",
    "LANGUAGES",
    "Forbidden",
    "Operator",
    "OperatorService",
    "Role",
    "Session",
    "SignedIn",
    "Throttled",
    "Unauthenticated",
]

#: The console's languages (its Babel catalogs), the first the default.
LANGUAGES = ("en", "zh")
_NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
#: Failed sign-ins in a row before each next attempt must wait.
FREE_FAILURES = 2
MAX_BLOCK = timedelta(minutes=15)
API_KEY_PREFIX = "rlk_"
#: How often a key's use is written (``last_used_at`` and the audit trail), at most.
KEY_USE_PERIOD = timedelta(minutes=1)
#: TOTP time steps either side of now whose code is accepted (clock drift).
TOTP_DRIFT = 1
_ISSUER = "Redline"


class Role(StrEnum):
    """What an operator may do (see the module docstring)."""

    WATCH = "watch"
    PRINCIPAL = "principal"
    ADMIN = "admin"


#: No valid session, key or credentials: the API's 401, one code for both.
Unauthenticated = Unauthorized


class Forbidden(LocalError):
    """Signed in, but this operator may not do this."""

    code = "forbidden"
    status = 403
    title = "Forbidden"


class Throttled(LocalError):
    """Too many failed sign-ins: wait ``retry_after`` seconds."""

    code = "too-many-attempts"
    status = 429
    title = "Too many attempts"

    def __init__(self, message: str, *, retry_after: int = 1, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Operator:
    """An operator as the console and CLI see them (no secrets)."""

    name: str
    role: Role
    offices: tuple[str, ...]
    lang: str
    totp_enrolled: bool
    totp_required: bool
    #: The operator's IANA time zone; "" for the node's own (its party's).
    zone: str = ""

    def may_answer_for(self, office: str) -> bool:
        """Whether this operator may answer for ``office`` (a request addressed to it)."""
        return self.role is Role.ADMIN or (self.role is Role.PRINCIPAL and office in self.offices)

    @property
    def handles_traffic(self) -> bool:
        """Whether this operator sends and acknowledges the node's messages."""
        return self.role in (Role.WATCH, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in console session."""

    token_hash: str
    csrf: str
    operator: Operator


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: ``token`` goes in the cookie, ``csrf`` in every form."""

    token: str
    csrf: str
    operator: Operator


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (RFC 6238 §4.2, T) within :data:`TOTP_DRIFT` of ``now`` whose
    code ``code`` is, or None. Raises nothing."""
    code = code.strip()
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - TOTP_DRIFT, current + TOTP_DRIFT + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _check_zone(zone: str) -> None:
    """Raises :class:`InvalidInput` (field ``zone``) unless ``zone`` is "" or an
    IANA time zone this system knows."""
    if not zone:
        return
    try:
        if len(zone) > 64 or zone.startswith(("/", ".")) or ".." in zone:
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise InvalidInput("must be an IANA time zone such as Asia/Shanghai", field="zone") from exc


def _view(row: op_store.OperatorRow) -> Operator:
    return Operator(
        name=row.name,
        role=Role(row.role),
        offices=row.offices,
        lang=row.lang,
        totp_enrolled=row.totp_secret is not None,
        totp_required=row.totp_required or row.totp_secret is not None,
        zone=row.zone or "",
    )


class OperatorService:
    """Operators, sessions, API keys and the audit trail of one node's store."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        idle: timedelta = timedelta(minutes=30),
        absolute: timedelta = timedelta(hours=12),
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.idle = idle
        self.absolute = absolute
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106's second choice
        # Checked when the name is unknown, so that costs what a wrong password does.
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    # -- managing operators ------------------------------------------------------

    def add(
        self,
        name: str,
        *,
        role: str,
        password: str,
        offices: Sequence[str] = (),
        lang: str = "en",
        zone: str = "",
    ) -> Operator:
        """Add an operator; ``zone`` is their IANA time zone ("": the node's).

        Raises:
            InvalidInput: a bad ``name``, ``role``, ``password`` (fewer than 10
                characters), ``lang``, ``zone``, or a principal without ``offices``.
            Conflict: ``name`` is taken.
        """
        if not _NAME_RE.match(name):
            raise InvalidInput(
                "1-64 characters: lower-case letters, digits, '.', '_', '-'; a letter first",
                field="name",
            )
        try:
            chosen = Role(role)
        except ValueError as exc:
            raise InvalidInput(
                f"must be one of {', '.join(r.value for r in Role)}", field="role"
            ) from exc
        self._check_password(password)
        if lang not in LANGUAGES:
            raise InvalidInput(f"must be one of {', '.join(LANGUAGES)}", field="lang")
        _check_zone(zone)
        clean = sorted({o.strip() for o in offices if o.strip()})
        if chosen is Role.PRINCIPAL and not clean:
            raise InvalidInput("a principal acts for at least one office", field="office")
        digest = self._hasher.hash(password)
        with self.store.write() as conn:
            op_store.add_operator(
                conn,
                name=name,
                role=chosen.value,
                offices=clean,
                password_hash=digest,
                lang=lang,
                now=format_time(self.clock()),
                zone=zone or None,
            )
        return self.get(name)

    @staticmethod
    def _check_password(password: str) -> None:
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(
                f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
            )

    def get(self, name: str) -> Operator:
        """One operator. Raises :class:`NotFound` (field ``name``)."""
        with self.store.read() as conn:
            row = op_store.get_operator(conn, name)
        if row is None:
            raise NotFound(f"no operator {name!r}", field="name")
        return _view(row)

    def all(self) -> list[Operator]:
        """Every operator, by name. Raises nothing."""
        with self.store.read() as conn:
            return [_view(r) for r in op_store.list_operators(conn)]

    def set_lang(self, name: str, lang: str) -> Operator:
        """Choose the console language of ``name``.

        Raises :class:`InvalidInput` (field ``lang``) or :class:`NotFound`.
        """
        if lang not in LANGUAGES:
            raise InvalidInput(f"must be one of {', '.join(LANGUAGES)}", field="lang")
        with self.store.write() as conn:
            if not op_store.update_operator(conn, name, lang=lang):
                raise NotFound(f"no operator {name!r}", field="name")
        return self.get(name)

    def set_zone(self, name: str, zone: str) -> Operator:
        """Set the time zone the console shows ``name`` times in ("": the node's).

        Raises :class:`InvalidInput` (field ``zone``) or :class:`NotFound`.
        """
        _check_zone(zone)
        with self.store.write() as conn:
            if not op_store.update_operator(conn, name, zone=zone or None):
                raise NotFound(f"no operator {name!r}", field="name")
        return self.get(name)

    def enrol_totp(self, name: str) -> str:
        """Give ``name`` a new TOTP secret, asked for at every sign-in from now on;
        returns the ``otpauth://`` provisioning URI (show it once, as a QR code
        or text). Raises :class:`NotFound`."""
        secret = pyotp.random_base32()
        with self.store.write() as conn:
            changed = op_store.update_operator(
                conn, name, totp_secret=secret, totp_required=True, totp_last_step=None
            )
            if not changed:
                raise NotFound(f"no operator {name!r}", field="name")
        return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=_ISSUER)

    def require_totp(self, name: str) -> Operator:
        """Refuse ``name``'s sign-ins until they enrol TOTP. Raises :class:`NotFound`."""
        with self.store.write() as conn:
            if not op_store.update_operator(conn, name, totp_required=True):
                raise NotFound(f"no operator {name!r}", field="name")
        return self.get(name)

    def totp_now(self, name: str) -> str:
        """The current TOTP code of ``name`` (for ``redline demo`` and tests).

        Raises :class:`NotFound`, or :class:`Conflict` if none is enrolled."""
        with self.store.read() as conn:
            row = op_store.get_operator(conn, name)
        if row is None:
            raise NotFound(f"no operator {name!r}", field="name")
        if row.totp_secret is None:
            raise Conflict(f"operator {name!r} has no TOTP enrolled", field="name")
        return str(pyotp.TOTP(row.totp_secret).at(self.clock()))

    # -- API keys ----------------------------------------------------------------------

    def issue_key(self, name: str, label: str) -> str:
        """A new API key for ``name`` labelled ``label``: returned once, stored hashed.

        Raises :class:`InvalidInput` (field ``label``), :class:`NotFound`, and
        :class:`Conflict` if ``name`` has a key with that label.
        """
        if not _LABEL_RE.match(label):
            raise InvalidInput(
                "1-100 characters: letters, digits, space, '.', '_', '-'", field="label"
            )
        self.get(name)
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            op_store.add_api_key(
                conn,
                key_hash=_sha256(key),
                operator=name,
                label=label,
                now=format_time(self.clock()),
            )
        self.audit(name, "key-issued", label, client="cli")
        return key

    def key_labels(self, name: str) -> list[str]:
        """The labels of ``name``'s API keys. Raises nothing."""
        with self.store.read() as conn:
            return op_store.api_key_labels(conn, name)

    def key_operator(self, key: str, *, client: str, count: bool = True) -> Operator | None:
        """The operator whose API key ``key`` is, or None.

        An unknown key (when ``count``) is a failed attempt from ``client``,
        throttled like a wrong password; a known one is recorded as used at
        most once per :data:`KEY_USE_PERIOD` (``last_used_at`` and an audit
        row). Call it off the event loop: it reads and may write the store.

        Raises:
            Throttled: too many unknown keys from ``client`` lately (even a
                right key waits, as a right password does).
        """
        now = self.clock()
        throttle = f"api-key-client:{client[:64]}"
        with self.store.read() as conn:
            failed, blocked_until = op_store.failures(conn, throttle)
        wait = 0.0 if blocked_until is None else (parse_time(blocked_until) - now).total_seconds()
        if wait > 0:
            raise Throttled(
                f"too many unknown API keys; try again in {int(wait + 0.999)} s",
                retry_after=int(wait + 0.999),
                field="authorization",
            )
        found: op_store.OperatorRow | None = None
        row: op_store.ApiKeyRow | None = None
        if key.startswith(API_KEY_PREFIX) and len(key) <= 200:
            digest = _sha256(key)
            with self.store.read() as conn:
                row = op_store.api_key(conn, digest)
                found = None if row is None else op_store.get_operator(conn, row.operator)
        if row is None or found is None:
            if count:
                self._failed([throttle], now)
                self.audit(None, "api-key-failed", "", client=client)
            return None
        last = row.last_used_at
        if failed or last is None or parse_time(last) <= now - KEY_USE_PERIOD:
            stamp = format_time(now)
            with self.store.write() as conn:
                if failed:
                    op_store.clear_failures(conn, throttle)
                if op_store.touch_api_key_once(
                    conn, row.key_hash, now=stamp, before=format_time(now - KEY_USE_PERIOD)
                ):
                    op_store.add_audit(
                        conn,
                        at=stamp,
                        operator=found.name,
                        action="api-key-used",
                        target=row.label,
                        client=client,
                    )
        return _view(found)

    # -- signing in ----------------------------------------------------------------------

    def _wait(self, keys: Sequence[str], now: datetime) -> int:
        with self.store.read() as conn:
            until = [op_store.failures(conn, k)[1] for k in keys]
        left = max(((parse_time(u) - now).total_seconds() for u in until if u), default=0.0)
        return max(0, int(left + 0.999))

    def sign_in(
        self,
        name: str,
        password: str,
        *,
        code: str = "",
        client: str,
        previous: str | None = None,
    ) -> SignedIn:
        """Check ``name``'s password (and TOTP ``code``) and open a session.

        ``previous`` (the token the browser still held, if any) is ended: a
        sign-in always gets a fresh session id.

        Raises:
            Throttled: too many failed attempts from this client or for this name.
            Unauthenticated: a wrong name, password or code (the same message
                for each), or TOTP required and not yet enrolled.
        """
        now = self.clock()
        keys = [f"operator:{name[:64]}", f"client:{client[:64]}"]
        wait = self._wait(keys, now)
        if wait:
            self.audit(name[:64] or None, "sign-in-throttled", "", client=client)
            raise Throttled(
                f"too many failed sign-ins; try again in {wait} s", retry_after=wait, field="name"
            )
        with self.store.read() as conn:
            row = op_store.get_operator(conn, name) if len(name) <= 64 else None
        ok = False
        try:
            ok = self._hasher.verify(row.password_hash if row else self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        ok = ok and row is not None
        if ok and row is not None and row.totp_secret is not None:
            step = _totp_step(row.totp_secret, code, now)
            if step is None:
                ok = False
            else:
                # RFC 6238 §5.2: a code is accepted once. The conditional update
                # refuses a step used already, even by a sign-in racing this one.
                with self.store.write() as conn:
                    ok = op_store.claim_totp_step(conn, name, step)
        if not ok or row is None:
            self._failed(keys, now)
            self.audit(name[:64] or None, "sign-in-failed", "", client=client)
            raise Unauthenticated("wrong name, password or code", field="password")
        if row.totp_required and row.totp_secret is None:
            raise Unauthenticated(
                f"an admin requires TOTP: enrol it with `redline user totp DIR {name}`",
                field="code",
            )
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        stamp = format_time(now)
        with self.store.write() as conn:
            for key in keys:
                op_store.clear_failures(conn, key)
            if previous:
                op_store.delete_session(conn, _sha256(previous))
            op_store.add_session(
                conn, token_hash=_sha256(token), operator=name, csrf=csrf, now=stamp
            )
            op_store.add_audit(
                conn, at=stamp, operator=name, action="sign-in", target="", client=client
            )
        return SignedIn(token=token, csrf=csrf, operator=_view(row))

    def _failed(self, keys: Sequence[str], now: datetime) -> None:
        with self.store.write() as conn:
            for key in keys:
                count = op_store.failures(conn, key)[0] + 1
                block = timedelta(0)
                if count > FREE_FAILURES:
                    block = min(
                        MAX_BLOCK, timedelta(seconds=2 ** min(count - FREE_FAILURES - 1, 20))
                    )
                op_store.set_failures(
                    conn, key, failures=count, blocked_until=format_time(now + block)
                )

    def session(self, token: str) -> Session | None:
        """The live session of cookie ``token``, or None (unknown, idle for longer
        than ``idle``, or older than ``absolute``: then it is ended). Raises nothing."""
        if not token or len(token) > 200:
            return None
        digest = _sha256(token)
        now = self.clock()
        with self.store.read() as conn:
            row = op_store.get_session(conn, digest)
            found = None if row is None else op_store.get_operator(conn, row.operator)
        if row is None or found is None:
            return None
        if (
            now - parse_time(row.last_seen_at) > self.idle
            or now - parse_time(row.created_at) > self.absolute
        ):
            with self.store.write() as conn:
                op_store.delete_session(conn, digest)
            return None
        if now - parse_time(row.last_seen_at) > timedelta(seconds=15):
            with self.store.write() as conn:
                op_store.touch_session(conn, digest, format_time(now))
        return Session(token_hash=digest, csrf=row.csrf, operator=_view(found))

    def sign_out(self, session: Session, *, client: str) -> None:
        """End ``session``. Raises nothing."""
        stamp = format_time(self.clock())
        with self.store.write() as conn:
            op_store.delete_session(conn, session.token_hash)
            op_store.add_audit(
                conn,
                at=stamp,
                operator=session.operator.name,
                action="sign-out",
                target="",
                client=client,
            )

    # -- the audit trail ------------------------------------------------------------------

    def audit(self, operator: str | None, action: str, target: str, *, client: str) -> None:
        """Write one audit row. Raises nothing of its own."""
        with self.store.write() as conn:
            op_store.add_audit(
                conn,
                at=format_time(self.clock()),
                operator=operator,
                action=action,
                target=target,
                client=client,
            )

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest audit rows, newest first. Raises nothing."""
        with self.store.read() as conn:
            return op_store.audit_rows(conn, limit)
