"""An lldpad-like VDP bridge under a fake clock: what ``qbg bench assoc`` captures and lldpad's
``-V 7`` logs show its bridge doing (Debian 12, 1.1+git20221028), as a test peer.

Behaviour modelled (each item seen in the captures/logs of issue #7; numbers at RTE 8):

* **One thread.**  While the bridge processes a VDPDU (``per_pdu + n·per_tlv``; 2 ms for 42
  TLVs on a quiet machine, 17 ms on a loaded one with ``-V 7``) it reads nothing: frames queue
  and are handled afterwards, acks included; queued frames go before overdue timers.
* **ECP receive** (ecp.md §4): ack at once (when read), duplicate = same sequence number as the
  last delivered.  A new ECPDU's ULPDU is copied into **one** VDP buffer and a VDP timer is
  armed ``vdp_delay`` (2 ms) later; every such timer processes whatever the buffer holds when it
  fires.  Two deliveries within the delay: the first ULPDU is lost although acked, the second is
  processed twice (Q-E4).  ``drop_while_busy`` instead discards (after the ack) an ECPDU that
  arrives while the buffer is still pending or being processed (the later one is lost).
* **VDP bridge** (vdp.md §11.1): answers **every** VSI TLV of a VDPDU (``answer="first"``:
  only the first), each in its own ECPDU ``[MgrID][VSI]`` without End TLV, queued FIFO; a known
  VSI is answered again (keep-alive path); supervision starts when the answer is queued and
  ends in an unsolicited De-Associate.
* **ECP transmit** with lldpad's pacing (Q-E5): one new ECPDU per ack-timer expiry at most; an
  unacked answer is sent 1 + R times, then dropped (the VSI stays, supervised).
* **Start-up** (evb-tlv.md §2.7): ECP/VDP start ``start_delay`` after the first own LLDPDU;
  ECP frames before that are not acked.  VDP has **zero timers** (supervision 30 µs: every VSI
  it answers is de-associated at once) until the EVB module notifies it: at the next changed
  EVB TLV received or the next own LLDPDU.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from qbg.evb import timers
from qbg.evb.negotiation import EvbConfig, EvbRole
from qbg.evb.port import EvbPort
from qbg.lldp.agent import NeighborAdded, NeighborChanged
from qbg.lldp.errors import DecodeError
from qbg.lldp.events import EMPTY, Output
from qbg.vdp.tlv import Vdpdu, VdpTlvType, VsiKey, VsiTlv, replace_vsi

NCB = bytes.fromhex("0180c2000000")
ECP_TYPE = b"\x89\x40"


def us(seconds: float) -> int:
    return round(seconds * 1_000_000)


@dataclass
class _Tx:
    seq: int
    frame: bytes
    tries: int = 1
    acked: bool = False


@dataclass
class BridgeStats:
    delivered: int = 0  # new ECPDUs handed to VDP (buffer writes)
    overwritten: int = 0  # ULPDUs lost in the single buffer (acked, never processed)
    dropped_busy: int = 0  # drop_while_busy discards
    processed: int = 0  # VDP timer firings (buffer reads)
    answers: int = 0
    deassocs: int = 0
    tx_new: int = 0
    tx_retx: int = 0
    tx_giveups: int = 0
    acks_sent: int = 0
    not_running: int = 0  # ECP frames before ECP started (no ack)


@dataclass
class LldpadLikeBridge:
    mac: bytes
    evb: EvbConfig = field(default_factory=lambda: EvbConfig(role=EvbRole.BRIDGE))
    vdp_delay: float = 0.002
    per_pdu: float = 20e-6
    per_tlv: float = 50e-6
    answer: str = "all"  # "all" | "first"
    drop_while_busy: bool = False
    start_delay: float = 0.006
    zero_timers_at_start: bool = True
    tick_phase: float = 0.0
    stats: BridgeStats = field(default_factory=BridgeStats)
    on_process: Callable[[int, list[VsiTlv]], None] | None = None

    def __post_init__(self) -> None:
        self.port = EvbPort(self.mac, self.evb, tick_phase=self.tick_phase)
        self.ack_us = timers.ack_timeout_us(self.evb.rte)
        self.max_tries = 1 + self.evb.r
        self.now = 0
        self.busy_until = 0
        self.inbox: deque[bytes] = deque()
        self.timers: list[tuple[int, int, str]] = []  # (deadline, order, kind)
        self._order = 0
        self.ecp_at: int | None = None  # ECP/VDP run from here on
        self.configured = not self.zero_timers_at_start
        self.last_seq: int | None = None
        self.buf: bytes | None = None
        self.pending_reads = 0
        self.txq: deque[bytes] = deque()
        self.out: _Tx | None = None
        self.seq = 0
        self.vsis: dict[VsiKey, int] = {}  # key -> supervision deadline
        self.mgr: dict[VsiKey, bytes] = {}
        self.tlv: dict[VsiKey, VsiTlv] = {}
        self.superv_us = timers.supervision_us(self.evb.r, self.evb.rte, self.evb.rka)

    # --- machine interface -------------------------------------------------------------------

    def link_up(self, now: float) -> Output:
        self.now = us(now)
        return self._lldp(self.port.link_up(now))

    def receive(self, frame: bytes, now: float) -> Output:
        self.now = us(now)
        self.inbox.append(frame)
        return self._run()

    def timer(self, now: float) -> Output:
        self.now = us(now)
        return self._run()

    def next_deadline(self) -> float | None:
        if self.inbox or self._due_timer():
            return max(self.now, self.busy_until) / 1e6
        times = [self.timers[0][0]] if self.timers else []
        d = self.port.next_deadline()
        if d is not None:
            times.append(us(d))
        if not times:
            return None
        return max(min(times), self.busy_until) / 1e6

    # --- the single thread --------------------------------------------------------------------

    def _due_timer(self) -> bool:
        return bool(self.timers) and self.timers[0][0] <= self.now

    def _run(self) -> Output:
        out = EMPTY
        if self.now < self.busy_until:
            return out
        out += self._lldp(self.port.timer(self.now / 1e6))
        while self.now >= self.busy_until and (self.inbox or self._due_timer()):
            if self.inbox:  # frames first (as the -V 7 log shows)
                out += self._frame(self.inbox.popleft())
            else:
                _, _, kind = heapq.heappop(self.timers)
                out += self._fire(kind)
        return out

    def _arm(self, at: int, kind: str) -> None:
        self._order += 1
        heapq.heappush(self.timers, (at, self._order, kind))

    def _lldp(self, out: Output) -> Output:
        """LLDP output/input of the EVB port: the first own LLDPDU starts ECP/VDP; every own
        LLDPDU and every changed EVB TLV received afterwards notifies VDP."""
        if out.frames:
            if self.ecp_at is None:
                self.ecp_at = self.now + us(self.start_delay)
            elif self.now >= self.ecp_at:
                self.configured = True
        changed = any(isinstance(e, NeighborAdded | NeighborChanged) for e in out.events)
        if changed and self.ecp_at is not None and self.now >= self.ecp_at:
            self.configured = True
        return Output(frames=out.frames)

    def _frame(self, frame: bytes) -> Output:
        et = frame[12:14]
        if et == b"\x88\xcc":
            return self._lldp(self.port.receive(frame, self.now / 1e6))
        if et != ECP_TYPE or len(frame) < 18:
            return EMPTY
        if self.ecp_at is None or self.now < self.ecp_at:
            self.stats.not_running += 1
            return EMPTY
        op = (frame[14] >> 2) & 3
        seq = (frame[16] << 8) | frame[17]
        if op == 1:
            if self.out is not None and seq == self.out.seq:
                self.out.acked = True  # lldpad: advance only when the ack timer fires
            return EMPTY
        ack = NCB + self.mac + ECP_TYPE + b"\x14\x01" + frame[16:18]
        self.stats.acks_sent += 1
        if seq == self.last_seq:
            return Output(frames=(ack,))
        self.last_seq = seq
        self.stats.delivered += 1
        if self.drop_while_busy and (self.pending_reads or self.now < self.busy_until):
            self.stats.dropped_busy += 1
            return Output(frames=(ack,))
        if self.pending_reads and self.buf is not None:
            self.stats.overwritten += 1
        self.buf = frame[18:]
        self.pending_reads += 1
        self._arm(self.now + us(self.vdp_delay), "vdp")
        return Output(frames=(ack,))

    def _fire(self, kind: str) -> Output:
        if kind == "vdp":
            self.pending_reads -= 1
            return self._process()
        if kind == "ack":
            return self._ack_timer()
        return self._supervise()

    # --- VDP ----------------------------------------------------------------------------------

    def _process(self) -> Output:
        self.stats.processed += 1
        if self.buf is None:
            return EMPTY
        try:
            pdu = Vdpdu.decode(self.buf, lenient=True)
        except DecodeError:
            return EMPTY
        reqs = [t for t in pdu.vsis if not t.response]
        if self.answer == "first":
            reqs = reqs[:1]
        if self.on_process is not None:
            self.on_process(self.now, reqs)
        self.busy_until = self.now + us(self.per_pdu + self.per_tlv * len(pdu.vsis))
        superv = self.superv_us if self.configured else 30
        for t in reqs:
            key = t.key(pdu.mgrid)
            if t.mode == VdpTlvType.DEASSOC:
                self.vsis.pop(key, None)
            else:
                self.vsis[key] = self.now + superv
                self.mgr[key], self.tlv[key] = pdu.mgrid, t
                self._arm(self.now + superv, "superv")
            self._queue(pdu.mgrid, replace_vsi(t, status=0x40))
            self.stats.answers += 1
        return self._kick()

    def _supervise(self) -> Output:
        for key, deadline in list(self.vsis.items()):
            if deadline <= self.now:
                del self.vsis[key]
                self.stats.deassocs += 1
                self._queue(self.mgr[key], replace_vsi(self.tlv[key], mode=4, status=0))
        return self._kick()

    def _queue(self, mgrid: bytes, tlv: VsiTlv) -> None:
        self.txq.append(Vdpdu.build(mgrid, [tlv], end=False).encode())

    # --- ECP transmit (lldpad pacing) ---------------------------------------------------------

    def _kick(self) -> Output:
        if self.out is not None or not self.txq:
            return EMPTY
        self.seq = self.seq % 0xFFFF + 1
        body = ECP_TYPE + b"\x10\x01" + self.seq.to_bytes(2, "big") + self.txq.popleft()
        frame = NCB + self.mac + body
        frame += bytes(max(0, 60 - len(frame)))
        self.out = _Tx(self.seq, frame)
        self.stats.tx_new += 1
        self._arm(self.now + self.ack_us, "ack")
        return Output(frames=(frame,))

    def _ack_timer(self) -> Output:
        out = self.out
        if out is None:
            return EMPTY
        if out.acked:
            self.out = None
            return self._kick()
        if out.tries < self.max_tries:
            out.tries += 1
            self.stats.tx_retx += 1
            self._arm(self.now + self.ack_us, "ack")
            return Output(frames=(out.frame,))
        self.stats.tx_giveups += 1
        self.out = None
        return self._kick()
