"""Voice and video signalling (docs/calls.md): the fingerprints an offer or answer
names are its SDP's; the SDP a browser is about to use is held to the peer's
signed statement; only the caller offers and only the called party answers,
each once, on an answered call; a peer that is not party to the call, or
signs the other side's part, is refused on receipt with nothing stored; TURN
REST credentials are the draft's."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, PayloadTooLarge
from redline.core.media import (
    CALL_ANSWER,
    CALL_MEDIA,
    CALL_OFFER,
    CALL_RECORDING_FILE,
    FingerprintMismatch,
    SdpBody,
    check_fingerprints,
    recording_consent,
    sdp_fingerprints,
)
from redline.core.registry import validate_body
from redline.service.media import MediaService, TurnSettings, turn_rest_credentials
from support.hotline import Clock, Side, carry, hotline_sides, sync

FP_A = "sha-256 " + ":".join(f"{i:02X}" for i in range(32))
FP_B = "sha-256 " + ":".join(f"{255 - i:02X}" for i in range(32))
ENDS = {"call": "us-call-1", "from_participant": "p-us-1", "to_participant": "p-prc-1"}


def sdp(fingerprint: str = FP_A, *, lower: bool = False) -> str:
    func, value = fingerprint.split(" ")
    line = f"a=fingerprint:{func.upper() if lower else func} {value.lower() if lower else value}"
    return (
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "a=group:BUNDLE 0 1\r\n"
        f"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n{line}\r\na=setup:actpass\r\n"
        f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n{line}\r\na=setup:actpass\r\n"
    )


# -- core ---------------------------------------------------------------------------------


def test_the_fingerprints_of_an_sdp_are_read_normalised_and_once() -> None:
    assert sdp_fingerprints(sdp()) == (FP_A,)
    assert sdp_fingerprints(sdp(lower=True)) == (FP_A,)
    assert sdp_fingerprints("v=0\r\ns=-\r\n") == ()
    assert sdp_fingerprints("v=0\r\na=fingerprint:sha-256 AB:CD\r\n") == ()  # too short


def test_an_sdp_with_another_fingerprint_than_the_signed_one_is_refused() -> None:
    signed = SdpBody(**ENDS, sdp=sdp(FP_A), fingerprints=[FP_A])
    check_fingerprints(sdp(FP_A), signed=signed)  # the same: passes
    with pytest.raises(FingerprintMismatch) as caught:
        check_fingerprints(sdp(FP_B), signed=signed)
    assert caught.value.field == "sdp"
    assert FP_B in caught.value.message and FP_A in caught.value.message
    with pytest.raises(FingerprintMismatch, match="names no DTLS fingerprint"):
        check_fingerprints("v=0\r\ns=-\r\n", signed=signed)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ENDS, "sdp": sdp(FP_A), "fingerprints": [FP_B]}, "body.fingerprints"),
        ({**ENDS, "sdp": "v=0\r\ns=-\r\n", "fingerprints": [FP_A]}, "body.sdp"),
        ({**ENDS, "sdp": "x" + sdp(), "fingerprints": [FP_A]}, "body.sdp"),
        (
            {**ENDS, "sdp": sdp() + "a=x:\u202e\r\n", "fingerprints": [FP_A]},
            "body.sdp",
        ),
        ({**ENDS, "sdp": sdp() + "a" * 32_000, "fingerprints": [FP_A]}, "body.sdp"),
        ({**ENDS, "sdp": sdp(), "fingerprints": []}, "body.fingerprints"),
        ({**ENDS, "sdp": sdp(), "fingerprints": ["md5 00"]}, "body.fingerprints[0]"),
        ({**ENDS, "call": "../x", "sdp": sdp(), "fingerprints": [FP_A]}, "body.call"),
        (
            {**ENDS, "to_participant": "p-us-1", "sdp": sdp(), "fingerprints": [FP_A]},
            "body.to_participant",
        ),
    ],
)
def test_a_bad_offer_body_is_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidStatement) as caught:
        validate_body(CALL_OFFER, body)
    assert caught.value.field == field


def test_turn_rest_credentials_are_expiry_user_and_the_hmac_sha1_of_it() -> None:
    expires = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    username, password = turn_rest_credentials("s3cret", "alice", expires)
    assert username == f"{int(expires.timestamp())}:alice" == "1796054400:alice"
    digest = hmac.new(b"s3cret", b"1796054400:alice", hashlib.sha1).digest()
    assert password == base64.b64encode(digest).decode()
    assert turn_rest_credentials("other", "alice", expires)[1] != password


# -- the service, two and three nodes in memory --------------------------------------------


@pytest.fixture
def three(tmp_path: Path) -> Iterator[tuple[dict[str, Side], dict[str, MediaService], str]]:
    with hotline_sides(tmp_path, Clock(), parties=("us", "prc", "jp")) as made:
        media = {p: MediaService(s.hotline) for p, s in made.items()}
        call = made["us"].hotline.place_call(
            from_office="us-secdef", to_office="prc-mnd", mechanism="dtl", mode="video"
        )
        call_id = call.model.id
        sync(made["us"], made["prc"])
        yield made, media, call_id


def test_offer_answer_and_media_flow_and_each_side_reads_them(
    three: tuple[dict[str, Side], dict[str, MediaService], str],
) -> None:
    sides, media, call_id = three
    us, prc = sides["us"], sides["prc"]
    with pytest.raises(Conflict, match="not answered"):
        media["us"].join(call_id, "p-alice")
    prc.hotline.call_event(call_id, "answer")
    sync(us, prc)
    media["us"].join(call_id, "p-alice")
    with pytest.raises(Conflict, match="already joined"):
        media["us"].join(call_id, "p-alice")
    with pytest.raises(Conflict, match="p-bo has not joined"):
        media["us"].signal(call_id, CALL_OFFER, sdp(FP_A), **PAIR)
    media["prc"].join(call_id, "p-bo")
    sync(us, prc)
    with pytest.raises(Conflict, match="only us makes the call-offer"):
        media["prc"].signal(
            call_id, CALL_OFFER, sdp(FP_B), from_participant="p-bo", to_participant="p-alice"
        )
    with pytest.raises(InvalidInput) as caught:
        media["us"].signal(call_id, CALL_OFFER, "v=0\r\ns=-\r\n", **PAIR)
    assert caught.value.field == "sdp"
    offer = media["us"].signal(call_id, CALL_OFFER, sdp(FP_A), **PAIR)
    assert offer.body["fingerprints"] == [FP_A]
    with pytest.raises(Conflict, match="sent already"):
        media["us"].signal(call_id, CALL_OFFER, sdp(FP_A), **PAIR)
    sync(us, prc)
    seen = media["prc"].signals(call_id)
    assert seen["role"] == "callee" and seen["mode"] == "video"
    assert [j["participant"] for j in seen["joins"]] == ["p-alice", "p-bo"]
    (got,) = seen["offers"]
    assert got["id"] == offer.id and got["from"] == "us" and got["to_participant"] == "p-bo"
    # The callee's browser may use the signed SDP, not another.
    assert media["prc"].check_sdp(call_id, offer.id, sdp(FP_A)) == [FP_A]
    with pytest.raises(FingerprintMismatch):
        media["prc"].check_sdp(call_id, offer.id, sdp(FP_B))
    # Our own offer is not the peer's signed statement: it checks nothing.
    with pytest.raises(FingerprintMismatch) as own:
        media["us"].check_sdp(call_id, offer.id, sdp(FP_A))
    assert own.value.field == "statement"
    back = {"from_participant": "p-bo", "to_participant": "p-alice"}
    answer = media["prc"].signal(call_id, CALL_ANSWER, sdp(FP_B), **back)
    assert media["prc"].established(call_id, "p-bo") is not None
    assert media["prc"].established(call_id, "p-bo") is None  # once per participant
    # An interpreter joins the called side; the caller offers to it too, and it answers.
    media["prc"].join(call_id, "p-mia")
    with pytest.raises(Conflict, match="no offer from p-alice to p-mia"):
        media["prc"].signal(
            call_id, CALL_ANSWER, sdp(FP_B), from_participant="p-mia", to_participant="p-alice"
        )
    with pytest.raises(Conflict, match="sent already"):
        media["prc"].signal(call_id, CALL_ANSWER, sdp(FP_B), **back)
    sync(us, prc)
    second = media["us"].signal(
        call_id, CALL_OFFER, sdp(FP_A), from_participant="p-alice", to_participant="p-mia"
    )
    sync(us, prc)
    media["prc"].signal(
        call_id, CALL_ANSWER, sdp(FP_B), from_participant="p-mia", to_participant="p-alice"
    )
    sync(us, prc)
    seen = media["us"].signals(call_id)
    assert [a["id"] for a in seen["answers"]][0] == answer.id
    assert [(o["to_participant"], o["id"]) for o in seen["offers"]] == [
        ("p-bo", offer.id),
        ("p-mia", second.id),
    ]
    assert [(m["from"], m["participant"]) for m in seen["media"]] == [("prc", "p-bo")]
    assert media["us"].check_sdp(call_id, answer.id, sdp(FP_B)) == [FP_B]


PAIR = {"from_participant": "p-alice", "to_participant": "p-bo"}


def _raw(side: Side, to: str, kind: str, body: dict[str, object]) -> None:
    """Sign ``body`` as ``side`` without the service's checks: a hostile peer."""
    side.node.send(to=to, kind=kind, body=body)


def test_signalling_not_signed_by_a_party_of_the_call_is_refused_on_receipt(
    three: tuple[dict[str, Side], dict[str, MediaService], str],
) -> None:
    sides, media, call_id = three
    us, prc, jp = sides["us"], sides["prc"], sides["jp"]
    prc.hotline.call_event(call_id, "answer")
    sync(us, prc)
    media["us"].join(call_id, "p-alice")
    media["prc"].join(call_id, "p-bo")
    sync(us, prc)
    offer = {"call": call_id, **PAIR, "sdp": sdp(FP_B), "fingerprints": [FP_B]}
    # A third party signs an offer for the call between us and prc: prc refuses it.
    _raw(jp, "prc", CALL_OFFER, offer)
    before = prc.count()
    with pytest.raises(InvalidStatement, match="jp is not a party") as caught:
        carry(jp, prc)
    assert caught.value.field == "body.call"
    assert prc.count() == before
    # The called party signing the caller's part (an offer) is refused by the caller.
    _raw(prc, "us", CALL_OFFER, {**offer, "from_participant": "p-bo", "to_participant": "p-alice"})
    before = us.count()
    with pytest.raises(InvalidStatement, match="only us makes the call-offer"):
        carry(prc, us)
    assert us.count() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from_participant": "p-nobody"}, "body.from_participant"),
        # prc's participant, as if us had joined it
        ({"from_participant": "p-bo", "to_participant": "p-alice"}, "body.from_participant"),
        ({"to_participant": "p-ann"}, "body.to_participant"),  # us's own, not the receiver's
    ],
)
def test_an_offer_between_participants_not_joined_on_their_sides_is_refused(
    three: tuple[dict[str, Side], dict[str, MediaService], str],
    change: dict[str, str],
    field: str,
) -> None:
    sides, media, call_id = three
    us, prc = sides["us"], sides["prc"]
    prc.hotline.call_event(call_id, "answer")
    sync(us, prc)
    media["us"].join(call_id, "p-alice")
    media["us"].join(call_id, "p-ann")
    media["prc"].join(call_id, "p-bo")
    sync(us, prc)
    body = {"call": call_id, **PAIR, "sdp": sdp(FP_A), "fingerprints": [FP_A], **change}
    _raw(us, "prc", CALL_OFFER, body)
    before = prc.count()
    with pytest.raises(InvalidStatement) as caught:
        carry(us, prc)
    assert caught.value.field == field
    assert prc.count() == before


def test_a_media_statement_about_an_unknown_call_is_refused_on_receipt(
    three: tuple[dict[str, Side], dict[str, MediaService], str],
) -> None:
    sides, _media, _call_id = three
    us, prc = sides["us"], sides["prc"]
    _raw(us, "prc", CALL_MEDIA, {"call": "us-call-nope", "participant": "p-alice"})
    with pytest.raises(InvalidStatement, match="unknown call") as caught:
        carry(us, prc)
    assert caught.value.field == "body.call"


def test_ice_servers_name_the_relay_with_short_lived_credentials(
    three: tuple[dict[str, Side], dict[str, MediaService], str],
) -> None:
    sides, media, _call_id = three
    assert media["us"].ice_servers("alice") == {"iceServers": [], "iceTransportPolicy": "all"}
    turn = TurnSettings(host="127.0.0.1", port=3478, realm="us.test", secret="k", relay_only=True)
    relayed = MediaService(sides["us"].hotline, turn=turn).ice_servers("alice")
    assert relayed["iceTransportPolicy"] == "relay"
    (server,) = relayed["iceServers"]
    assert server["urls"] == [
        "turn:127.0.0.1:3478?transport=udp",
        "turn:127.0.0.1:3478?transport=tcp",
    ]
    expiry, user = server["username"].split(":")
    now = sides["us"].node.clock()
    assert user == "alice"
    assert now < datetime.fromtimestamp(int(expiry), UTC) <= now + timedelta(hours=1)
    assert (
        server["credential"]
        == turn_rest_credentials("k", "alice", datetime.fromtimestamp(int(expiry), UTC))[1]
    )


# -- the TURN relay's settings -------------------------------------------------------------


def test_turn_settings_are_read_from_the_config_and_checked() -> None:
    from redline.core.errors import ConfigError
    from redline.node import NodeConfig
    from redline.turn import TurnRelay, turn_settings

    base = {"party": "us", "name": "US"}
    assert turn_settings(NodeConfig.from_toml(base)) is None
    config = NodeConfig.from_toml(
        {**base, "turn_enabled": True, "turn_secret": "x" * 16, "turn_relay_only": True}
    )
    settings = turn_settings(config)
    assert settings is not None and settings.relay_only and settings.realm == "us.redline"
    for bad, field in (
        ({"turn_enabled": True, "turn_secret": "short"}, "turn_secret"),
        ({"turn_enabled": "yes"}, "turn_enabled"),
        ({"turn_port": True}, "turn_port"),
        ({"turn_port": 70000}, "turn_port"),
    ):
        with pytest.raises(ConfigError) as caught:
            NodeConfig.from_toml({**base, **bad})
        assert caught.value.field == field
    text = TurnRelay(settings, Path("/n")).config_text()
    assert "static-auth-secret=" + "x" * 16 in text and "use-auth-secret" in text
    assert "allow-loopback-peers" in text  # 127.0.0.1: two browsers on one machine
    public = TurnSettings(host="192.0.2.7", port=3478, realm="r", secret="x" * 16)
    assert "allow-loopback-peers" not in TurnRelay(public, Path("/n")).config_text()


# -- recording, only with both sides' consent ------------------------------------------------


@pytest.mark.parametrize(
    ("consents", "expected"),
    [
        ([], (False, False)),
        ([("us", True)], (False, False)),
        ([("us", True), ("prc", True)], (True, True)),
        ([("us", True), ("prc", True), ("us", False)], (False, True)),
        ([("us", True), ("us", False), ("prc", True)], (False, False)),
        ([("us", True), ("jp", True)], (False, False)),  # jp is no party of the call
        ([("us", False), ("prc", True), ("us", True)], (True, True)),
    ],
)
def test_recording_runs_only_while_both_sides_latest_consent_says_on(
    consents: list[tuple[str, bool]], expected: tuple[bool, bool]
) -> None:
    assert recording_consent(consents, ("us", "prc")) == expected


@pytest.fixture
def recorded(
    three: tuple[dict[str, Side], dict[str, MediaService], str], tmp_path: Path
) -> tuple[dict[str, Side], dict[str, MediaService], str]:
    sides, _media, call_id = three
    media = {
        p: MediaService(s.hotline, recordings=tmp_path / p / "recordings") for p, s in sides.items()
    }
    us, prc = sides["us"], sides["prc"]
    prc.hotline.call_event(call_id, "answer")
    sync(us, prc)
    media["us"].join(call_id, "p-alice")
    media["prc"].join(call_id, "p-bo")
    sync(us, prc)
    return sides, media, call_id


def test_a_recording_is_kept_only_with_both_sides_consent_and_its_hash_signed(
    recorded: tuple[dict[str, Side], dict[str, MediaService], str],
) -> None:
    sides, media, call_id = recorded
    us, prc = sides["us"], sides["prc"]
    media["us"].consent(call_id, True)
    sync(us, prc)
    with pytest.raises(Conflict, match="both sides have not turned recording on"):
        media["us"].append_chunk(call_id, "p-alice", 0, b"webm-0")
    with pytest.raises(Conflict, match="never turned recording on"):
        media["us"].finish_recording(call_id, "p-alice")
    media["prc"].consent(call_id, True)
    sync(us, prc)
    assert media["us"].signals(call_id)["recording"] == {"us": True, "prc": True}
    with pytest.raises(Conflict, match="p-bo has not joined"):
        media["us"].append_chunk(call_id, "p-bo", 0, b"x")
    media["us"].append_chunk(call_id, "p-alice", 0, b"webm-0")
    with pytest.raises(Conflict) as order:
        media["us"].append_chunk(call_id, "p-alice", 2, b"webm-2")
    assert order.value.field == "chunk"
    with pytest.raises(InvalidInput) as empty:
        media["us"].append_chunk(call_id, "p-alice", 1, b"")
    assert empty.value.field == "body"
    # prc turns it off: chunks already running go on, the file is signed at the end.
    media["prc"].consent(call_id, False)
    sync(us, prc)
    media["us"].append_chunk(call_id, "p-alice", 1, b"webm-1")
    path = media["us"].recordings / f"{call_id}-p-alice.webm"  # type: ignore[operator]
    assert path.read_bytes() == b"webm-0webm-1"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    signed = media["us"].finish_recording(call_id, "p-alice")
    assert signed is not None
    assert signed.body["sha256"] == hashlib.sha256(b"webm-0webm-1").hexdigest()
    assert signed.body["bytes"] == 12
    assert media["us"].finish_recording(call_id, "p-alice") is None  # once
    with pytest.raises(Conflict, match="signed already"):
        media["us"].append_chunk(call_id, "p-alice", 2, b"more")
    sync(us, prc)
    (held,) = media["prc"].signals(call_id)["recordings"]
    assert held["sha256"] == signed.body["sha256"] and held["from"] == "us"


def test_a_recording_file_for_a_call_not_both_consented_is_refused_on_receipt(
    recorded: tuple[dict[str, Side], dict[str, MediaService], str],
) -> None:
    sides, media, call_id = recorded
    us, prc = sides["us"], sides["prc"]
    media["us"].consent(call_id, True)
    sync(us, prc)
    body = {"call": call_id, "participant": "p-alice", "sha256": "ab" * 32, "bytes": 10}
    _raw(us, "prc", CALL_RECORDING_FILE, body)
    before = prc.count()
    with pytest.raises(InvalidStatement, match="never consented") as caught:
        carry(us, prc)
    assert caught.value.field == "body.call"
    assert prc.count() == before
    assert media["prc"].signals(call_id)["recordings"] == []


def test_a_bad_recording_file_body_is_refused_naming_the_field() -> None:
    good = {"call": "us-call-1", "participant": "p-a", "sha256": "ab" * 32, "bytes": 1}
    for change, field in [
        ({"sha256": "AB" * 32}, "body.sha256"),
        ({"bytes": 0}, "body.bytes"),
        ({"bytes": 200 * 1024 * 1024 + 1}, "body.bytes"),
    ]:
        with pytest.raises(InvalidStatement) as caught:
            validate_body(CALL_RECORDING_FILE, {**good, **change})
        assert caught.value.field == field


def test_a_recording_past_its_cap_is_refused_with_413_naming_the_body(
    recorded: tuple[dict[str, Side], dict[str, MediaService], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sides, media, call_id = recorded
    us, prc = sides["us"], sides["prc"]
    media["us"].consent(call_id, True)
    media["prc"].consent(call_id, True)
    sync(us, prc)
    monkeypatch.setattr("redline.service.media.MAX_RECORDING_BYTES", 10)
    media["us"].append_chunk(call_id, "p-alice", 0, b"0123456")
    with pytest.raises(PayloadTooLarge) as caught:
        media["us"].append_chunk(call_id, "p-alice", 1, b"7890")
    assert caught.value.status == 413 and caught.value.field == "body"
    path = media["us"].recordings / f"{call_id}-p-alice.webm"  # type: ignore[operator]
    assert path.read_bytes() == b"0123456"  # nothing of the refused chunk kept
    media["us"].append_chunk(call_id, "p-alice", 1, b"789")  # the same number, within the cap
