"""qbg's draft 0.2 VDP bridge (vdp.md §13.3) [PROJECT][DRAFT].

lldpad's draft bridge is a stub that never answers (vdp.md §13.2 last point), so this bridge's
behaviour is qbg's own, chosen by analogy with the ratified bridge (:mod:`.bridge`):

* every request TLV is answered with the same TLV, response octet 0, mode equal to the
  request's, inside the next draft ECP request (all queued answers in one ECPDU);
* an invalid TLV (zero/multicast MAC, VLAN outside 1..4094, non-zero response octet) gets
  response 1 "invalid format"; changed filters of a known profile get 6 "out of sync"; a policy
  refusal gets its code mapped by :data:`_DRAFT_CODE` — and since the draft has no K bit, any
  refusal also deletes a known profile (the station reaches EXIT on any non-zero response);
* supervision 1.5 × (3 × 500 ms + 10 s) = 17.25 s (uncertain: no draft text available) from
  every answered request; on expiry, and on :meth:`DraftVdpBridge.withdraw`, the bridge sends
  the profile's TLV with mode 3 (De-Associate), response 0.

Policy decisions go through the ratified :class:`~qbg.vdp.policy.Policy` with the draft TLV
mapped onto a :class:`~qbg.vdp.policy.PolicyRequest` (manager ID as its 1-octet form zero
filled, VSI ID format 5, filter format 2, mode = draft mode + 1).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from enum import Enum

from ..evb import timers
from ..lldp.errors import DecodeError, LocalError
from ..lldp.events import Event, FrameDropped, Output
from .draft02 import DraftVdpdu, DraftVdpMode, DraftVdpResponse, DraftVdpTlv
from .draft_station import (
    _ASSOC,
    _DEASSOC,
    _END,
    _PRE,
    _PRE_RR,
    DraftKey,
    DraftVsiBound,
    DraftVsiReleased,
    _Heap,
    _Rec,
)
from .filters import FilterEntry
from .policy import AllowAll, Policy, PolicyRequest
from .vsiid import mac_ok

__all__ = ["BRIDGE_TRANSITIONS", "DraftBridgeInput", "DraftBridgeState", "DraftVdpBridge"]

# --- bridge (vdp.md §13.3) -----------------------------------------------------------------------


class DraftBridgeState(Enum):
    NONE = "NONE"
    PREASSOCIATED = "PREASSOCIATED"
    PREASSOCIATED_RR = "PREASSOCIATED_RR"
    ASSOCIATED = "ASSOCIATED"


class DraftBridgeInput(Enum):
    ACCEPT = "accept"  # new or changed mode, policy accepts
    KEEPALIVE = "keepalive"
    REFUSE = "refuse"  # invalid or policy refuses: answer with a response code
    DEASSOC = "deassoc"
    SUPERVISION = "supervision"
    WITHDRAW = "withdraw"


_DB, _BI = DraftBridgeState, DraftBridgeInput
BRIDGE_TRANSITIONS: dict[tuple[DraftBridgeState, DraftBridgeInput], tuple[str, bool]] = {
    (_DB.NONE, _BI.ACCEPT): ("bind", True),
    (_DB.NONE, _BI.REFUSE): ("reply-error", False),
    (_DB.NONE, _BI.DEASSOC): ("reply", False),
}
"""(state, input) → (action, record kept afterwards); the kept state follows the mode."""
for _b in (_DB.PREASSOCIATED, _DB.PREASSOCIATED_RR, _DB.ASSOCIATED):
    BRIDGE_TRANSITIONS[(_b, _BI.ACCEPT)] = ("bind", True)
    BRIDGE_TRANSITIONS[(_b, _BI.KEEPALIVE)] = ("reply", True)
    BRIDGE_TRANSITIONS[(_b, _BI.REFUSE)] = ("release-error", False)
    BRIDGE_TRANSITIONS[(_b, _BI.DEASSOC)] = ("release", False)
    BRIDGE_TRANSITIONS[(_b, _BI.SUPERVISION)] = ("withdraw", False)
    BRIDGE_TRANSITIONS[(_b, _BI.WITHDRAW)] = ("withdraw", False)
del _b

_BSTATE = {_PRE: _DB.PREASSOCIATED, _PRE_RR: _DB.PREASSOCIATED_RR, _ASSOC: _DB.ASSOCIATED}
_DRAFT_CODE = {1: 1, 2: 2, 3: 2, 4: 4, 5: 1}
"""Ratified error code (policy) → draft response octet [PROJECT]: no draft code for "unable to
contact the VSI manager" (3 → 2 insufficient resources), 5 invalid VID/MAC → 1 invalid format."""


class DraftVdpBridge:
    """qbg's draft 0.2 bridge: answer each TLV with the same TLV (mode = request's, response
    0 or an error), supervise with 17.25 s, withdraw with mode 3 (vdp.md §13.3)."""

    def __init__(
        self,
        *,
        port: str = "",
        policy: Policy | None = None,
        supervision_us: int = timers.DRAFT_SUPERVISION_US,
    ) -> None:
        self.port = port
        self.policy: Policy = policy if policy is not None else AllowAll()
        self.supervision_us = supervision_us
        self._recs: dict[DraftKey, _Rec] = {}
        self._replies: deque[bytes] = deque()
        self._timers = _Heap()
        self._events: list[Event] = []
        self._now = 0

    def __len__(self) -> int:
        """Number of profiles held on this port."""
        return len(self._recs)

    def state(self, key: DraftKey) -> DraftBridgeState:
        """``key``'s state; ``NONE`` for an unknown profile."""
        rec = self._recs.get(key)
        return _DB.NONE if rec is None else rec.state  # type: ignore[return-value]

    def receive_payload(self, payload: bytes, now: float) -> Output:
        """The TLVs of a received draft ECP request; never raises on bad bytes."""
        try:
            pdu = DraftVdpdu.decode(payload)
        except DecodeError as err:
            return Output(events=(FrameDropped(error=err),))
        return self.receive_vdpdu(pdu, now)

    def receive_vdpdu(self, pdu: DraftVdpdu, now: float) -> Output:
        """Answer every draft VDP TLV of ``pdu`` (vdp.md §13.3)."""
        self._now = timers.to_us(now)
        for tlv in pdu.vsis:
            self._request(tlv)
        return self._flush()

    def _policy_request(self, tlv: DraftVdpTlv, current: int | None) -> PolicyRequest:
        """Map a draft TLV onto the ratified :class:`PolicyRequest` (module docstring)."""
        return PolicyRequest(
            port=self.port,
            key=tlv.key(),
            mode=int(tlv.mode) + 1,
            mgrid=bytes([tlv.mgrid]) + bytes(15),
            type_id=tlv.type_id,
            type_version=tlv.type_version,
            vsiid_format=5,
            vsiid=tlv.instance,
            filter_format=2,
            filters=tuple(FilterEntry(vid=e.vid & 0xFFF, mac=e.mac) for e in tlv.entries),
            current_mode=current,
        )

    def _request(self, tlv: DraftVdpTlv) -> None:
        """Reduce one request to a :class:`DraftBridgeInput` (guards in code, habit 4).

        Order: De-Associate; validity (lldpad's draft receive checks of vdp.md §13.1 plus MAC
        and VLAN range); changed filters of a known profile (out of sync); same mode
        (keep-alive, no policy call); otherwise the policy decides.
        """
        key, mode = tlv.key(), int(tlv.mode)
        rec = self._recs.get(key) or _Rec(key, tlv, _DB.NONE)
        code = 0
        if mode == _DEASSOC:
            inp = _BI.DEASSOC
        elif (
            tlv.response
            or mode not in _BSTATE
            or not tlv.entries
            or any(not mac_ok(e.mac) or not 1 <= e.vid <= 4094 for e in tlv.entries)
        ):
            inp, code = _BI.REFUSE, DraftVdpResponse.INVALID_FORMAT
        elif rec.state is not _DB.NONE and rec.tlv.entries != tlv.entries:
            inp, code = _BI.REFUSE, DraftVdpResponse.OUT_OF_SYNC
        elif rec.state is _BSTATE[mode]:
            inp = _BI.KEEPALIVE
        else:
            current = None if rec.state is _DB.NONE else int(rec.tlv.mode) + 1
            decision = self.policy.decide(self._policy_request(tlv, current))
            if decision.accepted:
                inp = _BI.ACCEPT
            else:
                inp, code = _BI.REFUSE, _DRAFT_CODE.get(decision.code, 4)
        self._fire(rec, inp, tlv, code)

    def withdraw(self, key: DraftKey, now: float) -> Output:
        """Bridge-initiated De-Associate: delete now, send the TLV with mode 3, response 0."""
        self._now = timers.to_us(now)
        rec = self._recs.get(key)
        if rec is None:
            raise LocalError("EINVAL", "no such profile on this port")
        self._fire(rec, _BI.WITHDRAW, rec.tlv, 0)
        return self._flush()

    def timer(self, now: float) -> Output:
        """Expire the supervision timers due by ``now`` (17.25 s after the last answer)."""
        t = self._now = timers.to_us(now)
        for rec in self._timers.due(t):
            self._fire(rec, _BI.SUPERVISION, rec.tlv, 0)
        return self._flush()

    def next_deadline(self) -> float | None:
        """The earliest live supervision deadline, in seconds."""
        t = self._timers.next()
        return None if t is None else timers.to_seconds(t)

    def has_pending(self) -> bool:
        """Whether :meth:`pull` has answers to give."""
        return bool(self._replies)

    def pull(self, max_len: int, now: float | None = None) -> bytes | None:
        """Every queued reply that fits, then the End TLV (one draft ECPDU)."""
        parts: list[bytes] = []
        size = len(_END)
        q = self._replies
        while q and size + len(q[0]) <= max_len:
            wire = q.popleft()
            parts.append(wire)
            size += len(wire)
        if not parts:
            return None
        parts.append(_END)
        return b"".join(parts)

    def _fire(self, rec: _Rec, inp: DraftBridgeInput, tlv: DraftVdpTlv, code: int) -> None:
        """One table transition: bind / release / withdraw, restart supervision if kept,
        and queue the answer (the request echoed with its response code, or mode 3).
        """
        try:
            action, kept = BRIDGE_TRANSITIONS[(rec.state, inp)]  # type: ignore[index]
        except KeyError:
            raise AssertionError(f"draft bridge: no transition {rec.state} + {inp}") from None
        port, key = self.port, rec.key
        if action == "bind":
            self.policy.bound(self._policy_request(tlv, None), ())
            rec.tlv = tlv
            rec.state = _BSTATE[int(tlv.mode)]
            self._recs[key] = rec
            self._events.append(DraftVsiBound(port=port, key=key, mode=int(tlv.mode), tlv=tlv))
        if action in ("release", "release-error", "withdraw"):
            rec.token = 0
            rec.state = _DB.NONE
            del self._recs[key]
            self.policy.released(port, key)
            reason = {"release": "station", "release-error": "refused"}.get(action)
            if reason is None:
                reason = "supervision" if inp is _BI.SUPERVISION else "withdrawn"
            self._events.append(DraftVsiReleased(port=port, key=key, reason=reason))
        if kept:
            self._timers.arm(rec, self._now + self.supervision_us)
        if action == "withdraw":
            reply = dataclasses.replace(rec.tlv, mode=DraftVdpMode.DEASSOC, response=0)
        else:
            reply = dataclasses.replace(tlv, response=code)
        self._replies.append(reply.encode())

    def _flush(self) -> Output:
        """The events collected since the last entry point, as an :class:`Output`."""
        events, self._events = tuple(self._events), []
        return Output(events=events)
