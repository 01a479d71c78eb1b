"""lldp/agent.py: 802.1AB tx/rx machines with lldpad's timing (lldp.md §4–§8)."""

from __future__ import annotations

from pathlib import Path

from qbg.evb.tlv import EvbTlv
from qbg.lldp.agent import (
    AdminStatus,
    LldpAgent,
    LldpTimers,
    NeighborAdded,
    NeighborAged,
    NeighborChanged,
    NeighborDeleted,
    TooManyNeighbors,
)
from qbg.lldp.events import FrameDropped, Output
from qbg.lldp.tlv import Lldpdu, build_lldpdu, encode_lldp_frame
from tests.helpers import Clock, Solo, read_pcap

STA = bytes.fromhex("020000005a01")
BRI = bytes.fromhex("02000000b001")
OTHER = bytes.fromhex("02000000c001")
NB = bytes.fromhex("0180c200000e")
EVB_HDR = bytes.fromhex("fe090080c20d")


def evb(hexstr: str) -> EvbTlv:
    return EvbTlv.decode(EVB_HDR + bytes.fromhex(hexstr))


def peer_frame(mac: bytes = BRI, ttl: int = 120, ev: str = "02 00 6e 54 14") -> bytes:
    return encode_lldp_frame(build_lldpdu(mac, ttl, (evb(ev),)), src=mac)


def started(clock: Clock, **kw: object) -> tuple[LldpAgent, Solo]:
    agent = LldpAgent(STA, **kw)  # type: ignore[arg-type]
    solo = Solo(clock, agent)
    solo.inject(agent.link_up(clock.now))
    clock.run_until(clock.now)  # the tick at the start time, if on the grid
    return agent, solo


def times(solo: Solo) -> list[float]:
    return [s.t / 1e6 for s in solo.wire]


def test_first_frame_byte_exact_vs_corpus(corpus: Path) -> None:
    frames = read_pcap(corpus / "std-evb22-coldstart.pcap")
    clock = Clock(2.15)
    _agent, solo = started(clock, tick_phase=0.15, local_tlvs=(evb("03 05 6e b4 34"),))
    clock.run_until(2.15)
    assert [s.frame for s in solo.wire] == [frames[3][1]]  # 60 octets, TTL 120, NCB
    assert len(solo.wire[0].frame) == 60


def test_slow_transmit_every_30_ticks() -> None:
    clock = Clock()
    agent, solo = started(clock)
    clock.run_until(95.0)
    assert times(solo) == [0.0, 30.0, 60.0, 90.0]
    assert agent.next_deadline() == 96.0  # every tick is a deadline


def test_local_change_fast_transmit_lldpad_deviation() -> None:
    clock = Clock()
    agent, solo = started(clock, tick_phase=0.5)
    clock.run_until(10.0)
    agent.timer(10.0)
    agent.set_local_tlvs((evb("00 07 6e 94 14"),))
    clock.run_until(50.0)
    # 0.5 first; change at 10 → next tick 10.5 plus 4 fast at 1-s spacing, then 30 s later.
    assert times(solo) == [0.5, 10.5, 11.5, 12.5, 13.5, 14.5, 44.5]


def test_several_changes_in_one_tick_give_one_frame() -> None:
    clock = Clock()
    agent, solo = started(clock)
    clock.run_until(5.0)
    agent.something_changed_local()
    agent.something_changed_local()
    clock.run_until(6.0)
    assert times(solo) == [0.0, 6.0]


def test_new_neighbor_fast_start() -> None:
    clock = Clock()
    agent, solo = started(clock)
    clock.run_until(5.0)
    out = agent.receive(peer_frame(), 5.2)
    assert isinstance(out.events[0], NeighborAdded)
    assert out.events[0].org_tlvs == (evb("02 00 6e 54 14"),)
    clock.run_until(40.0)
    # FAST_START (txFast 4) → EXPIRES consumes one: 4 frames at 1-s spacing, then slow.
    assert times(solo) == [0.0, 6.0, 7.0, 8.0, 9.0, 39.0]


def test_identical_frame_refreshes_ttl_only() -> None:
    clock = Clock()
    agent, _solo = started(clock)
    agent.receive(peer_frame(), 0.5)
    clock.run_until(100.5)
    assert agent.receive(peer_frame(), 100.5) == Output()
    assert agent.stats.identical == 1
    clock.run_until(101.5)
    out = agent.receive(peer_frame(ev="03 07 6e 74 34"), 101.5)
    assert isinstance(out.events[0], NeighborChanged)
    # Decoded LLDPDUs are accepted too; identical again
    pdu = Lldpdu.decode(peer_frame(ev="03 07 6e 74 34")[14:])
    assert agent.receive(pdu, 101.6) == Output()


def test_ttl_zero_deletes_at_once() -> None:
    clock = Clock()
    agent, _ = started(clock)
    agent.receive(peer_frame(), 0.5)
    clock.run_until(1.5)
    out = agent.receive(peer_frame(ttl=0), 1.5)
    assert [type(e) for e in out.events] == [NeighborDeleted]
    assert out.events[0].reason == "shutdown"  # type: ignore[attr-defined]
    assert agent.neighbor is None
    assert agent.receive(peer_frame(ttl=0), 1.6) == Output()


def test_s19_ageing_at_rx_plus_ttl() -> None:
    clock = Clock()
    agent, solo = started(clock)
    agent.receive(peer_frame(), 0.5)
    clock.run_until(120.4)
    assert not [e for _, e in solo.events if isinstance(e, NeighborAged)]
    clock.run_until(121.0)
    aged = [(t, e) for t, e in solo.events if isinstance(e, NeighborAged)]
    assert [t for t, _ in aged] == [121_000_000]  # first tick ≥ 0.5 + 120
    assert agent.neighbor is None and agent.stats.ageouts == 1


def test_too_many_neighbors_keeps_first() -> None:
    clock = Clock()
    agent, _ = started(clock)
    agent.receive(peer_frame(), 0.5)
    out = agent.receive(peer_frame(mac=OTHER), 0.6)
    assert [type(e) for e in out.events] == [TooManyNeighbors]
    assert agent.neighbor is not None and agent.neighbor.chassis_id.value == BRI


def test_s18_shutdown_pdu_and_reinit_delay(corpus: Path) -> None:
    frames = read_pcap(corpus / "std-lldp-shutdown.pcap")
    clock = Clock()
    agent, solo = started(clock, local_tlvs=(evb("03 05 6e b4 34"),))
    clock.run_until(3.5)
    out = solo.inject(agent.shutdown(3.5))
    assert out.frames == (frames[0][1],)  # Chassis, Port, TTL 0, End; no EVB; 60 octets
    clock.run_until(100.0)
    assert times(solo) == [0.0, 3.5]
    # re-enabled long after reinitDelay: first LLDPDU at the next tick
    solo.inject(agent.set_admin_status(AdminStatus.RXTX, 100.0))
    clock.run_until(101.0)
    assert times(solo)[-1] == 101.0
    agent2, solo2 = started(Clock())
    solo2.clock.run_until(0.2)
    solo2.inject(agent2.shutdown(0.2))
    solo2.inject(agent2.set_admin_status(AdminStatus.RXTX, 0.3))
    solo2.clock.run_until(5.0)
    # re-enabled at once: nothing before shutdown + reinitDelay (2.2 s) → tick 3
    assert times(solo2) == [0.0, 0.2, 3.0]


def test_link_down_up() -> None:
    clock = Clock()
    agent, solo = started(clock)
    agent.receive(peer_frame(), 0.5)
    clock.run_until(1.5)
    out = agent.link_down(1.5)
    assert out.frames == ()  # no shutdown PDU on link down
    assert [e.reason for e in out.events] == ["link down"]  # type: ignore[attr-defined]
    assert agent.next_deadline() is None
    assert agent.receive(peer_frame(), 2.0) == Output()  # port down: nothing
    solo.inject(agent.link_up(10.2))
    clock.run_until(11.5)
    assert times(solo) == [0.0, 1.0, 11.0]  # 1.0: fast start for the new neighbour
    out = agent.receive(peer_frame(), 11.6)
    assert isinstance(out.events[0], NeighborAdded)  # new neighbour again


def test_foreign_and_malformed_frames() -> None:
    clock = Clock()
    agent, _ = started(clock)
    nb_frame = encode_lldp_frame(build_lldpdu(BRI, 120), src=BRI, dst=NB)
    assert agent.receive(nb_frame, 0.5) == Output() and agent.stats.frames_ignored == 1
    bad = peer_frame()[:14] + bytes.fromhex("0407030200000000b001")  # Port ID first
    out = agent.receive(bad, 0.6)
    assert isinstance(out.events[0], FrameDropped) and agent.neighbor is None


def test_rx_only_agent_never_sends() -> None:
    clock = Clock()
    agent, solo = started(clock, admin_status=AdminStatus.RX_ONLY)
    clock.run_until(100.0)
    assert solo.wire == []
    assert isinstance(agent.receive(peer_frame(), 1.0).events[0], NeighborAdded)


def test_short_tick_configurable() -> None:
    clock = Clock()
    timers = LldpTimers(tick=0.01, msg_tx_interval=3)
    _agent, solo = started(clock, timers=timers)
    clock.run_until(0.1)
    assert times(solo) == [0.0, 0.03, 0.06, 0.09]
    assert Lldpdu.decode(solo.wire[0].frame[14:]).ttl == 12
