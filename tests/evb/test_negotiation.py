"""evb/negotiation.py against evb-tlv.md §1.1, §2.2–§2.5, §4.2–§4.3 and scenarios.md S1/S2.

Octet strings are EVB value octets 4..8 (after OUI and subtype), as the handbook writes them.
"""

from __future__ import annotations

import pytest

from qbg.evb.draft02 import DraftEvbTlv
from qbg.evb.negotiation import (
    EvbConfig,
    EvbRole,
    EvbVariant,
    Negotiated,
    advertise,
    draft_advertise,
    draft_negotiate,
    negotiate,
    operational,
)
from qbg.evb.tlv import EvbMode, EvbTlv
from qbg.lldp.errors import EncodeError

HDR = bytes.fromhex("fe090080c20d")


def octets(tlv: EvbTlv) -> str:
    raw = tlv.encode()
    assert raw[:6] == HDR  # always length exactly 9 (Q-L5)
    return raw[6:].hex(" ")


def evb(hexstr: str) -> EvbTlv:
    return EvbTlv.decode(HDR + bytes.fromhex(hexstr))


def station(**kw: object) -> EvbConfig:
    return EvbConfig(role=EvbRole.STATION, **kw)  # type: ignore[arg-type]


def bridge(**kw: object) -> EvbConfig:
    return EvbConfig(role=EvbRole.BRIDGE, **kw)  # type: ignore[arg-type]


CORPUS = {"r": 3, "rte": 14, "rwd": 20, "rka": 20}


def exchange(
    first: EvbConfig, second: EvbConfig, rounds: int = 3
) -> tuple[list[str], list[str], EvbTlv, EvbTlv]:
    """Both transmit once with nothing heard (neither has received the other yet), then
    ``first`` answers ``second``'s TLV and they alternate: the order of S1 and §2.4."""
    last_a = advertise(first, None)
    last_b = advertise(second, None)
    a_sent = [octets(last_a)]
    b_sent = [octets(last_b)]
    for _ in range(rounds - 1):
        last_a = advertise(first, last_b)
        a_sent.append(octets(last_a))
        last_b = advertise(second, last_a)
        b_sent.append(octets(last_b))
    return a_sent, b_sent, last_a, last_b


def test_s1_coldstart_sequence_byte_exact() -> None:
    # MANIFEST coldstart table / evb-tlv.md §1.1 / lldp.md §6.4: the bridge talks first.
    b_sent, s_sent, b_last, s_last = exchange(bridge(**CORPUS), station(**CORPUS))
    assert b_sent == ["02 00 6e 54 14", "03 07 6e 74 34", "03 05 6e 74 34"]
    assert s_sent == ["00 07 6e 94 14", "03 05 6e b4 34", "03 05 6e b4 34"]
    # Operational values after frame 4 on both sides (S1 Assert).
    for cfg, sent, peer in (
        (station(**CORPUS), s_last, b_last),
        (bridge(**CORPUS), b_last, s_last),
    ):
        op = operational(cfg, sent, peer)
        assert (op.r, op.rte, op.rwd, op.rka) == (3, 14, 20, 20)
        assert op.rr_enabled and not op.group_ids and op.peer_seen
        assert op.ack_timeout_us == 163_840
        assert op.response_wait_us == op.supervision_us == 17_448_960
        assert op.keepalive_us == op.resource_wait_us == 10_485_760


def test_coldstart_full_frame_value() -> None:
    # lldp.md §2: frame 4 TLV at 0x24 is `fe 09 00 80 c2 0d 03 05 6e b4 34`.
    tlv = advertise(station(**CORPUS), evb("03 07 6e 74 34"))
    assert tlv.encode() == bytes.fromhex("fe090080c20d03056eb434")


def test_asymmetric_example_section_2_4() -> None:
    s_cfg = station(r=3, rte=8, rwd=20, rka=20)
    b_cfg = bridge(**CORPUS)
    b_sent, s_sent, b_last, s_last = exchange(b_cfg, s_cfg)
    assert octets(advertise(s_cfg, None)) == "00 07 68 94 14"  # step 1
    assert octets(advertise(b_cfg, None)) == "02 00 6e 54 14"  # step 2
    assert b_sent[0] == "02 00 6e 54 14" and s_sent[0] == "00 07 68 94 14"
    assert b_sent[1] == "03 07 6e 74 34"  # step 3
    assert s_sent[1] == "03 05 6e b4 34"  # step 4
    assert b_sent[2] == "03 05 6e 74 34"  # step 5
    op = operational(s_cfg, s_last, b_last)
    assert (op.r, op.rte, op.rwd, op.rka, op.rr_enabled) == (3, 14, 20, 20, True)
    assert op.ack_timeout_us == 163_840


# scenarios.md S2 (station first: the second round is the steady state).
S2_CASES = [
    # id, station policy, bridge policy, station steady, bridge steady, check
    ("a", {"rte": 8}, {}, "03 05 6e b4 34", "03 05 6e 74 34", {"rte": 14}),
    ("c", {}, {"rrcap": False}, "00 04 6e b4 34", "00 04 6e 74 34", {"rr_enabled": False}),
    ("d", {"rrreq": False}, {}, "02 00 6e b4 34", "02 00 6e 74 34", {"rr_enabled": False}),
    ("e", {"gid": True}, {"gid": True}, "07 0d 6e b4 34", "07 0d 6e 74 34", {"group_ids": True}),
    ("f", {"gid": True}, {}, "03 0d 6e b4 34", "03 0d 6e 74 34", {"group_ids": False}),
    ("g", {"r": 5}, {}, "03 05 ae b4 34", "03 05 ae 74 34", {"r": 5}),
]


@pytest.mark.parametrize(
    ("case", "s_kw", "b_kw", "s_steady", "b_steady", "check"),
    S2_CASES,
    ids=[c[0] for c in S2_CASES],
)
def test_s2_variants(
    case: str,
    s_kw: dict[str, object],
    b_kw: dict[str, object],
    s_steady: str,
    b_steady: str,
    check: dict[str, object],
) -> None:
    s_cfg = station(**{**CORPUS, **s_kw})
    b_cfg = bridge(**{**CORPUS, **b_kw})
    b_sent, s_sent, b_last, s_last = exchange(b_cfg, s_cfg, rounds=4)
    assert s_sent[-1] == s_sent[-2] == s_steady
    assert b_sent[-1] == b_sent[-2] == b_steady
    for cfg, sent, peer in ((s_cfg, s_last, b_last), (b_cfg, b_last, s_last)):
        op = operational(cfg, sent, peer)
        for name, value in check.items():
            assert getattr(op, name) == value, (case, cfg.role, name)


def test_s2b_rwd_larger_at_station() -> None:
    # evb-tlv.md §2.4: the station sends 0x99 (ROL 0, RWD 25) and the bridge 0x79 (ROL 1).
    # Deviation noted: once the bridge echoes 25 the station's own 25 only *ties*, so by the
    # §2.2 algorithm ("ties give ROL 1", confirmed by the corpus) its later TLVs carry 0xb9.
    s_cfg = station(**{**CORPUS, "rwd": 25})
    b_cfg = bridge(**CORPUS)
    b_sent, s_sent, b_last, s_last = exchange(b_cfg, s_cfg)
    assert s_sent[0] == "00 07 6e 99 14"
    assert b_sent == ["02 00 6e 54 14", "03 07 6e 79 34", "03 05 6e 79 34"]
    assert s_sent[1:] == ["03 05 6e b9 34", "03 05 6e b9 34"]
    assert operational(s_cfg, s_last, b_last).rwd == operational(b_cfg, b_last, s_last).rwd == 25


@pytest.mark.parametrize(
    ("rrreq", "rrcap", "rrctr", "rrstat", "rr_on"),
    [(False, False, False, 0, False), (False, True, False, 0, False),
     (True, False, False, 0, False), (True, True, True, 1, True)],
)  # fmt: skip
def test_rr_outcome_table_2_5(
    rrreq: bool, rrcap: bool, rrctr: bool, rrstat: int, rr_on: bool
) -> None:
    s_cfg = station(**CORPUS, rrreq=rrreq)
    b_cfg = bridge(**CORPUS, rrcap=rrcap)
    _, _, b_last, s_last = exchange(b_cfg, s_cfg)
    assert b_last.rrctr is rrctr
    assert s_last.rrstat == rrstat
    assert operational(s_cfg, s_last, b_last).rr_enabled is rr_on
    assert operational(b_cfg, b_last, s_last).rr_enabled is rr_on


def test_rrstat_unknown_until_bridge_heard() -> None:
    tlv = advertise(station(**CORPUS), None)
    assert tlv.rrstat == 3 and tlv.bridge_status == 0
    op = operational(station(**CORPUS), tlv, None)
    assert op.rrstat == 3 and not op.rr_enabled and not op.peer_seen
    # Before any EVB TLV has been received, operational values are the local ones.
    assert (op.r, op.rte, op.rwd, op.rka) == (3, 14, 20, 20)


@pytest.mark.parametrize(
    ("sgid", "bgid", "usable"), [(True, True, True), (True, False, False), (False, True, False)]
)
def test_group_id_table(sgid: bool, bgid: bool, usable: bool) -> None:
    s_cfg, b_cfg = station(**CORPUS, gid=sgid), bridge(**CORPUS, gid=bgid)
    _, _, b_last, s_last = exchange(b_cfg, s_cfg)
    assert operational(s_cfg, s_last, b_last).group_ids is usable
    assert operational(b_cfg, b_last, s_last).group_ids is usable


def test_rol_rule_zero_quirk() -> None:
    # §2.2 note: a locally configured 0 ties with the all-zero peer and is sent with ROL 1.
    tlv = advertise(station(r=0, rte=0, rwd=0, rka=0), None)
    assert octets(tlv) == "00 07 00 a0 20"


def test_echo_is_verbatim_including_reserved_bits() -> None:
    peer_station = evb("00 f7 6e 94 14")  # reserved station bits set
    out = advertise(bridge(**CORPUS), peer_station)
    assert out.station_status == 0xF7
    peer_bridge = evb("fb 00 6e 54 14")  # reserved bridge bits + BGID + RRCAP + RRCTR
    out = advertise(station(**CORPUS), peer_bridge)
    assert out.bridge_status == 0xFB and out.rrstat == 1


def test_bridge_ignores_echoed_bridge_octet_station_ignores_echoed_station_octet() -> None:
    a = advertise(bridge(**CORPUS), evb("00 07 6e 94 14"))
    b = advertise(bridge(**CORPUS), evb("ff 07 6e 94 14"))
    assert a == b
    c = advertise(station(**CORPUS), evb("03 00 6e 54 14"))
    d = advertise(station(**CORPUS), evb("03 ff 6e 54 14"))
    assert c == d


def test_role_conflict_flagged_but_answered() -> None:
    s_cfg = station(**CORPUS)
    peer = evb("00 07 6e 94 14")  # another station
    sent, op = negotiate(s_cfg, peer)
    assert op.role_conflict
    assert sent.mode == EvbMode.STATION
    # mode 0 accepted (Q-L10)
    _, op0 = negotiate(s_cfg, evb("03 05 6e 34 34"))
    assert not op0.role_conflict and op0.peer_seen


def test_disabled_config() -> None:
    cfg = station(**CORPUS, enabled=False)
    _, op = negotiate(cfg, None)
    assert not op.enabled and not op.vdp and not op.ecp


def test_config_validation_and_strings() -> None:
    cfg = EvbConfig(role="bridge", variant="draft")  # type: ignore[arg-type]
    assert cfg.role is EvbRole.BRIDGE and cfg.variant is EvbVariant.DRAFT
    with pytest.raises(EncodeError):
        EvbConfig(r=8)
    with pytest.raises(EncodeError):
        EvbConfig(rka=32)
    with pytest.raises(ValueError):
        EvbConfig(role="switch")  # type: ignore[arg-type]


def test_negotiated_is_frozen() -> None:
    _, op = negotiate(station(), None)
    with pytest.raises(AttributeError):
        op.r = 5  # type: ignore[misc]
    assert isinstance(op, Negotiated)


# --- draft 0.2 (evb-tlv.md §4) ------------------------------------------------------------------

DRAFT_HDR = bytes.fromhex("fe0d001b3f00")


def d_octets(tlv: DraftEvbTlv) -> str:
    raw = tlv.encode()
    assert raw[:6] == DRAFT_HDR
    return raw[6:].hex(" ")


def test_draft_example_4_3() -> None:
    cfg = EvbConfig(role="station", variant="draft", fmode=0x40, capabilities=0x07, rte=15)  # type: ignore[arg-type]
    assert d_octets(draft_advertise(cfg, None)) == "40 07 40 00 00 00 00 00 0f"
    peer = DraftEvbTlv(
        supported_mode=0xC0, supported_caps=0x07, configured_mode=0x40, configured_caps=0x07,
        supported_vsis=3295, configured_vsis=0, rte=20,
    )  # fmt: skip
    sent, op = draft_negotiate(cfg, peer, vsi_count=1)
    assert d_octets(sent) == "40 07 40 07 0c df 00 01 14"
    assert op.variant is EvbVariant.DRAFT and op.ecp and op.vdp and op.rr_enabled
    assert op.rte == 20 and op.r == 2
    assert op.ack_timeout_us == 500_000 and op.response_wait_us == 3_000_000
    assert op.keepalive_us == 10_000_000


def test_draft_s22_converges() -> None:
    cfg_s = EvbConfig(role="station", variant="draft", fmode=0x40, capabilities=7, rte=15)  # type: ignore[arg-type]
    cfg_b = EvbConfig(role="bridge", variant="draft", fmode=0x40, capabilities=7, rte=15)  # type: ignore[arg-type]
    a = draft_advertise(cfg_s, None)
    b = draft_advertise(cfg_b, a)
    a2 = draft_advertise(cfg_s, b)
    assert (b.configured_mode, b.configured_caps) == (0x40, 0x07)
    assert (a2.configured_mode, a2.configured_caps) == (0x40, 0x07)


def test_draft_std_only_and_no_caps() -> None:
    cfg = EvbConfig(variant="draft", fmode=0x80, capabilities=0)  # type: ignore[arg-type]
    peer = DraftEvbTlv(supported_mode=0xC0, supported_caps=0x07, rte=20)
    sent, op = draft_negotiate(cfg, peer)
    assert sent.configured_mode == 0x80 and sent.configured_caps == 0
    assert sent.rte == cfg.rte  # RTE capability not supported locally: own value
    assert (sent.supported_vsis, sent.configured_vsis) == (0, 0)
    assert not op.vdp and not op.rr_enabled


def test_draft_bad_peer_mode_keeps_previous() -> None:
    cfg = EvbConfig(variant="draft")  # type: ignore[arg-type]
    prev = draft_advertise(cfg, None)
    bad = DraftEvbTlv(supported_mode=0x00, supported_caps=0x07, rte=20)
    assert draft_advertise(cfg, bad, previous=prev) is prev
