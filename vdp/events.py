"""Events of the VDP station and bridge machines (STYLE habit 10: frozen, past tense).

The station reports what the bridge confirmed or refused and, exactly once per VSI, that the
VSI is gone (:class:`VsiDeassociated` with a :class:`DeassocReason`).  The bridge reports every
change of its VSI table (:class:`VsiAdded`, :class:`VsiChanged`, :class:`VsiRemoved`) so that the
bridge adapter can program VLAN membership and static FDB entries (vdp.md §11.3), plus
refusals.  Keys are :class:`~qbg.vdp.tlv.VsiKey` values (vdp.md §7.4); filters carry the VIDs
and PCPs as confirmed by the bridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..lldp.events import Event
from .filters import FilterEntry
from .tlv import VsiKey

__all__ = [
    "DeassocReason",
    "RemoveReason",
    "VsiAdded",
    "VsiAssociated",
    "VsiChanged",
    "VsiDeassociated",
    "VsiKeepaliveRefused",
    "VsiPreassociated",
    "VsiRefused",
    "VsiRemoved",
    "VsiRequestRefused",
]

# --- station ------------------------------------------------------------------------------------


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


# --- bridge -------------------------------------------------------------------------------------


class RemoveReason(Enum):
    STATION = "station"  # the station de-associated
    SUPERVISION = "supervision"  # keep-alives stopped (S8)
    WITHDRAWN = "withdrawn"  # admin command or policy change (S9)


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiAdded(Event):
    """A new VSI entered ``mode`` (1, 2 or 3) with ``filters`` (VIDs/PCPs as assigned)."""

    port: str
    key: VsiKey
    mode: int
    filters: tuple[FilterEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiChanged(Event):
    """A known VSI moved from ``old_mode`` to ``mode`` (e.g. 1 → 3 programs the data plane,
    3 → 1 removes it)."""

    port: str
    key: VsiKey
    old_mode: int
    mode: int
    filters: tuple[FilterEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiRemoved(Event):
    """The VSI is gone; the adapter removes what ``mode`` had programmed."""

    port: str
    key: VsiKey
    mode: int
    filters: tuple[FilterEntry, ...]
    reason: RemoveReason


@dataclass(frozen=True, slots=True, kw_only=True)
class VsiRequestRefused(Event):
    """A request was answered with an error (``keep``: a known VSI kept its state)."""

    port: str
    key: VsiKey
    mode: int
    code: int
    keep: bool
    hard: bool
