"""ECP: the Edge Control Protocol transmit and receive machines (sans-IO).

ECP (802.1Qbg-2012 clause 43 [std-memory]) gives VDP an acknowledged, retransmitted,
duplicate-suppressing single-hop datagram service.  It is stop-and-wait: one unacknowledged
ECPDU per port and direction.  The header codec is :mod:`qbg.evb.ecpdu`; this module decides
what to send and when (ecp.md §3–§7, draft 0.2 in §8).

Strategy
--------
One :class:`EcpEndpoint` per port (per S-channel) holds both machines, each a table
(STYLE habit 4): ``TX_TRANSITIONS`` and ``RX_TRANSITIONS`` map (state, input) to
(action, next state); guards that choose the input stay in code next to ``_tx_fire`` /
``_rx_fire``.  All time is integer microseconds internally (``now`` seconds are converted once
on entry with :func:`~qbg.evb.timers.to_us`), so fake-clock tests see the exact 10 µs·2^RTE
schedule of ecp.md §3.4.

Upper-layer interface (ecp.md §5):

* ``send(ulpdu, now)`` queues one ULPDU; **each queued ULPDU becomes exactly one ECPDU**.
* *Pull model for batching*: an optional ``ulp_pull(max_len) -> bytes | None`` is called whenever
  the transmitter is free and the queue is empty; the VDP layer returns its next batched ULPDU
  (at most ``max_len`` octets) or ``None``.  A ULP that gets new work while the transmitter is
  idle calls :meth:`EcpEndpoint.kick`.
* Received ULPDUs come out as :class:`EcpDelivered` events, after the acknowledgement frame
  (ack every valid request before delivering, ecp.md §4).  ``EcpAcked`` and ``EcpGaveUp`` report
  the fate of our own ECPDUs; VDP must not change its timing because of them (ecp.md §5).

Ratified ECPDU on the wire (ecp.md §1): ``DA 01-80-C2-00-00-00 | SA | 89 40 | 10 01 | seq |
ULPDU``, zero-padded to 60; acks ``14 01 seq``.  Draft ECPDU (ecp.md §8.1): ``DA
01-80-C2-00-00-0E | SA | 88 B7 | 00 1B 3F 00 00 00 | mode | seq | TLVs``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..lldp.errors import DecodeError, LocalError
from ..lldp.events import EMPTY, Event, FrameDropped, Output
from ..lldp.frame import (
    NEAREST_BRIDGE,
    NEAREST_CUSTOMER_BRIDGE,
    EthernetFrame,
    EtherType,
    pad,
)
from . import timers
from .ecpdu import ECP_VERSION, DraftEcpdu, DraftEcpMode, Ecpdu, EcpOp, EcpSubtype

__all__ = [
    "LLDPAD_MAX_ULPDU",
    "EcpAcked",
    "EcpDelivered",
    "EcpEndpoint",
    "EcpGaveUp",
    "EcpRetriesExhausted",
    "EcpStats",
    "RxInput",
    "RxState",
    "TxInput",
    "TxState",
    "next_seq",
]

LLDPAD_MAX_ULPDU = 1493
"""lldpad refuses ULPDUs of ≥ 1494 octets (ecp.md §1.2, Q-E11)."""
DEFAULT_MIN_GAP_US = 3_000
"""qbg's minimum spacing of new ECPDUs towards lldpad (ecp.md §3.2, Q-E4) [PROJECT]."""


def next_seq(seq: int) -> int:
    """Increment a 16-bit ECP sequence number, skipping 0 (0xFFFF → 0x0001), ecp.md §3.1."""
    return seq % 0xFFFF + 1


# --- events -------------------------------------------------------------------------------------


def _skipped(last: int, seq: int) -> int:
    """Sequence numbers the sender used between ``last`` and ``seq`` (0: ``seq`` follows).
    Ours skip 0 on wrap (:func:`next_seq`); a peer that uses 0 is not counted a skip either.
    Draft ECP numbers retransmissions too (ecp.md §8.2), so it has no such count."""
    if seq == next_seq(last) or seq == (last + 1) & 0xFFFF:
        return 0
    return max(1, ((seq - last - 1) & 0xFFFF) - (1 if seq < last else 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class EcpDelivered(Event):
    """A new (non-duplicate) ULPDU arrived; ``payload`` includes any Ethernet padding.

    ``skipped``: how many sequence numbers the peer used since the last ECPDU delivered here
    (standard ECP only; 0 for the first).  The peer numbers each new ECPDU one higher, so a
    skip means ECPDUs it gave up on never arrived: loss on the wire (or a peer restart), which
    the ULP can tell apart from a peer that received but dropped what it got."""

    payload: bytes
    seq: int
    subtype: int = EcpSubtype.VDP
    skipped: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EcpAcked(Event):
    """Our ECPDU ``seq`` was acknowledged (the transmitter may move on)."""

    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EcpGaveUp(Event):
    """1 + R transmissions of ``seq`` went unacknowledged; the ULPDU was dropped (ecp.md §3.1
    ERROR).  Diagnostic only: VDP relies on its response-wait timer (ecp.md §5)."""

    seq: int
    payload: bytes


EcpRetriesExhausted = EcpGaveUp
"""The STYLE brief's name for :class:`EcpGaveUp`."""


@dataclass(slots=True)
class EcpStats:
    """Per-port counters of ecp.md §7 (they replace lldpad trace greps in tests)."""

    requests_sent: int = 0
    retransmissions: int = 0
    give_ups: int = 0
    acks_sent: int = 0
    acks_received: int = 0
    stale_acks: int = 0
    requests_received: int = 0
    duplicates: int = 0
    delivered: int = 0
    pecsp_discarded: int = 0
    empty_requests: int = 0
    drops_version: int = 0
    drops_subtype: int = 0
    drops_op: int = 0
    drops_short: int = 0
    drops_other: int = 0
    refused: int = 0
    rx_gaps: int = 0  # deliveries after a skip in the peer's sequence numbers (lost ECPDUs)


# --- state tables -------------------------------------------------------------------------------


class TxState(Enum):
    """Transmit machine (ecp.md §3.1, lldpad names in brackets)."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    DOWN = "down"  # port disabled [BEGIN]
    IDLE = "idle"  # [WAIT_FOR_REQ / WAIT_ON_DATA]
    TXMIT = "txmit"  # ECPDU outstanding, ack timer running [TXMIT_ECPDU]
    ACKED = "acked"  # lldpad pacing: ack seen, advance at the ack-timer expiry


class TxInput(Enum):
    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    LINK_UP = "link_up"
    LINK_DOWN = "link_down"
    DATA = "data"  # a ULPDU is available and minGap has passed
    ACK = "ack"  # matching ack, immediate advance (qbg)
    ACK_PACED = "ack_paced"  # matching ack with lldpad_pacing
    TIMER_RETRY = "timer_retry"  # ack timer expired, tries ≤ R
    TIMER_GIVEUP = "timer_giveup"  # ack timer expired, tries > R  → ERROR
    TIMER_ADVANCE = "timer_advance"  # ack timer expired in ACKED


class RxState(Enum):
    """Receive machine (ecp.md §4)."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    RX_WAIT = "rx_wait"  # nothing received since (re)start: next request takes RX_FIRST
    RX_WAIT2 = "rx_wait2"  # lastSeq valid


class RxInput(Enum):
    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    NEW = "new"  # deliver
    DUPLICATE = "duplicate"  # std: seq == lastSeq; draft: byte-identical frame
    DISCARD = "discard"  # valid but not for VDP: PE-CSP (subtype 2), draft empty request


_TxAction = Callable[["EcpEndpoint", int], Output]
_RxAction = Callable[["EcpEndpoint", int, "_Rx"], Output]


@dataclass(slots=True)
class _Outstanding:
    seq: int
    payload: bytes
    frame: bytes
    tries: int = 1


@dataclass(frozen=True, slots=True)
class _Rx:
    """A received, header-valid request as the receive actions see it."""

    seq: int
    subtype: int
    payload: bytes
    ack: bytes


# --- the endpoint -------------------------------------------------------------------------------


class EcpEndpoint:
    """ECP transmitter + receiver of one port.

    ``initial_seq`` is the sequence counter's starting value: the first ECPDU carries
    ``next_seq(initial_seq)`` (0 reproduces lldpad, whose first ECPDU is seq 1); qbg adapters
    pass a random value (ecp.md §3.3).  ``rng`` (optional) supplies a fresh value on
    :meth:`link_up`.  ``r``/``rte`` are the operational EVB values (:meth:`set_parameters`
    applies new ones from the next timer start).  ``draft`` selects the draft 0.2 rules of
    ecp.md §8.2.  ``ack_pad`` pads acks to 60 octets (lldpad sends 18).  ``mtu`` is the Ethernet
    payload size; ``max_ulpdu`` derives from it.
    """

    def __init__(
        self,
        mac: bytes,
        *,
        initial_seq: int = 0,
        r: int = 3,
        rte: int = 8,
        draft: bool = False,
        min_gap_us: int = DEFAULT_MIN_GAP_US,
        lldpad_pacing: bool = False,
        mtu: int = 1500,
        ack_pad: bool = True,
        draft_ack_repeats: bool = True,
        ulp_pull: Callable[[int], bytes | None] | None = None,
        rng: Callable[[], int] | None = None,
        tags: tuple[tuple[int, int], ...] = (),
    ) -> None:
        if len(mac) != 6:
            raise LocalError("EINVAL", "port MAC must be 6 bytes")
        if not 0 <= initial_seq <= 0xFFFF:
            raise LocalError("EINVAL", f"initial sequence number {initial_seq} outside 0..65535")
        self.mac = mac
        self.draft = draft
        self.min_gap_us = min_gap_us
        self.lldpad_pacing = lldpad_pacing
        self.mtu = mtu
        self.ack_pad = ack_pad
        self.draft_ack_repeats = draft_ack_repeats
        self.ulp_pull = ulp_pull
        self.rng = rng
        self.tags = tags
        self.subtype: int = EcpSubtype.VDP
        self.stats = EcpStats()
        self._r = r
        self._rte = rte
        self.set_parameters(r=r, rte=rte)
        self._seq = initial_seq
        self._queue: deque[bytes] = deque()
        self._out: _Outstanding | None = None
        self._ack_deadline: int | None = None
        self._next_allowed = 0
        self._gap_wait = False
        self._held_seq: int | None = None  # given up while minGap protects the peer (§3.2)
        self.tx_state = TxState.IDLE
        self.rx_state = RxState.RX_WAIT
        self._last_seq = 0
        self._last_frame: bytes | None = None  # draft: previous received ECP frame

    # --- properties for the ULP (batching decisions) --------------------------------------------

    @property
    def max_ulpdu(self) -> int:
        """Largest ULPDU ``send()`` accepts (lldpad's 1493 limit for the ratified variant)."""
        if self.draft:
            return self.mtu - DraftEcpdu.HEADER_LEN
        return min(self.mtu - Ecpdu.HEADER_LEN, LLDPAD_MAX_ULPDU)

    @property
    def queue_len(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """Nothing outstanding and nothing queued: a new ULPDU would be sent at once (or after
        minGap)."""
        return self._out is None and not self._queue and self.tx_state is TxState.IDLE

    @property
    def outstanding_seq(self) -> int | None:
        return self._out.seq if self._out else None

    @property
    def ack_timeout_us(self) -> int:
        return timers.DRAFT_ACK_TIMEOUT_US if self.draft else timers.ack_timeout_us(self._rte)

    @property
    def max_tries(self) -> int:
        return timers.DRAFT_MAX_TRIES if self.draft else 1 + self._r

    def set_parameters(self, *, r: int, rte: int) -> None:
        """New operational R/RTE (EVB renegotiation); used from the next timer start (ecp.md §2)."""
        timers.give_up_us(r, rte)  # validates both ranges
        self._r, self._rte = r, rte

    # --- entry points ---------------------------------------------------------------------------

    def send(self, ulpdu: bytes, now: float) -> Output:
        """Queue one ULPDU (FIFO); raises ``LocalError('EMSGSIZE')`` if it is too long and
        ``LocalError('ENETDOWN')`` while the link is down."""
        if len(ulpdu) > self.max_ulpdu:
            self.stats.refused += 1
            raise LocalError("EMSGSIZE", f"ULPDU of {len(ulpdu)} octets > {self.max_ulpdu}")
        if self.tx_state is TxState.DOWN:
            self.stats.refused += 1
            raise LocalError("ENETDOWN", "ECP link is down")
        self._queue.append(bytes(ulpdu))
        return self._kick(timers.to_us(now))

    def kick(self, now: float) -> Output:
        """Tell the transmitter the ULP may have data for ``ulp_pull`` (pull model)."""
        return self._kick(timers.to_us(now))

    def timer(self, now: float) -> Output:
        """Run the ack timer and the minGap wait if due at or before ``now``."""
        t = timers.to_us(now)
        out = EMPTY
        if self._ack_deadline is not None and t >= self._ack_deadline:
            self._ack_deadline = None
            if self.tx_state is TxState.ACKED:
                out += self._tx_fire(TxInput.TIMER_ADVANCE, t)
            elif self._out is not None and self._out.tries < self.max_tries:
                out += self._tx_fire(TxInput.TIMER_RETRY, t)
            else:
                out += self._tx_fire(TxInput.TIMER_GIVEUP, t)
        return out + self._kick(t)

    def next_deadline(self) -> float | None:
        """The ack-timer expiry, or the end of minGap when data (or a pull) waits for it."""
        if self._ack_deadline is not None:
            return timers.to_seconds(self._ack_deadline)
        if self._gap_wait and self.tx_state is TxState.IDLE:
            return timers.to_seconds(self._next_allowed)
        return None

    def link_down(self, now: float) -> Output:
        """Port down: drop the outstanding ECPDU, keep the queue, reset the receiver (ecp.md §6)."""
        self.rx_state = RxState.RX_WAIT
        self._last_frame = None
        return self._tx_fire(TxInput.LINK_DOWN, timers.to_us(now))

    def link_up(self, now: float, initial_seq: int | None = None) -> Output:
        """Port up: new sequence space (``initial_seq``, else ``rng()``), receiver in RX_WAIT."""
        if initial_seq is None:
            if self.rng is None:
                raise LocalError("EINVAL", "link_up needs initial_seq or an rng")
            initial_seq = self.rng() & 0xFFFF
        self._seq = initial_seq
        t = timers.to_us(now)
        if self.tx_state is not TxState.DOWN:
            self._tx_fire(TxInput.LINK_DOWN, t)
        self.rx_state = RxState.RX_WAIT
        self._last_frame = None
        return self._tx_fire(TxInput.LINK_UP, t) + self._kick(t)

    def receive(self, frame: bytes, now: float) -> Output:
        """One received Ethernet frame (ECP Ethertype expected); never raises on bad bytes."""
        try:
            eth = EthernetFrame.decode(frame)
            want = EtherType.OUI_EXTENDED if self.draft else EtherType.ECP
            if eth.ethertype != want:
                raise DecodeError("ecp", 12, f"ethertype {int(eth.ethertype):#06x} is not ECP")
            if self.draft and eth.dst != NEAREST_BRIDGE:
                raise DecodeError("ecp-draft", 0, "draft ECP frame not sent to 01-80-C2-00-00-0E")
            if not self.draft and eth.dst not in (NEAREST_CUSTOMER_BRIDGE, self.mac):
                raise DecodeError("ecp", 0, "ECP frame to a foreign address")
        except DecodeError as err:
            self.stats.drops_other += 1
            return Output(events=(FrameDropped(error=err),))
        return self.receive_payload(eth.payload, now, src=eth.src)

    def receive_payload(self, payload: bytes, now: float, *, src: bytes = b"") -> Output:
        """The ECPDU octets after the Ethertype (for a port that has already demultiplexed)."""
        t = timers.to_us(now)
        if self.tx_state is TxState.DOWN:
            return EMPTY
        try:
            if self.draft:
                return self._receive_draft(DraftEcpdu.decode(payload, 14), payload, src, t)
            return self._receive_std(Ecpdu.decode(payload, 14), t)
        except DecodeError as err:
            self.stats.drops_short += 1
            return Output(events=(FrameDropped(error=err),))

    # --- receive guards -------------------------------------------------------------------------

    def _drop(self, counter: str, offset: int, reason: str) -> Output:
        """Silent protocol drop (no ack): count it and report ``FrameDropped`` to the adapter."""
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        return Output(events=(FrameDropped(error=DecodeError("ecp", offset, reason)),))

    def _receive_std(self, pdu: Ecpdu, t: int) -> Output:
        # Version, op and subtype checks: drop silently, no ack (ecp.md §4, Q-E9).
        if pdu.version != ECP_VERSION:
            return self._drop("drops_version", 14, f"ECP version {pdu.version}")
        if pdu.op not in (EcpOp.REQUEST, EcpOp.ACK):
            return self._drop("drops_op", 14, f"ECP operation {int(pdu.op)}")
        if pdu.subtype not in (EcpSubtype.VDP, EcpSubtype.PECSP):
            return self._drop("drops_subtype", 15, f"ECP subtype {int(pdu.subtype)}")
        if pdu.op == EcpOp.ACK:
            return self._on_ack(pdu.seq, pdu.subtype == self.subtype, t)
        self.stats.requests_received += 1
        ack = self._frame(NEAREST_CUSTOMER_BRIDGE, EtherType.ECP, pdu.ack().encode(), self.ack_pad)
        rx = _Rx(seq=pdu.seq, subtype=int(pdu.subtype), payload=pdu.payload, ack=ack)
        if self.rx_state is RxState.RX_WAIT:
            self._last_seq = (pdu.seq - 1) & 0xFFFF  # RX_FIRST: the first request is always new
        if pdu.seq == self._last_seq:
            kind = RxInput.DUPLICATE
        elif pdu.subtype != self.subtype:
            kind = RxInput.DISCARD  # PE-CSP: acked, then discarded (Q-E10)
        else:
            kind = RxInput.NEW
        return self._rx_fire(kind, t, rx)

    def _receive_draft(self, pdu: DraftEcpdu, raw: bytes, src: bytes, t: int) -> Output:
        # lldpad only logs a wrong OUI/subtype and processes the frame anyway (ecp.md §8.1).
        identical = self._last_frame == src + raw
        self._last_frame = src + raw
        if pdu.mode == DraftEcpMode.ACK:
            if identical:
                return EMPTY
            return self._on_ack(pdu.seq, True, t)
        if pdu.mode != DraftEcpMode.REQUEST:
            return self._drop("drops_op", 20, f"draft ECP mode {int(pdu.mode)}")
        self.stats.requests_received += 1
        ack = self._frame(NEAREST_BRIDGE, EtherType.OUI_EXTENDED, pdu.ack().encode(), False)
        rx = _Rx(seq=pdu.seq, subtype=self.subtype, payload=pdu.payload, ack=ack)
        if identical:
            kind = RxInput.DUPLICATE
        elif not any(pdu.payload):
            kind = RxInput.DISCARD  # empty request (End TLV only), sent when draft ECP starts
            self.stats.empty_requests += 1
        else:
            kind = RxInput.NEW
        return self._rx_fire(kind, t, rx)

    def _on_ack(self, seq: int, ours: bool, t: int) -> Output:
        """Acks go to the transmitter only (ecp.md §4); a match needs an outstanding ECPDU with
        the same sequence number (draft: the latest one sent, §8.2)."""
        self.stats.acks_received += 1
        if not (ours and self.tx_state is TxState.TXMIT and self._out and self._out.seq == seq):
            self.stats.stale_acks += 1  # unexpected or stale: ignored (ecp.md §3.2)
            if ours and seq == self._held_seq:
                # The ECPDU we gave up on did reach the peer, late (it was busy): its delivery
                # is now, so the next new ECPDU keeps minGap from here.
                self._held_seq = None
                self._next_allowed = t + self.min_gap_us
                return self._kick(t)
            return EMPTY
        inp = TxInput.ACK_PACED if self.lldpad_pacing else TxInput.ACK
        return self._tx_fire(inp, t) + self._kick(t)

    # --- receive actions ------------------------------------------------------------------------

    def _rx_fire(self, inp: RxInput, t: int, rx: _Rx) -> Output:
        """Take the receive table's transition; the guard in the caller chose ``inp``."""
        try:
            action, nxt = RX_TRANSITIONS[(self.rx_state, inp)]
        except KeyError:  # pragma: no cover - the table is total
            raise RuntimeError(f"ECP rx: no transition for {self.rx_state} on {inp}") from None
        self.rx_state = nxt
        return action(self, t, rx)

    def _rx_deliver(self, t: int, rx: _Rx) -> Output:
        """NEW_ECPDU + SEND_ACK: ack first, then hand the ULPDU up; lastSeq = seq."""
        skipped = 0 if self.draft else _skipped(self._last_seq, rx.seq)
        if skipped:
            self.stats.rx_gaps += 1
        self._last_seq = rx.seq
        self.stats.acks_sent += 1
        self.stats.delivered += 1
        event = EcpDelivered(payload=rx.payload, seq=rx.seq, subtype=rx.subtype, skipped=skipped)
        return Output(frames=(rx.ack,), events=(event,))

    def _rx_duplicate(self, t: int, rx: _Rx) -> Output:
        """seq == lastSeq (draft: identical frame): ack only (draft: unless configured not to)."""
        self.stats.duplicates += 1
        if self.draft and not self.draft_ack_repeats:
            return EMPTY
        self.stats.acks_sent += 1
        return Output(frames=(rx.ack,))

    def _rx_discard(self, t: int, rx: _Rx) -> Output:
        """Valid request for no ULP of ours: ack and discard; lastSeq advances."""
        self._last_seq = rx.seq
        if rx.subtype == EcpSubtype.PECSP:
            self.stats.pecsp_discarded += 1
        self.stats.acks_sent += 1
        return Output(frames=(rx.ack,))

    # --- transmit -------------------------------------------------------------------------------

    def _kick(self, t: int) -> Output:
        """Start the next ECPDU if the transmitter is free and minGap has passed (§3.5)."""
        if self.tx_state is not TxState.IDLE:
            return EMPTY
        if t < self._next_allowed:
            self._gap_wait = bool(self._queue) or self.ulp_pull is not None
            return EMPTY
        self._gap_wait = False
        if not self._queue and self.ulp_pull is not None:
            ulpdu = self.ulp_pull(self.max_ulpdu)
            if ulpdu is not None:
                if len(ulpdu) > self.max_ulpdu:
                    raise LocalError("EMSGSIZE", f"ulp_pull returned {len(ulpdu)} octets")
                self._queue.append(bytes(ulpdu))
        if not self._queue:
            return EMPTY
        return self._tx_fire(TxInput.DATA, t)

    def _tx_fire(self, inp: TxInput, t: int) -> Output:
        """Take the transmit table's transition; a missing entry is a bug (STYLE habit 4)."""
        try:
            action, nxt = TX_TRANSITIONS[(self.tx_state, inp)]
        except KeyError:
            raise RuntimeError(f"ECP tx: no transition for {self.tx_state} on {inp}") from None
        self.tx_state = nxt
        return action(self, t) if action is not None else EMPTY

    def _frame(self, dst: bytes, ethertype: EtherType, payload: bytes, padded: bool) -> bytes:
        """A complete Ethernet frame from this port (S-tagged when ``tags`` are set)."""
        raw = EthernetFrame(
            dst=dst, src=self.mac, ethertype=ethertype, payload=payload, tags=self.tags
        ).encode()
        return pad(raw) if padded else raw

    def _build(self, seq: int, ulpdu: bytes) -> bytes:
        """Request frame: std ``10 01 seq ULPDU`` to NCB; draft 9-octet header to NB; both
        zero-padded to 60 octets (ecp.md §1.2, §8.1)."""
        if self.draft:
            pdu = DraftEcpdu(mode=DraftEcpMode.REQUEST, seq=seq, payload=ulpdu).encode()
            return self._frame(NEAREST_BRIDGE, EtherType.OUI_EXTENDED, pdu, True)
        std = Ecpdu(op=EcpOp.REQUEST, subtype=self.subtype, seq=seq, payload=ulpdu).encode()
        return self._frame(NEAREST_CUSTOMER_BRIDGE, EtherType.ECP, std, True)

    def _tx_send_new(self, t: int) -> Output:
        """WAIT_FOR_REQ → TXMIT_ECPDU: seq = inc(seq), build once, send, arm the ack timer."""
        self._seq = next_seq(self._seq)
        ulpdu = self._queue.popleft()
        self._out = _Outstanding(seq=self._seq, payload=ulpdu, frame=self._build(self._seq, ulpdu))
        self._ack_deadline = t + self.ack_timeout_us
        self._next_allowed = t + self.min_gap_us
        self.stats.requests_sent += 1
        return Output(frames=(self._out.frame,))

    def _tx_retransmit(self, t: int) -> Output:
        """Ack timer expired with tries ≤ R: resend (std: same frame; draft: new seq, §8.2)."""
        out = self._out
        assert out is not None
        if self.draft:
            self._seq = next_seq(self._seq)
            out.seq = self._seq
            out.frame = self._build(out.seq, out.payload)
        out.tries += 1
        self._ack_deadline = t + self.ack_timeout_us
        self.stats.retransmissions += 1
        return Output(frames=(out.frame,))

    def _tx_give_up(self, t: int) -> Output:
        """ERROR: count, drop the ULPDU, report for diagnostics (ecp.md §3.1, §5).

        With minGap set [PROJECT]: a peer that acked none of 1 + R copies is more often busy
        than gone, and reads the queued copies later.  A new ECPDU sent now would be delivered
        right behind them and overwrite the given-up one in a single-buffer receiver (lldpad,
        Q-E4).  So the next new ECPDU waits until the late ack of the given-up one arrives
        (then minGap from it), at most another give-up time."""
        out = self._out
        assert out is not None
        self._out = None
        self.stats.give_ups += 1
        if self.min_gap_us > 0 and not self.draft:
            self._held_seq = out.seq
            self._next_allowed = max(self._next_allowed, t + self.max_tries * self.ack_timeout_us)
        return Output(events=(EcpGaveUp(seq=out.seq, payload=out.payload),))

    def _tx_acked(self, t: int) -> Output:
        """Matching ack (qbg): stop the timer and advance now; minGap still applies, counted
        from the ack as well [PROJECT]: the ack marks when the peer took the ECPDU (after
        retransmissions, or late because it was busy, that is well after the first send), and
        a single-buffer receiver (lldpad, Q-E4) needs minGap between *deliveries*."""
        out = self._out
        assert out is not None
        self._out = None
        self._ack_deadline = None
        self._next_allowed = max(self._next_allowed, t + self.min_gap_us)
        return Output(events=(EcpAcked(seq=out.seq),))

    def _tx_acked_paced(self, t: int) -> Output:
        """Matching ack with lldpad pacing: remember it, advance at the ack-timer expiry."""
        out = self._out
        assert out is not None
        return Output(events=(EcpAcked(seq=out.seq),))

    def _tx_release(self, t: int) -> Output:
        """lldpad pacing: the ack-timer expiry after a matching ack frees the transmitter."""
        self._out = None
        return EMPTY

    def _tx_abort(self, t: int) -> Output:
        """Link down: the outstanding ECPDU is lost, the queue is kept (ecp.md §6)."""
        self._out = None
        self._ack_deadline = None
        self._next_allowed = 0
        self._gap_wait = False
        self._held_seq = None
        return EMPTY

    def _tx_restart(self, t: int) -> Output:
        """Link up: INIT with the new sequence space; minGap does not carry over."""
        self._next_allowed = 0
        self._held_seq = None
        return EMPTY


TX_TRANSITIONS: dict[tuple[TxState, TxInput], tuple[_TxAction | None, TxState]] = {
    (TxState.DOWN, TxInput.LINK_UP): (EcpEndpoint._tx_restart, TxState.IDLE),
    (TxState.DOWN, TxInput.LINK_DOWN): (None, TxState.DOWN),
    (TxState.IDLE, TxInput.DATA): (EcpEndpoint._tx_send_new, TxState.TXMIT),
    (TxState.IDLE, TxInput.LINK_DOWN): (EcpEndpoint._tx_abort, TxState.DOWN),
    (TxState.TXMIT, TxInput.ACK): (EcpEndpoint._tx_acked, TxState.IDLE),
    (TxState.TXMIT, TxInput.ACK_PACED): (EcpEndpoint._tx_acked_paced, TxState.ACKED),
    (TxState.TXMIT, TxInput.TIMER_RETRY): (EcpEndpoint._tx_retransmit, TxState.TXMIT),
    (TxState.TXMIT, TxInput.TIMER_GIVEUP): (EcpEndpoint._tx_give_up, TxState.IDLE),
    (TxState.TXMIT, TxInput.LINK_DOWN): (EcpEndpoint._tx_abort, TxState.DOWN),
    (TxState.ACKED, TxInput.TIMER_ADVANCE): (EcpEndpoint._tx_release, TxState.IDLE),
    (TxState.ACKED, TxInput.LINK_DOWN): (EcpEndpoint._tx_abort, TxState.DOWN),
}
"""Transmit machine, in the order of ecp.md §3.1's diagram."""

RX_TRANSITIONS: dict[tuple[RxState, RxInput], tuple[_RxAction, RxState]] = {
    (RxState.RX_WAIT, RxInput.NEW): (EcpEndpoint._rx_deliver, RxState.RX_WAIT2),
    (RxState.RX_WAIT, RxInput.DUPLICATE): (EcpEndpoint._rx_duplicate, RxState.RX_WAIT2),
    (RxState.RX_WAIT, RxInput.DISCARD): (EcpEndpoint._rx_discard, RxState.RX_WAIT2),
    (RxState.RX_WAIT2, RxInput.NEW): (EcpEndpoint._rx_deliver, RxState.RX_WAIT2),
    (RxState.RX_WAIT2, RxInput.DUPLICATE): (EcpEndpoint._rx_duplicate, RxState.RX_WAIT2),
    (RxState.RX_WAIT2, RxInput.DISCARD): (EcpEndpoint._rx_discard, RxState.RX_WAIT2),
}
"""Receive machine (ecp.md §4): RX_FIRST is the guard that makes the first request NEW."""
