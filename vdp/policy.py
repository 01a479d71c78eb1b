"""Bridge resource decisions for VDP: the ``Policy`` protocol and two implementations.

Strategy: the bridge machine (``vdp/bridge.py``) owns the protocol rules of vdp.md §11.2 — what
to answer, which status bits to set, when to delete — and asks a :class:`Policy` only the
question the standard leaves to the bridge's VSI type database (802.1Qbg-2012 41.1/41.2
[std-memory]): *may this VSI, with this VSI type and these filters, enter this mode on this
port, and with which VID/PCP for its wildcard entries?*  A policy answers with a frozen
:class:`Decision`; the bridge then tells it what was bound (:meth:`Policy.bound`) and released
(:meth:`Policy.released`) so that a policy shared by many ports can count VSIs and detect MAC/VID
conflicts across ports.

Decisions are immediate [PROJECT]: the resource wait delay of 802.1Qbg-2012 (10 µs·2^RWD,
vdp.md §9) bounds how long a bridge may think, and since every policy here answers at once the
bridge answers at once.  A policy that cannot reach its VSI manager says so with
``Decision.refuse(VdpError.UNABLE_TO_CONTACT_MANAGER)`` — the answer vdp.md §11.2 prescribes when
no decision is available within the resource wait delay.

Filter rewriting rules (vdp.md §7.4, interop-lldpad.md Q-S4): a policy may replace a VID only
where the station sent VID 0 (wildcard) and may set PS/PCP only where the station sent PS = 0;
MACs and GroupIDs are never changed.  :func:`assign` enforces this, so a policy cannot produce a
response that lldpad's station would reject as a mismatch.

Filter entry, as seen by a policy (vdp.md §7.1/§7.2)::

    +-----------+-----------+---+-----+------+
    | GroupID?  | MAC?      |PS | PCP | VID  |    formats: 1 VID, 2 MAC/VID,
    | (3, 4)    | (2, 4)    |1b | 3b  | 12b  |             3 GroupID/VID, 4 GroupID/MAC/VID
    +-----------+-----------+---+-----+------+
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .filters import FilterEntry
from .tlv import VdpError

__all__ = [
    "AllowAll",
    "Bindings",
    "Decision",
    "Policy",
    "PolicyRequest",
    "TypeDbPolicy",
    "VsiType",
    "assign",
]

_PREASSOC = 1
_PREASSOC_RR = 2
_ASSOC = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRequest:
    """Everything a policy may look at for one request (values of the received VSI TLV).

    ``current_mode`` is ``None`` for a VSI the bridge does not know yet, else the mode it is in;
    ``filters`` are the station's entries for a new VSI and the bridge's stored (already
    assigned) entries for a known one.  ``migrating`` is the M hint (status 0x10, vdp.md §5.1).
    """

    port: str
    key: Hashable
    mode: int
    mgrid: bytes
    type_id: int
    type_version: int
    vsiid_format: int
    vsiid: bytes
    filter_format: int
    filters: tuple[FilterEntry, ...]
    current_mode: int | None = None
    migrating: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A policy's answer: accept (with the filters to confirm) or refuse with a VDP error code.

    ``hard`` marks a refusal as permanent; the bridge sets the H bit (status 0x10) for it when
    the VSI is new (vdp.md §5.2, §11.2).
    """

    accepted: bool
    filters: tuple[FilterEntry, ...] = ()
    code: int = VdpError.SUCCESS
    hard: bool = False

    @classmethod
    def accept(cls, filters: tuple[FilterEntry, ...]) -> Decision:
        return cls(accepted=True, filters=filters)

    @classmethod
    def refuse(cls, code: int = VdpError.INSUFFICIENT_RESOURCES, *, hard: bool = False) -> Decision:
        if not 1 <= code <= 15:
            raise ValueError(f"refusal code {code} outside 1..15")
        return cls(accepted=False, code=code, hard=hard)


class Policy(Protocol):
    """What the bridge machine asks (``decide``) and tells (``bound``, ``released``)."""

    def decide(self, req: PolicyRequest) -> Decision:
        """Accept or refuse ``req``; must not raise and must answer immediately."""
        ...

    def bound(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        """The bridge put the VSI of ``req`` into ``req.mode`` with ``filters``."""
        ...

    def released(self, port: str, key: Hashable) -> None:
        """The VSI ``key`` on ``port`` is gone (de-associated, timed out or withdrawn)."""
        ...


def assign(
    filters: Iterable[FilterEntry], vid_for: Mapping[int | None, int] | int | None, pcp: int | None
) -> tuple[FilterEntry, ...]:
    """Fill wildcard VIDs and PCPs the way a station accepts them (vdp.md §7.4).

    ``vid_for`` maps a GroupID (``None`` for formats without one) to the VID to give a VID-0
    entry, or is a single VID for all; entries whose VID is non-zero keep it.  ``pcp`` (if not
    ``None``) is given, with PS = 1, to entries the station sent with PS = 0.
    """
    out = []
    for f in filters:
        vid = f.vid
        if vid == 0 and vid_for is not None:
            vid = vid_for if isinstance(vid_for, int) else vid_for.get(f.group_id, 0)
        ps, prio = f.ps, f.pcp
        if not ps and pcp is not None:
            ps, prio = True, pcp
        if (vid, ps, prio) != (f.vid, f.ps, f.pcp):
            f = dataclasses.replace(f, vid=vid, ps=ps, pcp=prio)
        out.append(f)
    return tuple(out)


class Bindings:
    """The MAC/VID conflict rule, shared by every port of one bridge [PROJECT].

    A (MAC, VID) pair of a reserving mode (2 or 3) belongs to one VSI: a request whose pair is
    already bound to a *different* VSI ID (on any port) is refused with code 5 (invalid
    VID/GroupID/MAC, vdp.md §5.3).  The same VSI ID bound on another port is a migration: allowed
    only with ``allow_migration`` (then both ports hold the pair until the old one releases).
    Formats 1 and 3 carry no MAC and never conflict.  Pre-associate (mode 1) reserves nothing.
    """

    __slots__ = ("_by_key", "_owners", "allow_migration")

    def __init__(self, *, allow_migration: bool = False) -> None:
        self.allow_migration = allow_migration
        self._owners: dict[tuple[bytes, int], dict[tuple[str, Hashable], bytes]] = {}
        self._by_key: dict[tuple[str, Hashable], tuple[tuple[bytes, int], ...]] = {}

    @staticmethod
    def _pairs(filters: Iterable[FilterEntry]) -> tuple[tuple[bytes, int], ...]:
        return tuple((f.mac, f.vid) for f in filters if f.mac is not None)

    def conflict(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> bool:
        """Whether binding ``filters`` for ``req`` breaks the rule."""
        if req.mode not in (_PREASSOC_RR, _ASSOC):
            return False
        me = (req.port, req.key)
        for pair in self._pairs(filters):
            for (port, key), vsiid in self._owners.get(pair, {}).items():
                if (port, key) == me:
                    continue
                if vsiid != req.vsiid or not self.allow_migration:
                    return True
        return False

    def bind(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        me = (req.port, req.key)
        self.release(req.port, req.key)
        if req.mode not in (_PREASSOC_RR, _ASSOC):
            return
        pairs = self._pairs(filters)
        if pairs:
            self._by_key[me] = pairs
            for pair in pairs:
                self._owners.setdefault(pair, {})[me] = req.vsiid

    def release(self, port: str, key: Hashable) -> None:
        me = (port, key)
        for pair in self._by_key.pop(me, ()):
            owners = self._owners.get(pair)
            if owners is not None:
                owners.pop(me, None)
                if not owners:
                    del self._owners[pair]

    def owners(self, mac: bytes, vid: int) -> tuple[tuple[str, Hashable], ...]:
        """Who holds (``mac``, ``vid``) (for diagnostics and tests)."""
        return tuple(self._owners.get((mac, vid), {}))


class AllowAll:
    """The default policy: accept every valid request, echo the filters unchanged.

    This is what a release build of lldpad's bridge does (interop-lldpad.md Q-B4): a wildcard
    VID 0 is echoed as 0, which the station then keeps (scenarios.md S14, last line) and the
    bridge adapter treats as "untagged / the port's PVID".  Pass ``vid`` to hand one VID to
    every wildcard instead, and ``bindings`` to enforce the MAC/VID conflict rule.
    """

    __slots__ = ("bindings", "vid")

    def __init__(self, *, vid: int | None = None, bindings: Bindings | None = None) -> None:
        self.vid = vid
        self.bindings = bindings

    def decide(self, req: PolicyRequest) -> Decision:
        filters = assign(req.filters, self.vid, None) if self.vid else req.filters
        if self.bindings is not None and self.bindings.conflict(req, filters):
            return Decision.refuse(VdpError.INVALID_VID_GROUP_MAC)
        return Decision.accept(filters)

    def bound(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        if self.bindings is not None:
            self.bindings.bind(req, filters)

    def released(self, port: str, key: Hashable) -> None:
        if self.bindings is not None:
            self.bindings.release(port, key)


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiType:
    """One entry of the VSI type database: the policy of one (VSI Type ID, version).

    * ``vlans``: VIDs a station may ask for explicitly (``None``: any valid VID);
    * ``wildcard_vid``: VID given to VID-0 entries (``None``: refuse wildcards, code 2);
    * ``group_vids``: GroupID → VID for formats 3/4 (falls back to ``wildcard_vid``);
    * ``pcp``: priority given (PS = 1) to entries sent with PS = 0 (``None``: leave them);
    * ``mac_prefixes`` / ``macs``: allowed MAC prefixes (any length) / exact MACs; both empty
      means any MAC;
    * ``max_vsis_per_port``: VSIs of this type per port, any mode (``None``: unlimited);
    * ``enforceable``: ``False`` for types whose policy this bridge cannot apply (ACLs, rate
      limits a Linux bridge lacks); refused only under ``refuse_unenforceable``.
    """

    vlans: frozenset[int] | None = None
    wildcard_vid: int | None = None
    group_vids: Mapping[int, int] = field(default_factory=dict)
    pcp: int | None = None
    mac_prefixes: tuple[bytes, ...] = ()
    macs: frozenset[bytes] = frozenset()
    max_vsis_per_port: int | None = None
    enforceable: bool = True

    def __post_init__(self) -> None:
        for vid in (self.wildcard_vid, *self.group_vids.values()):
            if vid is not None and not 2 <= vid <= 4094:
                raise ValueError(f"VID {vid} outside 2..4094")
        if self.pcp is not None and not 0 <= self.pcp <= 7:
            raise ValueError(f"PCP {self.pcp} outside 0..7")

    def mac_allowed(self, mac: bytes) -> bool:
        if not self.mac_prefixes and not self.macs:
            return True
        return mac in self.macs or any(mac.startswith(p) for p in self.mac_prefixes)


class TypeDbPolicy:
    """A VSI type database (vdp.md glossary "VTDB") keyed by (type ID, version).

    Order of checks, each with the code it refuses with (vdp.md §5.3):

    1. unknown (type ID, version) → ``unknown_type_code`` (default 4 "other failure"), hard —
       retrying cannot make the type exist; ``types`` may also be keyed by the bare type ID
       (``int``) to match every version;
    2. ``enforceable`` is false and ``refuse_unenforceable`` → 4, hard; MAC rules on a format
       without MACs (1, 3) count as unenforceable too;
    3. explicit VID not in ``vlans`` → 5; MAC not allowed → 5; wildcard without a VID to give
       → 2;
    4. per-port VSI limit of the type (new VSIs only) → 2;
    5. MAC/VID conflict (:class:`Bindings`) → 5.
    """

    __slots__ = (
        "_counts",
        "_types_of",
        "bindings",
        "refuse_unenforceable",
        "types",
        "unknown_type_code",
    )

    def __init__(
        self,
        types: Mapping[tuple[int, int] | int, VsiType],
        *,
        bindings: Bindings | None = None,
        refuse_unenforceable: bool = False,
        unknown_type_code: int = VdpError.OTHER_FAILURE,
    ) -> None:
        self.types = dict(types)
        self.bindings = bindings if bindings is not None else Bindings()
        self.refuse_unenforceable = refuse_unenforceable
        self.unknown_type_code = unknown_type_code
        self._counts: dict[tuple[str, int, int], int] = {}
        self._types_of: dict[tuple[str, Hashable], tuple[int, int]] = {}

    def lookup(self, type_id: int, version: int) -> VsiType | None:
        return self.types.get((type_id, version)) or self.types.get(type_id)

    def decide(self, req: PolicyRequest) -> Decision:
        vt = self.lookup(req.type_id, req.type_version)
        if vt is None:
            return Decision.refuse(self.unknown_type_code, hard=True)
        has_macs = any(f.mac is not None for f in req.filters)
        mac_rules = bool(vt.mac_prefixes or vt.macs)
        if self.refuse_unenforceable and (not vt.enforceable or (mac_rules and not has_macs)):
            return Decision.refuse(VdpError.OTHER_FAILURE, hard=True)
        for f in req.filters:
            if f.vid and vt.vlans is not None and f.vid not in vt.vlans:
                return Decision.refuse(VdpError.INVALID_VID_GROUP_MAC)
            if f.mac is not None and not vt.mac_allowed(f.mac):
                return Decision.refuse(VdpError.INVALID_VID_GROUP_MAC)
            if f.vid == 0 and vt.group_vids.get(f.group_id or 0, vt.wildcard_vid) is None:
                return Decision.refuse(VdpError.INSUFFICIENT_RESOURCES)
        vid_for: dict[int | None, int] = {}
        for f in req.filters:
            if f.vid == 0:
                vid = vt.group_vids.get(f.group_id or 0, vt.wildcard_vid)
                assert vid is not None  # checked above
                vid_for[f.group_id] = vid
        filters = assign(req.filters, vid_for, vt.pcp)
        if req.current_mode is None and vt.max_vsis_per_port is not None:
            count = self._counts.get((req.port, req.type_id, req.type_version), 0)
            if count >= vt.max_vsis_per_port:
                return Decision.refuse(VdpError.INSUFFICIENT_RESOURCES)
        if self.bindings.conflict(req, filters):
            return Decision.refuse(VdpError.INVALID_VID_GROUP_MAC)
        return Decision.accept(filters)

    def bound(self, req: PolicyRequest, filters: tuple[FilterEntry, ...]) -> None:
        me = (req.port, req.key)
        if me not in self._types_of:
            self._types_of[me] = (req.type_id, req.type_version)
            ck = (req.port, req.type_id, req.type_version)
            self._counts[ck] = self._counts.get(ck, 0) + 1
        self.bindings.bind(req, filters)

    def released(self, port: str, key: Hashable) -> None:
        tv = self._types_of.pop((port, key), None)
        if tv is not None:
            ck = (port, *tv)
            self._counts[ck] -= 1
            if not self._counts[ck]:
                del self._counts[ck]
        self.bindings.release(port, key)

    def count(self, port: str, type_id: int, version: int) -> int:
        """VSIs of one type currently bound on ``port``."""
        return self._counts.get((port, type_id, version), 0)
