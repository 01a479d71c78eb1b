"""The VDP station: per-VSI state machines of one port (802.1Qbg-2012 41.5 [std-memory]).

Strategy
--------
One :class:`VdpStation` holds every VSI of one port (thousands are normal) as small
``__slots__`` records.  Each VSI runs lldpad's station machine (vdp.md §10.1, state names as in
lldpad) from the table :data:`TRANSITIONS`; guards that pick an input — how a response
classifies (§5.5, §7.4) — stay in code in :meth:`VdpStation._classify`.  Transient states
(BEGIN, INIT, the ``*_2`` states, PREASSOC_NEW, ...) are left at once through ``UCT`` or the
outcome input, so between entry points every VSI rests in one of the waiting states.

Timers: each VSI has at most one running timer (keep-alive in WAIT_SYSCMD_2, response wait in
the three ``*WAIT`` states), kept in one heap of ``(deadline µs, token, vsi)`` with lazy
deletion: re-arming a VSI gives it a new token and leaves the old entry to be skipped when it
surfaces.  ``timer()`` therefore costs O(log n) per expiry and never scans the VSI table.
Timer values come from :mod:`qbg.evb.timers` (vdp.md §9): response wait
``1.5 × ((1 + 2R)·ack + 10 µs·2^RWD)`` started when the request is handed to ECP (lldpad
behaviour), keep-alive ``10 µs·2^RKA`` restarted after each completed exchange.

Output and batching [PROJECT] (vdp.md §2): VSIs with something to send wait in a FIFO per
Manager ID; ECP pulls VDPDUs with :meth:`VdpStation.pull`, each ``[MgrID][VSI TLV]...[End]``
with as many queued TLVs of one Manager ID as fit (one with ``lldpad_compatible_pacing``).  A
window bounds the VSIs handed off and unanswered; it learns the peer's pace from the answers
(see :class:`_Window`) so that no request waits at a slow peer (lldpad answers one VSI per ack
timer) beyond its response wait.

Wire shape of what this machine sends (vdp.md §4.1)::

    [0a 10 <mgrid:16>] [tt ll <status> <type id:3> <ver> <fmt> <vsiid:16> <ff> <N:2> <entries>]
    ... [00 00]        status = hint bits only (M 0x10, S 0x20), fixed at creation (§10.2)
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ..evb import timers
from ..lldp.errors import DecodeError, LocalError
from ..lldp.events import Event, FrameDropped, Output
from .filters import FilterEntry
from .tlv import (
    STATUS_MIGRATING,
    STATUS_SUSPENDED,
    MalformedVsiTlv,
    ManagerIdTlv,
    Vdpdu,
    VdpTlvType,
    VsiKey,
    VsiTlv,
    validate_request,
)

__all__ = [
    "TRANSITIONS",
    "DeassocReason",
    "Input",
    "State",
    "StationStats",
    "TimerParams",
    "VdpStation",
    "VsiAssociated",
    "VsiDeassociated",
    "VsiKeepaliveRefused",
    "VsiPreassociated",
    "VsiRefused",
    "filters_match",
]

_PRE, _PRE_RR, _ASSOC, _DEASSOC = 1, 2, 3, 4
_HINTS = STATUS_MIGRATING | STATUS_SUSPENDED
_MGR_LEN = 18  # Manager ID TLV
_END = b"\x00\x00"


class TimerParams(Protocol):
    """The operational EVB values VDP needs (``qbg.evb.negotiation.Negotiated`` fits)."""

    @property
    def r(self) -> int: ...
    @property
    def rte(self) -> int: ...
    @property
    def rwd(self) -> int: ...
    @property
    def rka(self) -> int: ...
    @property
    def group_ids(self) -> bool: ...


# --- events ------------------------------------------------------------------------------------


class DeassocReason(Enum):
    """Why a station VSI ended (the one :class:`VsiDeassociated` per VSI says which)."""

    STATION = "station"  # our De-Associate was answered
    BRIDGE = "bridge"  # bridge De-Associate (unsolicited, or type 4 answering another request)
    TIMEOUT = "timeout"  # response wait expired; nothing was sent (vdp.md §10.1 notes)
    ERROR = "error"  # error response without K (or K where it keeps nothing)
    MISMATCH = "mismatch"  # response filters do not match the request (§7.4, code 5)
    KEEP_ERROR = "keep-error"  # keep-alive refused with K; we de-associated (S25)
    TX_REFUSED = "tx-refused"  # the VDPDU could not be handed to ECP


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiPreassociated(Event):
    """The bridge confirmed a pre-association (``rr``: with resource reservation, type 2)."""

    port: str
    key: VsiKey
    rr: bool
    filters: tuple[FilterEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiAssociated(Event):
    """The bridge confirmed an association; ``filters`` carry any bridge-assigned VID/PCP."""

    port: str
    key: VsiKey
    filters: tuple[FilterEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiDeassociated(Event):
    """The VSI is gone from the station (exactly one such event per VSI)."""

    port: str
    key: VsiKey
    reason: DeassocReason
    code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiRefused(Event):
    """The bridge answered a client request with an error (``keep``: previous state kept)."""

    port: str
    key: VsiKey
    mode: int
    response_mode: int
    code: int
    keep: bool
    hard: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiKeepaliveRefused(Event):
    """The bridge answered a keep-alive with an error; with ``keep`` and type 3 the station
    now de-associates (TXMIT_DEASSOC), without ``keep`` the VSI has ended."""

    port: str
    key: VsiKey
    code: int
    keep: bool
    hard: bool


@dataclass(slots=True)
class StationStats:
    """Per-port VDP station counters."""

    requests: int = 0  # VSI TLVs handed to ECP for client commands
    keepalives: int = 0  # VSI TLVs handed to ECP as keep-alives
    deassoc_after_keep: int = 0
    vdpdus: int = 0
    responses: int = 0  # matched responses (incl. bridge De-Associates)
    unknown_vsi: int = 0  # response / De-Associate for a VSI we do not have (S15)
    unexpected: int = 0  # TLVs a station must not accept, or answers nobody waits for
    malformed: int = 0
    dropped_pdus: int = 0
    timeouts: int = 0
    mismatches: int = 0
    tx_refused: int = 0


# --- the state table (vdp.md §10.1) --------------------------------------------------------------


class State(Enum):
    BEGIN = "BEGIN"
    INIT = "INIT"
    STATION_PROC = "STATION_PROC"
    STATION_PROCWAIT = "STATION_PROCWAIT"
    STATION_PROCWAIT_2 = "STATION_PROCWAIT_2"
    PREASSOC_NEW = "PREASSOC_NEW"
    ASSOC_NEW = "ASSOC_NEW"
    ASSOC_COMPL = "ASSOC_COMPL"
    WAIT_SYSCMD = "WAIT_SYSCMD"
    WAIT_SYSCMD_2 = "WAIT_SYSCMD_2"
    TXMIT_KA = "TXMIT_KA"
    TXMIT_KAWAIT = "TXMIT_KAWAIT"
    TXMIT_KAWAIT_2 = "TXMIT_KAWAIT_2"
    TXMIT_DEASSOC = "TXMIT_DEASSOC"
    TXMIT_DEAWAIT = "TXMIT_DEAWAIT"
    TXMIT_DEAWAIT_2 = "TXMIT_DEAWAIT_2"
    END = "END"


class Input(Enum):
    UCT = "uct"  # unconditional transition out of a transient state
    CMD = "cmd"
    RESP = "resp"  # matching response or bridge De-Associate
    RESP_WAIT_EXPIRED = "respWaitExpired"
    KA_EXPIRED = "kaExpired"
    TX_REFUSED = "txRefused"
    BRIDGE_DEASSOC = "bridgeDeassoc"  # unsolicited De-Associate while idle
    # Outcomes of a response, chosen by _classify() in the *_2 states:
    OK_PREASSOC = "ok-1/2"
    OK_ASSOC = "ok-3"
    OK_DEASSOC = "ok-4"
    KEEP_ASSOC = "keep-3"
    KEEP_OTHER = "keep-1/2"
    KEEP_DEASSOC = "keep-4"
    ERROR = "error"
    MISMATCH = "mismatch"


class Action(Enum):
    INIT = "init"
    SEND = "send"  # STATION_PROC / TXMIT_KA / TXMIT_DEASSOC entry: queue for ECP
    SEND_DEASSOC = "send-deassoc"
    CONFIRM = "confirm"  # PREASSOC_NEW / ASSOC_NEW
    START_KA = "start-ka"
    END = "end"


_S, _I, _A = State, Input, Action
TRANSITIONS: dict[tuple[State, Input], tuple[Action | None, State]] = {
    (_S.BEGIN, _I.UCT): (None, _S.INIT),
    (_S.INIT, _I.UCT): (_A.INIT, _S.STATION_PROC),
    (_S.STATION_PROC, _I.UCT): (_A.SEND, _S.STATION_PROCWAIT),
    (_S.STATION_PROCWAIT, _I.RESP): (None, _S.STATION_PROCWAIT_2),
    (_S.STATION_PROCWAIT, _I.RESP_WAIT_EXPIRED): (_A.END, _S.END),
    (_S.STATION_PROCWAIT, _I.TX_REFUSED): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.OK_PREASSOC): (_A.CONFIRM, _S.PREASSOC_NEW),
    (_S.STATION_PROCWAIT_2, _I.OK_ASSOC): (_A.CONFIRM, _S.ASSOC_NEW),
    (_S.STATION_PROCWAIT_2, _I.OK_DEASSOC): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.KEEP_ASSOC): (None, _S.ASSOC_COMPL),
    (_S.STATION_PROCWAIT_2, _I.KEEP_OTHER): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.KEEP_DEASSOC): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.ERROR): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.MISMATCH): (_A.END, _S.END),
    (_S.PREASSOC_NEW, _I.UCT): (None, _S.WAIT_SYSCMD),
    (_S.ASSOC_NEW, _I.UCT): (None, _S.ASSOC_COMPL),
    (_S.ASSOC_COMPL, _I.UCT): (None, _S.WAIT_SYSCMD),
    (_S.WAIT_SYSCMD, _I.UCT): (_A.START_KA, _S.WAIT_SYSCMD_2),
    (_S.WAIT_SYSCMD_2, _I.KA_EXPIRED): (None, _S.TXMIT_KA),
    (_S.WAIT_SYSCMD_2, _I.CMD): (None, _S.STATION_PROC),
    (_S.WAIT_SYSCMD_2, _I.BRIDGE_DEASSOC): (_A.END, _S.END),
    (_S.TXMIT_KA, _I.UCT): (_A.SEND, _S.TXMIT_KAWAIT),
    (_S.TXMIT_KAWAIT, _I.RESP): (None, _S.TXMIT_KAWAIT_2),
    (_S.TXMIT_KAWAIT, _I.RESP_WAIT_EXPIRED): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT, _I.TX_REFUSED): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.OK_PREASSOC): (None, _S.WAIT_SYSCMD),
    (_S.TXMIT_KAWAIT_2, _I.OK_ASSOC): (None, _S.WAIT_SYSCMD),
    (_S.TXMIT_KAWAIT_2, _I.OK_DEASSOC): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.KEEP_ASSOC): (None, _S.TXMIT_DEASSOC),
    (_S.TXMIT_KAWAIT_2, _I.KEEP_OTHER): (None, _S.WAIT_SYSCMD),
    (_S.TXMIT_KAWAIT_2, _I.KEEP_DEASSOC): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.ERROR): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.MISMATCH): (_A.END, _S.END),
    (_S.TXMIT_DEASSOC, _I.UCT): (_A.SEND_DEASSOC, _S.TXMIT_DEAWAIT),
    (_S.TXMIT_DEAWAIT, _I.RESP): (None, _S.TXMIT_DEAWAIT_2),
    (_S.TXMIT_DEAWAIT, _I.RESP_WAIT_EXPIRED): (_A.END, _S.END),
    (_S.TXMIT_DEAWAIT, _I.TX_REFUSED): (_A.END, _S.END),
    (_S.TXMIT_DEAWAIT_2, _I.UCT): (_A.END, _S.END),
}
del _S, _I, _A

_OUTCOME_STATES = frozenset({State.STATION_PROCWAIT_2, State.TXMIT_KAWAIT_2, State.TXMIT_DEAWAIT_2})
_UCT_STATES = frozenset(s for (s, i) in TRANSITIONS if i is Input.UCT)
_WAITING = frozenset({State.STATION_PROCWAIT, State.TXMIT_KAWAIT, State.TXMIT_DEAWAIT})


def filters_match(sent: tuple[FilterEntry, ...], got: tuple[FilterEntry, ...]) -> bool:
    """lldpad's filter comparison (vdp.md §7.4): same N; per entry equal MAC and GroupID; equal
    VID only where ``sent`` has a non-zero VID; the whole PS/PCP/VID word only where ``sent``
    has PS = 1."""
    if len(sent) != len(got):
        return False
    for s, g in zip(sent, got, strict=True):
        if s.mac != g.mac or s.group_id != g.group_id:
            return False
        if s.vid and s.vid != g.vid:
            return False
        if s.ps and s.word != g.word:
            return False
    return True


class _Vsi:
    """One VSI's state; kept small because a port may hold tens of thousands."""

    __slots__ = ("busy", "conf_mode", "key", "queued", "sent", "state", "tlv", "token", "wire")

    def __init__(self, key: VsiKey, tlv: VsiTlv) -> None:
        self.key = key
        self.tlv = tlv  # the request as sent: mode = requested mode, status = hint bits
        self.wire: bytes | None = None  # cached tlv.encode()
        self.state = State.BEGIN
        self.conf_mode = _DEASSOC  # confirmed mode (lldpad initialises it to De-Associate)
        self.busy = False
        self.queued = False  # waiting in the send FIFO
        self.sent = False  # handed to ECP, answer outstanding (counts against the window)
        self.token = 0  # identifies the live heap entry; 0 = no timer


class _Window:
    """How many VSI requests may be handed off and unanswered at once [PROJECT] (vdp.md §2).

    Starts at ``initial`` and never exceeds ``limit``.  While requests are outstanding without
    a break (a "busy period") the peer always has work, so answers / elapsed time estimates its
    service rate; the window may hold what the peer answers in half a response wait.  The
    window grows by one per answer (slow start: doubling per round trip) up to that estimate
    and drops to it at once when the estimate falls below.  lldpad at RTE 14 (≈ 6 answers/s,
    response wait 17.4 s) settles near 53; a qbg bridge answering a batch at once reaches
    ``limit`` after a few round trips.
    """

    __slots__ = ("answers", "busy_since", "cwnd", "limit", "outstanding")

    def __init__(self, limit: int, initial: int) -> None:
        self.limit = limit
        self.cwnd = max(1, min(initial, limit))
        self.outstanding = 0
        self.busy_since = 0
        self.answers = 0

    def sent(self, t: int) -> None:
        if self.outstanding == 0:
            self.busy_since, self.answers = t, 0
        self.outstanding += 1

    def closed(self, t: int, resp_wait_us: int, answered: bool) -> None:
        self.outstanding -= 1
        if not answered:
            return
        self.answers += 1
        elapsed = t - self.busy_since
        est = self.limit if elapsed <= 0 else self.answers * resp_wait_us // (2 * elapsed)
        self.cwnd = max(1, min(self.cwnd + 1, est, self.limit))

    @property
    def room(self) -> int:
        return self.cwnd - self.outstanding


class VdpStation:
    """The VDP station of one port (sans-IO; see the module docstring).

    ``r``/``rte``/``rwd``/``rka``/``group_ids`` are the operational EVB values
    (:meth:`set_timers` applies new ones from the next timer start).  ``window`` caps the
    unanswered requests (default 256, plenty for a qbg bridge), ``initial_window`` is where
    pace learning starts (``learn_pace=False`` keeps the window at ``window``).
    ``per_command_hints`` lets later commands change the M/S hints (lldpad fixes them at
    creation, vdp.md §10.2).  ``enabled`` is false until the port's EVB/VDP is up.
    """

    def __init__(
        self,
        *,
        port: str = "",
        r: int = 3,
        rte: int = 8,
        rwd: int = 20,
        rka: int = 20,
        group_ids: bool = False,
        window: int = 256,
        initial_window: int = 32,
        learn_pace: bool = True,
        lldpad_compatible_pacing: bool = False,
        per_command_hints: bool = False,
        enabled: bool = True,
    ) -> None:
        if window < 1:
            raise LocalError("EINVAL", "window must be at least 1")
        self.port = port
        self.lldpad_compatible_pacing = lldpad_compatible_pacing
        self.per_command_hints = per_command_hints
        self.enabled = enabled
        self.stats = StationStats()
        self._win = _Window(window, initial_window if learn_pace else window)
        self._vsis: dict[VsiKey, _Vsi] = {}
        self._queues: OrderedDict[bytes, deque[_Vsi]] = OrderedDict()
        self._heap: list[tuple[int, int, _Vsi]] = []
        self._tokens = itertools.count(1)
        self._events: list[Event] = []
        self._now = 0
        self._reason = DeassocReason.ERROR
        self._code = 0
        self._resp_mode = _ASSOC
        self._mgr_wire: dict[bytes, bytes] = {}
        self.set_timers(r=r, rte=rte, rwd=rwd, rka=rka, group_ids=group_ids)

    # --- configuration -------------------------------------------------------------------------

    def set_timers(self, *, r: int, rte: int, rwd: int, rka: int, group_ids: bool) -> None:
        """New operational values; running timers keep their deadlines (S24 b)."""
        self.resp_wait_us = timers.response_wait_us(r, rte, rwd)
        self.keepalive_us = timers.keepalive_us(rka)
        self.group_ids = group_ids

    def apply(self, negotiated: TimerParams) -> None:
        """:meth:`set_timers` from a ``Negotiated`` value."""
        n = negotiated
        self.set_timers(r=n.r, rte=n.rte, rwd=n.rwd, rka=n.rka, group_ids=n.group_ids)

    # --- queries -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._vsis)

    def __contains__(self, key: object) -> bool:
        return key in self._vsis

    def __iter__(self) -> Iterator[VsiKey]:
        return iter(list(self._vsis))

    def state(self, key: VsiKey) -> State | None:
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.state

    def request(self, key: VsiKey) -> VsiTlv | None:
        """The VSI TLV the station sends for ``key`` (requested mode, adopted filters)."""
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.tlv

    def confirmed_mode(self, key: VsiKey) -> int | None:
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.conf_mode

    def keys(self) -> list[VsiKey]:
        return list(self._vsis)

    @property
    def window(self) -> int:
        """The current window (unanswered VSI requests allowed)."""
        return self._win.cwnd

    @property
    def outstanding(self) -> int:
        return self._win.outstanding

    def has_pending(self) -> bool:
        """Whether :meth:`pull` would return a VDPDU now (something queued and room)."""
        return self._win.room > 0 and any(self._queues.values())

    # --- client commands (vdp.md §10.2) --------------------------------------------------------

    def command(self, mgrid: bytes, tlv: VsiTlv, now: float) -> Output:
        """Run a client request: ``tlv.mode`` is the requested mode, ``tlv.status`` the M/S
        hints.  Raises :class:`LocalError` (EPROTONOSUPPORT, EINVAL, EBUSY, ENODEV) and then
        sends nothing (S16)."""
        self._now = timers.to_us(now)
        if not self.enabled:
            raise LocalError("EPROTONOSUPPORT", "VDP is not running on this port")
        if len(mgrid) != 16:
            raise LocalError("EINVAL", "Manager ID must be 16 octets")
        if tlv.status & ~_HINTS:
            raise LocalError("EINVAL", f"request status {tlv.status:#04x}: only M/S hints allowed")
        if validate_request(tlv, self.group_ids, strict=True):
            raise LocalError("EINVAL", "invalid VSI ID or filter (vdp.md §6, §7.3)")
        mode = int(tlv.mode)
        key = tlv.key(mgrid)
        vsi = self._vsis.get(key)
        if vsi is None:
            if mode == _DEASSOC:
                raise LocalError("EINVAL", "de-associate of an unknown VSI")
            vsi = _Vsi(key, tlv)
            self._vsis[key] = vsi
            self._run(vsi, Input.UCT)
            return self._flush()
        if vsi.state is State.END:
            raise LocalError("ENODEV", "VSI is being deleted")
        if vsi.busy or vsi.state is not State.WAIT_SYSCMD_2:
            raise LocalError("EBUSY", "VSI is waiting for a response")
        if not filters_match(tlv.filters, vsi.tlv.filters):
            raise LocalError("EINVAL", "filter data differ from the VSI's")
        if mode < vsi.tlv.mode:
            raise LocalError("EINVAL", f"mode {mode} below the requested mode {vsi.tlv.mode}")
        status = tlv.status if self.per_command_hints else vsi.tlv.status
        self._set_tlv(vsi, dataclasses.replace(vsi.tlv, mode=tlv.mode, status=status))
        self._run(vsi, Input.CMD)
        return self._flush()

    def associate(self, mgrid: bytes, tlv: VsiTlv, now: float) -> Output:
        return self.command(mgrid, dataclasses.replace(tlv, mode=VdpTlvType.ASSOC), now)

    def preassociate(self, mgrid: bytes, tlv: VsiTlv, now: float, *, rr: bool = False) -> Output:
        mode = VdpTlvType.PREASSOC_RR if rr else VdpTlvType.PREASSOC
        return self.command(mgrid, dataclasses.replace(tlv, mode=mode), now)

    def deassociate(self, mgrid: bytes, tlv: VsiTlv, now: float) -> Output:
        return self.command(mgrid, dataclasses.replace(tlv, mode=VdpTlvType.DEASSOC), now)

    def link_up(self, now: float) -> Output:
        """Re-send every idle VSI's current request after link up (S17, qbg behaviour); VSIs
        waiting for an answer keep their timers (their request is re-queued if ECP lost it)."""
        self._now = timers.to_us(now)
        for vsi in list(self._vsis.values()):
            if vsi.state is State.WAIT_SYSCMD_2:
                self._disarm(vsi)
                self._run(vsi, Input.KA_EXPIRED)
            elif vsi.state in _WAITING and not vsi.queued:
                self._close(vsi, answered=False)  # ECP lost it; the timer restarts at hand-off
                self._enqueue(vsi)
        return self._flush()

    # --- receive -------------------------------------------------------------------------------

    def receive_ulpdu(self, ulpdu: bytes, now: float) -> Output:
        """A VDPDU delivered by ECP (padding included); never raises on bad bytes."""
        try:
            pdu = Vdpdu.decode(ulpdu, lenient=True)
        except DecodeError as err:
            self.stats.dropped_pdus += 1
            return Output(events=(FrameDropped(error=err),))
        return self.receive_vdpdu(pdu, now)

    def receive_vdpdu(self, pdu: Vdpdu, now: float) -> Output:
        """Handle every TLV of a decoded VDPDU under its Manager ID (vdp.md §2, §5.4)."""
        self._now = timers.to_us(now)
        mgrid = pdu.mgrid
        for tlv in pdu.tlvs[1:]:
            if type(tlv) is VsiTlv:
                self._receive_vsi(mgrid, tlv)
            elif type(tlv) is MalformedVsiTlv:
                self.stats.malformed += 1  # lldpad ignores it silently (Q-S3)
        return self._flush()

    def _receive_vsi(self, mgrid: bytes, tlv: VsiTlv) -> None:
        # A station accepts responses, plus type-4 TLVs with the response bit clear (§5.4).
        unsolicited = not tlv.response
        if unsolicited and tlv.mode != _DEASSOC:
            self.stats.unexpected += 1
            return
        vsi = self._vsis.get(tlv.key(mgrid))
        if vsi is None:
            self.stats.unknown_vsi += 1  # S15: acked by ECP, otherwise ignored
            return
        if vsi.state is State.WAIT_SYSCMD_2 and unsolicited:
            self.stats.responses += 1
            self._disarm(vsi)
            self._reason, self._code = DeassocReason.BRIDGE, 0
            self._run(vsi, Input.BRIDGE_DEASSOC)
            return
        if vsi.state not in _WAITING or not (vsi.sent or unsolicited):
            self.stats.unexpected += 1  # a late or duplicated answer nobody waits for
            return
        self.stats.responses += 1
        outcome = self._classify(vsi, tlv, unsolicited)
        self._close(vsi, answered=True)
        self._run(vsi, Input.RESP, outcome)

    def _classify(self, vsi: _Vsi, tlv: VsiTlv, unsolicited: bool) -> Input:
        """The outcome input of a response (vdp.md §5.5, §7.4); sets the END reason/code."""
        self._code = code = tlv.status & 0x0F
        mode = int(tlv.mode)
        if unsolicited:
            self._reason = DeassocReason.BRIDGE
            return Input.OK_DEASSOC
        if not filters_match(vsi.tlv.filters, tlv.filters):
            self.stats.mismatches += 1
            self._reason, self._code = DeassocReason.MISMATCH, 5
            return Input.MISMATCH
        if vsi.state is State.TXMIT_DEAWAIT:
            self._reason = DeassocReason.KEEP_ERROR
            return Input.RESP
        keepalive = vsi.state is State.TXMIT_KAWAIT
        if code == 0:  # success; K/H ignored (Q-S6)
            if vsi.tlv.filters != tlv.filters:  # adopt assigned VIDs/PCPs
                self._set_tlv(vsi, dataclasses.replace(vsi.tlv, filters=tlv.filters))
            if mode == _DEASSOC:
                own = vsi.tlv.mode == _DEASSOC
                self._reason = DeassocReason.STATION if own else DeassocReason.BRIDGE
                return Input.OK_DEASSOC
            self._resp_mode = mode
            return Input.OK_ASSOC if mode == _ASSOC else Input.OK_PREASSOC
        keep = bool(tlv.status & 0x20)
        hard = bool(tlv.status & 0x10)
        self._reason = DeassocReason.ERROR
        if keepalive:
            self._events.append(
                VsiKeepaliveRefused(port=self.port, key=vsi.key, code=code, keep=keep, hard=hard)
            )
        else:
            self._events.append(
                VsiRefused(
                    port=self.port,
                    key=vsi.key,
                    mode=int(vsi.tlv.mode),
                    response_mode=mode,
                    code=code,
                    keep=keep,
                    hard=hard,
                )
            )
        if not keep:
            return Input.ERROR
        if mode == _ASSOC:
            return Input.KEEP_ASSOC
        return Input.KEEP_DEASSOC if mode == _DEASSOC else Input.KEEP_OTHER

    # --- timers --------------------------------------------------------------------------------

    def timer(self, now: float) -> Output:
        """Run every keep-alive and response-wait expiry due at or before ``now``."""
        t = self._now = timers.to_us(now)
        heap = self._heap
        while heap and heap[0][0] <= t:
            _, token, vsi = heapq.heappop(heap)
            if token != vsi.token:
                continue  # lazily deleted
            vsi.token = 0
            if vsi.state is State.WAIT_SYSCMD_2:
                self._run(vsi, Input.KA_EXPIRED)
            elif vsi.state in _WAITING:
                self.stats.timeouts += 1
                self._close(vsi, answered=False)
                self._reason, self._code = DeassocReason.TIMEOUT, 0
                self._run(vsi, Input.RESP_WAIT_EXPIRED)
        return self._flush()

    def next_deadline(self) -> float | None:
        if self._events:
            return timers.to_seconds(self._now)
        heap = self._heap
        while heap and heap[0][1] != heap[0][2].token:
            heapq.heappop(heap)
        return timers.to_seconds(heap[0][0]) if heap else None

    def _arm(self, vsi: _Vsi, deadline: int) -> None:
        vsi.token = token = next(self._tokens)
        heap = self._heap
        heapq.heappush(heap, (deadline, token, vsi))
        if len(heap) > 64 and len(heap) > 3 * len(self._vsis):
            self._heap = [e for e in heap if e[1] == e[2].token]
            heapq.heapify(self._heap)

    @staticmethod
    def _disarm(vsi: _Vsi) -> None:
        vsi.token = 0

    # --- output: the pull side of batching (vdp.md §2) -----------------------------------------

    def pull(self, max_len: int, now: float | None = None) -> bytes | None:
        """The next VDPDU for ECP, at most ``max_len`` octets, or ``None``.

        ``[MgrID][VSI TLV]...[End]``: the oldest Manager ID with queued VSIs first, then as many
        of its queued TLVs as fit, the window allows, and (``lldpad_compatible_pacing``) one.
        Each included VSI's response-wait timer starts now (hand-off to ECP, vdp.md §9).
        """
        t = self._now if now is None else timers.to_us(now)
        self._now = t
        room = self._win.room
        if room <= 0:
            return None
        if self.lldpad_compatible_pacing:
            room = 1
        for mgrid in list(self._queues):
            q = self._queues[mgrid]
            while q and not q[0].queued:
                q.popleft()
            if not q:
                del self._queues[mgrid]
                continue
            parts = [self._mgr(mgrid)]
            size = _MGR_LEN + len(_END)
            while q and room:
                vsi = q[0]
                if not vsi.queued:
                    q.popleft()
                    continue
                wire = vsi.wire
                if wire is None:
                    wire = vsi.wire = vsi.tlv.encode()
                if size + len(wire) > max_len:
                    break
                q.popleft()
                parts.append(wire)
                size += len(wire)
                room -= 1
                self._handed(vsi, t)
            if len(parts) == 1:  # the first TLV alone does not fit: ECP cannot carry it
                vsi = q.popleft()
                vsi.queued = False
                self.stats.tx_refused += 1
                self._reason, self._code = DeassocReason.TX_REFUSED, 0
                self._disarm(vsi)
                self._run(vsi, Input.TX_REFUSED)
                continue
            self._queues.move_to_end(mgrid)  # round-robin between Manager IDs
            if not q:
                del self._queues[mgrid]
            self.stats.vdpdus += 1
            parts.append(_END)
            return b"".join(parts)
        return None

    def _mgr(self, mgrid: bytes) -> bytes:
        wire = self._mgr_wire.get(mgrid)
        if wire is None:
            wire = self._mgr_wire[mgrid] = ManagerIdTlv(mgrid=mgrid).encode()
        return wire

    def _handed(self, vsi: _Vsi, t: int) -> None:
        vsi.queued = False
        vsi.sent = True
        self._win.sent(t)
        if vsi.state is State.TXMIT_KAWAIT:
            self.stats.keepalives += 1
        else:
            self.stats.requests += 1
        self._arm(vsi, t + self.resp_wait_us)

    def _enqueue(self, vsi: _Vsi) -> None:
        vsi.queued = True
        mgrid = vsi.key.mgrid
        q = self._queues.get(mgrid)
        if q is None:
            q = self._queues[mgrid] = deque()
        q.append(vsi)

    def _close(self, vsi: _Vsi, *, answered: bool) -> None:
        if vsi.sent:
            vsi.sent = False
            self._win.closed(self._now, self.resp_wait_us, answered)
        self._disarm(vsi)

    @staticmethod
    def _set_tlv(vsi: _Vsi, tlv: VsiTlv) -> None:
        vsi.tlv = tlv
        vsi.wire = None

    # --- the machine ---------------------------------------------------------------------------

    def _fire(self, vsi: _Vsi, inp: Input) -> None:
        try:
            action, nxt = TRANSITIONS[(vsi.state, inp)]
        except KeyError:
            raise AssertionError(
                f"VDP station: no transition {vsi.state.name} + {inp.name}"
            ) from None
        vsi.state = nxt
        if action is not None:
            self._act(action, vsi)

    def _run(self, vsi: _Vsi, inp: Input, outcome: Input = Input.UCT) -> None:
        """Fire ``inp``, then leave transient states (``outcome`` in the ``*_2`` states)."""
        self._fire(vsi, inp)
        while vsi.state is not State.END:
            if vsi.state in _OUTCOME_STATES:
                step = Input.UCT if vsi.state is State.TXMIT_DEAWAIT_2 else outcome
            elif vsi.state in _UCT_STATES:
                step = Input.UCT
            else:
                return
            self._fire(vsi, step)

    def _act(self, action: Action, vsi: _Vsi) -> None:
        if action is Action.INIT:
            vsi.busy = True  # status := none (255) until the first answer
        elif action is Action.SEND:
            self._enqueue(vsi)
        elif action is Action.SEND_DEASSOC:
            self.stats.deassoc_after_keep += 1
            vsi.busy = True
            self._set_tlv(vsi, dataclasses.replace(vsi.tlv, mode=VdpTlvType.DEASSOC))
            self._enqueue(vsi)
        elif action is Action.CONFIRM:
            vsi.conf_mode = self._resp_mode
            vsi.busy = False
            if vsi.state is State.ASSOC_NEW:
                self._events.append(
                    VsiAssociated(port=self.port, key=vsi.key, filters=vsi.tlv.filters)
                )
            else:
                self._events.append(
                    VsiPreassociated(
                        port=self.port,
                        key=vsi.key,
                        rr=self._resp_mode == _PRE_RR,
                        filters=vsi.tlv.filters,
                    )
                )
        elif action is Action.START_KA:
            vsi.busy = False
            self._arm(vsi, self._now + self.keepalive_us)
        elif action is Action.END:
            self._close(vsi, answered=False)
            vsi.queued = False
            vsi.conf_mode = _DEASSOC
            if self._vsis.get(vsi.key) is vsi:
                del self._vsis[vsi.key]
            self._events.append(
                VsiDeassociated(port=self.port, key=vsi.key, reason=self._reason, code=self._code)
            )

    def _flush(self) -> Output:
        if not self._events:
            return Output()
        events, self._events = tuple(self._events), []
        return Output(events=events)
