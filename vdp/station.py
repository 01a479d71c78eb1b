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
(:class:`~qbg.vdp.common.PaceWindow`) so that no request waits at a slow peer (lldpad answers
one VSI per ack timer) beyond its response wait.

Loss recovery [PROJECT]: a bridge works through VDPDUs in order and answers in order (lldpad and
qbg's bridge both do), so answers to a VDPDU handed off later than one whose requests are still
unanswered mean those requests were lost — lldpad loses a whole VDPDU after acking it when the
next one reaches its single input buffer too soon (interop-lldpad.md Q-E4), a bridge may answer
only part of a VDPDU, or give up sending an answer.  Such requests are sent again at once
(:data:`EARLY_RESENDS` times at most per exchange, then only the response wait is left), and so
are the unanswered ones of VDPDUs handed off ``probe_us`` ago when the bridge, once it has
answered anything, answers nothing for that long while requests are outstanding (the last
VDPDU of a burst has no later one to reveal its loss; a bridge that has never answered is left
to the response wait, as lldpad's station does).  Answers to re-sent requests reveal nothing
(which copy do they answer?).  The VDPDU size adapts like a congestion window
(:class:`~qbg.vdp.common.BatchCap`): a VDPDU answered in full lets the next ones grow by one
TLV, a partly answered one caps them at what was answered, a VDPDU lost whole halves them; the
window halves too (:meth:`~qbg.vdp.common.PaceWindow.cut`, once per loss event) and restarts
from one VDPDU after a silence.  Towards a bridge that loses nothing none of this changes a
single frame.

Those reductions are for a bridge that takes VDPDUs and drops them.  Frames lost on the link
are not that, and TCP's trouble on lossy links shows what halving for them does: at 30 %
random loss the window sank to ~8 requests for 500 VSIs needing 760 keep-alives a second, and
the bridge's supervision dropped nearly all of them.  So the port tells the station what ECP
saw (:meth:`VdpStation.wire_loss`: a retransmission, or a skip in the bridge's sequence
numbers; :meth:`VdpStation.ecp_gave_up`), and losses found while the link drops frames are
re-sent without any reduction; meanwhile the window also keeps a floor that lets every
keep-alive through once a period, since the pace estimate then counts ECP's retry stalls as a
slow bridge.  lldpad's Q-E4 loss happens on a clean link and is still met with the cuts.

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

from ..evb import timers
from ..lldp.errors import DecodeError, LocalError
from ..lldp.events import Event, FrameDropped, Output
from .common import BatchCap, PaceWindow, TimerParams, filters_match
from .events import (
    DeassocReason,
    VsiAssociated,
    VsiDeassociated,
    VsiKeepaliveRefused,
    VsiPreassociated,
    VsiRefused,
)
from .station_fsm import _OUTCOME_STATES, _UCT_STATES, _WAITING, TRANSITIONS, Action, Input, State
from .tlv import (
    STATUS_MIGRATING,
    STATUS_SUSPENDED,
    MalformedVsiTlv,
    ManagerIdTlv,
    Vdpdu,
    VdpTlvType,
    VsiKey,
    VsiTlv,
    replace_vsi,
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

EARLY_RESENDS = 3
"""How often one exchange's request is sent again before its response wait ends (loss recovery,
module docstring) [PROJECT]."""
PROBE_ACK_TIMERS = 64
"""Silence (no answer while requests are outstanding) that counts as a loss: this many ECP ack
timers (164 ms at RTE 8), at most half the response wait [PROJECT]."""


# --- statistics --------------------------------------------------------------------------------


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
    resends: int = 0  # requests sent again before their response wait ended (losses inferred)
    probes: int = 0  # of which after the bridge fell silent
    lost_pdus: int = 0  # VDPDUs none of whose requests the bridge answered
    wire_losses: int = 0  # of lost or partly answered VDPDUs, those blamed on the wire
    partial_pdus: int = 0  # VDPDUs the bridge answered only in part


class _Vsi:
    """One VSI's state; kept small because a port may hold tens of thousands."""

    __slots__ = (
        "alive", "busy", "bypass", "conf_mode", "key", "org", "queued", "rec", "resends", "sent",
        "state", "tlv", "token", "wire",
    )  # fmt: skip

    def __init__(self, key: VsiKey, tlv: VsiTlv, org: bytes = b"") -> None:
        self.key = key
        self.tlv = tlv  # the request as sent: mode = requested mode, status = hint bits
        self.org = org  # encoded organizationally defined TLVs sent after the VSI TLV (§8)
        self.wire: bytes | None = None  # cached tlv.encode() + org
        self.state = State.BEGIN
        self.conf_mode = _DEASSOC  # confirmed mode (lldpad initialises it to De-Associate)
        self.busy = False
        self.queued = False  # waiting in the send FIFO
        self.sent = False  # handed to ECP, answer outstanding (counts against the window)
        self.token = 0  # identifies the live heap entry; 0 = no timer
        self.rec: _Pdu | None = None  # the VDPDU of the outstanding hand-off
        self.resends = 0  # early re-sends in the current exchange
        self.bypass = False  # queued as a fast re-send: not held back by the window
        self.alive = False  # completed an exchange: sends keep-alives until it ends


class _Pdu:
    """One VDPDU handed to ECP: which VSIs (with the timer token of that hand-off) it carried
    and how many of them the bridge answered (loss recovery, module docstring)."""

    __slots__ = ("answered", "members", "no", "payload", "t", "wire")

    def __init__(self, no: int, t: int) -> None:
        self.no = no
        self.t = t  # hand-off time (µs)
        self.members: list[tuple[_Vsi, int]] = []
        self.answered = 0
        self.payload = b""  # the ULPDU as handed to ECP (matched by identity on a give-up)
        self.wire = False  # ECP gave up on it: lost on the wire, not by the bridge

    def missing(self) -> list[_Vsi]:
        """Members still waiting for the answer to this very hand-off."""
        return [v for v, tok in self.members if v.token == tok and v.sent and v.rec is self]


class VdpStation:
    """The VDP station of one port (sans-IO; see the module docstring).

    ``r``/``rte``/``rwd``/``rka``/``group_ids`` are the operational EVB values
    (:meth:`set_timers` applies new ones from the next timer start).  ``window`` caps the
    unanswered requests (default 256, plenty for a qbg bridge), ``initial_window`` is where
    pace learning starts (``learn_pace=False`` starts it at ``window``).
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
        self._win = PaceWindow(window, initial_window if learn_pace else window)
        self._cap = BatchCap()
        self._pdus: deque[_Pdu] = deque()  # handed-off VDPDUs not yet judged, oldest first
        self._pdu_no = 0
        self._last_answer = 0  # µs: last answer, or the start of the current busy period
        self._answering = False  # the bridge has answered something since link up
        self._cut_mark = 0  # losses of VDPDUs up to this number belong to the last loss event
        self._wire_mark = 0  # losses of VDPDUs up to this number are the wire's (wire_loss)
        self._wire_until = 0  # µs: and any loss found until then (the link is dropping frames)
        self._alive = 0  # VSIs in the keep-alive cycle (the window's floor)
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
        self.probe_us = min(PROBE_ACK_TIMERS * timers.ack_timeout_us(rte), self.resp_wait_us // 2)

    def apply(self, negotiated: TimerParams) -> None:
        """:meth:`set_timers` from a ``Negotiated`` value."""
        n = negotiated
        self.set_timers(r=n.r, rte=n.rte, rwd=n.rwd, rka=n.rka, group_ids=n.group_ids)

    # --- queries -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of VSIs the station holds (any state)."""
        return len(self._vsis)

    def __contains__(self, key: object) -> bool:
        return key in self._vsis

    def __iter__(self) -> Iterator[VsiKey]:
        """The VSI keys (a snapshot, so callers may issue commands while iterating)."""
        return iter(list(self._vsis))

    def state(self, key: VsiKey) -> State | None:
        """The lldpad state of ``key`` (``None`` once the VSI has reached END)."""
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.state

    def request(self, key: VsiKey) -> VsiTlv | None:
        """The VSI TLV the station sends for ``key`` (requested mode, adopted filters)."""
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.tlv

    def confirmed_mode(self, key: VsiKey) -> int | None:
        """The mode the bridge last confirmed (vdp.md §7.4: the response's TLV type)."""
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.conf_mode

    def keys(self) -> list[VsiKey]:
        """The VSI keys as a list."""
        return list(self._vsis)

    @property
    def window(self) -> int:
        """The current window (unanswered VSI requests allowed)."""
        return self._win.cwnd

    @property
    def batch(self) -> int:
        """The current most VSI TLVs per VDPDU (learned, see :class:`BatchCap`)."""
        return self._cap.cap

    @property
    def outstanding(self) -> int:
        """VSI requests handed to ECP and not yet answered or timed out."""
        return self._win.outstanding

    def has_pending(self) -> bool:
        """Whether :meth:`pull` would return a VDPDU now (something queued and room, or a
        re-send: those are not held back by the window)."""
        if self._win.room > 0:
            return any(self._queues.values())
        return self._resend_head() is not None

    def _resend_head(self) -> bytes | None:
        """A Manager ID whose next queued VSI is a re-send (stale FIFO entries dropped)."""
        for mgrid, q in self._queues.items():
            while q and not q[0].queued:
                q.popleft()
            if q and q[0].bypass:
                return mgrid
        return None

    # --- client commands (vdp.md §10.2) --------------------------------------------------------

    def command(self, mgrid: bytes, tlv: VsiTlv, now: float, *, org: bytes = b"") -> Output:
        """Run a client request: ``tlv.mode`` is the requested mode, ``tlv.status`` the M/S
        hints.  Raises :class:`LocalError` (EPROTONOSUPPORT, EINVAL, EBUSY, ENODEV) and then
        sends nothing (S16).  ``org``: encoded org TLVs (e.g. Cisco VM name, vdp.md §8) that
        follow this VSI's TLV in every VDPDU, fixed when the VSI is created (like the hints)."""
        self._now = timers.to_us(now)
        if not self.enabled:
            raise LocalError("EPROTONOSUPPORT", "VDP is not running on this port")
        if len(mgrid) != 16:
            raise LocalError("EINVAL", "Manager ID must be 16 octets")
        if tlv.status & ~_HINTS:
            raise LocalError("EINVAL", f"request status {tlv.status:#04x}: only M/S hints allowed")
        # lldpad's station refuses locally what its bridge would refuse (vdp.md §7.3: VID 1 and
        # 4095, lone wildcards, group formats without BGID ∧ SGID, bad MACs); qbg is stricter on
        # VSI IDs it sends (strict: no all-zero UUID, IPv4 with FF FF), vdp.md §6.
        if validate_request(tlv, self.group_ids, strict=True):
            raise LocalError("EINVAL", "invalid VSI ID or filter (vdp.md §6, §7.3)")
        mode = int(tlv.mode)
        key = tlv.key(mgrid)
        vsi = self._vsis.get(key)
        if vsi is None:  # new key (§10.2 row 1/2): create and run BEGIN -> ... -> PROCWAIT
            if mode == _DEASSOC:
                raise LocalError("EINVAL", "de-associate of an unknown VSI")
            vsi = _Vsi(key, tlv, org)
            self._vsis[key] = vsi
            self._run(vsi, Input.UCT)
            return self._flush()
        # Existing VSI (§10.2): busy, filter change and mode downgrade are refused; the same mode
        # again is accepted and re-sends the request like a keep-alive.
        if vsi.state is State.END:
            raise LocalError("ENODEV", "VSI is being deleted")
        if vsi.busy or vsi.state is not State.WAIT_SYSCMD_2:
            raise LocalError("EBUSY", "VSI is waiting for a response")
        if not filters_match(tlv.filters, vsi.tlv.filters):
            raise LocalError("EINVAL", "filter data differ from the VSI's")
        if mode < vsi.tlv.mode:
            raise LocalError("EINVAL", f"mode {mode} below the requested mode {vsi.tlv.mode}")
        # Hints are fixed at creation (lldpad behaviour, Q-S9) unless per_command_hints.
        status = tlv.status if self.per_command_hints else vsi.tlv.status
        self._set_tlv(vsi, replace_vsi(vsi.tlv, mode=tlv.mode, status=status))
        self._run(vsi, Input.CMD)
        return self._flush()

    def associate(self, mgrid: bytes, tlv: VsiTlv, now: float) -> Output:
        """Request Associate (TLV type 3) for ``tlv``'s VSI (vdp.md §1)."""
        return self.command(mgrid, dataclasses.replace(tlv, mode=VdpTlvType.ASSOC), now)

    def preassociate(self, mgrid: bytes, tlv: VsiTlv, now: float, *, rr: bool = False) -> Output:
        """Request Pre-Associate (type 1), or with resource reservation (type 2) if ``rr``."""
        mode = VdpTlvType.PREASSOC_RR if rr else VdpTlvType.PREASSOC
        return self.command(mgrid, dataclasses.replace(tlv, mode=mode), now)

    def deassociate(self, mgrid: bytes, tlv: VsiTlv, now: float) -> Output:
        """Request De-Associate (type 4); refused (EINVAL) for an unknown VSI (§10.2)."""
        return self.command(mgrid, dataclasses.replace(tlv, mode=VdpTlvType.DEASSOC), now)

    def link_up(self, now: float, *, idle: bool = True) -> Output:
        """Re-send every idle VSI's current request after link up (S17, qbg behaviour); VSIs
        waiting for an answer keep their timers (their request is re-queued if ECP lost it).
        ``idle=False`` re-queues only the unanswered ones (the peer came back later).  Loss
        recovery starts afresh (after a real link up the peer may be another bridge)."""
        self._now = timers.to_us(now)
        self._pdus.clear()
        if idle:
            self._cap.reset()
            self._answering = False
        for vsi in list(self._vsis.values()):
            if vsi.state is State.WAIT_SYSCMD_2 and idle:
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
        """Route one received VSI TLV to its VSI and fire the matching input (§5.4, §10.1).

        Late and duplicated answers (for a VSI no longer waiting, or whose request is still
        queued) are counted and ignored: VDP has no transaction identifier, lldpad behaves alike.
        """
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
        if not unsolicited:
            self._answered(vsi)
        outcome = self._classify(vsi, tlv, unsolicited)
        self._close(vsi, answered=True)
        self._run(vsi, Input.RESP, outcome)

    def _classify(self, vsi: _Vsi, tlv: VsiTlv, unsolicited: bool) -> Input:
        """The outcome input of a response (vdp.md §5.5, §7.4); sets the END reason/code.

        Order of the guards, as lldpad applies them: a bridge De-Associate (response bit clear)
        ends the VSI whatever it carries (Q-S10); then the filter match of §7.4 (N, MAC,
        GroupID; VID only where we sent one; the whole word only where we sent PS = 1); then
        the status octet of §5.5 (code 0 is success even with K/H set; otherwise K decides
        whether the previous state is kept).
        """
        self._code = code = tlv.status & 0x0F
        mode = int(tlv.mode)
        if unsolicited:
            self._reason = DeassocReason.BRIDGE
            return Input.OK_DEASSOC
        if not filters_match(vsi.tlv.filters, tlv.filters):
            self.stats.mismatches += 1
            self._reason, self._code = DeassocReason.MISMATCH, 5
            return Input.MISMATCH
        if vsi.state is State.TXMIT_DEAWAIT:  # any answer ends TXMIT_DEAWAIT_2 (§10.1)
            self._reason = DeassocReason.KEEP_ERROR
            return Input.RESP
        keepalive = vsi.state is State.TXMIT_KAWAIT
        if code == 0:  # success; K/H ignored (Q-S6)
            if vsi.tlv.filters != tlv.filters:  # adopt assigned VIDs/PCPs
                self._set_tlv(vsi, replace_vsi(vsi.tlv, filters=tlv.filters))
            if keepalive and mode != _DEASSOC:
                # [PROJECT] lldpad leaves the confirmed mode alone on keep-alive answers (the
                # transition is the same either way); qbg records what the bridge confirmed.
                vsi.conf_mode = mode
            if mode == _DEASSOC:  # our own De-Associate, or the bridge refusing by type 4 (Q-S5)
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
        # K keeps the previous state only after an Associate (S13 c, f); with type 4 the bridge
        # has withdrawn the VSI anyway.
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
        probe = self._probe_at()
        if probe is not None and t >= probe:
            self._probe()
        return self._flush()

    def next_deadline(self) -> float | None:
        if self._events:
            return timers.to_seconds(self._now)
        heap = self._heap
        while heap and heap[0][1] != heap[0][2].token:
            heapq.heappop(heap)
        d = heap[0][0] if heap else None
        probe = self._probe_at()
        if probe is not None and (d is None or probe < d):
            d = probe
        return None if d is None else timers.to_seconds(d)

    def _arm(self, vsi: _Vsi, deadline: int) -> None:
        """(Re)start the VSI's one timer; older heap entries of this VSI become stale.

        The heap is rebuilt from live entries when stale ones outnumber the VSIs 3 : 1, which
        bounds memory at O(VSIs) without a scan per expiry.
        """
        vsi.token = token = next(self._tokens)
        heap = self._heap
        heapq.heappush(heap, (deadline, token, vsi))
        if len(heap) > 64 and len(heap) > 3 * len(self._vsis):
            self._heap = [e for e in heap if e[1] == e[2].token]
            heapq.heapify(self._heap)

    @staticmethod
    def _disarm(vsi: _Vsi) -> None:
        """Stop the VSI's timer (its heap entry is skipped when it surfaces)."""
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
        # While the link drops frames, the pace estimate counts ECP's retry stalls as a slow
        # bridge.  The window then stays at least at what lets every keep-alive through once a
        # period, each answered within half a response wait: below that they starve for sure.
        floor = 1
        if t < self._wire_until:
            floor = -(-self._alive * self.resp_wait_us // (2 * self.keepalive_us))
        self._win.set_floor(floor)
        room = self._win.room  # window: unanswered requests allowed (vdp.md §2 last paragraph)
        only: bytes | None = None
        if room <= 0:
            # Fast re-sends replace requests the bridge lost: the window does not hold them
            # back (TCP sends a fast retransmission whatever its window).
            only = self._resend_head()
            if only is None:
                return None
        cap = 1 if self.lldpad_compatible_pacing else self._cap.cap
        # One Manager ID per VDPDU: a second Manager ID TLV makes lldpad drop the whole PDU
        # (vdp.md §2, Q-B1), so each Manager ID has its own FIFO and they take turns.
        for mgrid in [only] if only is not None else list(self._queues):
            q = self._queues[mgrid]
            while q and not q[0].queued:  # entries of ended or re-queued VSIs are stale
                q.popleft()
            if not q:
                del self._queues[mgrid]
                continue
            parts = [self._mgr(mgrid)]
            size = _MGR_LEN + len(_END)
            rec = _Pdu(self._pdu_no + 1, t)
            too_big = False
            while q and cap:
                vsi = q[0]
                if not vsi.queued:
                    q.popleft()
                    continue
                if room <= 0 and not vsi.bypass:
                    break
                wire = vsi.wire  # keep-alives repeat the same octets: encode once
                if wire is None:
                    wire = vsi.wire = vsi.tlv.encode() + vsi.org
                if size + len(wire) > max_len:
                    too_big = len(parts) == 1
                    break
                q.popleft()
                parts.append(wire)
                size += len(wire)
                room -= 1
                cap -= 1
                self._handed(vsi, t, rec)
            if len(parts) == 1 and not too_big:  # only stale entries or nothing sendable
                if not q:
                    del self._queues[mgrid]
                continue
            if too_big:  # the first TLV alone does not fit: ECP cannot carry it
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
            self._pdu_no = rec.no
            self._pdus.append(rec)
            self.stats.vdpdus += 1
            parts.append(_END)  # always: lldpad's parser needs the trailing zero word (Q-B1)
            rec.payload = b"".join(parts)
            return rec.payload
        return None

    def _mgr(self, mgrid: bytes) -> bytes:
        """The encoded Manager ID TLV for ``mgrid`` (cached: VDPDUs repeat it constantly)."""
        wire = self._mgr_wire.get(mgrid)
        if wire is None:
            wire = self._mgr_wire[mgrid] = ManagerIdTlv(mgrid=mgrid).encode()
        return wire

    def _handed(self, vsi: _Vsi, t: int, rec: _Pdu) -> None:
        """``vsi``'s TLV went into VDPDU ``rec`` for ECP: start its response wait (vdp.md §9)."""
        vsi.queued = vsi.bypass = False
        if self._win.outstanding == 0:  # a busy period starts
            self._last_answer = t
        vsi.sent = True
        self._win.sent(t)
        if vsi.resends:  # counted in stats.resends
            pass
        elif vsi.state is State.TXMIT_KAWAIT:
            self.stats.keepalives += 1
        else:
            self.stats.requests += 1
        self._arm(vsi, t + self.resp_wait_us)
        vsi.rec = rec
        rec.members.append((vsi, vsi.token))

    def _enqueue(self, vsi: _Vsi, *, first: bool = False) -> None:
        """Put ``vsi`` in its Manager ID's send FIFO (STATION_PROC / TXMIT_KA entry action: a
        new exchange); ``first``: at the head, as a re-send of the current exchange."""
        vsi.queued = True
        mgrid = vsi.key.mgrid
        q = self._queues.get(mgrid)
        if q is None:
            q = self._queues[mgrid] = deque()
        if first:
            q.appendleft(vsi)
        else:
            vsi.resends = 0
            q.append(vsi)

    # --- loss recovery (module docstring) -------------------------------------------------------

    def _answered(self, vsi: _Vsi) -> None:
        """An answer to ``vsi``'s outstanding request: judge the VDPDUs handed off before its
        own, which an in-order bridge has finished with."""
        self._last_answer, self._answering = self._now, True
        rec = vsi.rec
        if rec is None or vsi.resends or not vsi.sent:
            return  # an answer to a re-sent request tells nothing about order (Karn)
        rec.answered += 1
        lost: list[_Vsi] = []
        pdus = self._pdus
        while pdus and pdus[0].no < rec.no:
            lost += self._judge(pdus.popleft())
        self._resend(lost, fast=True)

    def ecp_gave_up(self, payload: bytes) -> None:
        """ECP gave up on the VDPDU ``payload`` (1 + R tries unacknowledged).  Its unanswered
        requests are found lost as usual (later answers, the probe) and sent again, but the
        loss is the wire's or a busy bridge's input queue, not a VDPDU the bridge took and
        dropped: it shrinks neither the window nor the VDPDU size [PROJECT].  The pace
        estimate (:class:`~qbg.vdp.common.PaceWindow`) still follows a slow bridge."""
        for rec in self._pdus:
            if rec.payload is payload:
                rec.wire = True
                return

    def wire_loss(self, now: float) -> None:
        """ECP just saw frames lost on this link: it retransmitted, or the bridge's sequence
        numbers skipped (it gave up on some of its answers).  Requests found lost from VDPDUs
        handed off so far, and any found lost within the next response wait, are blamed on the
        wire, not on the bridge: they are sent again but shrink neither the window nor the
        VDPDU size [PROJECT].  A lossy link shows retransmissions all the time; a bridge that
        takes VDPDUs and drops them (lldpad, Q-E4) shows none."""
        self._wire_mark = self._pdu_no
        self._wire_until = timers.to_us(now) + self.resp_wait_us

    def _wire(self, rec: _Pdu) -> bool:
        return rec.wire or rec.no <= self._wire_mark or self._now < self._wire_until

    def _judge(self, rec: _Pdu) -> list[_Vsi]:
        """A VDPDU the bridge is done with: learn from how much of it was answered; return the
        requests it lost.  Losses of VDPDUs handed off before the last cut are one loss event
        with it (TCP: one reduction per window).  Losses on the wire (:meth:`ecp_gave_up`,
        :meth:`wire_loss`) say nothing about the bridge's pace: under random loss, halving
        for each would starve the keep-alives (TCP's trouble on lossy links)."""
        missing = rec.missing()
        n = len(rec.members)
        if not missing:
            self._cap.full()
        elif self._wire(rec):
            self.stats.wire_losses += 1
        elif len(missing) < n:
            self.stats.partial_pdus += 1
            self._cap.partial(n - len(missing))
        else:
            self.stats.lost_pdus += 1
            if rec.no > self._cut_mark:
                self._cut_mark = self._pdu_no
                self._cap.cut(n)
                self._win.cut()
        return missing

    def _resend(self, lost: list[_Vsi], *, fast: bool) -> None:
        """Send ``lost`` again, ahead of everything queued, each at most EARLY_RESENDS times per
        exchange (then its response wait decides).  ``fast`` (losses seen from later answers):
        at once, whatever the window; otherwise as the window allows."""
        for vsi in reversed(lost):
            if vsi.resends >= EARLY_RESENDS or vsi.queued:
                continue
            self._close(vsi, answered=False)
            vsi.resends += 1
            self.stats.resends += 1
            self._enqueue(vsi, first=True)
            vsi.bypass = fast

    def _probe_at(self) -> int | None:
        """When silence of the bridge counts as a loss: only while requests are outstanding
        and once the bridge has answered anything since link up (a bridge that never answers is
        left to the response wait: lldpad sends nothing more either, vdp.md §10.1)."""
        if not self._answering or self._win.outstanding <= 0 or not self._pdus:
            return None
        return self._last_answer + self.probe_us

    def _probe(self) -> None:
        """The bridge, after answering some, answered nothing for ``probe_us``: every VDPDU
        handed off at least that long ago and not answered in full lost the rest (an in-order
        bridge that were merely slow would be answering the oldest).  The window restarts from
        one VDPDU's worth and paces the re-sends (TCP after a retransmission timeout)."""
        self._last_answer = t = self._now
        pdus = self._pdus
        lost: list[_Vsi] = []
        blamed = False  # a silent bridge, not only answers lost on the wire
        while pdus and pdus[0].t + self.probe_us <= t:
            rec = pdus.popleft()
            missing = self._judge(rec)
            lost += missing
            blamed = blamed or bool(missing and not self._wire(rec))
        if lost:
            self.stats.probes += len(lost)
            if blamed:
                self._win.collapse(self._cap.cap)
            self._resend(lost, fast=not blamed)

    def _close(self, vsi: _Vsi, *, answered: bool) -> None:
        """The VSI's exchange is over (answered, timed out, ended): free its window slot."""
        if vsi.sent:
            vsi.sent = False
            self._win.closed(self._now, self.resp_wait_us, answered)
        self._disarm(vsi)

    @staticmethod
    def _set_tlv(vsi: _Vsi, tlv: VsiTlv) -> None:
        """Replace the VSI's request TLV and drop the cached encoding."""
        vsi.tlv = tlv
        vsi.wire = None

    # --- the machine ---------------------------------------------------------------------------

    def _fire(self, vsi: _Vsi, inp: Input) -> None:
        """One table transition (STYLE habit 4); a missing entry is a bug, not a peer error."""
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
        """Run a transition's entry action (vdp.md §10.1, column "entry action")."""
        if action is Action.INIT:
            vsi.busy = True  # status := none (255) until the first answer
        elif action is Action.SEND:
            # STATION_PROC / TXMIT_KA: "build [MgrID][VSI TLV][End]; hand to ECP; stop the
            # keep-alive timer; start the response wait" — the build and the response wait
            # happen at pull() time, when ECP takes the TLV (vdp.md §9: from the hand-off).
            self._enqueue(vsi)
        elif action is Action.SEND_DEASSOC:  # TXMIT_DEASSOC: mode := De-Associate (S25)
            self.stats.deassoc_after_keep += 1
            vsi.busy = True
            self._set_tlv(vsi, replace_vsi(vsi.tlv, mode=VdpTlvType.DEASSOC))
            self._enqueue(vsi)
        elif action is Action.CONFIRM:  # PREASSOC_NEW / ASSOC_NEW: notify the client (success)
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
        elif action is Action.START_KA:  # WAIT_SYSCMD: keep-alive after each completed exchange
            vsi.busy = False
            if not vsi.alive:
                vsi.alive = True
                self._alive += 1
            self._arm(vsi, self._now + self.keepalive_us)
        elif action is Action.END:  # stop timers, delete, one VsiDeassociated (vdp.md §10.1)
            self._close(vsi, answered=False)
            vsi.queued = False
            vsi.conf_mode = _DEASSOC
            if vsi.alive:
                vsi.alive = False
                self._alive -= 1
            if self._vsis.get(vsi.key) is vsi:
                del self._vsis[vsi.key]
            self._events.append(
                VsiDeassociated(port=self.port, key=vsi.key, reason=self._reason, code=self._code)
            )

    def _flush(self) -> Output:
        """The events collected since the last entry point, as an :class:`Output`."""
        if not self._events:
            return Output()
        events, self._events = tuple(self._events), []
        return Output(events=events)
