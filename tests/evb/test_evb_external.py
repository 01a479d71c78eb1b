"""EvbPort / StationPort / BridgePort with external LLDP (lldpd carries the EVB TLV).

Two external-mode ports are joined by a fake "lldpd" that relays each published TLV to the other
side after a delay, as lldpd's custom TLV + ``watch`` path does.  The TLVs must be the very
octets of the corpus cold start (std-evb22-coldstart.pcap), which our own agent reproduces
frame by frame in test_evb_port.py: everything above LLDP is the same machine.
"""

from __future__ import annotations

import heapq
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from qbg.evb.draft02 import DraftEvbTlv
from qbg.evb.negotiation import EvbConfig, EvbRole, EvbVariant
from qbg.evb.port import EvbAdvertise, EvbNegotiated, EvbPeerLost, EvbPort
from qbg.evb.tlv import EvbTlv
from qbg.lldp.agent import LldpTimers
from qbg.lldp.events import EMPTY, Event, FrameDropped, Output
from qbg.lldp.frame import NEAREST_CUSTOMER_BRIDGE, EthernetFrame, EtherType
from qbg.lldp.tlv import build_lldpdu
from qbg.vdp.bridge import VsiAdded
from qbg.vdp.filters import FilterEntry
from qbg.vdp.port import BridgePort, PortOptions, StationPort
from qbg.vdp.station import VsiAssociated
from qbg.vdp.tlv import VdpTlvType, VsiIdFormat, VsiTlv, parse_mgrid
from tests.helpers import US, Clock, Link, us

STA = bytes.fromhex("020000005a01")
BRI = bytes.fromhex("02000000b001")
CORPUS: dict[str, Any] = {"r": 3, "rte": 14, "rwd": 20, "rka": 20}


def cfg(role: str, **kw: Any) -> EvbConfig:
    return EvbConfig(role=EvbRole(role), **{**CORPUS, **kw})


def octets(tlv: EvbTlv | DraftEvbTlv | None) -> str | None:
    return None if tlv is None else tlv.encode_info().hex(" ")


class Port:
    """What the relay needs from either an EvbPort or a composed port."""

    def __init__(self, m: Any) -> None:
        self.m = m

    def feed(self, tlv: bytes | None, now: float, reason: str) -> Output:
        if isinstance(self.m, EvbPort):
            return self.m.peer_tlv(tlv, now, reason=reason)
        out: Output = self.m.evb_peer(tlv, now, reason=reason)
        return out


@dataclass
class FakeLldpd:
    """Relays every EvbAdvertise of one side to the other after ``delay`` seconds, as octets
    (what ``lldpcli watch`` reports), and records what each side published."""

    clock: Clock
    ports: dict[str, Port]
    delay: float = 0.01
    link: Link | None = None
    published: dict[str, list[tuple[float, str | None]]] = field(
        default_factory=lambda: {"a": [], "b": []}
    )
    events: dict[str, list[Event]] = field(default_factory=lambda: {"a": [], "b": []})
    _q: list[tuple[int, int, str, bytes | None]] = field(default_factory=list)
    _n: int = 0

    def __post_init__(self) -> None:
        self.clock.attach(self)

    def out(self, side: str, out: Output) -> None:
        """Record ``side``'s output: frames go to the link (if any), adverts to the relay."""
        if self.link is not None:
            self.link.inject(side, Output(frames=out.frames))
        else:
            assert not [f for f in out.frames if f[12:14] == b"\x88\xcc"], "no LLDP frames"
        for ev in out.events:
            self.events[side].append(ev)
            if isinstance(ev, EvbAdvertise):
                self.published[side].append((self.clock.now, octets(ev.tlv)))
                info = None if ev.tlv is None else ev.tlv.encode_info()
                self._n += 1
                dst = "b" if side == "a" else "a"
                heapq.heappush(self._q, (self.clock.now_us + us(self.delay), self._n, dst, info))

    def next_deadline_us(self) -> int | None:
        return self._q[0][0] if self._q else None

    def step(self, now_us: int) -> None:
        while self._q and self._q[0][0] <= now_us:
            _, _, dst, info = heapq.heappop(self._q)
            self.out(dst, self.ports[dst].feed(info, now_us / US, "tlv removed"))


def evb_pair(delay: float = 0.01) -> tuple[Clock, FakeLldpd, EvbPort, EvbPort]:
    clock = Clock()
    station = EvbPort(STA, cfg("station"), lldp_external=True)
    bridge = EvbPort(BRI, cfg("bridge"), lldp_external=True)
    relay = FakeLldpd(clock, {"a": Port(station), "b": Port(bridge)}, delay=delay)
    return clock, relay, station, bridge


def test_coldstart_octets_match_the_corpus() -> None:
    clock, relay, station, bridge = evb_pair()
    relay.out("b", bridge.link_up(0.0))
    clock.run_until(2.15)
    relay.out("a", station.link_up(2.15))
    clock.run_until(5.0)
    # Bridge: nothing heard, RRCTR granted (echoing 07), steady (echoing 05) — corpus frames
    # 1, 3, 5; station: nothing heard, then RRSTAT 1 — frames 2, 4.
    assert [o for _, o in relay.published["b"]] == [
        "02 00 6e 54 14",
        "03 07 6e 74 34",
        "03 05 6e 74 34",
    ]
    assert [o for _, o in relay.published["a"]] == ["00 07 6e 94 14", "03 05 6e b4 34"]
    # One relay hop per change: the whole negotiation takes 3 hops after the station's start.
    assert relay.published["b"][-1][0] == pytest.approx(2.15 + 3 * 0.01)
    for port in (station, bridge):
        op = port.negotiated
        assert op is not None and op.peer_seen
        assert (op.r, op.rte, op.rwd, op.rka, op.rr_enabled) == (3, 14, 20, 20, True)
    # External mode: no ticks, no frames.
    assert station.next_deadline() is None and bridge.next_deadline() is None
    assert station.timer(10.0) == EMPTY


def test_not_started_port_hears_nothing() -> None:
    port = EvbPort(STA, cfg("station"), lldp_external=True)
    assert port.peer_tlv(bytes.fromhex("02 00 6e 54 14"), 0.0) == EMPTY
    assert port.peer is None


def test_same_octets_as_own_agent_negotiation() -> None:
    """Own agents over a frame link and external ports over the relay send the same TLVs."""
    from qbg.lldp.tlv import Lldpdu

    clock = Clock()
    own_s = EvbPort(STA, cfg("station"), tick_phase=0.15)
    own_b = EvbPort(BRI, cfg("bridge"))
    link = Link(clock, own_s, own_b)
    link.inject("b", own_b.link_up(0.0))
    clock.run_until(2.149)
    link.inject("a", own_s.link_up(2.15))
    clock.run_until(8.5)

    def distinct(side: str) -> list[str]:
        seen: list[str] = []
        for s in link.frames(side):
            tlv = Lldpdu.decode(s.frame[14:]).org(EvbTlv)
            o = octets(tlv)
            if o is not None and (not seen or seen[-1] != o):
                seen.append(o)
        return seen

    clock2, relay, station, bridge = evb_pair()
    relay.out("b", bridge.link_up(0.0))
    relay.out("a", station.link_up(0.0))
    clock2.run_until(1.0)
    # Started together, the station also hears the bridge's "nothing heard" TLV first; what
    # both end up sending is the same as with our own agent.
    assert relay.published["a"][-1][1] == distinct("a")[-1]
    assert relay.published["b"][-1][1] == distinct("b")[-1]
    assert station.negotiated == own_s.negotiated
    assert bridge.negotiated == own_b.negotiated


def test_peer_loss_and_renegotiation() -> None:
    clock, relay, station, bridge = evb_pair()
    relay.out("b", bridge.link_up(0.0))
    relay.out("a", station.link_up(0.0))
    clock.run_until(1.0)
    assert station.negotiated is not None and station.negotiated.rr_enabled
    # lldpd reports the bridge's neighbour gone (TTL 0 / aged): same as NeighborDeleted.
    out = station.peer_tlv(None, 1.0, reason="shutdown")
    kinds = [type(e) for e in out.events]
    assert EvbPeerLost in kinds and EvbNegotiated in kinds and EvbAdvertise in kinds
    lost = [e for e in out.events if isinstance(e, EvbPeerLost)]
    assert lost[0].reason == "shutdown"
    adv = [e for e in out.events if isinstance(e, EvbAdvertise)]
    assert octets(adv[0].tlv) == "00 07 6e 94 14"  # back to RRSTAT 3, own values, ROL 0
    assert station.peer_tlv(None, 1.1) == EMPTY  # nothing stored: nothing happens
    # The bridge's TLV again: renegotiated at once.
    assert bridge.advertised is not None
    out = station.peer_tlv(bridge.advertised, 1.2)
    assert station.negotiated is not None and station.negotiated.rr_enabled
    assert [octets(e.tlv) for e in out.events if isinstance(e, EvbAdvertise)] == ["03 05 6e b4 34"]
    # The same TLV again (lldpd re-reporting an unchanged neighbour): nothing.
    assert station.peer_tlv(bridge.advertised.encode_info(), 1.3) == EMPTY


def test_bad_octets_are_dropped_other_variant_ignored() -> None:
    port = EvbPort(STA, cfg("station"), lldp_external=True)
    port.link_up(0.0)
    out = port.peer_tlv(b"\x01\x02", 0.1)
    assert [type(e) for e in out.events] == [FrameDropped]
    assert port.peer is None
    draft = DraftEvbTlv(
        supported_mode=0x40,
        supported_caps=7,
        configured_mode=0x40,
        configured_caps=7,
        supported_vsis=10,
        configured_vsis=0,
        rte=8,
    )
    assert port.peer_tlv(draft, 0.2) == EMPTY


def test_draft_variant_over_the_relay() -> None:
    clock = Clock()
    s = EvbPort(STA, EvbConfig(role=EvbRole.STATION, variant=EvbVariant.DRAFT), lldp_external=True)
    b = EvbPort(BRI, EvbConfig(role=EvbRole.BRIDGE, variant=EvbVariant.DRAFT), lldp_external=True)
    relay = FakeLldpd(clock, {"a": Port(s), "b": Port(b)})
    relay.out("b", b.link_up(0.0))
    relay.out("a", s.link_up(0.0))
    clock.run_until(1.0)
    assert s.negotiated is not None and s.negotiated.peer_seen
    assert b.negotiated is not None and b.negotiated.peer_seen
    assert isinstance(s.advertised, DraftEvbTlv)


def test_shutdown_link_down_disable_and_frames_ignored() -> None:
    port = EvbPort(STA, cfg("station"), lldp_external=True)
    up = port.link_up(0.0)
    assert up.frames == ()
    assert [octets(e.tlv) for e in up.events if isinstance(e, EvbAdvertise)] == ["00 07 6e 94 14"]
    # An LLDPDU (e.g. lldpd's, seen on the raw socket) is not ours to process.
    pdu = build_lldpdu(BRI, 120, [EvbTlv.decode_info(bytes.fromhex("0200 6e54 14"), 0)])
    frame = EthernetFrame(
        dst=NEAREST_CUSTOMER_BRIDGE, src=BRI, ethertype=EtherType.LLDP, payload=pdu.encode()
    ).encode()
    assert port.receive(frame, 0.5) == EMPTY
    port.peer_tlv(bytes.fromhex("03 07 6e 74 34"), 1.0)
    assert port.peer is not None
    down = port.link_down(2.0)
    assert [e.reason for e in down.events if isinstance(e, EvbPeerLost)] == ["link down"]
    assert down.frames == ()
    # Link up again: the TLV is published again even though it did not change.
    again = port.link_up(3.0)
    assert [type(e) for e in again.events].count(EvbAdvertise) == 1
    # Disabled EVB: nothing to publish, the peer is ignored.
    off = port.set_config(cfg("station", enabled=False), 4.0)
    assert [e.tlv for e in off.events if isinstance(e, EvbAdvertise)] == [None]
    assert port.peer_tlv(bytes.fromhex("03 07 6e 74 34"), 4.1) == EMPTY
    on = port.set_config(cfg("station"), 5.0)
    assert [octets(e.tlv) for e in on.events if isinstance(e, EvbAdvertise)] == ["00 07 6e 94 14"]
    assert port.pending_advertise() == EMPTY
    bye = port.shutdown(6.0)
    assert bye.frames == () and [e.tlv for e in bye.events if isinstance(e, EvbAdvertise)] == [None]


def test_own_mode_emits_no_advertise() -> None:
    port = EvbPort(STA, cfg("station"))
    out = port.link_up(0.0)
    assert not [e for e in out.events if isinstance(e, EvbAdvertise)]
    assert port.pending_advertise() == EMPTY
    assert port.next_deadline() is not None  # our own agent ticks and transmits


# --- composed ports: EVB over the relay, ECP/VDP over the frame link -----------------------------

MGRID = parse_mgrid("pkmgr")


def vsi(n: int) -> VsiTlv:
    return VsiTlv(
        mode=VdpTlvType.ASSOC,
        status=0,
        type_id=5,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=uuid.UUID(f"00000000-0000-4000-8000-{n:012d}").bytes,
        filter_format=2,
        filters=(FilterEntry(ps=False, pcp=0, vid=100, mac=bytes([2, 0xAA, 0, 0, 0, n])),),
    )


def test_station_and_bridge_ports_associate_over_the_relay() -> None:
    clock = Clock()
    opts = PortOptions(lldp_external=True, vdp_hold=30.0, lldp_timers=LldpTimers())
    station = StationPort("sta0", STA, cfg("station"), opts, initial_seq=0x1000)
    bridge = BridgePort("brp0", BRI, cfg("bridge"), opts, initial_seq=0x2000)
    link = Link(clock, station, bridge, delay=0.0001)
    relay = FakeLldpd(clock, {"a": Port(station), "b": Port(bridge)}, delay=0.02, link=link)
    relay.out("b", bridge.link_up(clock.now))
    relay.out("a", station.link_up(clock.now))
    # Requested before the bridge's EVB TLV arrived: held, then sent once it is in.
    relay.out("a", station.associate(MGRID, vsi(1), clock.now))
    assert not [s for s in link.wire if s.side == "a"]
    clock.run_until(1.0)
    assert station.negotiated is not None and station.negotiated.rr_enabled
    assert bridge.negotiated is not None and bridge.negotiated.rr_enabled
    assoc = [e for _, e in link.events["a"] if isinstance(e, VsiAssociated)]
    assoc += [e for e in relay.events["a"] if isinstance(e, VsiAssociated)]
    added = [e for _, e in link.events["b"] if isinstance(e, VsiAdded)]
    added += [e for e in relay.events["b"] if isinstance(e, VsiAdded)]
    assert len(assoc) == 1 and len(added) == 1
    # Only ECP on the wire; an LLDP frame reaching the port is counted and ignored.
    assert {EthernetFrame.decode(s.frame).ethertype for s in link.wire} == {0x8940}
    pdu = build_lldpdu(BRI, 120, [])
    frame = EthernetFrame(
        dst=NEAREST_CUSTOMER_BRIDGE, src=BRI, ethertype=EtherType.LLDP, payload=pdu.encode()
    ).encode()
    before = station.frames_other
    assert station.receive(frame, clock.now) == EMPTY
    assert station.frames_other == before + 1
    # Peer reports while the port is down are ignored.
    station.link_down(clock.now)
    assert station.evb_peer(None, clock.now) == EMPTY
