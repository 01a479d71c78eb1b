"""ECPDU header codecs: ratified ECP (Ethertype 0x8940) and draft 0.2 ECP (Ethertype 0x88B7).

The Edge Control Protocol (802.1Qbg-2012 clause 43 [std-memory]) carries one upper-layer PDU
(a VDPDU for subtype 1) per ECPDU.  This module only converts the ECP header and the opaque
ULPDU between bytes and values; the transmit/receive machines live in ``evb/ecp.py`` and decide
what to do with unknown versions, operations and subtypes (ecp.md §4: drop, no ack).  Decoding
therefore accepts every header value and fails only on truncation.

Ratified ECPDU (the Ethernet payload after Ethertype 0x8940, ecp.md §1)::

    octet 0                   2                   4
    +-------+----+------------+-------------------+------------------------------+
    |version| op |  subtype   |  sequence number  |  ULPDU (requests) + padding  |
    +-------+----+------------+-------------------+------------------------------+
     0xF000 0x0C00  0x03FF          16 bits          everything up to frame end

    request / VDP: 10 01 <seq>          ack / VDP: 14 01 <seq>

``Ecpdu.payload`` is everything after the 4-octet header, Ethernet padding included, because
that is what lldpad hands to VDP (ecp.md §1.2); VDP stops at its End TLV.

Draft 0.2 ECPDU (the payload after Ethertype 0x88B7, ecp.md §8.1)::

    octet 0          3     4           6      7                 9
    +----------------+-----+-----------+------+-----------------+-----------------+
    | OUI 00-1B-3F   | pad | subtype 0 | mode | sequence number | VDP TLVs, End,  |
    +----------------+-----+-----------+------+-----------------+ zero padding    |
                                         0 = request, 1 = ack   +-----------------+
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from ..lldp.errors import DecodeError, EncodeError

__all__ = [
    "DRAFT_OUI",
    "ECP_VERSION",
    "DraftEcpMode",
    "DraftEcpdu",
    "EcpOp",
    "EcpSubtype",
    "Ecpdu",
]

ECP_VERSION = 1
"""The only ECP version defined (802.1Qbg-2012 43.3 [std-memory]); others are dropped."""

DRAFT_OUI = 0x001B3F
"""OUI of the pre-standard 802.1Qbg draft 0.2 protocols (ecp.md §8)."""


class EcpOp(IntEnum):
    """ECP operation (header bits 0x0C00); 2 and 3 are reserved and stay plain ``int``."""

    REQUEST = 0
    ACK = 1


class EcpSubtype(IntEnum):
    """ECP subtype (header bits 0x03FF): which upper-layer protocol the ULPDU belongs to."""

    VDP = 1
    PECSP = 2  # IEEE 802.1BR port extender control and status protocol; acked, then ignored


class DraftEcpMode(IntEnum):
    """Draft 0.2 ECP mode octet (ecp.md §8.1)."""

    REQUEST = 0
    ACK = 1


_OPS = {int(v): v for v in EcpOp}
_SUBTYPES = {int(v): v for v in EcpSubtype}
_DRAFT_MODES = {int(v): v for v in DraftEcpMode}

_HDR = struct.Struct("!HH")
_DRAFT_HDR = struct.Struct("!HBBHBH")  # OUI high 16 bits, OUI low 8, pad, subtype, mode, seq


@dataclass(frozen=True, slots=True, kw_only=True)
class Ecpdu:
    """One ratified ECPDU as it sits in the Ethernet payload (header + ULPDU + padding)."""

    version: int = ECP_VERSION
    op: EcpOp | int
    subtype: EcpSubtype | int
    seq: int
    payload: bytes = b""

    HEADER_LEN: ClassVar[int] = 4

    def __post_init__(self) -> None:
        if not 0 <= self.version <= 0xF:
            raise EncodeError(f"ECP version {self.version} outside 0..15")
        if not 0 <= self.op <= 3:
            raise EncodeError(f"ECP operation {self.op} outside 0..3")
        if not 0 <= self.subtype <= 0x3FF:
            raise EncodeError(f"ECP subtype {self.subtype} outside 0..1023")
        if not 0 <= self.seq <= 0xFFFF:
            raise EncodeError(f"ECP sequence number {self.seq} outside 0..65535")

    @classmethod
    def decode(cls, payload: bytes, offset: int = 0) -> Ecpdu:
        """Decode an Ethernet payload of Ethertype 0x8940.

        Only a payload shorter than the 4-octet header is an error; ``offset`` (the position of
        the payload in the frame) is added to error offsets.
        """
        if len(payload) < 4:
            raise DecodeError("ecp", offset, f"ECP header: need 4 octets, {len(payload)} left")
        word, seq = _HDR.unpack_from(payload)
        op = (word >> 10) & 0x3
        sub = word & 0x3FF
        # Every field is in range by construction: skip __init__/__post_init__ (hot path).
        pdu = _new(cls)
        _set_version(pdu, word >> 12)
        _set_op(pdu, _OPS.get(op, op))
        _set_subtype(pdu, _SUBTYPES.get(sub, sub))
        _set_seq(pdu, seq)
        _set_payload(pdu, bytes(payload[4:]))
        return pdu

    def encode(self) -> bytes:
        return _HDR.pack((self.version << 12) | (self.op << 10) | self.subtype, self.seq) + bytes(
            self.payload
        )

    @property
    def is_request(self) -> bool:
        return self.op == EcpOp.REQUEST

    @property
    def is_ack(self) -> bool:
        return self.op == EcpOp.ACK

    def ack(self) -> Ecpdu:
        """The acknowledgement for this request: same version/subtype/seq, op 1, no ULPDU."""
        return Ecpdu(version=self.version, op=EcpOp.ACK, subtype=self.subtype, seq=self.seq)


_new = object.__new__
_set_version, _set_op, _set_subtype, _set_seq, _set_payload = (
    Ecpdu.__dict__[name].__set__ for name in ("version", "op", "subtype", "seq", "payload")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftEcpdu:
    """One draft 0.2 ECPDU (9-octet header + VDP TLVs + padding), ecp.md §8.1.

    ``pad`` (octet 3) and ``subtype`` (octets 4-5) must be zero on send; lldpad does not check
    them on receive, so they are kept as fields and any value decodes.
    """

    oui: int = DRAFT_OUI
    pad: int = 0
    subtype: int = 0
    mode: DraftEcpMode | int
    seq: int
    payload: bytes = b""

    HEADER_LEN: ClassVar[int] = 9

    def __post_init__(self) -> None:
        if not 0 <= self.oui <= 0xFFFFFF:
            raise EncodeError(f"OUI {self.oui:#x} outside 24 bits")
        if not 0 <= self.pad <= 0xFF:
            raise EncodeError(f"draft ECP pad octet {self.pad} outside 0..255")
        if not 0 <= self.subtype <= 0xFFFF:
            raise EncodeError(f"draft ECP subtype {self.subtype} outside 0..65535")
        if not 0 <= self.mode <= 0xFF:
            raise EncodeError(f"draft ECP mode {self.mode} outside 0..255")
        if not 0 <= self.seq <= 0xFFFF:
            raise EncodeError(f"draft ECP sequence number {self.seq} outside 0..65535")

    @classmethod
    def decode(cls, payload: bytes, offset: int = 0) -> DraftEcpdu:
        """Decode an Ethernet payload of Ethertype 0x88B7; only truncation is an error."""
        if len(payload) < 9:
            raise DecodeError(
                "ecp-draft", offset, f"draft ECP header: need 9 octets, {len(payload)} left"
            )
        oui_hi, oui_lo, pad, subtype, mode, seq = _DRAFT_HDR.unpack_from(payload)
        return cls(
            oui=(oui_hi << 8) | oui_lo,
            pad=pad,
            subtype=subtype,
            mode=_DRAFT_MODES.get(mode, mode),
            seq=seq,
            payload=bytes(payload[9:]),
        )

    def encode(self) -> bytes:
        return _DRAFT_HDR.pack(
            self.oui >> 8, self.oui & 0xFF, self.pad, self.subtype, self.mode, self.seq
        ) + bytes(self.payload)

    @property
    def is_request(self) -> bool:
        return self.mode == DraftEcpMode.REQUEST

    @property
    def is_ack(self) -> bool:
        return self.mode == DraftEcpMode.ACK

    def ack(self) -> DraftEcpdu:
        """lldpad's draft ack: the request with mode 1 and everything after the header zeroed
        (same length), ecp.md §8.2."""
        return DraftEcpdu(
            oui=self.oui,
            pad=self.pad,
            subtype=self.subtype,
            mode=DraftEcpMode.ACK,
            seq=self.seq,
            payload=bytes(len(self.payload)),
        )
