"""The VDP bridge: per-VSI state and keep-alive supervision of one port (802.1Qbg-2012 41.5
[std-memory]; qbg behaviour of vdp.md §11.2, lldpad-compatible on the wire).

Strategy
--------
A :class:`VdpBridge` keeps one small ``__slots__`` record per VSI (the stored VSI TLV with the
filters the bridge confirmed, the state, a heap token).  Each received request is reduced by
guards in code — validation (:func:`~qbg.vdp.tlv.validate_request`), the filter comparison of
vdp.md §7.4, same mode or not, the :class:`~qbg.vdp.policy.Policy` decision — to one
:class:`Input`, and the table :data:`TRANSITIONS` gives the action and next state
(STYLE habit 4).  Unknown VSIs are in state ``NONE``; a VSI whose record is deleted goes back
to ``NONE``.

Supervision: every answered request restarts the VSI's timer ``1.5 × ((1 + 2R)·ack +
10 µs·2^RKA)`` (802.1Qbg-2012 41.5.5.9 as lldpad cites it; vdp.md §9); on expiry the bridge
removes the VSI and sends an unsolicited De-Associate (type 4, status 0x00).  Deadlines live in
one heap with lazy deletion, so 100 000 VSIs cost O(log n) per keep-alive and no timer objects.

Policy decisions are immediate (vdp.md §11.2 "PROCESSING" exists only for an asynchronous
policy, out of scope): the bridge answers within the resource wait delay because it answers at
once; a policy that cannot decide says ``UNABLE_TO_CONTACT_MANAGER`` (code 3).

Work in steps [PROJECT]: :meth:`VdpBridge.accept_ulpdu` decodes a VDPDU and queues its TLVs,
:meth:`VdpBridge.work` answers a bounded number of them, so an adapter can return to its event
loop between steps and ECP acks of PDUs arriving meanwhile are not held up by a 42-VSI batch
(the ack timer is 2.56 ms at RTE 8).  The replies of a PDU are held until its last TLV has been
answered, so they still leave packed as one batch.  :meth:`VdpBridge.receive_vdpdu` does it all
at once.

Keep-alives by their octets [PROJECT]: a request TLV that was found to be a keep-alive of a
VSI (or that created it) is remembered as it came, octet for octet; :meth:`accept_ulpdu`
recognises the same octets again without decoding or re-validating them (a keep-alive is
about 25 of 26 TLVs at 100,000 VSIs).  What made them a keep-alive — the stored TLV, the state,
the group-ID setting — can only change through the transitions that forget them.

Replies (vdp.md §11.2 last line, interop-lldpad.md Q-B9) leave through :meth:`VdpBridge.pull`
as ``[MgrID][VSI TLV][End]``, one per VDPDU by default; ``batch_replies`` packs consecutive
replies of one Manager ID into one VDPDU like the station does::

    request  [0a 10 mgr][06 21 00 ...]          reply [0a 10 mgr][06 21 40 ...][00 00]
    status:  0x40 success | 0x20 K (state kept) | 0x10 H (hard) | 0x0F code
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from ..evb import timers
from ..lldp.errors import DecodeError, LocalError
from ..lldp.events import Event, FrameDropped, Output
from .common import TimerParams, filters_match
from .events import RemoveReason, VsiAdded, VsiChanged, VsiRemoved, VsiRequestRefused
from .policy import AllowAll, Decision, Policy, PolicyRequest
from .tlv import (
    STATUS_HARD,
    STATUS_KEEP,
    STATUS_RESPONSE,
    MalformedVsiTlv,
    ManagerIdTlv,
    Vdpdu,
    VdpError,
    VdpTlvType,
    VsiKey,
    VsiTlv,
    replace_vsi,
    validate_request,
)

__all__ = [
    "TRANSITIONS",
    "BridgeInput",
    "BridgeState",
    "BridgeStats",
    "RemoveReason",
    "VdpBridge",
    "VsiAdded",
    "VsiChanged",
    "VsiRemoved",
    "VsiRequestRefused",
]

_DEASSOC = 4
_END = b"\x00\x00"
_MGR_LEN = 18


@dataclass(slots=True)
class BridgeStats:
    """Per-port VDP bridge counters (what lldpad's trace lines told its test suite)."""

    requests: int = 0
    keepalives: int = 0
    replies: int = 0
    vdpdus: int = 0
    invalid: int = 0
    refused: int = 0
    filter_mismatch: int = 0
    unknown_deassoc: int = 0
    supervision_expired: int = 0
    withdrawn: int = 0
    unexpected: int = 0  # TLVs with the response bit set
    malformed: int = 0  # VSI TLVs with inconsistent length: ignored, like lldpad
    dropped_pdus: int = 0


# --- the table (vdp.md §11.2) -------------------------------------------------------------------


class BridgeState(Enum):
    """Per-VSI bridge states of vdp.md §11.2 (``PROCESSING`` needs an async policy: none)."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    NONE = "NONE"  # no record (unknown key, or deleted)
    PREASSOCIATED = "PREASSOCIATED"
    PREASSOCIATED_RR = "PREASSOCIATED_RR"
    ASSOCIATED = "ASSOCIATED"


class BridgeInput(Enum):
    """What a request (or a timer, or the admin) reduces to after the guards of ``_request``."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    DEASSOC = "deassoc"  # request type 4
    INVALID = "invalid"  # validation failed (§6, §7.3, N = 0)
    FILTER_DIFFER = "filter-differ"
    KEEPALIVE = "keepalive"  # known VSI, same mode
    ACCEPT_PREASSOC = "accept-1"
    ACCEPT_PREASSOC_RR = "accept-2"
    ACCEPT_ASSOC = "accept-3"
    REFUSE = "refuse"
    SUPERVISION_EXPIRED = "supervision"
    WITHDRAW = "withdraw"


class BridgeAction(Enum):
    """The "action"/"reply" columns of vdp.md §11.2."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    REPLY_ECHO = "reply-echo"  # request's type, 0x40 | code (code 0 for type 4 of unknown)
    CREATE = "create"
    KEEPALIVE = "keepalive"
    CHANGE = "change"
    REPLY_KEEP = "reply-keep"  # request's type, 0x40 | K | code
    REMOVE = "remove"  # delete, reply type 4 0x40
    REMOVE_UNSOLICITED = "remove-unsolicited"  # delete, send type 4 0x00


# The table of vdp.md §11.2, row by row:
#   unknown VSI:  type 4 -> echo 0x40, no state | invalid -> echo 0x42 (strict 0x41/0x45)
#                 policy accepts -> create, reply 0x40 with assigned entries
#                 policy refuses -> echo 0x40 | code (| H)
#   known VSI:    same mode -> keep-alive (supervision restarted, stored TLV, 0x40)
#                 other mode accepted -> move (downgrades allowed), 0x40
#                 refused / invalid / filters differ -> K: 0x60 | code, state kept
#                 type 4 -> delete at once, 0x40 | supervision or admin -> delete, type 4 0x00
_B, _In, _Ac = BridgeState, BridgeInput, BridgeAction
_ACCEPTS = {
    _In.ACCEPT_PREASSOC: _B.PREASSOCIATED,
    _In.ACCEPT_PREASSOC_RR: _B.PREASSOCIATED_RR,
    _In.ACCEPT_ASSOC: _B.ASSOCIATED,
}
TRANSITIONS: dict[tuple[BridgeState, BridgeInput], tuple[BridgeAction | None, BridgeState]] = {
    (_B.NONE, _In.DEASSOC): (_Ac.REPLY_ECHO, _B.NONE),
    (_B.NONE, _In.INVALID): (_Ac.REPLY_ECHO, _B.NONE),
    (_B.NONE, _In.REFUSE): (_Ac.REPLY_ECHO, _B.NONE),
    **{(_B.NONE, i): (_Ac.CREATE, s) for i, s in _ACCEPTS.items()},
}
for _st in (_B.PREASSOCIATED, _B.PREASSOCIATED_RR, _B.ASSOCIATED):
    TRANSITIONS[(_st, _In.KEEPALIVE)] = (_Ac.KEEPALIVE, _st)
    for _i, _s in _ACCEPTS.items():
        TRANSITIONS[(_st, _i)] = (_Ac.CHANGE, _s)
    TRANSITIONS[(_st, _In.REFUSE)] = (_Ac.REPLY_KEEP, _st)
    TRANSITIONS[(_st, _In.INVALID)] = (_Ac.REPLY_KEEP, _st)
    TRANSITIONS[(_st, _In.FILTER_DIFFER)] = (_Ac.REPLY_KEEP, _st)
    TRANSITIONS[(_st, _In.DEASSOC)] = (_Ac.REMOVE, _B.NONE)
    TRANSITIONS[(_st, _In.SUPERVISION_EXPIRED)] = (_Ac.REMOVE_UNSOLICITED, _B.NONE)
    TRANSITIONS[(_st, _In.WITHDRAW)] = (_Ac.REMOVE_UNSOLICITED, _B.NONE)
del _B, _In, _Ac, _st, _i, _s

_MODE_STATE = {
    1: BridgeState.PREASSOCIATED,
    2: BridgeState.PREASSOCIATED_RR,
    3: BridgeState.ASSOCIATED,
}
_ACCEPT_INPUT = {
    1: BridgeInput.ACCEPT_PREASSOC,
    2: BridgeInput.ACCEPT_PREASSOC_RR,
    3: BridgeInput.ACCEPT_ASSOC,
}


class _Vsi:
    """One bridge VSI: the stored TLV (mode, hints, confirmed filters) and its timer token."""

    __slots__ = ("key", "ok_wire", "raw", "state", "tlv", "token")

    def __init__(self, key: VsiKey, tlv: VsiTlv) -> None:
        self.key = key
        self.tlv = tlv
        self.ok_wire: bytes = b""  # cached success reply (keep-alive answer)
        self.raw: bytes = b""  # a request TLV (header included) known to be its keep-alive
        self.state = BridgeState.NONE
        self.token = 0


class VdpBridge:
    """The VDP bridge of one port (sans-IO; see the module docstring).

    ``policy`` decides resources (default :class:`~qbg.vdp.policy.AllowAll`, lldpad-like);
    ``strict_error_codes`` answers invalid requests with 0x41/0x45 instead of lldpad's 0x42;
    ``batch_replies`` packs replies; ``hard_withdraw`` sends bridge-initiated De-Associates
    as ``H | code 4`` (0x14) instead of 0x00 (vdp.md §11.2, uncertain).

    Entry points: :meth:`receive_vdpdu` / :meth:`receive_ulpdu` (requests delivered by ECP),
    :meth:`timer` / :meth:`next_deadline` (supervision), :meth:`withdraw` and
    :meth:`revalidate` (admin), :meth:`pull` (replies for ECP).  Events go to the adapter,
    which programs VLAN membership and FDB entries from them (vdp.md §11.3).

    Cost model (bench target: 100 000 VSIs with keep-alives at RKA 20): per VSI one slotted
    record, one cached success reply and one live heap entry; a keep-alive is one dict
    lookup, one filter comparison, one heap push and one queued ``bytes``.
    """

    def __init__(
        self,
        *,
        port: str = "",
        policy: Policy | None = None,
        r: int = 3,
        rte: int = 8,
        rwd: int = 20,
        rka: int = 20,
        group_ids: bool = False,
        strict_error_codes: bool = False,
        batch_replies: bool = False,
        hard_withdraw: bool = False,
    ) -> None:
        self.port = port
        self.policy: Policy = policy if policy is not None else AllowAll()
        self.strict_error_codes = strict_error_codes
        self.batch_replies = batch_replies
        self.hard_withdraw = hard_withdraw
        self.stats = BridgeStats()
        self._vsis: dict[VsiKey, _Vsi] = {}
        self._replies: deque[tuple[bytes, bytes]] = deque()  # (mgrid, TLV octets)
        # queued requests of accept_ulpdu (None ends a PDU) and the replies of the PDU being
        # worked on (the newest ``_held`` entries of _replies: not pulled before it is done)
        self._input: deque[tuple[bytes, VsiTlv | MalformedVsiTlv | _Vsi, bytes] | None] = deque()
        self._raw: dict[bytes, dict[bytes, _Vsi]] = {}  # mgrid -> keep-alive octets -> VSI
        self._in_pdu = False
        self._held = 0
        self._heap: list[tuple[int, int, _Vsi]] = []
        self._tokens = itertools.count(1)
        self._events: list[Event] = []
        self._now = 0
        self._mgr_wire: dict[bytes, bytes] = {}
        self.set_timers(r=r, rte=rte, rwd=rwd, rka=rka, group_ids=group_ids)

    def set_timers(self, *, r: int, rte: int, rwd: int, rka: int, group_ids: bool) -> None:
        """New operational values; applied at each VSI's next supervision restart (S24 b)."""
        self.supervision_us = timers.supervision_us(r, rte, rka)
        self.resource_wait_us = timers.resource_wait_us(rwd)
        if group_ids != getattr(self, "group_ids", group_ids):
            self._raw.clear()  # validation depends on it
        self.group_ids = group_ids

    def apply(self, negotiated: TimerParams) -> None:
        """:meth:`set_timers` from a ``Negotiated`` value (``qbg.evb.negotiation``)."""
        n = negotiated
        self.set_timers(r=n.r, rte=n.rte, rwd=n.rwd, rka=n.rka, group_ids=n.group_ids)

    # --- queries -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of VSIs the bridge holds on this port."""
        return len(self._vsis)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is a known VSI."""
        return key in self._vsis

    def __iter__(self) -> Iterator[VsiKey]:
        """The VSI keys (a snapshot)."""
        return iter(list(self._vsis))

    def state(self, key: VsiKey) -> BridgeState:
        """``key``'s state; ``NONE`` for an unknown VSI."""
        vsi = self._vsis.get(key)
        return BridgeState.NONE if vsi is None else vsi.state

    def vsi(self, key: VsiKey) -> VsiTlv | None:
        """The stored TLV (mode, hints, confirmed filters) of ``key``."""
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.tlv

    def wire(self, key: VsiKey) -> bytes | None:
        """The stored TLV encoded as the bridge answers it (status 0x40; cached), which
        :meth:`restore` takes back (it resets the status)."""
        vsi = self._vsis.get(key)
        return None if vsi is None else vsi.ok_wire

    def keys(self) -> list[VsiKey]:
        """The VSI keys as a list."""
        return list(self._vsis)

    def has_pending(self) -> bool:
        """Whether :meth:`pull` has a reply or bridge-initiated De-Associate to give."""
        return len(self._replies) > self._held

    def has_work(self) -> bool:
        """Whether requests queued by :meth:`accept_ulpdu` wait for :meth:`work`."""
        return bool(self._input)

    # --- receive -------------------------------------------------------------------------------

    def receive_ulpdu(self, ulpdu: bytes, now: float) -> Output:
        """A VDPDU delivered by ECP; never raises on bad bytes (a bad PDU gets no reply)."""
        try:
            pdu = Vdpdu.decode(ulpdu, lenient=True)
        except DecodeError as err:
            self.stats.dropped_pdus += 1
            return Output(events=(FrameDropped(error=err),))
        return self.receive_vdpdu(pdu, now)

    def accept_ulpdu(self, ulpdu: bytes, now: float) -> Output:
        """Decode a VDPDU delivered by ECP and queue its requests for :meth:`work`; never
        raises on bad bytes (a bad PDU is dropped whole: nothing queued, no reply).

        A PDU of only a Manager ID and VSI TLVs is walked here, known keep-alive octets are
        not decoded; anything else (org TLVs, errors) goes through :meth:`Vdpdu.decode`."""
        data = ulpdu if type(ulpdu) is bytes else bytes(ulpdu)
        items = self._scan(data)
        if items is None:
            try:
                pdu = Vdpdu.decode(data, lenient=True)
            except DecodeError as err:
                self.stats.dropped_pdus += 1
                return Output(events=(FrameDropped(error=err),))
            mgrid = pdu.mgrid
            items = [
                (mgrid, tlv, b"")
                for tlv in pdu.tlvs[1:]
                if type(tlv) is VsiTlv or type(tlv) is MalformedVsiTlv
            ]
        self._input.extend(items)
        self._input.append(None)
        return Output()

    def _scan(
        self, data: bytes
    ) -> list[tuple[bytes, VsiTlv | MalformedVsiTlv | _Vsi, bytes]] | None:
        """The requests of ``[MgrID][VSI TLV]...[End][padding]``, or None for any other shape
        (the full decoder then decides, errors included).  Same TLV walk as Vdpdu.decode."""
        n = len(data)
        if n < 18 or data[0] != 0x0A or data[1] != 0x10:  # type 5, length 16
            return None
        mgrid = data[2:18]
        known = self._raw.get(mgrid)
        items: list[tuple[bytes, VsiTlv | MalformedVsiTlv | _Vsi, bytes]] = []
        pos = 18
        while pos + 2 <= n:
            t = data[pos] >> 1
            length = ((data[pos] & 1) << 8) | data[pos + 1]
            if t == 0:
                break  # End TLV, or padding
            end = pos + 2 + length
            if end > n or not 1 <= t <= 4:
                return None
            raw = data[pos:end]
            vsi = known.get(raw) if known is not None else None
            if vsi is not None:
                items.append((mgrid, vsi, raw))
            else:
                value = data[pos + 2 : end]
                try:
                    items.append((mgrid, VsiTlv.decode_value(t, value, pos), raw))
                except DecodeError as exc:
                    items.append(
                        (mgrid, MalformedVsiTlv(tlv_type=t, value=value, reason=exc.reason), raw)
                    )
            pos = end
        return items

    def work(self, now: float, limit: int = 0) -> Output:
        """Answer up to ``limit`` queued requests (0: all), in order.  The replies of a PDU
        become pullable when its last request has been answered."""
        self._now = timers.to_us(now)
        queue = self._input
        done = 0
        while queue and (not limit or done < limit):
            item = queue.popleft()
            if item is None:  # the PDU is complete: its replies may go
                self._in_pdu = False
                self._held = 0
                continue
            self._in_pdu = True
            done += 1
            mgrid, tlv, raw = item
            if type(tlv) is _Vsi:  # known keep-alive octets: still its keep-alive?
                vsi = tlv
                known = self._raw.get(mgrid)
                if known is not None and known.get(raw) is vsi:
                    self.stats.requests += 1
                    self.stats.keepalives += 1
                    self._transition(vsi, BridgeInput.KEEPALIVE, vsi.tlv, 0)
                    continue
                # something changed the VSI since: decode the octets after all
                value = raw[2:]
                try:
                    tlv = VsiTlv.decode_value(raw[0] >> 1, value)
                except DecodeError as exc:  # pragma: no cover - these octets decoded before
                    tlv = MalformedVsiTlv(tlv_type=raw[0] >> 1, value=value, reason=exc.reason)
            if type(tlv) is VsiTlv:
                if tlv.response:  # a bridge accepts requests only (§5.4)
                    self.stats.unexpected += 1
                else:
                    self._request(mgrid, tlv, raw)
            else:
                assert type(tlv) is MalformedVsiTlv
                self._malformed(mgrid, tlv)
        if queue and queue[0] is None:  # finished exactly at a PDU's end: release now
            queue.popleft()
            self._in_pdu = False
            self._held = 0
        return self._flush()

    def receive_vdpdu(self, pdu: Vdpdu, now: float) -> Output:
        """Answer every VSI TLV of ``pdu`` under its Manager ID (vdp.md §2, §11.2)."""
        self._now = timers.to_us(now)
        mgrid = pdu.mgrid
        for tlv in pdu.tlvs[1:]:
            if type(tlv) is VsiTlv:
                if tlv.response:  # a bridge accepts requests only (§5.4)
                    self.stats.unexpected += 1
                else:
                    self._request(mgrid, tlv)
            elif type(tlv) is MalformedVsiTlv:
                self._malformed(mgrid, tlv)
        return self._flush()

    def _malformed(self, mgrid: bytes, tlv: MalformedVsiTlv) -> None:
        """S26: a length/N inconsistency gets no reply (lldpad); an unknown filter format in an
        otherwise complete TLV is answered as invalid (qbg, vdp.md scenarios S26)."""
        v = tlv.value
        if len(v) < 25 or v[0] & STATUS_RESPONSE or 1 <= v[22] <= 4:
            self.stats.malformed += 1
            return
        self.stats.invalid += 1
        code = VdpError.INVALID_FORMAT if self.strict_error_codes else self._default_code
        raw = MalformedVsiTlv(tlv_type=tlv.tlv_type, value=bytes((STATUS_RESPONSE | code,)) + v[1:])
        self._replies.append((mgrid, raw.encode()))
        if self._in_pdu:
            self._held += 1

    _default_code = VdpError.INSUFFICIENT_RESOURCES

    def _request(self, mgrid: bytes, tlv: VsiTlv, raw: bytes = b"") -> None:
        """Reduce one request to a :class:`BridgeInput` (the guards of vdp.md §11.2).

        Order: unknown + type 4 (answered statelessly, like lldpad); validation (§6, §7.3,
        N = 0); for a known VSI the §7.4 filter comparison with the request as reference (a
        wildcard matches the VID the bridge assigned, so a restarted station's re-association
        is a keep-alive); type 4; same mode (keep-alive: no policy re-evaluation); otherwise the
        policy decides (new VSI or mode change).
        """
        self.stats.requests += 1
        key = tlv.key(mgrid)
        vsi = self._vsis.get(key)
        mode = int(tlv.mode)
        code = 0
        decision: Decision | None = None
        if vsi is None:
            if mode == _DEASSOC:
                self.stats.unknown_deassoc += 1
                self._transition(_Vsi(key, tlv), BridgeInput.DEASSOC, tlv, 0)
                return
            vsi = _Vsi(key, tlv)
        err = validate_request(tlv, self.group_ids)
        if err:
            self.stats.invalid += 1
            code = err if self.strict_error_codes else self._default_code
            inp = BridgeInput.INVALID
        elif vsi.state is not BridgeState.NONE and not filters_match(tlv.filters, vsi.tlv.filters):
            self.stats.filter_mismatch += 1
            inp, code = BridgeInput.FILTER_DIFFER, VdpError.INVALID_VID_GROUP_MAC
        elif mode == _DEASSOC:
            inp = BridgeInput.DEASSOC
        elif vsi.state is _MODE_STATE[mode]:
            self.stats.keepalives += 1
            inp = BridgeInput.KEEPALIVE
        else:
            decision = self.policy.decide(self._policy_request(vsi, tlv))
            if decision.accepted:
                inp = _ACCEPT_INPUT[mode]
            else:
                self.stats.refused += 1
                inp, code = BridgeInput.REFUSE, decision.code
        self._transition(vsi, inp, tlv, code, decision)
        # remember octets that are (now) this VSI's keep-alive: the same test would say so
        if (
            raw
            and vsi.raw != raw
            and (
                inp is BridgeInput.KEEPALIVE
                or (
                    inp in _ACCEPTS
                    and vsi.state is _MODE_STATE[mode]
                    and filters_match(tlv.filters, vsi.tlv.filters)
                )
            )
        ):
            self._forget_raw(vsi)
            vsi.raw = raw
            self._raw.setdefault(mgrid, {})[raw] = vsi

    def _forget_raw(self, vsi: _Vsi) -> None:
        """The VSI's stored TLV or state changes: its keep-alive octets may no longer be one."""
        if vsi.raw:
            known = self._raw.get(vsi.key.mgrid)
            if known is not None and known.get(vsi.raw) is vsi:
                del known[vsi.raw]
            vsi.raw = b""

    def _policy_request(self, vsi: _Vsi, tlv: VsiTlv) -> PolicyRequest:
        """The :class:`PolicyRequest` for ``tlv``; a known VSI offers its stored filters."""
        known = vsi.state is not BridgeState.NONE
        return PolicyRequest(
            port=self.port,
            key=vsi.key,
            mode=int(tlv.mode),
            mgrid=vsi.key.mgrid,
            type_id=tlv.type_id,
            type_version=tlv.type_version,
            vsiid_format=int(tlv.vsiid_format),
            vsiid=tlv.vsiid,
            filter_format=int(tlv.filter_format),
            filters=vsi.tlv.filters if known else tlv.filters,
            current_mode=int(vsi.tlv.mode) if known else None,
            migrating=tlv.migrating,
        )

    # --- admin ---------------------------------------------------------------------------------

    def withdraw(self, key: VsiKey, now: float) -> Output:
        """Bridge-initiated De-Associate (S9): remove at once, send type 4 status 0x00."""
        self._now = timers.to_us(now)
        vsi = self._vsis.get(key)
        if vsi is None:
            raise LocalError("EINVAL", "no such VSI on this port")
        self.stats.withdrawn += 1
        self._transition(vsi, BridgeInput.WITHDRAW, vsi.tlv, 0)
        return self._flush()

    def drop_replies(self) -> int:
        """Forget the replies not yet handed to ECP (the link went down with them queued).

        After a long link outage the station re-sends every VSI's request at link up; replies
        and withdrawals queued while the link was down would reach it first and end VSIs it is
        just re-confirming.  What they said is still true at the bridge and is answered again
        by the station's requests (vdp.md §10.3, S17) [PROJECT].  Returns how many were dropped.
        """
        n = len(self._replies)
        self._replies.clear()
        self._held = 0
        return n

    def restore(self, mgrid: bytes, tlv: VsiTlv, now: float) -> None:
        """Re-create a VSI recorded before a restart of the bridge agent [PROJECT].

        The VSI is in ``tlv.mode`` with ``tlv.filters`` (as confirmed then) and its supervision
        starts now: the station's next keep-alive (within 10 µs·2^RKA) confirms it as an
        ordinary known VSI; if the station is gone too, supervision removes it (S8).  Nothing
        is sent and no event is emitted: the adapter reconciles the data plane from the same
        records.  The policy is told what is bound so conflicts stay detectable.
        """
        self._now = timers.to_us(now)
        mode = int(tlv.mode)
        if mode not in _MODE_STATE:
            raise LocalError("EINVAL", f"cannot restore a VSI in mode {mode}")
        key = tlv.key(mgrid)
        vsi = self._vsis.get(key)
        if vsi is None:
            vsi = self._vsis[key] = _Vsi(key, tlv)
        self._forget_raw(vsi)
        vsi.tlv = tlv = replace_vsi(tlv, status=0)
        vsi.ok_wire = replace_vsi(tlv, status=STATUS_RESPONSE).encode()
        vsi.state = _MODE_STATE[mode]
        self.policy.bound(self._policy_request_for(vsi), tlv.filters)
        self._supervise(vsi)

    def revalidate(self, now: float, keys: Iterable[VsiKey] | None = None) -> Output:
        """Ask the policy again for ``keys`` (default: every VSI) after a policy change and
        withdraw those it now refuses (vdp.md §11.2 "policy change invalidates it")."""
        self._now = timers.to_us(now)
        for key in list(self._vsis) if keys is None else list(keys):
            vsi = self._vsis.get(key)
            if vsi is None:
                continue
            self.policy.released(self.port, key)  # re-decide as if new, then re-bind
            req = dataclasses.replace(self._policy_request(vsi, vsi.tlv), current_mode=None)
            decision = self.policy.decide(req)
            if decision.accepted:
                self.policy.bound(req, vsi.tlv.filters)
            else:
                self.stats.withdrawn += 1
                self._transition(vsi, BridgeInput.WITHDRAW, vsi.tlv, 0)
        return self._flush()

    # --- timers --------------------------------------------------------------------------------

    def timer(self, now: float) -> Output:
        """Expire every supervision timer due at or before ``now`` (S8)."""
        t = self._now = timers.to_us(now)
        heap = self._heap
        while heap and heap[0][0] <= t:
            _, token, vsi = heapq.heappop(heap)
            if token != vsi.token:
                continue
            vsi.token = 0
            self.stats.supervision_expired += 1
            self._transition(vsi, BridgeInput.SUPERVISION_EXPIRED, vsi.tlv, 0)
        return self._flush()

    def next_deadline(self) -> float | None:
        """The earliest live supervision deadline (stale heap entries are dropped)."""
        heap = self._heap
        while heap and heap[0][1] != heap[0][2].token:
            heapq.heappop(heap)
        return timers.to_seconds(heap[0][0]) if heap else None

    def _supervise(self, vsi: _Vsi) -> None:
        """(Re)start the VSI's supervision: 1.5 × ((1 + 2R)·ack + 10 µs·2^RKA), 41.5.5.9.

        Started when the request is answered, which for qbg is when it arrives (lldpad starts
        it at its reply ≈ 2.3 ms later, vdp.md §9).
        """
        vsi.token = token = next(self._tokens)
        deadline = self._now + self.supervision_us
        heap = self._heap
        heapq.heappush(heap, (deadline, token, vsi))
        if len(heap) > 64 and len(heap) > 3 * len(self._vsis):
            self._heap = [e for e in heap if e[1] == e[2].token]
            heapq.heapify(self._heap)

    # --- output --------------------------------------------------------------------------------

    def pull(self, max_len: int, now: float | None = None) -> bytes | None:
        """The next reply VDPDU ``[MgrID][VSI TLV]...[End]`` (one TLV unless
        ``batch_replies``), at most ``max_len`` octets, or ``None``."""
        q = self._replies
        free = len(q) - self._held  # the replies of a PDU still being worked on stay
        if free <= 0:
            return None
        mgrid, first = q.popleft()
        free -= 1
        parts = [self._mgr(mgrid), first]
        size = _MGR_LEN + len(first) + len(_END)
        if self.batch_replies:
            while free and q[0][0] == mgrid and size + len(q[0][1]) <= max_len:
                wire = q.popleft()[1]
                free -= 1
                parts.append(wire)
                size += len(wire)
        parts.append(_END)
        self.stats.vdpdus += 1
        return b"".join(parts)

    def _mgr(self, mgrid: bytes) -> bytes:
        """The encoded Manager ID TLV (cached)."""
        wire = self._mgr_wire.get(mgrid)
        if wire is None:
            wire = self._mgr_wire[mgrid] = ManagerIdTlv(mgrid=mgrid).encode()
        return wire

    # --- the machine ---------------------------------------------------------------------------

    def _transition(
        self,
        vsi: _Vsi,
        inp: BridgeInput,
        tlv: VsiTlv,
        code: int,
        decision: Decision | None = None,
    ) -> None:
        """One table transition and its action (STYLE habit 4; vdp.md §11.2's columns).

        Every action that changes the VSI table emits its event before the frame it causes
        is queued, so an adapter removes data-plane state before the De-Associate leaves (S9).
        """
        try:
            action, nxt = TRANSITIONS[(vsi.state, inp)]
        except KeyError:
            raise AssertionError(
                f"VDP bridge: no transition {vsi.state.name} + {inp.name}"
            ) from None
        old_state, old_tlv = vsi.state, vsi.tlv
        vsi.state = nxt
        mgrid = vsi.key.mgrid
        port, key = self.port, vsi.key
        if action is BridgeAction.REPLY_ECHO:  # unknown VSI: echo with 0x40 | code (| H)
            hard = decision is not None and decision.hard
            if code:
                self._events.append(
                    VsiRequestRefused(
                        port=port, key=key, mode=int(tlv.mode), code=code, keep=False, hard=hard
                    )
                )
            status = STATUS_RESPONSE | code | (STATUS_HARD if hard and code else 0)
            self._send(mgrid, replace_vsi(tlv, status=status).encode())
        elif action is BridgeAction.REPLY_KEEP:  # known VSI refused: K, previous state kept
            self._events.append(
                VsiRequestRefused(
                    port=port, key=key, mode=int(tlv.mode), code=code, keep=True, hard=False
                )
            )
            status = STATUS_RESPONSE | STATUS_KEEP | code
            self._send(mgrid, replace_vsi(tlv, status=status).encode())
            self._supervise(vsi)
        elif action is BridgeAction.KEEPALIVE:  # same TLV as stored (assigned VIDs), 0x40
            self._send(mgrid, vsi.ok_wire)
            self._supervise(vsi)
        elif action in (BridgeAction.CREATE, BridgeAction.CHANGE):
            # Policy accepted: store the confirmed filters (wildcards assigned) and answer
            # with them; 1 records, 2 reserves, 3 programs the data plane (§11.3, adapter).
            assert decision is not None
            self._forget_raw(vsi)
            stored = replace_vsi(tlv, filters=decision.filters)
            vsi.tlv = stored
            vsi.ok_wire = replace_vsi(stored, status=STATUS_RESPONSE).encode()
            self.policy.bound(self._policy_request_for(vsi), decision.filters)
            if action is BridgeAction.CREATE:
                self._vsis[key] = vsi
                self._events.append(
                    VsiAdded(port=port, key=key, mode=int(tlv.mode), filters=decision.filters)
                )
            else:
                self._events.append(
                    VsiChanged(
                        port=port,
                        key=key,
                        old_mode=int(old_tlv.mode),
                        mode=int(tlv.mode),
                        filters=decision.filters,
                    )
                )
            self._send(mgrid, vsi.ok_wire)
            self._supervise(vsi)
        else:  # REMOVE (station De-Associate: at once, Q-B7 fixed) / REMOVE_UNSOLICITED (S8, S9)
            assert old_state is not BridgeState.NONE
            self._forget_raw(vsi)
            vsi.token = 0
            del self._vsis[key]
            self.policy.released(port, key)
            reason = {
                BridgeInput.DEASSOC: RemoveReason.STATION,
                BridgeInput.SUPERVISION_EXPIRED: RemoveReason.SUPERVISION,
            }.get(inp, RemoveReason.WITHDRAWN)
            self._events.append(
                VsiRemoved(
                    port=port,
                    key=key,
                    mode=int(old_tlv.mode),
                    filters=old_tlv.filters,
                    reason=reason,
                )
            )
            if action is BridgeAction.REMOVE:
                status = STATUS_RESPONSE
            else:
                status = STATUS_HARD | VdpError.OTHER_FAILURE if self.hard_withdraw else 0
            out = replace_vsi(old_tlv, mode=VdpTlvType.DEASSOC, status=status)
            self._send(mgrid, out.encode())

    def _policy_request_for(self, vsi: _Vsi) -> PolicyRequest:
        """The request to report to :meth:`Policy.bound` for the stored TLV."""
        tlv = vsi.tlv
        key = vsi.key
        return PolicyRequest(
            port=self.port,
            key=key,
            mode=int(tlv.mode),
            mgrid=key.mgrid,
            type_id=tlv.type_id,
            type_version=tlv.type_version,
            vsiid_format=int(tlv.vsiid_format),
            vsiid=tlv.vsiid,
            filter_format=int(tlv.filter_format),
            filters=tlv.filters,
            current_mode=None,
            migrating=tlv.migrating,
        )

    def _send(self, mgrid: bytes, wire: bytes) -> None:
        """Queue one reply TLV under its Manager ID."""
        self.stats.replies += 1
        self._replies.append((mgrid, wire))
        if self._in_pdu:
            self._held += 1

    def _flush(self) -> Output:
        """The events collected since the last entry point, as an :class:`Output`."""
        if not self._events:
            return Output()
        events, self._events = tuple(self._events), []
        return Output(events=events)
