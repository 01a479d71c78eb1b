"""VDP bridge machine: vdp.md §11.2 table, scenarios S3–S9, S13–S15, S23, S25, S26 (bridge
side) and replays of lldpad's station requests against lldpad's bridge answers."""

from __future__ import annotations

import dataclasses

import pytest

from qbg.lldp.errors import LocalError
from qbg.lldp.events import Output
from qbg.vdp.bridge import (
    BridgeState,
    RemoveReason,
    VdpBridge,
    VsiAdded,
    VsiChanged,
    VsiRemoved,
    VsiRequestRefused,
)
from qbg.vdp.policy import Decision, PolicyRequest, TypeDbPolicy, VsiType
from qbg.vdp.tlv import FilterEntry, Vdpdu, VsiTlv

from .test_station import (
    KA,
    MGR,
    REPLAYS,
    SUPERV,
    TIMERS,
    _ecp_requests,
    events,
    key,
    pdu,
    preload,
    sent_tlvs,
    vsi,
)


def bridge(**kw: object) -> VdpBridge:
    return VdpBridge(**{**TIMERS, **kw})  # type: ignore[arg-type]


def ask(br: VdpBridge, tlv: VsiTlv, t: float) -> tuple[Output, bytes | None]:
    out = br.receive_ulpdu(pdu(tlv), t)
    return out, br.pull(1493, t)


def status_of(wire: bytes | None) -> tuple[int, int]:
    [tlv] = sent_tlvs(wire)
    return int(tlv.mode), tlv.status


class Refuse:
    """A policy that refuses everything with ``code`` (and ``hard``)."""

    def __init__(self, code: int = 2, hard: bool = False, only_mode: int | None = None) -> None:
        self.code, self.hard, self.only_mode = code, hard, only_mode

    def decide(self, req: PolicyRequest) -> Decision:
        if self.only_mode is not None and req.mode != self.only_mode:
            return Decision.accept(req.filters)
        return Decision.refuse(self.code, hard=self.hard)

    def bound(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        pass

    def released(self, port: str, key: object) -> None:
        pass


# --- S3 / S4 / S5 / S6 / S7 --------------------------------------------------------------------


def test_s3_new_vsi_accepted_echo_and_supervision() -> None:
    br = bridge(port="p1")
    a = vsi(1)
    out, wire = ask(br, a, 1.064936)
    assert events(out) == [VsiAdded(port="p1", key=key(a), mode=3, filters=a.filters)]
    assert wire == pdu(dataclasses.replace(a, status=0x40))
    assert br.state(key(a)) is BridgeState.ASSOCIATED
    assert br.next_deadline() == pytest.approx(1.064936 + SUPERV, abs=1e-6)
    assert br.pull(1493, 2) is None


def test_s4_preassoc_assoc_deassoc_and_s7_no_late_deassociate() -> None:
    br = bridge()
    p = vsi(2, 200, mode=1)
    out, wire = ask(br, p, 0.0)
    assert events(out) == [VsiAdded(port="", key=key(p), mode=1, filters=p.filters)]
    assert status_of(wire) == (1, 0x40)
    out, wire = ask(br, dataclasses.replace(p, mode=3), 2.045826)
    assert events(out) == [VsiChanged(port="", key=key(p), old_mode=1, mode=3, filters=p.filters)]
    assert status_of(wire) == (3, 0x40)
    out, wire = ask(br, dataclasses.replace(p, mode=4), 4.068659)
    assert events(out) == [
        VsiRemoved(port="", key=key(p), mode=3, filters=p.filters, reason=RemoveReason.STATION)
    ]
    assert status_of(wire) == (4, 0x40)
    assert len(br) == 0 and br.next_deadline() is None
    assert br.timer(4.07 + 2 * SUPERV) == Output() and br.pull(1493, 50) is None


def test_s5_preassoc_rr_state_and_downgrade() -> None:
    br = bridge()
    p = vsi(3, mode=2)
    ask(br, p, 0)
    assert br.state(key(p)) is BridgeState.PREASSOCIATED_RR
    ask(br, dataclasses.replace(p, mode=3), 1)
    out, wire = ask(br, dataclasses.replace(p, mode=1), 2)  # downgrade 3 -> 1 allowed
    assert events(out) == [VsiChanged(port="", key=key(p), old_mode=3, mode=1, filters=p.filters)]
    assert br.state(key(p)) is BridgeState.PREASSOCIATED and status_of(wire) == (1, 0x40)


def test_s6_keepalive_restarts_supervision_without_events() -> None:
    br = bridge()
    a = vsi(4, 400)
    _, first = ask(br, a, 0.0)
    t = 0.0
    for _ in range(11):
        t += 10.4909
        out, wire = ask(br, a, t)
        assert out == Output() and wire == first
        assert br.next_deadline() == pytest.approx(t + SUPERV, abs=1e-6)
        assert br.timer(t) == Output()
    assert br.stats.keepalives == 11


def test_s8_supervision_timeout_sends_unsolicited_deassociate() -> None:
    br = bridge()
    a = vsi(32, 702, mac=bytes.fromhex("02aa00000020"))
    ask(br, a, 0.0)
    assert br.timer(SUPERV - 1e-6) == Output()
    out = br.timer(SUPERV)
    assert events(out) == [
        VsiRemoved(port="", key=key(a), mode=3, filters=a.filters, reason=RemoveReason.SUPERVISION)
    ]
    wire = br.pull(1493, SUPERV)
    # vdp.md §5.4 hex, frame offset 0x12 onwards, plus the End TLV.
    assert wire == bytes.fromhex(
        "0a10 706b6d6772 0000000000000000000000"
        "0821 00 000005 04 05 00000000000040008000000000000032"
        "02 0001 02aa00000020 02be"
        "0000"
    )
    assert len(br) == 0 and br.next_deadline() is None


def test_s9_withdraw_and_hard_withdraw() -> None:
    br = bridge()
    a = vsi(5)
    ask(br, a, 0)
    out = br.withdraw(key(a), 1.0)  # type: ignore[arg-type]
    assert [type(e) for e in out.events] == [VsiRemoved]
    assert status_of(br.pull(1493, 1.0)) == (4, 0x00)
    with pytest.raises(LocalError):
        br.withdraw(key(a), 2.0)  # type: ignore[arg-type]
    br2 = bridge(hard_withdraw=True)
    ask(br2, a, 0)
    br2.withdraw(key(a), 1.0)  # type: ignore[arg-type]
    assert status_of(br2.pull(1493, 1.0)) == (4, 0x14)


def test_revalidate_withdraws_what_the_policy_now_refuses() -> None:
    db = TypeDbPolicy({(5, 4): VsiType()})
    br = bridge(policy=db)
    ask(br, vsi(1), 0)
    ask(br, dataclasses.replace(vsi(2), type_id=6), 0)
    assert len(br) == 1
    db.types.clear()
    out = br.revalidate(1.0)
    assert [e.reason for e in events(out, VsiRemoved)] == [RemoveReason.WITHDRAWN]  # type: ignore[attr-defined]
    assert status_of(br.pull(1493, 1.0)) == (4, 0x00)


# --- S13 refusals, K, H; filter changes --------------------------------------------------------


def test_s13b_policy_refuses_new_vsi() -> None:
    br = bridge(policy=Refuse(2))
    out, wire = ask(br, vsi(1), 0)
    assert status_of(wire) == (3, 0x42) and len(br) == 0
    assert events(out) == [
        VsiRequestRefused(port="", key=key(vsi(1)), mode=3, code=2, keep=False, hard=False)
    ]
    br = bridge(policy=Refuse(2, hard=True))
    assert status_of(ask(br, vsi(1), 0)[1]) == (3, 0x52)


def test_s13c_refused_mode_change_keeps_state_with_k() -> None:
    br = bridge(policy=Refuse(3, only_mode=3))
    p = vsi(1, mode=1)
    ask(br, p, 0)
    out, wire = ask(br, dataclasses.replace(p, mode=3), 1)
    assert status_of(wire) == (3, 0x63)
    assert br.state(key(p)) is BridgeState.PREASSOCIATED
    assert events(out, VsiRequestRefused)[0].keep  # type: ignore[attr-defined]
    assert br.next_deadline() == pytest.approx(1 + SUPERV, abs=1e-6)


def test_known_vsi_filter_change_is_refused_with_keep() -> None:
    br = bridge()
    a = vsi(1)
    ask(br, a, 0)
    changed = dataclasses.replace(a, filters=(FilterEntry(vid=101, mac=a.filters[0].mac),))
    _, wire = ask(br, changed, 1)
    assert status_of(wire) == (3, 0x65)
    assert br.vsi(key(a)) == a  # type: ignore[arg-type]
    assert br.stats.filter_mismatch == 1


def test_s25_keep_refusal_then_deassociate_releases() -> None:
    br = bridge()
    a = vsi(1)
    ask(br, a, 0)
    out, wire = ask(br, dataclasses.replace(a, mode=4), KA)
    assert status_of(wire) == (4, 0x40) and events(out, VsiRemoved)
    assert len(br) == 0


# --- S14 wildcard assignment -------------------------------------------------------------------


def test_s14_wildcard_vid_and_pcp_assignment() -> None:
    br = bridge(policy=TypeDbPolicy({(5, 4): VsiType(wildcard_vid=300, pcp=3)}))
    a = vsi(1, vid=0)
    out, wire = ask(br, a, 0)
    assert wire is not None and wire[-4:] == bytes.fromhex("b12c0000")
    given = (FilterEntry(vid=300, ps=True, pcp=3, mac=a.filters[0].mac),)
    assert events(out) == [VsiAdded(port="", key=key(a), mode=3, filters=given)]
    # keep-alive with the adopted entries, and a re-sent wildcard: both answered with b1 2c
    assert ask(br, dataclasses.replace(a, filters=given), 10)[1] == wire
    assert ask(br, a, 20)[1] == wire
    assert br.stats.keepalives == 2


def test_s14_group_variant_maps_groupid_to_vid() -> None:
    policy = TypeDbPolicy({(5, 4): VsiType(group_vids={0x12345: 300})})
    br = bridge(policy=policy, group_ids=True)
    mac = bytes.fromhex("525400123456")
    a = dataclasses.replace(
        vsi(1), filter_format=4, filters=(FilterEntry(vid=0, mac=mac, group_id=0x12345),)
    )
    _, wire = ask(br, a, 0)
    assert wire is not None and wire[-14:] == bytes.fromhex("00012345525400123456012c0000")
    no_gpid = bridge(policy=policy)
    assert status_of(ask(no_gpid, a, 0)[1]) == (3, 0x42)


def test_allowall_echoes_wildcard_like_lldpad() -> None:
    br = bridge()
    a = vsi(1, vid=0)
    assert ask(br, a, 0)[1] == pdu(dataclasses.replace(a, status=0x40))


# --- S15 / S23 / S26 ---------------------------------------------------------------------------


def test_unknown_vsi_deassociate_is_answered_statelessly() -> None:
    br = bridge()
    out, wire = ask(br, vsi(9, mode=4), 0)
    assert out == Output() and status_of(wire) == (4, 0x40) and len(br) == 0


def test_bridge_ignores_responses() -> None:
    br = bridge()
    out, wire = ask(br, dataclasses.replace(vsi(1), status=0x40), 0)
    assert out == Output() and wire is None and br.stats.unexpected == 1


def test_s23_replies_one_per_vdpdu_or_batched() -> None:
    three = pdu(vsi(1), vsi(2), vsi(3))
    br = bridge()
    br.receive_ulpdu(three, 0)
    walls = [br.pull(1493, 0) for _ in range(4)]
    assert walls[3] is None
    assert [len(sent_tlvs(w)) for w in walls[:3]] == [1, 1, 1]
    batched = bridge(batch_replies=True)
    batched.receive_ulpdu(three, 0)
    w = batched.pull(1493, 0)
    assert [t.status for t in sent_tlvs(w)] == [0x40] * 3 and batched.pull(1493, 0) is None
    assert Vdpdu.decode(w or b"").has_end


def _raw_vsi(value: bytes, mode: int = 3) -> bytes:
    return (
        bytes.fromhex("0a10")
        + MGR
        + bytes([mode << 1 | len(value) >> 8, len(value) & 0xFF])
        + value
    )


def _value(tlv: VsiTlv) -> bytes:
    return tlv.encode()[2:]


MULTICAST = bytes.fromhex("01005e000001")


@pytest.mark.parametrize(
    ("request_pdu", "default", "strict"),
    [
        (_raw_vsi(_value(vsi(1))[:-1] + b"\x00\x00"), None, None),  # length != 25 + N·E
        (_raw_vsi(_value(dataclasses.replace(vsi(1), filters=()))), 0x42, 0x41),  # N = 0
        (pdu(dataclasses.replace(vsi(1), vsiid_format=7)), 0x42, 0x41),  # VSI ID format 7
        (_raw_vsi(_value(vsi(1))[:22] + bytes([5, 0, 1])), 0x42, 0x41),  # filter format 5
        (pdu(vsi(1, mac=MULTICAST)), 0x42, 0x45),  # IP multicast MAC
        (pdu(vsi(1, vid=4095)), 0x42, 0x45),  # VID 4095
        (_value(vsi(1)), None, None),  # missing Manager ID: PDU dropped
    ],
)
def test_s26_requests_the_bridge_cannot_take(
    request_pdu: bytes, default: int | None, strict: bool | None
) -> None:
    for br, want in ((bridge(), default), (bridge(strict_error_codes=True), strict)):
        br.receive_ulpdu(request_pdu, 0)
        wire = br.pull(1493, 0)
        if want is None:
            assert wire is None
        else:
            assert wire is not None and wire[20] == want
            echo = Vdpdu.decode(wire, lenient=True).tlvs[1].encode()[3:]
            assert request_pdu[21:].startswith(echo)
        assert len(br) == 0


def test_many_vsis_cheap_supervision() -> None:
    br = bridge()
    for i in range(1, 3001):
        br.receive_ulpdu(pdu(vsi(i, mac=bytes([2, 0xAA, 0, 0, i >> 8, i & 0xFF]))), 0.0)
    assert len(br) == 3000
    for rnd in range(1, 4):
        for i in range(1, 3001):
            br.receive_ulpdu(pdu(vsi(i, mac=bytes([2, 0xAA, 0, 0, i >> 8, i & 0xFF]))), rnd * KA)
    assert len(br._heap) <= 3 * len(br) + 64
    removed = br.timer(3 * KA + SUPERV)
    assert len(events(removed, VsiRemoved)) == 3000


# --- corpus replay: lldpad's station side into our bridge ---------------------------------------


@pytest.mark.parametrize("name", REPLAYS)
def test_replay_lldpad_station_into_qbg_bridge(name: str) -> None:
    frames = _ecp_requests(name)
    br = bridge()
    for tlv in preload(name):
        br.receive_ulpdu(pdu(tlv), frames[0][0] - 1.0)
        br.pull(1493, 0)
    ours: list[tuple[float, bytes]] = []
    theirs: list[tuple[float, bytes]] = []
    last_seq = None

    def run_until(t: float) -> None:
        while (d := br.next_deadline()) is not None and d <= t:
            br.timer(d)
            while (w := br.pull(1493, d)) is not None:
                ours.append((d, w))

    for t, side, f in frames:
        assert f.vdpdu is not None
        run_until(t)
        if side == "S":
            br.receive_vdpdu(f.vdpdu, t)
            while (w := br.pull(1493, t)) is not None:
                ours.append((t, w))
        elif f.ecpdu.seq != last_seq:
            last_seq = f.ecpdu.seq
            theirs.append((t, f.vdpdu.encode()))
    run_until(frames[-1][0] + 1.0)
    assert [w for _, w in ours] == [w + b"\x00\x00" for _, w in theirs]
    for (t_ours, _), (t_theirs, _) in zip(ours, theirs, strict=True):
        # lldpad answers 2.2–2.4 ms after the request; its supervision runs from its reply,
        # ours from the request (vdp.md §11.2: qbg answers at once).
        assert t_theirs - 0.005 <= t_ours <= t_theirs
    if name == "std-vdp22-deassoc":
        assert len(br) == 0  # qbg deletes at once (lldpad keeps it: Q-B7)


def test_restore_answers_the_next_keepalive_as_a_known_vsi() -> None:
    """A restarted bridge agent restores its VSIs: the next keep-alive is answered 0x40 without
    a new VsiAdded, and a VSI whose station is gone is removed by supervision."""
    import uuid as _uuid

    from qbg.vdp.bridge import VdpBridge, VsiAdded, VsiRemoved
    from qbg.vdp.filters import FilterEntry
    from qbg.vdp.tlv import Vdpdu, VdpTlvType, VsiTlv, parse_mgrid

    mgrid = parse_mgrid("pkmgr")

    def tlv(n: int) -> VsiTlv:
        return VsiTlv(
            mode=VdpTlvType.ASSOC,
            status=0,
            type_id=5,
            type_version=4,
            vsiid_format=5,
            vsiid=_uuid.UUID(f"00000000-0000-4000-8000-{n:012d}").bytes,
            filter_format=2,
            filters=(FilterEntry(ps=False, pcp=0, vid=100, mac=bytes([2, 0xAA, 0, 0, 0, n])),),
        )

    bridge = VdpBridge(port="p", rte=14)
    bridge.restore(mgrid, tlv(1), 0.0)
    bridge.restore(mgrid, tlv(2), 0.0)
    assert len(bridge) == 2
    out = bridge.receive_vdpdu(Vdpdu.build(mgrid, [tlv(1)]), 1.0)
    assert not [e for e in out.events if isinstance(e, VsiAdded)]
    reply = bridge.pull(1500, 1.0)
    assert reply is not None
    answered = Vdpdu.decode(reply).vsis
    assert len(answered) == 1 and answered[0].status == 0x40
    out = bridge.timer(1.0 + bridge.supervision_us / 1e6 - 0.5)
    removed = [e.key for e in out.events if isinstance(e, VsiRemoved)]
    assert removed == [tlv(2).key(mgrid)]
    assert len(bridge) == 1
