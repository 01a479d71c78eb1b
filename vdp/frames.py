"""Whole-frame decoding: Ethernet → LLDPDU / ECPDU + VDPDU / draft ECPDU + draft VDPDU.

One entry point for everything that reads or replays frames (ports, the pcap tools, the
conformance tests): :func:`decode_frame` splits a raw Ethernet frame (no FCS) down to the
innermost PDU qbg understands, :func:`encode_frame` rebuilds the octets from the innermost
values, so ``encode_frame(decode_frame(raw)) == raw`` for every frame (padding included).

```
Ethertype 0x88CC  LldpFrame(eth, lldpdu)                           802.1AB-2009 clause 8
Ethertype 0x8940  EcpFrame(eth, ecpdu, vdpdu)                      802.1Qbg-2012 clause 43
                    vdpdu: Vdpdu for version 1 / op 0 / subtype 1, else None (acks, PE-CSP,
                    reserved values: the ECP machine drops or acks them)
Ethertype 0x88B7  DraftEcpFrame(eth, ecpdu, vdpdu)  when the OUI is 00-1B-3F      [DRAFT]
                    vdpdu: DraftVdpdu for mode 0 (request), else None (acks)
anything else     OtherFrame(eth)   (802.3/LLC frames and OUI-extended frames of other OUIs)
```

A frame whose PDU does not decode raises :class:`DecodeError`; callers (machines) turn that
into a dropped-frame output.  On re-encoding, the innermost value wins: the ``payload`` fields
of ``eth`` and ``ecpdu`` are ignored when a decoded PDU sits inside them, so a caller may
replace just the VDPDU with ``dataclasses.replace`` and encode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from ..evb.ecpdu import DRAFT_OUI, DraftEcpdu, Ecpdu, EcpOp, EcpSubtype
from ..lldp.errors import DecodeError
from ..lldp.frame import EthernetFrame, EtherType
from ..lldp.tlv import Lldpdu
from .draft02 import DraftVdpdu
from .tlv import Vdpdu

__all__ = [
    "DraftEcpFrame",
    "EcpFrame",
    "Frame",
    "LldpFrame",
    "OtherFrame",
    "decode_frame",
    "encode_frame",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LldpFrame:
    eth: EthernetFrame
    lldpdu: Lldpdu


@dataclass(frozen=True, slots=True, kw_only=True)
class EcpFrame:
    eth: EthernetFrame
    ecpdu: Ecpdu
    vdpdu: Vdpdu | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftEcpFrame:
    eth: EthernetFrame
    ecpdu: DraftEcpdu
    vdpdu: DraftVdpdu | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherFrame:
    eth: EthernetFrame


Frame: TypeAlias = LldpFrame | EcpFrame | DraftEcpFrame | OtherFrame

_LLDP = int(EtherType.LLDP)
_ECP = int(EtherType.ECP)
_OUI_EXT = int(EtherType.OUI_EXTENDED)
_DRAFT_OUI_OCTETS = DRAFT_OUI.to_bytes(3, "big")
_VDP_REQUEST_WORD = (1 << 12) | (EcpOp.REQUEST << 10) | EcpSubtype.VDP


def decode_frame(raw: bytes, *, lenient: bool = False) -> Frame:
    """Decode a raw Ethernet frame (no FCS) as deep as qbg understands it.

    ``lenient`` is passed to :meth:`Vdpdu.decode` (keep inconsistent VSI TLVs as
    :class:`~qbg.vdp.tlv.MalformedVsiTlv` instead of failing).  Raises only
    :class:`DecodeError`; error offsets count from the start of the frame.
    """
    eth = EthernetFrame.decode(raw)
    et = eth.ethertype
    payload = eth.payload
    at = len(raw) - len(payload)  # frame offset of the payload
    if et == _ECP:
        ecpdu = Ecpdu.decode(payload, at)
        vdpdu = None
        if (payload[0] << 8) | payload[1] == _VDP_REQUEST_WORD:
            vdpdu = Vdpdu.decode(ecpdu.payload, at + 4, lenient=lenient)
        return EcpFrame(eth=eth, ecpdu=ecpdu, vdpdu=vdpdu)
    if et == _LLDP:
        try:
            lldpdu = Lldpdu.decode(payload)
        except DecodeError as exc:
            raise DecodeError(exc.layer, exc.offset + at, exc.reason) from None
        return LldpFrame(eth=eth, lldpdu=lldpdu)
    if et == _OUI_EXT and payload[:3] == _DRAFT_OUI_OCTETS:
        decp = DraftEcpdu.decode(payload, at)
        dvdpdu = DraftVdpdu.decode(decp.payload, at + 9) if decp.mode == 0 else None
        return DraftEcpFrame(eth=eth, ecpdu=decp, vdpdu=dvdpdu)
    return OtherFrame(eth=eth)


def _with_payload(eth: EthernetFrame, payload: bytes) -> bytes:
    if payload == eth.payload:
        return eth.encode()
    return EthernetFrame(
        dst=eth.dst, src=eth.src, ethertype=eth.ethertype, payload=payload, tags=eth.tags
    ).encode()


def encode_frame(frame: Frame) -> bytes:
    """The frame octets, rebuilt from the innermost decoded value (see module docstring)."""
    if isinstance(frame, EcpFrame):
        ecpdu = frame.ecpdu
        if frame.vdpdu is not None:
            ecpdu = Ecpdu(
                version=ecpdu.version,
                op=ecpdu.op,
                subtype=ecpdu.subtype,
                seq=ecpdu.seq,
                payload=frame.vdpdu.encode(),
            )
        return _with_payload(frame.eth, ecpdu.encode())
    if isinstance(frame, LldpFrame):
        return _with_payload(frame.eth, frame.lldpdu.encode())
    if isinstance(frame, DraftEcpFrame):
        decp = frame.ecpdu
        if frame.vdpdu is not None:
            decp = DraftEcpdu(
                oui=decp.oui,
                pad=decp.pad,
                subtype=decp.subtype,
                mode=decp.mode,
                seq=decp.seq,
                payload=frame.vdpdu.encode(),
            )
        return _with_payload(frame.eth, decp.encode())
    return frame.eth.encode()
