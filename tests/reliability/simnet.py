"""An in-memory station/bridge pair on a lossy, fault-injecting wire under a fake clock.

The reliability tests use it for the figures that need many keep-alive periods and exact
accounting (every VSI, every request, every ECP try) — things a netns run can only sample.
Both ends are the real core (:class:`~qbg.vdp.port.StationPort`, :class:`~qbg.vdp.port.BridgePort`
with a shared policy); the wire delays frames by ``delay`` and drops them by a :class:`LossModel`.

``Net.retry_s`` mimics the station daemon (station/daemon.py ``RETRY_S``): a VSI that ended
without the bridge refusing it (response-wait timeout) is requested again after that delay.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from qbg.evb.ecp import EcpGaveUp
from qbg.evb.negotiation import EvbConfig, EvbRole
from qbg.lldp.events import Event, Output
from qbg.vdp.bridge import VsiAdded, VsiChanged, VsiRemoved
from qbg.vdp.events import DeassocReason
from qbg.vdp.filters import FilterEntry
from qbg.vdp.policy import Policy
from qbg.vdp.port import BridgePort, PortOptions, StationPort
from qbg.vdp.station import VsiDeassociated
from qbg.vdp.tlv import VdpTlvType, VsiIdFormat, VsiKey, VsiTlv, parse_mgrid

MGRID = parse_mgrid("pkmgr")
STATION_MAC = bytes.fromhex("020000005a01")
BRIDGE_MAC = bytes.fromhex("02000000b001")


def vsi(n: int, mode: int = VdpTlvType.ASSOC, vid: int | None = None) -> VsiTlv:
    mac = bytes((0x02, 0xAA, 0, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
    return VsiTlv(
        mode=mode,
        status=0,
        type_id=5,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=uuid.UUID(int=(0x4000_8000 << 64) | n).bytes,
        filter_format=2,
        filters=(FilterEntry(ps=False, pcp=0, vid=vid or 100 + n % 3000, mac=mac),),
    )


class LossModel:
    """Random loss ``p`` per frame and direction.

    With ``covered`` the loss stays within what R retries cover: the (1 + R)-th transmission of
    an ECP request, and the acks of its sequence number, always get through, so every ECPDU
    is delivered and acknowledged within 1 + R tries; all other frames (first tries,
    retransmissions, acks, LLDP) are dropped at random with probability ``p``.
    """

    def __init__(self, p: float, *, r: int = 3, covered: bool = True, seed: int = 0) -> None:
        self.p = p
        self.r = r
        self.covered = covered
        self.rng = random.Random(seed)
        self.tries: Counter[tuple[int, int, bytes]] = Counter()
        self.must_ack: set[tuple[int, int]] = set()
        self.dropped = 0
        self.passed = 0

    def drop(self, src: int, frame: bytes) -> bool:
        if self.covered and len(frame) >= 18 and frame[12:14] == b"\x89\x40":
            op = (frame[14] >> 2) & 0x3
            seq = int.from_bytes(frame[16:18], "big")
            if op == 0:
                k = (src, seq, frame[18:])
                self.tries[k] += 1
                if self.tries[k] >= 1 + self.r:
                    self.must_ack.add((1 - src, seq))
                    return self._count(False)
            elif (src, seq) in self.must_ack:
                return self._count(False)
        return self._count(self.p > 0 and self.rng.random() < self.p)

    def _count(self, dropped: bool) -> bool:
        if dropped:
            self.dropped += 1
        else:
            self.passed += 1
        return dropped


@dataclass
class Net:
    """Station (side 0) and bridge (side 1) on one simulated link."""

    loss: LossModel = field(default_factory=lambda: LossModel(0.0))
    r: int = 3
    rte: int = 8
    rwd: int = 14
    rka: int = 17
    delay: float = 0.0002
    policy: Policy | None = None
    retry_s: float | None = 5.0
    seed: int = 0
    now_us: int = 0
    events: list[tuple[int, float, Event]] = field(default_factory=list)
    link_ok: bool = True
    cut: set[int] = field(default_factory=set)  # sides whose sent frames vanish (silence)
    bridge_name: str = "br"
    min_gap_ms: float = 0.0
    window: int = 4096  # the daemons: min_gap_ms 3.0, window 256 (PortOptions defaults)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        opts = PortOptions(min_gap_ms=self.min_gap_ms, vdp_hold=5.0, window=self.window)
        cfg = {"r": self.r, "rte": self.rte, "rwd": self.rwd, "rka": self.rka}
        self.station = StationPort(
            "sta",
            STATION_MAC,
            EvbConfig(role=EvbRole.STATION, **cfg),
            opts,
            initial_seq=self.rng.randrange(1, 0x10000),
            rng=lambda: self.rng.randrange(1, 0x10000),
        )
        self.bridge = BridgePort(
            self.bridge_name,
            BRIDGE_MAC,
            EvbConfig(role=EvbRole.BRIDGE, **cfg),
            opts,
            policy=self.policy,
            initial_seq=self.rng.randrange(1, 0x10000),
            rng=lambda: self.rng.randrange(1, 0x10000),
        )
        self.heap: list[tuple[int, int, int, bytes]] = []
        self.order = 0
        self.retries: list[tuple[int, VsiKey]] = []
        self.wanted: dict[VsiKey, VsiTlv] = {}
        self.on_event: Callable[[int, Event], None] | None = None
        self.put(1, self.bridge.link_up(0.0))
        self.put(0, self.station.link_up(0.0))

    @property
    def now(self) -> float:
        return self.now_us / 1e6

    def port(self, side: int) -> StationPort | BridgePort:
        return self.station if side == 0 else self.bridge

    def put(self, side: int, out: Output) -> None:
        for ev in out.events:
            self.events.append((side, self.now, ev))
            if (
                side == 0
                and isinstance(ev, VsiDeassociated)
                and self.retry_s is not None
                and ev.reason in (DeassocReason.TIMEOUT, DeassocReason.TX_REFUSED)
                and ev.key in self.wanted
            ):
                self.retries.append((self.now_us + round(self.retry_s * 1e6), ev.key))
            if self.on_event is not None:
                self.on_event(side, ev)
        for frame in out.frames:
            if side in self.cut or not self.link_ok or self.loss.drop(side, frame):
                continue
            self.order += 1
            heapq.heappush(self.heap, (self.now_us + round(self.delay * 1e6), self.order,
                                       1 - side, frame))  # fmt: skip

    def run_until(self, t: float) -> None:
        end = round(t * 1e6)
        while True:
            ds = (self.station.next_deadline(), self.bridge.next_deadline())
            cands = [round(d * 1e6) for d in ds if d is not None]
            if self.heap:
                cands.append(self.heap[0][0])
            if self.retries:
                cands.append(min(r[0] for r in self.retries))
            nxt = min(cands, default=None)
            if nxt is None or nxt > end:
                self.now_us = max(self.now_us, end)
                return
            self.now_us = max(self.now_us, nxt)
            now = self.now
            while self.heap and self.heap[0][0] <= self.now_us:
                _, _, dest, frame = heapq.heappop(self.heap)
                self.put(dest, self.port(dest).receive(frame, now))
            for side in (0, 1):
                d = self.port(side).next_deadline()
                if d is not None and round(d * 1e6) <= self.now_us:
                    self.put(side, self.port(side).timer(now))
            due = [k for t_us, k in self.retries if t_us <= self.now_us]
            if due:
                self.retries = [(t_us, k) for t_us, k in self.retries if t_us > self.now_us]
                reqs = [(MGRID, self.wanted[k]) for k in due if k in self.wanted]
                out, _ = self.station.commands(reqs, now)
                self.put(0, out)

    def request(self, tlvs: list[VsiTlv]) -> None:
        for t in tlvs:
            key = t.key(MGRID)
            if t.mode == VdpTlvType.DEASSOC:
                self.wanted.pop(key, None)
            else:
                self.wanted[key] = t
        out, errors = self.station.commands([(MGRID, t) for t in tlvs], self.now)
        assert not any(errors), errors
        self.put(0, out)

    def link_down(self, side: int) -> None:
        self.put(side, self.port(side).link_down(self.now))

    def link_up(self, side: int) -> None:
        self.put(side, self.port(side).link_up(self.now))

    # --- accounting -------------------------------------------------------------------------

    def of(self, side: int, kind: type[Event]) -> list[Event]:
        return [e for s, _, e in self.events if s == side and isinstance(e, kind)]

    def bridge_added(self) -> Counter[VsiKey]:
        c: Counter[VsiKey] = Counter()
        for e in self.of(1, VsiAdded):
            assert isinstance(e, VsiAdded)
            c[e.key] += 1
        for e in self.of(1, VsiChanged):
            assert isinstance(e, VsiChanged)
            if e.mode == 3 and e.old_mode != 3:
                c[e.key] += 1
        return c

    def bridge_removed(self, reason: str | None = None) -> list[VsiRemoved]:
        out = []
        for e in self.of(1, VsiRemoved):
            assert isinstance(e, VsiRemoved)
            if reason is None or e.reason.value == reason:
                out.append(e)
        return out

    def station_associated(self) -> set[VsiKey]:
        return {k for k in self.station.vdp if self.station.vdp.confirmed_mode(k) == 3}

    def give_ups(self, side: int) -> int:
        return len(self.of(side, EcpGaveUp))
