"""LLDP TLVs and the LLDPDU (IEEE 802.1AB-2009 clause 8), with the org-TLV registry.

An LLDPDU is a sequence of TLVs: Chassis ID, Port ID and Time To Live first and in this order,
then any optional TLVs, then End of LLDPDU.  The Ethernet padding after End is kept in
``Lldpdu.padding``, so ``Lldpdu.decode(p).encode() == p`` for every payload that decodes.

```
 payload offset 0          2                          2+L
               +----------+--------------------------+----- ... -----+--------+---------+
               | hdr T=1  | subtype | chassis ID     | TLV 2, TLV 3, | 00 00  | padding |
               | L=2..256 |  1      | 1..255         | optional TLVs | End    | (zeros) |
               +----------+--------------------------+----- ... -----+--------+---------+
 TLV header: (type << 9) | length, 7-bit type, 9-bit length of the value (8.4.1)

 Organizationally specific TLV (type 127, 8.6 / 802.1AB-2009 Annex E..G):
               +----------+----------------+---------+-------------------------+
               | FE LL    | OUI (3)        | subtype | information (0..507)    |
               +----------+----------------+---------+-------------------------+
```

Receive validation (handbook lldp.md 1.2; a failure raises :class:`DecodeError` and the agent
discards the frame): the first three TLVs are types 1, 2, 3 in order; no second TLV of type 1, 2
or 3; TTL length 2; Chassis/Port ID length 2..256 (8.5.2, 8.5.3); org TLV length >= 4; no TLV
runs past the end; length 0 for a type other than End is malformed [PROJECT]; an End TLV with a
non-zero length is malformed [PROJECT]; a missing End is accepted [LLDPAD].

Organizationally specific TLVs dispatch on ``(oui, subtype)`` through an explicit registry
(STYLE habit 8): ``evb/tlv.py``, ``evb/draft02.py`` and ``evb/cdcp.py`` register their classes
at import.  An unregistered key decodes to :class:`UnknownOrgTlv`.  A registered class whose
``decode_info`` rejects the information also yields :class:`UnknownOrgTlv` (with ``error`` set):
the LLDPDU itself is valid, only that TLV is ignored (evb-tlv.md 2.8), and it still
re-encodes verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Self, TypeVar, cast

from .errors import DecodeError, EncodeError, LocalError
from .frame import NEAREST_CUSTOMER_BRIDGE, EthernetFrame, EtherType, pad

__all__ = [
    "LLDPDU_MAX_LEN",
    "OUI_CISCO",
    "OUI_IEEE_8021",
    "OUI_QBG_DRAFT",
    "ChassisIdSubtype",
    "ChassisIdTlv",
    "EndTlv",
    "LldpTlvType",
    "Lldpdu",
    "OrgTlv",
    "PortIdSubtype",
    "PortIdTlv",
    "Tlv",
    "TtlTlv",
    "UnknownOrgTlv",
    "UnknownTlv",
    "build_lldpdu",
    "decode_tlv",
    "encode_lldp_frame",
    "org_tlv_class",
    "register_org_tlv",
    "registered_org_tlvs",
]

LLDPDU_MAX_LEN = 1500
"""Largest LLDPDU in an untagged frame (802.1AB-2009 8.1); enforced by :func:`build_lldpdu`."""

OUI_IEEE_8021 = 0x0080C2
"""IEEE 802.1 OUI: EVB TLV (0x0D), CDCP TLV (0x0E), PVID/VLAN TLVs."""
OUI_QBG_DRAFT = 0x001B3F
"""OUI of the pre-standard 802.1Qbg draft 0.2 TLVs [DRAFT]."""
OUI_CISCO = 0x00000C
"""Cisco OUI (Cisco VDP org TLVs)."""


class LldpTlvType(IntEnum):
    """802.1AB-2009 Table 8-1: TLV type values."""

    END = 0
    CHASSIS_ID = 1
    PORT_ID = 2
    TTL = 3
    PORT_DESCRIPTION = 4
    SYSTEM_NAME = 5
    SYSTEM_DESCRIPTION = 6
    SYSTEM_CAPABILITIES = 7
    MANAGEMENT_ADDRESS = 8
    ORG_SPECIFIC = 127


class ChassisIdSubtype(IntEnum):
    """802.1AB-2009 Table 8-2: Chassis ID subtypes (0 and 8..255 reserved)."""

    CHASSIS_COMPONENT = 1
    INTERFACE_ALIAS = 2
    PORT_COMPONENT = 3
    MAC_ADDRESS = 4
    NETWORK_ADDRESS = 5
    INTERFACE_NAME = 6
    LOCAL = 7


class PortIdSubtype(IntEnum):
    """802.1AB-2009 Table 8-3: Port ID subtypes (0 and 8..255 reserved)."""

    INTERFACE_ALIAS = 1
    PORT_COMPONENT = 2
    MAC_ADDRESS = 3
    NETWORK_ADDRESS = 4
    INTERFACE_NAME = 5
    AGENT_CIRCUIT_ID = 6
    LOCAL = 7


_CHASSIS_SUBTYPES: dict[int, ChassisIdSubtype | int] = {int(v): v for v in ChassisIdSubtype}
_PORT_SUBTYPES: dict[int, PortIdSubtype | int] = {int(v): v for v in PortIdSubtype}
_LAYER = "LLDPDU"
_new = object.__new__
_set = object.__setattr__  # decoders build already-validated frozen values directly


def _hdr(tlv_type: int, length: int) -> bytes:
    """TLV header octets; lengths were checked when the value was built."""
    word = (tlv_type << 9) | length
    return bytes((word >> 8, word & 0xFF))


def _check_octet(name: str, v: int) -> None:
    if not 0 <= v <= 0xFF:
        raise EncodeError(f"{name} {v} outside 0..255")


# --------------------------------------------------------------------------------------------
# Mandatory TLVs


@dataclass(frozen=True, slots=True, kw_only=True)
class ChassisIdTlv:
    """Chassis ID TLV (802.1AB-2009 8.5.2): subtype octet + 1..255 octets of ID.

    qbg and lldpad send subtype 4 with the port MAC (lldp.md 1.1).
    """

    TLV_TYPE: ClassVar[int] = LldpTlvType.CHASSIS_ID
    subtype: ChassisIdSubtype | int
    value: bytes

    def __post_init__(self) -> None:
        _check_octet("Chassis ID subtype", self.subtype)
        if not 1 <= len(self.value) <= 255:
            raise EncodeError(f"Chassis ID of {len(self.value)} octets outside 1..255")

    def encode(self) -> bytes:
        return _hdr(1, 1 + len(self.value)) + bytes((self.subtype,)) + self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class PortIdTlv:
    """Port ID TLV (802.1AB-2009 8.5.3): subtype octet + 1..255 octets of ID.

    qbg and lldpad send subtype 3 with the port MAC (lldp.md 1.1).
    """

    TLV_TYPE: ClassVar[int] = LldpTlvType.PORT_ID
    subtype: PortIdSubtype | int
    value: bytes

    def __post_init__(self) -> None:
        _check_octet("Port ID subtype", self.subtype)
        if not 1 <= len(self.value) <= 255:
            raise EncodeError(f"Port ID of {len(self.value)} octets outside 1..255")

    def encode(self) -> bytes:
        return _hdr(2, 1 + len(self.value)) + bytes((self.subtype,)) + self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class TtlTlv:
    """Time To Live TLV (802.1AB-2009 8.5.4): seconds, u16; 0 = shutdown LLDPDU (lldp.md 4)."""

    TLV_TYPE: ClassVar[int] = LldpTlvType.TTL
    ttl: int

    def __post_init__(self) -> None:
        if not 0 <= self.ttl <= 0xFFFF:
            raise EncodeError(f"TTL {self.ttl} outside 0..65535")

    def encode(self) -> bytes:
        return bytes((0x06, 0x02, self.ttl >> 8, self.ttl & 0xFF))


@dataclass(frozen=True, slots=True, kw_only=True)
class EndTlv:
    """End of LLDPDU TLV (802.1AB-2009 8.5.1): header ``00 00``, no value."""

    TLV_TYPE: ClassVar[int] = LldpTlvType.END

    def encode(self) -> bytes:
        return b"\x00\x00"


_END = EndTlv()


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownTlv:
    """Any TLV of type 4..126 (optional basic TLVs and reserved types), kept verbatim.

    qbg does not interpret Port Description, System Name etc.; 802.1AB requires skipping them.
    Types 0..3 and 127 have their own classes, so they are refused here (otherwise
    ``decode(encode(v)) == v`` would fail).
    """

    tlv_type: int
    value: bytes

    def __post_init__(self) -> None:
        if not 4 <= self.tlv_type <= 126:
            raise EncodeError(f"UnknownTlv type {self.tlv_type} outside 4..126")
        if not 1 <= len(self.value) <= 511:
            raise EncodeError(f"TLV value of {len(self.value)} octets outside 1..511")

    def encode(self) -> bytes:
        return _hdr(self.tlv_type, len(self.value)) + self.value


# --------------------------------------------------------------------------------------------
# Organizationally specific TLVs and their registry


class OrgTlv:
    """Base class of every registered organizationally specific TLV (802.1AB-2009 8.6).

    A subclass is a frozen slotted dataclass with class variables ``OUI`` (24-bit int) and
    ``SUBTYPE`` (0..255) and implements ``decode_info`` / ``encode_info`` on the information
    string (the octets after OUI and subtype).  ``decode`` and ``encode`` on whole TLVs come
    from here.  Register the class with :func:`register_org_tlv`.

    ``decode_info`` must be a pure function of ``info`` (``offset`` only locates errors): the
    LLDPDU decoder memoises its results.
    """

    __slots__ = ()
    OUI: ClassVar[int]
    SUBTYPE: ClassVar[int]
    TLV_TYPE: ClassVar[int] = LldpTlvType.ORG_SPECIFIC

    @classmethod
    def decode_info(cls, info: bytes, offset: int) -> Self:
        """Decode the information string; ``offset`` locates ``info[0]`` for errors."""
        raise NotImplementedError

    def encode_info(self) -> bytes:
        """The information string (without OUI and subtype)."""
        raise NotImplementedError

    def encode(self) -> bytes:
        """The whole TLV: header, OUI, subtype, information."""
        info = self.encode_info()
        if len(info) > 507:
            raise EncodeError(f"{type(self).__name__}: information of {len(info)} octets > 507")
        oui = self.OUI
        return (
            _hdr(127, 4 + len(info))
            + bytes((oui >> 16, (oui >> 8) & 0xFF, oui & 0xFF, self.SUBTYPE))
            + info
        )

    @classmethod
    def decode(cls, tlv: bytes | bytearray | memoryview) -> Self:
        """Decode one whole TLV (header included) that must carry this class's OUI/subtype."""
        data = bytes(tlv)
        if len(data) < 6:
            raise DecodeError(cls.__name__, 0, f"{len(data)} octets, need at least 6")
        word = (data[0] << 8) | data[1]
        length = word & 0x1FF
        if word >> 9 != 127:
            raise DecodeError(cls.__name__, 0, f"TLV type {word >> 9}, expected 127")
        if length + 2 != len(data):
            raise DecodeError(cls.__name__, 0, f"length {length} but {len(data) - 2} octets")
        oui = (data[2] << 16) | (data[3] << 8) | data[4]
        if oui != cls.OUI or data[5] != cls.SUBTYPE:
            raise DecodeError(cls.__name__, 2, f"OUI/subtype {oui:06x}/{data[5]:#04x}")
        return cls.decode_info(data[6:], 6)


_O = TypeVar("_O", bound=OrgTlv)
_T = TypeVar("_T")

_ORG_REGISTRY: dict[tuple[int, int], type[OrgTlv]] = {}

# Memo of decoded org TLVs keyed by (class, information octets).  Peers repeat the same EVB
# TLV in every LLDPDU, and values are immutable, so a decoded value can be shared.  Bounded.
_ORG_MEMO: dict[tuple[type[OrgTlv], bytes], OrgTlv] = {}
_ORG_MEMO_MAX = 1024


def register_org_tlv(cls: type[_O]) -> type[_O]:
    """Register ``cls`` for its ``(OUI, SUBTYPE)``; usable as a class decorator.

    A second, different class for the same key is refused with ``LocalError("EEXIST")``
    (exabgp's capability registry rule); registering the same class again is a no-op.
    """
    oui, subtype = cls.OUI, cls.SUBTYPE
    if not 0 <= oui <= 0xFFFFFF or not 0 <= subtype <= 0xFF:
        raise LocalError("EINVAL", f"{cls.__name__}: OUI/subtype {oui:#x}/{subtype:#x}")
    key = (oui, subtype)
    old = _ORG_REGISTRY.get(key)
    if old is not None and old is not cls:
        raise LocalError(
            "EEXIST",
            f"org TLV {oui:06X}/{subtype:#04x} already registered to {old.__qualname__}",
        )
    _ORG_REGISTRY[key] = cls
    return cls


def org_tlv_class(oui: int, subtype: int) -> type[OrgTlv] | None:
    """The class registered for ``(oui, subtype)``, if any."""
    return _ORG_REGISTRY.get((oui, subtype))


def registered_org_tlvs() -> dict[tuple[int, int], type[OrgTlv]]:
    """A copy of the registry."""
    return dict(_ORG_REGISTRY)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownOrgTlv:
    """An org TLV with no registered class, or whose registered decoder rejected it.

    Re-encoded verbatim.  ``error`` (ignored by ``==``) says why a registered decoder refused
    the information, e.g. an EVB TLV shorter than 9 value octets (evb-tlv.md 2.8).
    """

    TLV_TYPE: ClassVar[int] = LldpTlvType.ORG_SPECIFIC
    oui: int
    subtype: int
    info: bytes = b""
    error: DecodeError | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.oui <= 0xFFFFFF:
            raise EncodeError(f"OUI {self.oui:#x} outside 24 bits")
        _check_octet("org subtype", self.subtype)
        if len(self.info) > 507:
            raise EncodeError(f"org TLV information of {len(self.info)} octets > 507")

    def encode(self) -> bytes:
        oui = self.oui
        return (
            _hdr(127, 4 + len(self.info))
            + bytes((oui >> 16, (oui >> 8) & 0xFF, oui & 0xFF, self.subtype))
            + self.info
        )


Tlv = ChassisIdTlv | PortIdTlv | TtlTlv | EndTlv | UnknownTlv | UnknownOrgTlv | OrgTlv
"""Any TLV of an LLDPDU."""


# --------------------------------------------------------------------------------------------
# Decoding


def _decode_value(t: int, data: bytes, vstart: int, vend: int) -> Tlv:
    """Decode the value ``data[vstart:vend]`` of a TLV of type ``t`` (1..127, length >= 1)."""
    length = vend - vstart
    if t == 127:
        if length < 4:
            raise DecodeError(_LAYER, vstart - 2, f"org TLV length {length} < 4")
        oui = (data[vstart] << 16) | (data[vstart + 1] << 8) | data[vstart + 2]
        subtype = data[vstart + 3]
        info = data[vstart + 4 : vend]
        cls = _ORG_REGISTRY.get((oui, subtype))
        if cls is None:
            return UnknownOrgTlv(oui=oui, subtype=subtype, info=info)
        key = (cls, info)
        tlv = _ORG_MEMO.get(key)
        if tlv is None:
            try:
                tlv = cls.decode_info(info, vstart + 4)
            except DecodeError as exc:
                return UnknownOrgTlv(oui=oui, subtype=subtype, info=info, error=exc)
            if len(_ORG_MEMO) >= _ORG_MEMO_MAX:
                _ORG_MEMO.clear()
            _ORG_MEMO[key] = tlv
        return tlv
    if t == 1 or t == 2:
        if length < 2 or length > 256:
            raise DecodeError(_LAYER, vstart - 2, f"TLV type {t} length {length} outside 2..256")
        # Valid by the length check: build without __post_init__ (every LLDPDU has these).
        sub = data[vstart]
        ident: ChassisIdTlv | PortIdTlv
        if t == 1:
            ident = _new(ChassisIdTlv)
            _set(ident, "subtype", _CHASSIS_SUBTYPES.get(sub, sub))
        else:
            ident = _new(PortIdTlv)
            _set(ident, "subtype", _PORT_SUBTYPES.get(sub, sub))
        _set(ident, "value", data[vstart + 1 : vend])
        return ident
    if t == 3:
        if length != 2:
            raise DecodeError(_LAYER, vstart - 2, f"TTL TLV length {length}, must be 2")
        ttl = _new(TtlTlv)
        _set(ttl, "ttl", (data[vstart] << 8) | data[vstart + 1])
        return ttl
    return UnknownTlv(tlv_type=t, value=data[vstart:vend])


def decode_tlv(data: bytes | bytearray | memoryview) -> Tlv:
    """Decode exactly one TLV (header included); org TLVs dispatch through the registry."""
    raw = bytes(data)
    n = len(raw)
    if n < 2:
        raise DecodeError(_LAYER, 0, f"TLV header: {n} octets")
    word = (raw[0] << 8) | raw[1]
    t, length = word >> 9, word & 0x1FF
    if length + 2 != n:
        raise DecodeError(_LAYER, 0, f"TLV length {length} but {n - 2} value octets")
    if t == 0:
        if length:
            raise DecodeError(_LAYER, 0, f"End TLV with length {length}")
        return _END
    if length == 0:
        raise DecodeError(_LAYER, 0, f"TLV type {t} with length 0")
    return _decode_value(t, raw, 2, n)


_MANDATORY = ("Chassis ID", "Port ID", "TTL")


@dataclass(frozen=True, slots=True, kw_only=True)
class Lldpdu:
    """An LLDPDU: the TLVs in wire order (End included when present) and the octets after End.

    ``padding`` is non-empty only after an End TLV (otherwise it would be read as TLVs).
    """

    tlvs: tuple[Tlv, ...]
    padding: bytes = b""

    def __post_init__(self) -> None:
        tlvs = self.tlvs
        if (
            len(tlvs) < 3
            or type(tlvs[0]) is not ChassisIdTlv
            or type(tlvs[1]) is not PortIdTlv
            or type(tlvs[2]) is not TtlTlv
        ):
            raise EncodeError("an LLDPDU starts with Chassis ID, Port ID and TTL TLVs")
        last = len(tlvs) - 1
        for i in range(3, len(tlvs)):
            tlv = tlvs[i]
            if isinstance(tlv, ChassisIdTlv | PortIdTlv | TtlTlv):
                raise EncodeError(f"second {type(tlv).__name__} at TLV {i}")
            if isinstance(tlv, EndTlv) and i != last:
                raise EncodeError("End TLV before the last TLV")
        if self.padding and not isinstance(tlvs[last], EndTlv):
            raise EncodeError("padding without an End TLV")

    @classmethod
    def decode(cls, payload: bytes | bytearray | memoryview) -> Lldpdu:
        """Decode and validate an LLDPDU (the Ethernet payload after 0x88CC).

        Raises :class:`DecodeError` (offset from ``payload[0]``) when the LLDPDU must be
        discarded (802.1AB-2009 9.2.7.7.1 / lldp.md 1.2).
        """
        data = bytes(payload)
        n = len(data)
        pos = 0
        tlvs: list[Tlv] = []
        padding = b""
        while pos < n:
            if pos + 2 > n:
                raise DecodeError(_LAYER, pos, "TLV header truncated")
            word = (data[pos] << 8) | data[pos + 1]
            t = word >> 9
            vstart = pos + 2
            vend = vstart + (word & 0x1FF)
            index = len(tlvs)
            if t == 0:
                if vend != vstart:
                    raise DecodeError(_LAYER, pos, f"End TLV with length {vend - vstart}")
                if index < 3:
                    raise DecodeError(_LAYER, pos, f"End TLV before the {_MANDATORY[index]} TLV")
                tlvs.append(_END)
                padding = data[vstart:]
                break
            if vend > n:
                raise DecodeError(
                    _LAYER, pos, f"TLV type {t} length {vend - vstart} runs past the end"
                )
            if vend == vstart:
                raise DecodeError(_LAYER, pos, f"TLV type {t} with length 0")
            if index < 3:
                if t != index + 1:
                    raise DecodeError(
                        _LAYER, pos, f"TLV {index + 1} must be {_MANDATORY[index]}, got type {t}"
                    )
            elif t <= 3:
                raise DecodeError(_LAYER, pos, f"second {_MANDATORY[t - 1]} TLV")
            tlvs.append(_decode_value(t, data, vstart, vend))
            pos = vend
        if len(tlvs) < 3:
            raise DecodeError(_LAYER, n, f"LLDPDU ends before the {_MANDATORY[len(tlvs)]} TLV")
        # The checks above are those of __post_init__: build without repeating them.
        pdu = object.__new__(cls)
        object.__setattr__(pdu, "tlvs", tuple(tlvs))
        object.__setattr__(pdu, "padding", padding)
        return pdu

    def encode(self) -> bytes:
        """The LLDPDU octets, padding included."""
        return b"".join([tlv.encode() for tlv in self.tlvs]) + self.padding

    @property
    def chassis_id(self) -> ChassisIdTlv:
        """The Chassis ID TLV (always the first)."""
        return cast(ChassisIdTlv, self.tlvs[0])  # checked by __post_init__

    @property
    def port_id(self) -> PortIdTlv:
        """The Port ID TLV (always the second)."""
        return cast(PortIdTlv, self.tlvs[1])  # checked by __post_init__

    @property
    def ttl(self) -> int:
        """TTL in seconds; 0 marks a shutdown LLDPDU (802.1AB-2009 9.2.7.7.1 rxTTL)."""
        return cast(TtlTlv, self.tlvs[2]).ttl  # checked by __post_init__

    @property
    def msap(self) -> tuple[ChassisIdTlv, PortIdTlv]:
        """The MSAP identifier (Chassis ID, Port ID) that names the neighbour (8.5)."""
        return self.chassis_id, self.port_id

    @property
    def has_end(self) -> bool:
        """Whether the LLDPDU carried an End TLV (a missing End is accepted)."""
        return isinstance(self.tlvs[-1], EndTlv)

    def org(self, cls: type[_T]) -> _T | None:
        """The first TLV that is an instance of ``cls`` (e.g. ``EvbTlv``), or ``None``."""
        for tlv in self.tlvs:
            if isinstance(tlv, cls):
                return tlv
        return None

    def orgs(self, cls: type[_T]) -> tuple[_T, ...]:
        """Every TLV that is an instance of ``cls``, in wire order."""
        return tuple(tlv for tlv in self.tlvs if isinstance(tlv, cls))


# --------------------------------------------------------------------------------------------
# Building (agents)


def build_lldpdu(
    mac: bytes,
    ttl: int,
    extra: Sequence[Tlv] = (),
    *,
    chassis_id: ChassisIdTlv | None = None,
    port_id: PortIdTlv | None = None,
) -> Lldpdu:
    """Chassis ID (MAC), Port ID (MAC), TTL, ``extra``, End: qbg's and lldpad's LLDPDU.

    lldp.md 8 item 2: Chassis ID subtype 4 and Port ID subtype 3 carry ``mac`` unless given
    explicitly.  A shutdown LLDPDU is ``build_lldpdu(mac, 0)`` (lldp.md 4).  No padding: the
    frame is padded to 60 octets by :func:`encode_lldp_frame`.  Raises :class:`EncodeError`
    if the LLDPDU would exceed 1500 octets.
    """
    if len(mac) != 6:
        raise EncodeError(f"MAC must be 6 bytes, got {mac!r}")
    chassis = chassis_id or ChassisIdTlv(subtype=ChassisIdSubtype.MAC_ADDRESS, value=mac)
    port = port_id or PortIdTlv(subtype=PortIdSubtype.MAC_ADDRESS, value=mac)
    pdu = Lldpdu(tlvs=(chassis, port, TtlTlv(ttl=ttl), *extra, _END))
    size = sum(len(t.encode()) for t in pdu.tlvs)
    if size > LLDPDU_MAX_LEN:
        raise EncodeError(f"LLDPDU of {size} octets exceeds {LLDPDU_MAX_LEN}")
    return pdu


def encode_lldp_frame(
    lldpdu: Lldpdu,
    src: bytes,
    dst: bytes = NEAREST_CUSTOMER_BRIDGE,
    tags: tuple[tuple[int, int], ...] = (),
) -> bytes:
    """The complete Ethernet frame for ``lldpdu``, padded to 60 octets (lldp.md 1)."""
    frame = EthernetFrame(
        dst=dst, src=src, ethertype=EtherType.LLDP, payload=lldpdu.encode(), tags=tags
    )
    return pad(frame.encode())
