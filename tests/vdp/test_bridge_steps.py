"""The bridge's VDP work in steps (issue #7): ``accept_ulpdu`` + ``work(limit)`` answer exactly
what ``receive_ulpdu`` answers, a PDU's replies are held until its last request is answered,
and a BridgePort acks an ECPDU that arrives between the steps of a 42-VSI batch at once."""

from __future__ import annotations

import dataclasses

from qbg.evb.ecpdu import Ecpdu, EcpOp, EcpSubtype
from qbg.lldp.events import FrameDropped
from qbg.lldp.frame import NEAREST_CUSTOMER_BRIDGE, EthernetFrame
from qbg.vdp.bridge import VdpBridge, VsiAdded, VsiRemoved
from qbg.vdp.tlv import MalformedVsiTlv, Vdpdu

from .test_port_pair import MGRID, STATION_MAC, pair
from .test_port_pair import vsi as port_vsi
from .test_station import MGR, SUPERV, TIMERS, pdu, sent_tlvs, vsi


def bridge(**kw: object) -> VdpBridge:
    return VdpBridge(**{**TIMERS, "batch_replies": True, **kw})  # type: ignore[arg-type]


def drain(br: VdpBridge, t: float) -> list[bytes]:
    out = []
    while (wire := br.pull(1493, t)) is not None:
        out.append(wire)
    return out


def test_steps_answer_what_one_call_answers() -> None:
    tlvs = [vsi(n) for n in range(1, 11)]
    whole = bridge(port="p")
    ev_whole = whole.receive_ulpdu(pdu(*tlvs), 1.0).events
    stepped = bridge(port="p")
    assert stepped.accept_ulpdu(pdu(*tlvs), 1.0).events == ()
    assert stepped.has_work() and not stepped.has_pending()
    ev_steps = []
    for _ in range(3):
        ev_steps += list(stepped.work(1.0, 4).events)
        if stepped.has_work():
            assert stepped.pull(1493, 1.0) is None  # the PDU's replies wait for its end
    assert not stepped.has_work() and stepped.has_pending()
    assert ev_steps == list(ev_whole)
    assert drain(stepped, 1.0) == drain(whole, 1.0)  # one packed reply PDU, same octets
    assert stepped.state(tlvs[0].key(MGR)) is whole.state(tlvs[0].key(MGR))


def test_replies_of_a_finished_pdu_go_while_the_next_is_worked_on() -> None:
    br = bridge()
    br.accept_ulpdu(pdu(vsi(1), vsi(2)), 1.0)
    br.accept_ulpdu(pdu(vsi(3), vsi(4)), 1.0)
    br.work(1.0, 3)  # the first PDU and one request of the second
    [first] = drain(br, 1.0)
    assert [t.vsiid for t in sent_tlvs(first)] == [vsi(1).vsiid, vsi(2).vsiid]
    assert br.has_work() and not br.has_pending()
    br.work(1.0)  # 0: everything left
    [second] = drain(br, 1.0)
    assert [t.vsiid for t in sent_tlvs(second)] == [vsi(3).vsiid, vsi(4).vsiid]


def test_a_supervision_reply_during_a_pdu_waits_with_it() -> None:
    br = bridge()
    br.receive_ulpdu(pdu(vsi(1)), 1.0)
    drain(br, 1.0)
    t = 1.0 + SUPERV + 0.1
    br.accept_ulpdu(pdu(vsi(2), vsi(3)), t)
    br.work(t, 1)
    out = br.timer(t)
    assert [type(e) for e in out.events] == [VsiRemoved]
    assert br.pull(1493, t) is None
    br.work(t)
    wires = drain(br, t)
    assert [int(x.mode) for w in wires for x in sent_tlvs(w)] == [3, 4, 3]  # queue order kept


def test_bad_pdus_malformed_tlvs_and_responses_in_steps() -> None:
    br = bridge()
    out = br.accept_ulpdu(b"\x0a\x05junk", 1.0)
    assert [type(e) for e in out.events] == [FrameDropped] and not br.has_work()
    assert br.stats.dropped_pdus == 1
    good = vsi(1)
    answered = dataclasses.replace(vsi(2), status=0x40)  # a response sent to a bridge: ignored
    raw = bytearray(pdu(good, answered))
    # a VSI TLV with an unknown filter format (otherwise complete): answered as invalid
    bad = MalformedVsiTlv(tlv_type=3, value=bytes(vsi(3).encode()[2:24]) + b"\x09" + bytes(2))
    ulpdu = bytes(raw[:-2]) + bad.encode() + b"\x00\x00"
    br.accept_ulpdu(ulpdu, 1.0)
    events = br.work(1.0, 1).events + br.work(1.0, 1).events + br.work(1.0, 1).events
    assert [type(e) for e in events] == [VsiAdded]
    assert br.stats.unexpected == 1 and br.stats.invalid == 1
    wire = br.pull(1493, 1.0)
    assert wire is not None
    tlvs = Vdpdu.decode(wire, lenient=True).tlvs
    assert [type(t).__name__ for t in tlvs[1:]] == ["VsiTlv", "MalformedVsiTlv", "VdpEndTlv"]


def test_drop_replies_forgets_held_ones_too() -> None:
    br = bridge()
    br.accept_ulpdu(pdu(vsi(1), vsi(2)), 1.0)
    br.work(1.0, 1)
    assert br.drop_replies() == 1
    br.work(1.0)
    assert [t.vsiid for w in drain(br, 1.0) for t in sent_tlvs(w)] == [vsi(2).vsiid]


def test_wire_is_the_cached_reply_that_restore_takes_back() -> None:
    br = bridge()
    a = vsi(1)
    br.receive_ulpdu(pdu(a), 1.0)
    wire = br.wire(a.key(MGR))
    assert wire is not None and wire[2] == 0x40  # status octet of the reply
    assert br.wire(vsi(9).key(MGR)) is None
    other = bridge()
    from qbg.vdp.tlv import VsiTlv

    other.restore(MGR, VsiTlv.decode(wire), 2.0)
    assert other.vsi(a.key(MGR)) == br.vsi(a.key(MGR))


def _request(seq: int, first: int, n: int) -> bytes:
    body = Vdpdu.build(MGRID, [port_vsi(i) for i in range(first, first + n)]).encode()
    ecpdu = Ecpdu(op=EcpOp.REQUEST, subtype=EcpSubtype.VDP, seq=seq, payload=body)
    return EthernetFrame(
        dst=NEAREST_CUSTOMER_BRIDGE, src=STATION_MAC, ethertype=0x8940, payload=ecpdu.encode()
    ).encode()


def _ecp(frame: bytes) -> Ecpdu:
    return Ecpdu.decode(EthernetFrame.decode(frame).payload)


def test_bridge_port_acks_a_pdu_arriving_between_work_steps() -> None:
    """While the bridge works through one 42-VSI PDU, the next request ECPDU is acked at once;
    the first PDU's 42 replies still leave together, in one ECPDU, after its last step."""
    clock, _link, _station, br = pair()
    clock.run_until(3.0)  # negotiated
    t = clock.now
    out = br.receive(_request(0x100, 1, 42), t)
    assert [(_ecp(f).op, _ecp(f).seq) for f in out.frames] == [(EcpOp.ACK, 0x100)]
    assert br.next_deadline() == t
    assert br.timer(t).frames == ()  # decode: a step of its own
    assert br.vdp.has_work() and br.next_deadline() == t
    assert br.timer(t).frames == ()  # the first WORK_STEP requests
    out = br.receive(_request(0x101, 43, 42), t)  # arrives meanwhile: acked now
    assert [(_ecp(f).op, _ecp(f).seq) for f in out.frames] == [(EcpOp.ACK, 0x101)]
    replies: list[Ecpdu] = []
    steps = 0
    while not replies:
        replies = [_ecp(f) for f in br.timer(t).frames if _ecp(f).op == EcpOp.REQUEST]
        steps += 1
    assert br.work_step == 12  # RTE 8: 2.56 ms ack timer
    assert steps == -(-(42 - br.work_step) // br.work_step)  # the remaining steps
    [reply] = replies
    vdpdu = Vdpdu.decode(reply.payload)
    assert len(vdpdu.vsis) == 42 and all(v.status == 0x40 for v in vdpdu.vsis)
    assert len(br.vdp) == 42 and br._inbox  # the second PDU comes next


def test_work_step_follows_the_ack_timer() -> None:
    from qbg.evb.negotiation import EvbConfig, EvbRole
    from qbg.vdp.port import BridgePort

    assert BridgePort("p", bytes(6), EvbConfig(role=EvbRole.BRIDGE, rte=8)).work_step == 12
    slow = BridgePort("p", bytes(6), EvbConfig(role=EvbRole.BRIDGE, rte=14))
    assert slow.work_step == 163840 // 200  # whole PDUs, decoded in the same step


def test_known_keepalive_octets_are_not_decoded_again(monkeypatch: object) -> None:
    import pytest

    from qbg.vdp import bridge as bridge_module

    br = bridge()
    tlvs = [vsi(n) for n in range(1, 6)]
    br.accept_ulpdu(pdu(*tlvs), 1.0)
    br.work(1.0)
    drain(br, 1.0)
    calls = []
    real = bridge_module.VsiTlv.decode_value

    def counting(*args: object, **kw: object) -> object:
        calls.append(args)
        return real(*args, **kw)  # type: ignore[arg-type]

    mp = pytest.MonkeyPatch()
    mp.setattr(bridge_module.VsiTlv, "decode_value", counting)
    try:
        br.accept_ulpdu(pdu(*tlvs), 2.0)
        out = br.work(2.0)
    finally:
        mp.undo()
    assert calls == [] and out.events == () and br.stats.keepalives == 5
    [wire] = drain(br, 2.0)
    assert [t.status for t in sent_tlvs(wire)] == [0x40] * 5


def _random_requests(seed: int, n: int = 400) -> list[tuple[float, list[object]]]:
    """Requests a confused or hostile station might send: keep-alives, mode changes, other
    filters for a known VSI, de-associations, responses, repeats; with pauses long enough
    for supervision to expire now and then."""
    import random

    rnd = random.Random(seed)
    t = 1.0
    out: list[tuple[float, list[object]]] = []
    for _ in range(n):
        t += rnd.choice((0.001, 0.01, 0.5, SUPERV / 2, SUPERV + 1))
        batch: list[object] = []
        for _ in range(rnd.randint(1, 6)):
            k = rnd.randint(1, 6)
            mode = rnd.choice((1, 2, 3, 3, 3, 4))
            vid = rnd.choice((100, 100, 100, 200, 0))
            status = rnd.choice((0, 0, 0, 0x40, 0x10))
            batch.append(vsi(k, vid=vid, mode=mode, status=status))
        out.append((t, batch))
    return out


def test_steps_and_keepalive_octets_match_the_one_call_machine_on_random_traffic() -> None:
    """Differential: the stepped bridge (octet-cached keep-alives, held replies) gives the same
    events, replies, states and counters as ``receive_ulpdu`` on random request sequences."""
    from qbg.vdp.policy import AllowAll, Bindings

    for seed in range(12):
        a = bridge(policy=AllowAll(vid=300, bindings=Bindings()), group_ids=False)
        b = bridge(policy=AllowAll(vid=300, bindings=Bindings()), group_ids=False)
        for t, batch in _random_requests(seed):
            ev_a = list(a.timer(t).events) + list(a.receive_ulpdu(pdu(*batch), t).events)
            ev_b = list(b.timer(t).events)
            b.accept_ulpdu(pdu(*batch), t)
            while b.has_work():
                ev_b += list(b.work(t, 2).events)
            assert ev_a == ev_b, seed
            assert drain(a, t) == drain(b, t), seed
        assert dataclasses.asdict(a.stats) == dataclasses.asdict(b.stats)
        assert {k: (a.state(k), a.vsi(k)) for k in a} == {k: (b.state(k), b.vsi(k)) for k in b}
        if seed % 3 == 0:  # group-ID support switched on: validation changes, octets forgotten
            a.set_timers(r=3, rte=14, rwd=20, rka=20, group_ids=True)
            b.set_timers(r=3, rte=14, rwd=20, rka=20, group_ids=True)
            assert not b._raw


def test_whole_pdus_per_step_at_a_long_ack_timer() -> None:
    """RTE 14 (164 ms ack timer): a PDU is decoded and answered in one step; its keep-alives
    are recognised by their octets; a PDU without an End TLV ends with its last TLV."""
    from qbg.evb.negotiation import EvbConfig, EvbRole
    from qbg.vdp.port import BridgePort, StationPort
    from tests.helpers import Clock, Link

    clock = Clock()
    station = StationPort(
        "sta0", STATION_MAC, EvbConfig(role=EvbRole.STATION, rte=14), initial_seq=0x1000
    )
    br = BridgePort("brp0", bytes.fromhex("02000000b001"), EvbConfig(role=EvbRole.BRIDGE, rte=14))
    link = Link(clock, station, br, delay=0.0001)
    link.inject("b", br.link_up(clock.now))
    link.inject("a", station.link_up(clock.now))
    clock.run_until(3.0)
    assert br.work_step > 64
    out, _ = station.commands([(MGRID, port_vsi(i)) for i in range(1, 31)], clock.now)
    link.inject("a", out)
    clock.run_until(4.0)
    assert len(br.vdp) == 30
    t = clock.now
    no_end = Vdpdu.build(MGRID, [port_vsi(1), port_vsi(2)], end=False).encode()
    br.vdp.accept_ulpdu(no_end, t)
    assert br.vdp.work(t).events == () and br.vdp.stats.keepalives == 2


def test_a_keepalive_in_the_backlog_beats_its_supervision_deadline() -> None:
    """A host that gets to its work late (a busy loop, a QEMU guest) must not expire a VSI whose
    keep-alive arrived before the deadline: supervision waits until the backlog is worked
    through, and the keep-alive then restarts it."""
    clock, link, station, br = pair()
    clock.run_until(3.0)
    link.inject("a", station.associate(MGRID, port_vsi(1), clock.now))
    clock.run_until(3.1)
    assert len(br.vdp) == 1
    deadline = br.vdp.next_deadline()
    assert deadline is not None
    # the station's keep-alive (the same request again) arrives just before the deadline ...
    t_in = deadline - 0.001
    out = br.receive(_request(0x300, 1, 1), t_in)
    assert [_ecp(f).op for f in out.frames] == [EcpOp.ACK]
    # ... and the bridge's loop gets to it only a second later
    late = deadline + 1.0
    expired_before = br.vdp.stats.supervision_expired
    while br.next_deadline() is not None and br.next_deadline() <= late:  # type: ignore[operator]
        out = br.timer(late)
        if not br._inbox and not br.vdp.has_work() and not out.frames:
            break
    assert br.vdp.stats.supervision_expired == expired_before
    assert len(br.vdp) == 1, "the keep-alive that arrived in time kept the VSI"
    # with no keep-alive at all, the VSI does expire
    br.timer(late + 2 * (deadline - 3.1) + 60)
    assert br.vdp.stats.supervision_expired == expired_before + 1
