"""evb/port.py under a fake clock: scenarios S1 (cold start, and replay of the corpus bridge),
S18 (shutdown), S19 (ageing), S24 (runtime changes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbg.evb.negotiation import EvbConfig, EvbRole, Negotiated
from qbg.evb.port import EvbNegotiated, EvbPeerLost, EvbPort
from qbg.evb.tlv import EvbTlv
from qbg.lldp.events import Output
from qbg.lldp.tlv import Lldpdu
from tests.helpers import Clock, Link, Sent, read_pcap

STA = bytes.fromhex("020000005a01")
BRI = bytes.fromhex("02000000b001")
CORPUS_TIMERS: dict[str, Any] = {"r": 3, "rte": 14, "rwd": 20, "rka": 20}


def cfg(role: str, **kw: Any) -> EvbConfig:
    """Corpus policy (R3 RTE14 RWD20 RKA20, station RRREQ, bridge RRCAP) with overrides."""
    return EvbConfig(role=EvbRole(role), **{**CORPUS_TIMERS, **kw})


def ev(frame: bytes) -> str | None:
    tlv = Lldpdu.decode(frame[14:]).org(EvbTlv)
    return None if tlv is None else tlv.encode()[6:].hex(" ")


def make_pair(start_station: float = 2.15) -> tuple[Clock, Link, EvbPort, EvbPort]:
    """Bridge ticks at x.00 from t = 0, station at x.15 from ``start_station`` (S1 model)."""
    clock = Clock()
    station = EvbPort(STA, cfg("station"), tick_phase=0.15)
    bridge = EvbPort(BRI, cfg("bridge"), tick_phase=0.0)
    link = Link(clock, station, bridge)
    link.inject("b", bridge.link_up(0.0))
    clock.run_until(start_station - 0.001)
    link.inject("a", station.link_up(start_station))
    return clock, link, station, bridge


def seq(link: Link, side: str) -> list[tuple[float, str | None]]:
    return [(s.t / 1e6, ev(s.frame)) for s in link.frames(side)]


def test_s1_coldstart_pair_reproduces_corpus_sequence(corpus: Path) -> None:
    clock, link, station, bridge = make_pair()
    clock.run_until(8.5)
    b = seq(link, "b")
    s = seq(link, "a")
    assert b == [
        (0.0, "02 00 6e 54 14"),
        (3.0, "03 07 6e 74 34"),
        *[(float(t), "03 05 6e 74 34") for t in range(4, 9)],
    ]
    assert s == [
        (2.15, "00 07 6e 94 14"),
        *[(t + 0.15, "03 05 6e b4 34") for t in range(3, 9)],
    ]
    # Byte-exact against the capture (same MACs): the same 14 frames in the same order.
    frames = [f for _, f in read_pcap(corpus / "std-evb22-coldstart.pcap")]
    ours = sorted(link.wire, key=lambda x: x.t)
    assert [x.frame for x in ours] == frames
    assert all(len(x.frame) == 60 for x in ours)
    # Next slow transmissions ≈ 38 s (msgTxInterval after the last fast one).
    clock.run_until(40.0)
    assert [t for t, _ in seq(link, "b")][-1] == 38.0
    assert [t for t, _ in seq(link, "a")][-1] == 38.15
    for port in (station, bridge):
        op = port.negotiated
        assert op is not None
        assert (op.r, op.rte, op.rwd, op.rka, op.rr_enabled, op.group_ids) == (
            3, 14, 20, 20, True, False,
        )  # fmt: skip


def test_s1_negotiated_events() -> None:
    clock, link, _station, _bridge = make_pair()
    clock.run_until(8.5)
    ops = [e.negotiated for e in link.event_list("a", EvbNegotiated)]  # type: ignore[attr-defined]
    # local values at link up, then after the bridge's TLVs at 3.0 (RR granted).
    assert [o.rr_enabled for o in ops] == [False, True]
    assert ops[0].rrstat == 3 and ops[-1].rrstat == 1
    bops = [e.negotiated for e in link.event_list("b", EvbNegotiated)]  # type: ignore[attr-defined]
    assert [o.rr_enabled for o in bops] == [False, True]


def test_s1_replay_corpus_bridge_into_our_station(corpus: Path) -> None:
    frames = read_pcap(corpus / "std-evb22-coldstart.pcap")
    clock = Clock()
    station = EvbPort(STA, cfg("station"), tick_phase=0.148202)
    sent: list[Sent] = []

    class Replay:
        """Side "b": plays back the corpus bridge frames at their capture times."""

        def __init__(self) -> None:
            self.todo = [(t, f) for t, f in frames if f[6:12] == BRI]

        def receive(self, frame: bytes, now: float) -> Output:
            sent.append(Sent(round(now * 1e6), "a", frame))
            return Output()

        def timer(self, now: float) -> Output:
            out = []
            while self.todo and self.todo[0][0] <= now + 1e-9:
                out.append(self.todo.pop(0)[1])
            return Output(frames=tuple(out))

        def next_deadline(self) -> float | None:
            return self.todo[0][0] if self.todo else None

    link = Link(clock, station, Replay())
    clock.run_until(2.148202 - 0.0001)
    link.inject("a", station.link_up(2.148202))
    clock.run_until(8.5)
    lldpad_station = [ev(f) for _, f in frames if f[6:12] == STA]
    ours = [ev(s.frame) for s in link.frames("a")]
    assert ours == lldpad_station
    # byte-identical frames (same MAC as the capture's station)
    assert [s.frame for s in link.frames("a")] == [f for _, f in frames if f[6:12] == STA]


def test_s18_shutdown_received_forgets_peer() -> None:
    clock, link, station, bridge = make_pair()
    clock.run_until(10.0)
    link.inject("a", station.shutdown(10.0))
    clock.run_until(10.5)
    assert link.frames("a")[-1].frame[0x20:0x26].hex() == "060200000000"  # TTL 0, End
    lost = link.event_list("b", EvbPeerLost)
    assert [e.reason for e in lost] == ["shutdown"]  # type: ignore[attr-defined]
    assert bridge.peer is None
    # No LLDPDU triggered by the deletion itself; the next periodic one withdraws RRCTR.
    n = len(link.frames("b"))
    clock.run_until(38.5)
    later = seq(link, "b")[n:]
    assert later == [(38.0, "02 00 6e 54 14")]
    op = bridge.negotiated
    assert op is not None and not op.rr_enabled and not op.peer_seen


def test_s19_ageing_station_falls_back_to_rrstat_3() -> None:
    clock, link, _station, bridge = make_pair()
    clock.run_until(10.0)
    link.inject("b", bridge.link_down(10.0))  # bridge goes silent, no shutdown PDU
    clock.run_until(128.0)
    assert not link.event_list("a", EvbPeerLost)
    clock.run_until(128.2)
    # last bridge LLDPDU at 8.0 → aged at the first station tick ≥ 128.0, i.e. 128.15
    lost = [(t, e) for t, e in link.events["a"] if isinstance(e, EvbPeerLost)]
    assert [(t, e.reason) for t, e in lost] == [(128_150_000, "aged")]
    n = len(link.frames("a"))
    clock.run_until(160.0)
    assert seq(link, "a")[n:] == [(158.15, "00 07 6e 94 14")]


def test_s24a_rr_withdrawn() -> None:
    clock, link, _station, bridge = make_pair()
    clock.run_until(20.0)
    link.inject("b", bridge.set_config(cfg("bridge", rrcap=False), 20.0))
    clock.run_until(21.5)
    assert seq(link, "b")[-1] == (21.0, "00 05 6e 74 34")  # next tick, fast transmit
    assert seq(link, "a")[-1] == (21.15, "00 04 6e b4 34")
    ops: list[Negotiated] = [e.negotiated for e in link.event_list("a", EvbNegotiated)]  # type: ignore[attr-defined]
    assert not ops[-1].rr_enabled and ops[-1].rrstat == 0


def test_s24b_timer_change_adopted_with_fast_transmit() -> None:
    clock, link, station, bridge = make_pair()
    clock.run_until(20.0)
    new_cfg = cfg("station", rka=22)
    link.inject("a", station.set_config(new_cfg, 20.0))
    clock.run_until(26.0)
    s = seq(link, "a")
    assert s[-6:] == [
        (20.15, "03 05 6e b4 16"),
        *[(t + 0.15, "03 05 6e b4 36") for t in range(21, 26)],
    ]
    assert (21.0, "03 05 6e 74 36") in seq(link, "b")
    for port in (station, bridge):
        assert port.negotiated is not None and port.negotiated.keepalive_us == 41_943_040


def test_s24c_evb_disabled_removes_tlv() -> None:
    clock, link, station, _bridge = make_pair()
    clock.run_until(20.0)
    new_cfg = cfg("station", enabled=False)
    out = link.inject("a", station.set_config(new_cfg, 20.0))
    evs = [e for e in out.events if isinstance(e, EvbNegotiated)]
    assert evs and not evs[-1].negotiated.enabled and not evs[-1].negotiated.vdp
    clock.run_until(20.5)
    assert seq(link, "a")[-1] == (20.15, None)
    clock.run_until(21.5)
    assert [e.reason for e in link.event_list("b", EvbPeerLost)] == ["tlv removed"]  # type: ignore[attr-defined]


def test_link_down_up_renegotiates() -> None:
    clock, link, station, _bridge = make_pair()
    clock.run_until(10.0)
    out = link.inject("a", station.link_down(10.0))
    assert [e.reason for e in out.events if isinstance(e, EvbPeerLost)] == ["link down"]
    clock.run_until(12.0)
    link.inject("a", station.link_up(12.0))
    clock.run_until(14.5)
    s = seq(link, "a")
    assert s[-3:] == [
        (12.15, "00 07 6e 94 14"),
        (13.15, "03 05 6e b4 34"),
        (14.15, "03 05 6e b4 34"),
    ]
