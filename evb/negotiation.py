"""EVB negotiation: what to advertise, and the operational values — pure functions of values.

Strategy
--------
lldpad (and therefore every peer qbg meets) does not run a negotiation *protocol*: each side
recomputes the EVB TLV it transmits from two values, its local policy (``mine``) and the last EVB
TLV it received (``peer``, absent until one arrives and again after the neighbour is deleted),
every time it builds an LLDPDU and every time a changed EVB TLV arrives.  Convergence takes one
exchange in each direction (evb-tlv.md §2.2, scenarios.md S1).  This module is that
recomputation, with no state of its own (STYLE habit 11): :func:`advertise` gives the TLV to send,
:func:`operational` the values handed to ECP and VDP (§2.3), :func:`negotiate` both.

Ratified rules (evb-tlv.md §2.2) [LLDPAD][CORPUS]::

    R, RTE        = max(mine, peer)               (no ROL bit)
    RWD, RKA      = mine if mine > peer (ROL 0) else peer (ROL 1)   -- ties give ROL 1
    bridge        : station octet = peer's verbatim; bridge octet = BGID|RRCAP (+RRCTR if
                    peer.RRREQ and RRCAP)
    station       : bridge octet = peer's verbatim; station octet = SGID|RRREQ|RRSTAT with
                    RRSTAT 3 (nothing heard) / 1 (peer.RRCTR) / 0

Draft 0.2 rules (evb-tlv.md §4.2) [DRAFT][LLDPAD] are :func:`draft_advertise` and
:func:`draft_operational`; both roles run the same code.

Value octets 4..8 of the ratified TLV, for reading the tables in the tests::

    +---------------+----------------+-------+------+------------------+------------------+
    | bridge status | station status | R 3b  | RTE  | mode 2b|ROL|RWD  | res 2b|ROL|RKA   |
    | rsv|BGID|RRCAP|RRCTR | rsv|SGID|RRREQ|RRSTAT 2b |  5b  |                  |                  |
    +---------------+----------------+-------+------+------------------+------------------+
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..lldp.errors import EncodeError
from . import timers
from .draft02 import DraftEvbTlv
from .tlv import EvbMode, EvbTlv

__all__ = [
    "DRAFT_CAP_ECP",
    "DRAFT_CAP_RTE",
    "DRAFT_CAP_VDP",
    "DRAFT_MODE_RR",
    "DRAFT_MODE_STD",
    "RRSTAT_DISABLED",
    "RRSTAT_ENABLED",
    "RRSTAT_UNKNOWN",
    "EvbConfig",
    "EvbRole",
    "EvbVariant",
    "Negotiated",
    "advertise",
    "draft_advertise",
    "draft_negotiate",
    "draft_operational",
    "negotiate",
    "operational",
]

RRSTAT_DISABLED = 0
RRSTAT_ENABLED = 1
RRSTAT_UNKNOWN = 3
"""RRSTAT value a station sends until it has heard a bridge EVB TLV (Q-L8)."""

# Draft 0.2 flag octets (evb-tlv.md §4.1); the same values as DraftEvbTlv's class constants.
DRAFT_MODE_STD = 0x80
DRAFT_MODE_RR = 0x40
DRAFT_CAP_RTE = 0x04
DRAFT_CAP_ECP = 0x02
DRAFT_CAP_VDP = 0x01
_DRAFT_CAPS = (DRAFT_CAP_RTE, DRAFT_CAP_ECP, DRAFT_CAP_VDP)
DRAFT_DEFAULT_VSIS = 3295
"""lldpad's default ``vsis`` (supported number of VSIs) for the draft TLV."""
DRAFT_R = timers.DRAFT_MAX_TRIES - 1
"""Draft ECP makes 3 transmissions: expressed as R = 2 in :class:`Negotiated`."""


class EvbRole(StrEnum):
    """Which end of the link this port is (EVB mode 2 station, 1 bridge)."""

    STATION = "station"
    BRIDGE = "bridge"


class EvbVariant(StrEnum):
    """Ratified 802.1Qbg-2012 (``std``, lldpad "22") or pre-standard draft 0.2 (README §3.2)."""

    STD = "std"
    DRAFT = "draft"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvbConfig:
    """Local EVB policy of one port (lldpad ``tlvid0080c20d`` / ``tlvid001b3f00`` keys).

    Defaults are qbg's (evb-tlv.md §3): lldpad's timers R 3, RTE 8, RWD 20, RKA 20, reflective
    relay requested (station) / offered (bridge), GroupIDs off.  ``rrreq`` matters only to a
    station and ``rrcap`` only to a bridge; ``gid`` is SGID for a station and BGID for a bridge.
    ``enabled`` is lldpad's ``enableTx``: when false the EVB TLV is neither sent nor accepted.

    Draft 0.2 fields: ``fmode`` (supported forwarding mode octet), ``capabilities`` (supported
    capability octet), ``vsis`` (supported number of VSIs); the draft uses ``rte`` too.
    """

    role: EvbRole = EvbRole.STATION
    variant: EvbVariant = EvbVariant.STD
    enabled: bool = True
    rrreq: bool = True
    rrcap: bool = True
    gid: bool = False
    r: int = 3
    rte: int = 8
    rwd: int = 20
    rka: int = 20
    fmode: int = DRAFT_MODE_RR
    capabilities: int = DRAFT_CAP_RTE | DRAFT_CAP_ECP | DRAFT_CAP_VDP
    vsis: int = DRAFT_DEFAULT_VSIS

    def __post_init__(self) -> None:
        # Accept plain strings ("station", "draft") from configuration files.
        object.__setattr__(self, "role", EvbRole(self.role))
        object.__setattr__(self, "variant", EvbVariant(self.variant))
        if not 0 <= self.r <= timers.MAX_RETRIES:
            raise EncodeError(f"R {self.r} outside 0..7")
        for name in ("rte", "rwd", "rka"):
            value = getattr(self, name)
            if not 0 <= value <= timers.MAX_EXPONENT:
                raise EncodeError(f"{name.upper()} {value} outside 0..31")
        if not 0 <= self.fmode <= 0xFF or not 0 <= self.capabilities <= 0xFF:
            raise EncodeError("draft fmode/capabilities are single octets")
        if not 0 <= self.vsis <= 0xFFFF:
            raise EncodeError(f"vsis {self.vsis} outside 0..65535")

    @property
    def mode(self) -> EvbMode:
        """The EVB mode this port advertises."""
        return EvbMode.STATION if self.role is EvbRole.STATION else EvbMode.BRIDGE


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    """Operational EVB values of a port after a recomputation (evb-tlv.md §2.3).

    ``r``/``rte`` feed ECP, all four exponents feed VDP (use the ``*_us`` properties for the
    derived timers).  ``rr_enabled``: bridge — it advertises RRCTR (program hairpin);
    station — the bridge granted RRCTR (RRSTAT 1).  ``group_ids``: BGID ∧ SGID as transmitted.
    ``peer_seen``: an EVB TLV from the peer is currently stored.  ``role_conflict``: the peer
    claims our own EVB mode (lldpad still answers; qbg warns, evb-tlv.md §2.2).
    ``ecp``/``vdp``: the draft's negotiated capabilities (always true for the ratified variant
    while ``enabled``).
    """

    variant: EvbVariant = EvbVariant.STD
    enabled: bool = True
    r: int
    rte: int
    rwd: int
    rka: int
    rr_enabled: bool
    group_ids: bool
    peer_seen: bool
    rrstat: int | None = None
    role_conflict: bool = False
    ecp: bool = True
    vdp: bool = True

    @property
    def ack_timeout_us(self) -> int:
        """ECP ack timer (draft: fixed 500 ms)."""
        if self.variant is EvbVariant.DRAFT:
            return timers.DRAFT_ACK_TIMEOUT_US
        return timers.ack_timeout_us(self.rte)

    @property
    def response_wait_us(self) -> int:
        if self.variant is EvbVariant.DRAFT:
            return timers.DRAFT_RESPONSE_WAIT_US
        return timers.response_wait_us(self.r, self.rte, self.rwd)

    @property
    def supervision_us(self) -> int:
        if self.variant is EvbVariant.DRAFT:
            return timers.DRAFT_SUPERVISION_US
        return timers.supervision_us(self.r, self.rte, self.rka)

    @property
    def keepalive_us(self) -> int:
        if self.variant is EvbVariant.DRAFT:
            return timers.DRAFT_KEEPALIVE_US
        return timers.keepalive_us(self.rka)

    @property
    def resource_wait_us(self) -> int:
        return timers.resource_wait_us(self.rwd)


# --- ratified variant ---------------------------------------------------------------------------


def _larger(mine: int, peer: int) -> tuple[int, bool]:
    """(value, ROL): our value with ROL 0 only if strictly larger; ties give ROL 1 (Q-L6)."""
    return (mine, False) if mine > peer else (peer, True)


def advertise(config: EvbConfig, peer: EvbTlv | None) -> EvbTlv:
    """The EVB TLV to transmit, per evb-tlv.md §2.2 (lldpad's algorithm, byte for byte).

    ``peer`` is the last EVB TLV received on the NCB agent, or ``None`` when nothing is stored
    (lldpad's all-zero "last received" copy: its fields then count as 0, so a locally
    configured exponent of 0 ties and is sent with ROL 1, a harmless lldpad quirk).
    """
    rwd, rol_rwd = _larger(config.rwd, peer.rwd if peer else 0)
    rka, rol_rka = _larger(config.rka, peer.rka if peer else 0)
    r = max(config.r, peer.r if peer else 0)
    rte = max(config.rte, peer.rte if peer else 0)
    if config.role is EvbRole.BRIDGE:
        # Bridge: station octet echoed verbatim, reserved bits included (Q-L7); RRCTR only
        # when the station asks and we can (evb-tlv.md §2.5).
        return EvbTlv(
            bridge_reserved=0,
            bgid=config.gid,
            rrcap=config.rrcap,
            rrctr=bool(peer and peer.rrreq and config.rrcap),
            station_reserved=peer.station_reserved if peer else 0,
            sgid=peer.sgid if peer else False,
            rrreq=peer.rrreq if peer else False,
            rrstat=peer.rrstat if peer else 0,
            r=r,
            rte=rte,
            mode=config.mode,
            rol_rwd=rol_rwd,
            rwd=rwd,
            rka_reserved=0,
            rol_rka=rol_rka,
            rka=rka,
        )
    # Station: bridge octet echoed verbatim; RRSTAT 3 until a bridge TLV is heard (Q-L8).
    if peer is None:
        rrstat = RRSTAT_UNKNOWN
    else:
        rrstat = RRSTAT_ENABLED if peer.rrctr else RRSTAT_DISABLED
    return EvbTlv(
        bridge_reserved=peer.bridge_reserved if peer else 0,
        bgid=peer.bgid if peer else False,
        rrcap=peer.rrcap if peer else False,
        rrctr=peer.rrctr if peer else False,
        station_reserved=0,
        sgid=config.gid,
        rrreq=config.rrreq,
        rrstat=rrstat,
        r=r,
        rte=rte,
        mode=config.mode,
        rol_rwd=rol_rwd,
        rwd=rwd,
        rka_reserved=0,
        rol_rka=rol_rka,
        rka=rka,
    )


def operational(config: EvbConfig, sent: EvbTlv, peer: EvbTlv | None) -> Negotiated:
    """Values handed to ECP, VDP and the data plane after a recomputation (evb-tlv.md §2.3).

    All timers are the *transmitted* ones; GroupID support is BGID ∧ SGID of the transmitted
    TLV (each side therefore needs the peer's echo first); reflective relay is the bridge's own
    RRCTR, or for a station the peer's RRCTR.
    """
    if config.role is EvbRole.BRIDGE:
        rr = sent.rrctr
        rrstat = None
    else:
        rr = bool(peer and peer.rrctr)
        rrstat = sent.rrstat
    conflict = peer is not None and int(peer.mode) == int(config.mode)
    return Negotiated(
        variant=EvbVariant.STD,
        enabled=config.enabled,
        r=sent.r,
        rte=sent.rte,
        rwd=sent.rwd,
        rka=sent.rka,
        rr_enabled=rr,
        group_ids=sent.bgid and sent.sgid,
        peer_seen=peer is not None,
        rrstat=rrstat,
        role_conflict=conflict,
        ecp=config.enabled,
        vdp=config.enabled,
    )


def negotiate(config: EvbConfig, peer: EvbTlv | None) -> tuple[EvbTlv, Negotiated]:
    """:func:`advertise` and :func:`operational` in one call."""
    sent = advertise(config, peer)
    return sent, operational(config, sent, peer)


# --- draft 0.2 variant [DRAFT] ------------------------------------------------------------------


def draft_advertise(
    config: EvbConfig,
    peer: DraftEvbTlv | None,
    previous: DraftEvbTlv | None = None,
    vsi_count: int = 0,
) -> DraftEvbTlv:
    """The draft 0.2 EVB TLV to transmit (evb-tlv.md §4.2; both roles run the same code).

    ``previous`` is what we sent last: a peer TLV whose supported mode has neither STD nor RR
    is an error and leaves the previous values in force.  Before anything is heard the peer is
    assumed to support both forwarding modes and no capabilities (so the first TLV already
    shows configured mode RR when RR is configured locally).  ``vsi_count`` is the number of
    VSI profiles on the port, reported while VDP is negotiated (informational only).
    """
    if peer is None:
        p_smode, p_scap, p_rte = DRAFT_MODE_STD | DRAFT_MODE_RR, 0, 0
    else:
        p_smode, p_scap, p_rte = peer.supported_mode, peer.supported_caps, peer.rte
        if not p_smode & (DRAFT_MODE_STD | DRAFT_MODE_RR) and previous is not None:
            return previous
    cmode = DRAFT_MODE_RR if p_smode & config.fmode & DRAFT_MODE_RR else DRAFT_MODE_STD
    ccap = 0
    for cap in _DRAFT_CAPS:
        if p_scap & config.capabilities & cap:
            ccap |= cap
    rte = config.rte
    if config.capabilities & DRAFT_CAP_RTE and p_rte > 0 and config.rte > 0:
        rte = max(config.rte, p_rte)
    if ccap & DRAFT_CAP_VDP:
        svsi, cvsi = config.vsis, vsi_count
    else:
        svsi = cvsi = 0
    return DraftEvbTlv(
        supported_mode=config.fmode,
        supported_caps=config.capabilities,
        configured_mode=cmode,
        configured_caps=ccap,
        supported_vsis=svsi,
        configured_vsis=cvsi,
        rte=rte,
    )


def draft_operational(config: EvbConfig, sent: DraftEvbTlv, peer: DraftEvbTlv | None) -> Negotiated:
    """Operational values of a draft port: RR from the configured mode, ECP/VDP from the
    configured capabilities; R is the draft's fixed 3 tries (R = 2), RWD/RKA are not used by
    the draft (its VDP timers are the ``DRAFT_*`` constants) and are reported as configured."""
    return Negotiated(
        variant=EvbVariant.DRAFT,
        enabled=config.enabled,
        r=DRAFT_R,
        rte=min(sent.rte, timers.MAX_EXPONENT),
        rwd=config.rwd,
        rka=config.rka,
        rr_enabled=peer is not None and bool(sent.configured_mode & DRAFT_MODE_RR),
        group_ids=False,
        peer_seen=peer is not None,
        ecp=config.enabled and bool(sent.configured_caps & DRAFT_CAP_ECP),
        vdp=config.enabled and bool(sent.configured_caps & DRAFT_CAP_VDP),
    )


def draft_negotiate(
    config: EvbConfig,
    peer: DraftEvbTlv | None,
    previous: DraftEvbTlv | None = None,
    vsi_count: int = 0,
) -> tuple[DraftEvbTlv, Negotiated]:
    """:func:`draft_advertise` and :func:`draft_operational` in one call."""
    sent = draft_advertise(config, peer, previous, vsi_count)
    return sent, draft_operational(config, sent, peer)
