"""``qbg sim``: a station port and a bridge port in memory, under a fake clock.

Both ends are the real protocol core (:class:`~qbg.vdp.port.StationPort`,
:class:`~qbg.vdp.port.BridgePort`) joined by a simulated link that delays every frame by
``--delay`` and loses the given fraction of frames in each direction.  The run starts cold
(LLDP/EVB negotiation), hands all N VSIs to the station at once as soon as the bridge's EVB TLV
has been heard, and ends when every VSI is associated or has given up (the station's response
wait expired after ECP exhausted its retries).  Nothing sleeps: simulated time jumps from one
deadline to the next, so a run that covers minutes of protocol time finishes in milliseconds.

Engineers use it to see what timers, loss and scale mean before touching a switch.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field

from .evb.negotiation import EvbConfig, EvbRole
from .lldp.events import Output
from .vdp.filters import FilterEntry
from .vdp.port import BridgePort, PortOptions, StationPort
from .vdp.station import VsiAssociated, VsiDeassociated
from .vdp.tlv import VdpTlvType, VsiIdFormat, VsiTlv, parse_mgrid

__all__ = ["SimResult", "main", "run"]

STATION_MAC = bytes.fromhex("020000005a01")
BRIDGE_MAC = bytes.fromhex("02000000b001")
MGRID = parse_mgrid("qbgsim")


@dataclass(slots=True)
class SimResult:
    vsis: int
    associated: int = 0
    given_up: int = 0
    ecp_pdus: int = 0
    round_trips: int = 0
    retransmits: int = 0
    give_ups: int = 0
    frames: int = 0
    frames_lost: int = 0
    negotiated_s: float = 0.0
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    rte: int = 0
    r: int = 0
    loss: float = 0.0
    pacing: str = "batched"
    seed: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        d = {k: getattr(self, k) for k in self.__slots__ if k != "extra"}
        d.update(self.extra)
        return d


def vsi_tlv(n: int) -> VsiTlv:
    """The n-th simulated VSI: UUID VSI ID, one MAC/VID filter entry (format 2)."""
    mac = bytes((0x02, 0xAA, (n >> 24) & 0xFF, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
    return VsiTlv(
        mode=VdpTlvType.ASSOC,
        status=0,
        type_id=5,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=uuid.UUID(int=(0x4000_8000 << 64) | (n + 1)).bytes,
        filter_format=2,
        filters=(FilterEntry(ps=False, pcp=0, vid=2 + n % 4093, mac=mac),),
    )


class _Wire:
    """Frames in flight: (arrival µs, order, destination, frame); loss drawn per frame."""

    def __init__(self, delay_us: int, loss: float, rng: random.Random) -> None:
        self.delay_us = delay_us
        self.loss = loss
        self.rng = rng
        self.heap: list[tuple[int, int, int, bytes]] = []
        self.order = 0
        self.sent = 0
        self.lost = 0

    def put(self, now_us: int, dest: int, out: Output) -> None:
        for frame in out.frames:
            self.sent += 1
            if self.loss and self.rng.random() < self.loss:
                self.lost += 1
                continue
            self.order += 1
            heapq.heappush(self.heap, (now_us + self.delay_us, self.order, dest, frame))


def run(
    vsis: int,
    *,
    rte: int = 8,
    r: int = 3,
    rwd: int = 20,
    rka: int = 20,
    loss: float = 0.0,
    seed: int = 0,
    pacing: str = "batched",
    mtu: int = 1500,
    delay: float = 0.0001,
    limit: float = 3600.0,
    progress: bool = False,
) -> SimResult:
    """Simulate one station/bridge pair until all ``vsis`` are associated or given up."""
    if vsis < 0:
        raise ValueError("vsis must be >= 0")
    if not 0.0 <= loss < 1.0:
        raise ValueError("loss must be in [0, 1)")
    wall0 = time.perf_counter()
    rng = random.Random(seed)
    lldpad = pacing == "lldpad"
    options = PortOptions(
        mtu=mtu,
        min_gap_ms=0.0,
        lldpad_compatible_pacing=lldpad,
        window=max(256, min(vsis, 4096)),
    )
    seq = rng.randrange(1, 0x10000)
    station = StationPort(
        "sim-station",
        STATION_MAC,
        EvbConfig(role=EvbRole.STATION, r=r, rte=rte, rwd=rwd, rka=rka),
        options,
        initial_seq=seq,
        rng=lambda: rng.randrange(1, 0x10000),
    )
    bridge = BridgePort(
        "sim-bridge",
        BRIDGE_MAC,
        EvbConfig(role=EvbRole.BRIDGE, r=r, rte=rte, rwd=rwd, rka=rka),
        options,
        initial_seq=rng.randrange(1, 0x10000),
        rng=lambda: rng.randrange(1, 0x10000),
    )
    ports = (station, bridge)
    wire = _Wire(round(delay * 1e6), loss, rng)
    res = SimResult(vsis=vsis, rte=rte, r=r, loss=loss, pacing=pacing, seed=seed)
    associated: set[object] = set()
    ended: set[object] = set()

    def absorb(side: int, out: Output) -> None:
        wire.put(now_us, 1 - side, out)
        if side == 0:
            for ev in out.events:
                if isinstance(ev, VsiAssociated):
                    associated.add(ev.key)
                elif isinstance(ev, VsiDeassociated):
                    ended.add(ev.key)

    now_us = 0
    absorb(1, bridge.link_up(0.0))
    absorb(0, station.link_up(0.0))
    handed = False
    t_start = 0
    end_us = round(limit * 1e6)
    next_report = 0.0
    while now_us <= end_us:
        if not handed and station.peer_seen:
            handed = True
            t_start = now_us
            res.negotiated_s = now_us / 1e6
            requests = [(MGRID, vsi_tlv(i)) for i in range(vsis)]
            out, errors = station.commands(requests, now_us / 1e6)
            absorb(0, out)
            ended.update(t.key(m) for (m, t), e in zip(requests, errors, strict=True) if e)
        if handed and len(associated | ended) >= vsis:
            break
        deadlines = [d for d in (p.next_deadline() for p in ports) if d is not None]
        nxt = min((round(d * 1e6) for d in deadlines), default=None)
        if wire.heap and (nxt is None or wire.heap[0][0] <= nxt):
            nxt = wire.heap[0][0]
        if nxt is None:
            break
        now_us = max(now_us, nxt)
        now = now_us / 1e6
        while wire.heap and wire.heap[0][0] <= now_us:
            _, _, dest, frame = heapq.heappop(wire.heap)
            absorb(dest, ports[dest].receive(frame, now))
        for side, port in enumerate(ports):
            d = port.next_deadline()
            if d is not None and round(d * 1e6) <= now_us:
                absorb(side, port.timer(now))
        if progress and time.perf_counter() >= next_report:
            next_report = time.perf_counter() + 1.0
            print(
                f"  t={now:9.4f}s associated {len(associated)}/{vsis}",
                file=sys.stderr,
                flush=True,
            )
    res.associated = len(associated)
    res.given_up = len(ended - associated) if handed else vsis
    res.sim_seconds = (now_us - t_start) / 1e6 if handed else 0.0
    st, br = station.ecp.stats, bridge.ecp.stats
    res.ecp_pdus = st.requests_sent + br.requests_sent
    res.round_trips = st.requests_sent
    res.retransmits = st.retransmissions + br.retransmissions
    res.give_ups = st.give_ups + br.give_ups
    res.frames = wire.sent
    res.frames_lost = wire.lost
    res.wall_seconds = round(time.perf_counter() - wall0, 6)
    res.extra = {
        "bridge_vsis": len(bridge.vdp),
        "vsis_per_pdu": round(vsis / st.requests_sent, 2) if st.requests_sent else 0.0,
        "mtu": mtu,
    }
    return res


def main(args: argparse.Namespace) -> int:
    try:
        res = run(
            args.vsis,
            rte=args.rte,
            r=args.r,
            rwd=args.rwd,
            rka=args.rka,
            loss=args.loss,
            seed=args.seed,
            pacing=args.pacing,
            mtu=args.mtu,
            progress=not args.json and args.vsis >= 20_000,
        )
    except ValueError as err:  # EncodeError included: out-of-range timers
        print(f"qbg sim: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res.as_dict()))
    else:
        print(
            f"qbg sim: {res.vsis} VSIs, R {res.r}, RTE {res.rte}, loss {res.loss:.0%}, "
            f"{res.pacing} pacing, seed {res.seed}"
        )
        print(f"  EVB negotiated after {res.negotiated_s:.4f} s (simulated)")
        print(
            f"  associated {res.associated}/{res.vsis} in {res.sim_seconds:.6f} s simulated"
            + (f", {res.given_up} gave up" if res.given_up else "")
        )
        print(
            f"  ECP: {res.round_trips} station round trips, {res.ecp_pdus} PDUs in all, "
            f"{res.retransmits} retransmissions, {res.give_ups} give-ups; "
            f"{res.frames_lost}/{res.frames} frames lost"
        )
        print(f"  wall clock {res.wall_seconds:.3f} s")
    return 0
