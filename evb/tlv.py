"""The ratified EVB TLV (IEEE 802.1Qbg-2012 Annex D.2.12 [std-memory]; evb-tlv.md 1).

An LLDP organizationally specific TLV, OUI 00-80-C2, subtype 0x0D, sent on the nearest
customer bridge agent.  It carries the bridge's and the station's reflective-relay and GroupID
status, the ECP retry parameters (R, RTE), the EVB mode, and the VDP timer exponents (RWD,
RKA) with their "remote or local" flags.  Every bit is a field, reserved bits included, and
value octets past the ninth are kept in ``extra``, so that ``encode(decode(b)) == b``.

```
TLV offset   0-1     2-4        5     6          7          8         9             10
           +-------+----------+----+----------+----------+---------+-------------+------------+
           | FE 09 | 00 80 C2 | 0D | bridge   | station  | R | RTE | mode|ROL|RWD | res|ROL|RKA |
           +-------+----------+----+----------+----------+---------+-------------+------------+
value offset         0-2        3     4          5          6         7             8
 octet 4 (bridge status):  b7..b3 reserved | b2 BGID | b1 RRCAP | b0 RRCTR
 octet 5 (station status): b7..b4 reserved | b3 SGID | b2 RRREQ | b1..b0 RRSTAT
 octet 6: b7..b5 R (ECP max retries)   | b4..b0 RTE (ack wait 10 us * 2^RTE)
 octet 7: b7..b6 EVB mode | b5 ROL(RWD) | b4..b0 RWD
 octet 8: b7..b6 reserved | b5 ROL(RKA) | b4..b0 RKA
```

Bit positions are those of lldpad's evb22 header and tcpdump's EVB printer [LLDPAD][STD].
A TLV with fewer than 9 value octets is invalid (evb-tlv.md 2.8 [PROJECT]): ``decode_info``
raises :class:`DecodeError`, and the LLDPDU decoder then keeps it as an ``UnknownOrgTlv`` that
the agent ignores.  Never send lldpad a length other than 9 (lldpad copies ``length`` octets
into a 9-octet structure).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import ClassVar, Self

from ..lldp.errors import DecodeError, EncodeError
from ..lldp.tlv import OUI_IEEE_8021, OrgTlv, register_org_tlv

__all__ = [
    "EVB_SUBTYPE",
    "RRSTAT_DISABLED",
    "RRSTAT_ENABLED",
    "RRSTAT_RESERVED",
    "RRSTAT_UNKNOWN",
    "EvbMode",
    "EvbTlv",
]

EVB_SUBTYPE = 0x0D
"""Subtype of the ratified EVB TLV under OUI 00-80-C2."""

RRSTAT_DISABLED = 0
"""RRSTAT: reflective relay not enabled."""
RRSTAT_ENABLED = 1
"""RRSTAT: reflective relay enabled by the bridge (RRCTR seen)."""
RRSTAT_RESERVED = 2
"""RRSTAT value 2: unused/reserved [std-memory]."""
RRSTAT_UNKNOWN = 3
"""RRSTAT: nothing heard from the bridge yet [LLDPAD]."""

_INFO_LEN = 5  # value octets 4..8; the value (OUI + subtype + these) is 9 octets


class EvbMode(IntEnum):
    """EVB mode, value octet 7 b7..b6 (D.2.12 [std-memory])."""

    NONE = 0
    """Not supported."""
    BRIDGE = 1
    """EVB bridge."""
    STATION = 2
    """EVB station."""
    RESERVED = 3
    """Reserved (802.1Qcy gives it a meaning; out of scope)."""


_MODES: dict[int, EvbMode | int] = {int(m): m for m in EvbMode}


def _bits(name: str, v: int, width: int) -> None:
    if not 0 <= v < (1 << width):
        raise EncodeError(f"EVB TLV {name} {v} outside 0..{(1 << width) - 1}")


@register_org_tlv
@dataclass(frozen=True, slots=True, kw_only=True)
class EvbTlv(OrgTlv):
    """Ratified EVB TLV value; every field defaults to 0, i.e. lldpad's "nothing received".

    Negotiation (evb-tlv.md 2) lives in ``evb/negotiation.py``; this is only the codec.
    """

    OUI: ClassVar[int] = OUI_IEEE_8021
    SUBTYPE: ClassVar[int] = EVB_SUBTYPE

    # value octet 4: bridge status
    bridge_reserved: int = 0
    bgid: bool = False
    rrcap: bool = False
    rrctr: bool = False
    # value octet 5: station status
    station_reserved: int = 0
    sgid: bool = False
    rrreq: bool = False
    rrstat: int = 0
    # value octet 6
    r: int = 0
    rte: int = 0
    # value octet 7
    mode: EvbMode | int = EvbMode.NONE
    rol_rwd: bool = False
    rwd: int = 0
    # value octet 8
    rka_reserved: int = 0
    rol_rka: bool = False
    rka: int = 0
    # value octets 9.. (kept for round trip; never sent by qbg)
    extra: bytes = b""

    def __post_init__(self) -> None:
        _bits("bridge_reserved", self.bridge_reserved, 5)
        _bits("station_reserved", self.station_reserved, 4)
        _bits("rrstat", self.rrstat, 2)
        _bits("R", self.r, 3)
        _bits("RTE", self.rte, 5)
        _bits("mode", self.mode, 2)
        _bits("RWD", self.rwd, 5)
        _bits("rka_reserved", self.rka_reserved, 2)
        _bits("RKA", self.rka, 5)
        if len(self.extra) > 507 - _INFO_LEN:
            raise EncodeError(f"EVB TLV extra of {len(self.extra)} octets too long")

    @classmethod
    def decode_info(cls, info: bytes, offset: int) -> Self:
        """Decode value octets 4.. (``info`` starts after OUI and subtype)."""
        if len(info) < _INFO_LEN:
            raise DecodeError("EVB TLV", offset, f"{4 + len(info)} value octets, need at least 9")
        b, s, rr, mw, ka = info[0], info[1], info[2], info[3], info[4]
        return cls(
            bridge_reserved=b >> 3,
            bgid=bool(b & 0x04),
            rrcap=bool(b & 0x02),
            rrctr=bool(b & 0x01),
            station_reserved=s >> 4,
            sgid=bool(s & 0x08),
            rrreq=bool(s & 0x04),
            rrstat=s & 0x03,
            r=rr >> 5,
            rte=rr & 0x1F,
            mode=_MODES[mw >> 6],
            rol_rwd=bool(mw & 0x20),
            rwd=mw & 0x1F,
            rka_reserved=ka >> 6,
            rol_rka=bool(ka & 0x20),
            rka=ka & 0x1F,
            extra=info[_INFO_LEN:],
        )

    def encode_info(self) -> bytes:
        """Value octets 4.. (after OUI and subtype)."""
        return (
            bytes(
                (
                    self.bridge_status,
                    self.station_status,
                    (self.r << 5) | self.rte,
                    (self.mode << 6) | (self.rol_rwd << 5) | self.rwd,
                    (self.rka_reserved << 6) | (self.rol_rka << 5) | self.rka,
                )
            )
            + self.extra
        )

    @property
    def bridge_status(self) -> int:
        """Value octet 4 as sent; the station echoes it verbatim (evb-tlv.md 1)."""
        return (self.bridge_reserved << 3) | (self.bgid << 2) | (self.rrcap << 1) | int(self.rrctr)

    @property
    def station_status(self) -> int:
        """Value octet 5 as sent; the bridge echoes it verbatim (evb-tlv.md 1)."""
        return (self.station_reserved << 4) | (self.sgid << 3) | (self.rrreq << 2) | self.rrstat

    def with_bridge_status(self, octet: int) -> EvbTlv:
        """A copy whose bridge-status fields come from ``octet`` (the station's echo)."""
        _bits("bridge status", octet, 8)
        return replace(
            self,
            bridge_reserved=octet >> 3,
            bgid=bool(octet & 0x04),
            rrcap=bool(octet & 0x02),
            rrctr=bool(octet & 0x01),
        )

    def with_station_status(self, octet: int) -> EvbTlv:
        """A copy whose station-status fields come from ``octet`` (the bridge's echo)."""
        _bits("station status", octet, 8)
        return replace(
            self,
            station_reserved=octet >> 4,
            sgid=bool(octet & 0x08),
            rrreq=bool(octet & 0x04),
            rrstat=octet & 0x03,
        )
