"""The LLDP agent: 802.1AB-2009 transmit and receive machines for one (port, group address).

EVB rides on LLDP (lldp.md); qbg carries its own small agent so that it depends on neither
lldpad nor lldpd.  One :class:`LldpAgent` is one instance of the machines for one destination
group address on one port (lldp.md §3): EVB uses the nearest-customer-bridge agent
(01-80-C2-00-00-00).  The owner (``evb/port.py``) supplies the organizationally specific TLVs
to send (:meth:`LldpAgent.set_local_tlvs`) and receives the neighbour's as events.

Strategy
--------
lldpad runs every agent from one 1-s timer; the order inside a tick is (lldp.md §6): timers
update, transmit-timer machine, transmit machine, receive machine, receive timers.  We model
that tick as an explicit deadline on the grid ``tick_phase + k·tick`` (both configurable, so
tests can fix lldpad's phases, e.g. bridge at x.00 and station at x.15), and ``next_deadline()``
is always the next tick while the port is up.  Received frames are processed at once (they
may set ``localChange``, acted upon at the next tick).

The transmit-timer machine is the table ``TX_TIMER_TRANSITIONS`` (802.1AB-2009 9.2.9 /
lldp.md §6.2) with **lldpad's deviation** (§6.3): :meth:`LldpAgent.something_changed_local`
sets ``localChange`` *and* ``txFast = txFastInit``; lldpad calls it for every changed EVB TLV
received and for every configuration change, which makes EVB converge in one round trip.

LLDPDU built (lldp.md §2, 60 octets with one EVB TLV)::

    DA group | SA port | 88 CC | Chassis ID (4, MAC) | Port ID (3, MAC) | TTL 120 |
    org TLVs ... | End 00 00 | zero padding to 60
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum

from .errors import DecodeError, LocalError
from .events import EMPTY, Event, FrameDropped, Output
from .frame import NEAREST_CUSTOMER_BRIDGE, EthernetFrame, EtherType
from .tlv import (
    ChassisIdTlv,
    Lldpdu,
    OrgTlv,
    PortIdTlv,
    Tlv,
    UnknownOrgTlv,
    build_lldpdu,
    encode_lldp_frame,
)

__all__ = [
    "TX_TIMER_TRANSITIONS",
    "AdminStatus",
    "LldpAgent",
    "LldpStats",
    "LldpTimers",
    "NeighborAdded",
    "NeighborAged",
    "NeighborChanged",
    "NeighborDeleted",
    "TooManyNeighbors",
    "TxTimerInput",
    "TxTimerState",
    "org_tlvs",
]

_US = 1_000_000


def _us(seconds: float) -> int:
    return round(seconds * _US)


class AdminStatus(IntEnum):
    """802.1AB adminStatus (lldpad defaults every agent to DISABLED, lldp.md §3)."""

    DISABLED = 0
    TX_ONLY = 1
    RX_ONLY = 2
    RXTX = 3

    @property
    def tx(self) -> bool:
        return self in (AdminStatus.TX_ONLY, AdminStatus.RXTX)

    @property
    def rx(self) -> bool:
        return self in (AdminStatus.RX_ONLY, AdminStatus.RXTX)


@dataclass(frozen=True, slots=True, kw_only=True)
class LldpTimers:
    """802.1AB-2009 timer variables (lldp.md §5), counted in ticks as lldpad does.

    ``tick`` is the tick length in seconds (1 s; tests may shorten it).  The TTL sent is
    ``msg_tx_interval × msg_tx_hold`` = 120 like lldpad (802.1AB's txTTL would add 1, lldp.md §4)
    unless ``ttl`` overrides it; received TTLs are read in ticks too.
    """

    tick: float = 1.0
    msg_tx_interval: int = 30
    msg_tx_hold: int = 4
    msg_fast_tx: int = 1
    tx_fast_init: int = 4
    tx_credit_max: int = 5
    reinit_delay: int = 2
    ttl_override: int | None = None

    @property
    def ttl(self) -> int:
        if self.ttl_override is not None:
            return self.ttl_override
        return min(0xFFFF, self.msg_tx_interval * self.msg_tx_hold)


# --- events -------------------------------------------------------------------------------------

Msap = tuple[ChassisIdTlv, PortIdTlv]


@dataclass(frozen=True, slots=True, kw_only=True)
class NeighborAdded(Event):
    """A new MSAP appeared (rx UPDATE_INFO with newNeighbor); ``org_tlvs`` in wire order."""

    group: bytes
    lldpdu: Lldpdu
    org_tlvs: tuple[Tlv, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NeighborChanged(Event):
    """The neighbour sent an LLDPDU that differs from its previous one."""

    group: bytes
    lldpdu: Lldpdu
    org_tlvs: tuple[Tlv, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NeighborAged(Event):
    """rxInfoAge: no LLDPDU from the neighbour for TTL seconds; its information is deleted."""

    group: bytes
    msap: Msap


@dataclass(frozen=True, slots=True, kw_only=True)
class NeighborDeleted(Event):
    """The neighbour's information was deleted for another reason: ``"shutdown"`` (it sent
    TTL 0, rx DELETE_INFO), ``"link down"`` or ``"disabled"`` (our receive side stopped)."""

    group: bytes
    msap: Msap
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TooManyNeighbors(Event):
    """A second MSAP on this agent; lldpad keeps the first and drops this LLDPDU (lldp.md §7)."""

    group: bytes
    lldpdu: Lldpdu


@dataclass(slots=True)
class LldpStats:
    frames_out: int = 0
    shutdown_frames_out: int = 0
    frames_in: int = 0
    frames_discarded: int = 0
    frames_ignored: int = 0
    identical: int = 0
    ageouts: int = 0
    deletes: int = 0
    too_many_neighbors: int = 0


# --- transmit-timer machine table (802.1AB-2009 9.2.9, lldp.md §6.2) ---------------------------


class TxTimerState(Enum):
    INITIALIZE = "TX_TIMER_INITIALIZE"
    IDLE = "TX_TIMER_IDLE"
    EXPIRES = "TX_TIMER_EXPIRES"
    SIGNAL_TX = "SIGNAL_TX"
    FAST_START = "TX_FAST_START"
    TICK = "TX_TICK"


class TxTimerInput(Enum):
    LOCAL_CHANGE = "localChange"
    TTR_EXPIRED = "txTTR == 0"
    NEW_NEIGHBOR = "newNeighbor"
    TX_TICK = "txTick"
    DONE = "unconditional"


TX_TIMER_TRANSITIONS: dict[tuple[TxTimerState, TxTimerInput], TxTimerState] = {
    (TxTimerState.INITIALIZE, TxTimerInput.DONE): TxTimerState.IDLE,
    # IDLE's exits, in the standard's priority order (the guard below evaluates them in order)
    (TxTimerState.IDLE, TxTimerInput.LOCAL_CHANGE): TxTimerState.SIGNAL_TX,
    (TxTimerState.IDLE, TxTimerInput.TTR_EXPIRED): TxTimerState.EXPIRES,
    (TxTimerState.IDLE, TxTimerInput.NEW_NEIGHBOR): TxTimerState.FAST_START,
    (TxTimerState.IDLE, TxTimerInput.TX_TICK): TxTimerState.TICK,
    (TxTimerState.EXPIRES, TxTimerInput.DONE): TxTimerState.SIGNAL_TX,
    (TxTimerState.SIGNAL_TX, TxTimerInput.DONE): TxTimerState.IDLE,
    (TxTimerState.FAST_START, TxTimerInput.DONE): TxTimerState.EXPIRES,
    (TxTimerState.TICK, TxTimerInput.DONE): TxTimerState.IDLE,
}
"""Transmit-timer machine: entry actions are ``LldpAgent._enter_<state>``."""


@dataclass(slots=True)
class _Neighbor:
    lldpdu: Lldpdu
    expires_us: int


def org_tlvs(lldpdu: Lldpdu) -> tuple[Tlv, ...]:
    """The organizationally specific TLVs of an LLDPDU (registered and unknown), in order."""
    return tuple(t for t in lldpdu.tlvs if isinstance(t, OrgTlv | UnknownOrgTlv))


class LldpAgent:
    """802.1AB tx/rx machines for one port MAC and one group address (lldp.md §5–§8).

    A new agent is port-down: call :meth:`link_up` to start it (the first LLDPDU goes out at
    the first tick at or after that time).  ``tick_phase`` (seconds, 0 ≤ phase < tick) places
    the tick grid.
    """

    def __init__(
        self,
        mac: bytes,
        group: bytes = NEAREST_CUSTOMER_BRIDGE,
        *,
        timers: LldpTimers | None = None,
        admin_status: AdminStatus = AdminStatus.RXTX,
        tick_phase: float = 0.0,
        local_tlvs: Sequence[Tlv] = (),
        tags: tuple[tuple[int, int], ...] = (),
    ) -> None:
        if len(mac) != 6 or len(group) != 6:
            raise LocalError("EINVAL", "MAC and group address must be 6 bytes")
        self.mac = mac
        self.group = group
        self.timers = timers or LldpTimers()
        self.admin_status = admin_status
        self.tags = tags
        self.stats = LldpStats()
        self._tick_us = _us(self.timers.tick)
        self._phase_us = _us(tick_phase) % self._tick_us
        self._local: tuple[Tlv, ...] = tuple(local_tlvs)
        self.port_up = False
        self.tx_timer_state = TxTimerState.INITIALIZE
        self._next_tick: int | None = None  # next grid tick to process (None: no ticks)
        self._tx_ready_us = 0  # reinitDelay: no tx (re)initialisation before this time
        self._neighbor: _Neighbor | None = None
        self._reset_tx_vars()

    # --- local information ----------------------------------------------------------------------

    def _reset_tx_vars(self) -> None:
        """TX_TIMER_INITIALIZE / TX_LLDP_INITIALIZE variables (802.1AB-2009 9.2.9)."""
        self.tx_ttr = 0
        self.tx_fast = 0
        self.tx_credit = self.timers.tx_credit_max
        self.tx_now = False
        self.tx_tick = False
        self.local_change = False
        self.new_neighbor = False

    @property
    def local_tlvs(self) -> tuple[Tlv, ...]:
        return self._local

    def set_local_tlvs(self, tlvs: Sequence[Tlv], *, changed: bool = True) -> None:
        """Replace the org TLVs carried after TTL; ``changed`` runs somethingChangedLocal when
        they differ from the current ones."""
        new = tuple(tlvs)
        if new != self._local:
            self._local = new
            if changed:
                self.something_changed_local()

    def something_changed_local(self) -> None:
        """lldpad's somethingChangedLocal(): localChange and txFast = txFastInit (lldp.md §6.3)."""
        self.local_change = True
        self.tx_fast = self.timers.tx_fast_init

    @property
    def neighbor(self) -> Lldpdu | None:
        """The neighbour's last LLDPDU (None when nothing is stored)."""
        return self._neighbor.lldpdu if self._neighbor else None

    def build_frame(self, ttl: int | None = None) -> bytes:
        """The complete Ethernet frame of our LLDPDU, padded to 60 (TTL 0: shutdown PDU)."""
        if ttl == 0:
            pdu = build_lldpdu(self.mac, 0)  # Chassis, Port, TTL 0, End only (lldp.md §4)
        else:
            pdu = build_lldpdu(self.mac, self.timers.ttl if ttl is None else ttl, self._local)
        return encode_lldp_frame(pdu, src=self.mac, dst=self.group, tags=self.tags)

    # --- commands -------------------------------------------------------------------------------

    def _first_tick_at_or_after(self, t: int) -> int:
        """The first point of the tick grid ``phase + k·tick`` at or after ``t`` (µs)."""
        k = -((self._phase_us - t) // self._tick_us)  # ceil((t - phase) / tick)
        return self._phase_us + k * self._tick_us

    def link_up(self, now: float) -> Output:
        """Port operational: both machines (re)initialise; neighbour information is gone, so
        the peer's next LLDPDU is a new neighbour (lldp.md §7)."""
        t = _us(now)
        if self.port_up:
            return EMPTY
        self.port_up = True
        self._neighbor = None
        self.tx_timer_state = TxTimerState.INITIALIZE
        self._reset_tx_vars()
        self._next_tick = self._first_tick_at_or_after(t)
        return EMPTY

    def link_down(self, now: float) -> Output:
        """Port down: no shutdown PDU; machines stop; stored neighbour information deleted."""
        out = self._run_ticks(_us(now))
        self.port_up = False
        self._next_tick = None
        return out + self._delete("link down")

    def set_admin_status(self, status: AdminStatus, now: float) -> Output:
        """Change adminStatus; leaving a transmitting status sends the shutdown LLDPDU and
        starts reinitDelay; leaving a receiving one deletes the neighbour."""
        t = _us(now)
        out = self._run_ticks(t)
        old, self.admin_status = self.admin_status, status
        if old.tx and not status.tx and self.port_up:
            out += self._send_shutdown(t)
        if status.tx and not old.tx:
            self.tx_timer_state = TxTimerState.INITIALIZE
        if old.rx and not status.rx:
            out += self._delete("disabled")
        return out

    def shutdown(self, now: float) -> Output:
        """Daemon stop / agent disable: the shutdown LLDPDU (TTL 0) now, then adminStatus
        DISABLED; a later re-enable waits reinitDelay (lldp.md §4, S18)."""
        return self.set_admin_status(AdminStatus.DISABLED, now)

    def _send_shutdown(self, t: int) -> Output:
        self.stats.shutdown_frames_out += 1
        self._tx_ready_us = t + self.timers.reinit_delay * self._tick_us
        self.tx_timer_state = TxTimerState.INITIALIZE
        return Output(frames=(self.build_frame(ttl=0),))

    # --- receive --------------------------------------------------------------------------------

    def receive(self, frame: bytes | Lldpdu, now: float) -> Output:
        """A received frame (complete Ethernet frame) or an already decoded LLDPDU.

        Never raises on bad bytes: malformed LLDPDUs give ``FrameDropped``; frames for another
        group address or Ethertype are ignored (they belong to another agent, lldp.md §3).
        """
        t = _us(now)
        out = self._run_ticks(t)
        if not self.port_up or not self.admin_status.rx:
            return out
        if isinstance(frame, Lldpdu):
            pdu = frame
        else:
            try:
                eth = EthernetFrame.decode(frame)
                if eth.ethertype != EtherType.LLDP or eth.dst != self.group:
                    self.stats.frames_ignored += 1
                    return out
                pdu = Lldpdu.decode(eth.payload)
            except DecodeError as err:
                self.stats.frames_discarded += 1
                return out + Output(events=(FrameDropped(error=err),))
        self.stats.frames_in += 1
        return out + self._rx_frame(pdu, t)

    def _rx_frame(self, pdu: Lldpdu, t: int) -> Output:
        """RX_FRAME: identical shortcut, TTL 0 delete, MSAP tracking, UPDATE_INFO."""
        nb = self._neighbor
        expires = t + pdu.ttl * self._tick_us
        if nb is not None and pdu.msap != nb.lldpdu.msap:
            self.stats.too_many_neighbors += 1  # keep the first neighbour (lldpad)
            return Output(events=(TooManyNeighbors(group=self.group, lldpdu=pdu),))
        if pdu.ttl == 0:
            return self._delete("shutdown") if nb is not None else EMPTY
        if nb is not None and pdu == nb.lldpdu:
            nb.expires_us = expires  # byte-identical: refresh rxTTL only (Q-L4)
            self.stats.identical += 1
            return EMPTY
        self._neighbor = _Neighbor(lldpdu=pdu, expires_us=expires)
        orgs = org_tlvs(pdu)
        if nb is None:
            self.new_neighbor = True
            return Output(events=(NeighborAdded(group=self.group, lldpdu=pdu, org_tlvs=orgs),))
        return Output(events=(NeighborChanged(group=self.group, lldpdu=pdu, org_tlvs=orgs),))

    def _delete(self, reason: str) -> Output:
        """DELETE_INFO (802.1AB-2009 9.2.9): forget the neighbour's MIB information and say
        why; the EVB owner then forgets the peer TLV but ECP/VDP keep running (Q-L12)."""
        nb, self._neighbor = self._neighbor, None
        if nb is None:
            return EMPTY
        self.stats.deletes += 1
        msap = nb.lldpdu.msap
        if reason == "aged":
            self.stats.ageouts += 1
            return Output(events=(NeighborAged(group=self.group, msap=msap),))
        return Output(events=(NeighborDeleted(group=self.group, msap=msap, reason=reason),))

    # --- ticks ----------------------------------------------------------------------------------

    def timer(self, now: float) -> Output:
        """Run every tick at or before ``now``."""
        return self._run_ticks(_us(now))

    def _run_ticks(self, t: int) -> Output:
        """Process every grid tick at or before ``t`` in order (late callers catch up)."""
        out = EMPTY
        while self._next_tick is not None and self._next_tick <= t:
            tick = self._next_tick
            self._next_tick = tick + self._tick_us
            out += self._tick(tick)
        return out

    def _tick(self, t: int) -> Output:
        """One lldpad tick: timers, tx-timer machine, tx machine, rx timers (lldp.md §6)."""
        out = EMPTY
        if self.admin_status.tx and t >= self._tx_ready_us:
            if self.tx_timer_state is TxTimerState.INITIALIZE:
                self._reset_tx_vars()  # TX_TIMER_INITIALIZE's entry action
                self._fire(TxTimerInput.DONE)
            # timers update
            if self.tx_ttr > 0:
                self.tx_ttr -= 1
            self.tx_tick = True
            self._run_tx_timer()
            # tx machine: one LLDPDU per tick at most, if credit allows (lldp.md §6.5)
            if self.tx_now and self.tx_credit > 0:
                self.tx_now = False
                self.tx_credit -= 1
                self.stats.frames_out += 1
                out += Output(frames=(self.build_frame(),))
        # rx timers: rxInfoAge
        if self._neighbor is not None and t >= self._neighbor.expires_us:
            out += self._delete("aged")
        return out

    def _idle_input(self) -> TxTimerInput | None:
        """IDLE's guards in priority order (802.1AB-2009 figure 9-3)."""
        if self.local_change:
            return TxTimerInput.LOCAL_CHANGE
        if self.tx_ttr == 0:
            return TxTimerInput.TTR_EXPIRED
        if self.new_neighbor:
            return TxTimerInput.NEW_NEIGHBOR
        if self.tx_tick:
            return TxTimerInput.TX_TICK
        return None

    def _run_tx_timer(self) -> None:
        """Loop the transmit-timer machine until IDLE has no exit left: several SIGNAL_TX in
        one tick still give one LLDPDU because txNow is a flag (lldp.md §6.2)."""
        while (inp := self._idle_input()) is not None:
            self._fire(inp)
            while self.tx_timer_state is not TxTimerState.IDLE:
                self._fire(TxTimerInput.DONE)

    def _fire(self, inp: TxTimerInput) -> None:
        """Take the table's transition for ``inp``; a missing entry is a bug, not peer input."""
        try:
            nxt = TX_TIMER_TRANSITIONS[(self.tx_timer_state, inp)]
        except KeyError:
            raise RuntimeError(
                f"LLDP tx timer: no transition {self.tx_timer_state} {inp}"
            ) from None
        self.tx_timer_state = nxt
        _ENTRY[nxt](self)

    # Entry actions of the transmit-timer machine, one per state of 802.1AB-2009 figure 9-3.

    def _enter_initialize(self) -> None:
        """TX_TIMER_INITIALIZE: txTTR = txFast = 0, txCredit = txCreditMax, flags cleared."""
        self._reset_tx_vars()

    def _enter_idle(self) -> None:
        """TX_TIMER_IDLE: no action; the guards of :meth:`_idle_input` choose the exit."""

    def _enter_expires(self) -> None:
        """TX_TIMER_EXPIRES: one fast transmission consumed."""
        if self.tx_fast > 0:
            self.tx_fast -= 1

    def _enter_signal_tx(self) -> None:
        """SIGNAL_TX: request one LLDPDU; re-arm txTTR with msgFastTx while txFast > 0,
        msgTxInterval otherwise (the 1-s spacing of the fast phase, lldp.md §6.4)."""
        self.tx_now = True
        self.local_change = False
        fast = self.tx_fast > 0
        self.tx_ttr = self.timers.msg_fast_tx if fast else self.timers.msg_tx_interval

    def _enter_fast_start(self) -> None:
        """TX_FAST_START: a new neighbour starts fast transmission unless already running."""
        self.new_neighbor = False
        if self.tx_fast == 0:
            self.tx_fast = self.timers.tx_fast_init

    def _enter_tick(self) -> None:
        """TX_TICK: one credit token per tick, up to txCreditMax (lldp.md §6.5)."""
        self.tx_tick = False
        if self.tx_credit < self.timers.tx_credit_max:
            self.tx_credit += 1

    def next_deadline(self) -> float | None:
        """The next tick while the port is up (lldpad's 1-s tick, lldp.md §6).

        Every tick is a deadline, as in lldpad: counters (txTTR, credit, rxTTL) advance per
        tick, and a received frame or a local change between two ticks acts on the next one.
        Entry points first run any overdue tick, so a late caller sees the same sequence.
        """
        if self._next_tick is None:
            return None
        return self._next_tick / _US


_ENTRY = {
    TxTimerState.INITIALIZE: LldpAgent._enter_initialize,
    TxTimerState.IDLE: LldpAgent._enter_idle,
    TxTimerState.EXPIRES: LldpAgent._enter_expires,
    TxTimerState.SIGNAL_TX: LldpAgent._enter_signal_tx,
    TxTimerState.FAST_START: LldpAgent._enter_fast_start,
    TxTimerState.TICK: LldpAgent._enter_tick,
}
