"""Fast pure-``struct`` reader and writer for capture files (classic pcap and pcapng).

Used by the CLI's ``pcap`` command, the benchmarks and the conformance tests; no scapy.  The
reader handles what tcpdump and tshark write:

* classic pcap, either byte order, microsecond (``a1b2c3d4``) or nanosecond (``a1b23c4d``)
  magic;
* pcapng: Section Header (either byte order, several sections), Interface Description (with
  ``if_tsresol``), Enhanced Packet and Simple Packet blocks; other blocks are skipped.

Only Ethernet (linktype 1) is what qbg decodes; frames of other link types raise
:class:`PcapError` unless ``any_linktype=True`` (then ``PcapRecord.linktype`` tells them apart).
The writer produces classic little-endian microsecond pcap (or nanosecond with ``nano=True``),
version 2.4, which is byte-identical to tcpdump's output for the same records.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .lldp.errors import QbgError

__all__ = [
    "LINKTYPE_ETHERNET",
    "PcapError",
    "PcapRecord",
    "read_pcap",
    "read_pcap_bytes",
    "write_pcap",
]

LINKTYPE_ETHERNET = 1

_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_SHB = 0x0A0D0D0A
_BOM = 0x1A2B3C4D


class PcapError(QbgError):
    """The file is not a capture this reader understands, or it is truncated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PcapRecord:
    """One captured frame.  ``time`` is in seconds (float); ``time_ns`` is exact."""

    time: float
    data: bytes
    orig_len: int
    linktype: int = LINKTYPE_ETHERNET
    time_ns: int | None = None


def read_pcap(path: str | Path, *, any_linktype: bool = False) -> Iterator[PcapRecord]:
    """Iterate over the records of a pcap or pcapng file (read whole into memory)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PcapError(f"{path}: {exc.strerror or exc}") from None
    return read_pcap_bytes(data, name=str(path), any_linktype=any_linktype)


def read_pcap_bytes(
    data: bytes, *, name: str = "<bytes>", any_linktype: bool = False
) -> Iterator[PcapRecord]:
    """Like :func:`read_pcap` for file contents already in memory."""
    if len(data) < 4:
        raise PcapError(f"{name}: too short for a capture file ({len(data)} octets)")
    (magic_le,) = struct.unpack_from("<I", data)
    if magic_le == _SHB:
        return _read_pcapng(data, name, any_linktype)
    for order in "<>":
        (magic,) = struct.unpack_from(order + "I", data)
        if magic in (_MAGIC_US, _MAGIC_NS):
            return _read_classic(data, name, order, magic == _MAGIC_NS, any_linktype)
    raise PcapError(f"{name}: not a pcap or pcapng file (magic {data[:4].hex()})")


def _check_linktype(name: str, linktype: int, any_linktype: bool) -> None:
    if linktype != LINKTYPE_ETHERNET and not any_linktype:
        raise PcapError(
            f"{name}: link type {linktype} is not supported (only Ethernet, link type 1)"
        )


def _read_classic(
    data: bytes, name: str, order: str, nano: bool, any_linktype: bool
) -> Iterator[PcapRecord]:
    if len(data) < 24:
        raise PcapError(f"{name}: truncated pcap file header")
    _, major, _minor, _zone, _sig, _snap, linktype = struct.unpack_from(order + "IHHiIII", data)
    if major != 2:
        raise PcapError(f"{name}: pcap version {major} is not 2")
    linktype &= 0x0FFFFFFF  # upper bits: FCS length flags
    _check_linktype(name, linktype, any_linktype)
    return _iter_classic(data, name, order, nano, linktype)


def _iter_classic(
    data: bytes, name: str, order: str, nano: bool, linktype: int
) -> Iterator[PcapRecord]:
    rec = struct.Struct(order + "IIII")
    scale = 1_000_000_000 if nano else 1_000_000
    mul = 1 if nano else 1000
    pos, n = 24, len(data)
    while pos < n:
        if pos + 16 > n:
            raise PcapError(f"{name}: truncated record header at offset {pos}")
        sec, frac, incl, orig = rec.unpack_from(data, pos)
        pos += 16
        if pos + incl > n:
            raise PcapError(f"{name}: record at offset {pos - 16} runs past the end of the file")
        yield PcapRecord(
            time=sec + frac / scale,
            data=data[pos : pos + incl],
            orig_len=orig,
            linktype=linktype,
            time_ns=sec * 1_000_000_000 + frac * mul,
        )
        pos += incl


def _tsresol(opts: bytes, order: str) -> int:
    """Ticks per second from the IDB options (option 9 ``if_tsresol``; default 10^6)."""
    pos = 0
    while pos + 4 <= len(opts):
        code, length = struct.unpack_from(order + "HH", opts, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = opts[pos + 4]
            return 1 << (v & 0x7F) if v & 0x80 else int(10**v)
        pos += 4 + ((length + 3) & ~3)
    return 1_000_000


def _read_pcapng(data: bytes, name: str, any_linktype: bool) -> Iterator[PcapRecord]:
    if len(data) < 28:
        raise PcapError(f"{name}: truncated pcapng section header")
    if data[8:12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
        raise PcapError(f"{name}: bad pcapng byte-order magic {data[8:12].hex()}")
    return _iter_pcapng(data, name, any_linktype)


def _iter_pcapng(data: bytes, name: str, any_linktype: bool) -> Iterator[PcapRecord]:
    pos, n = 0, len(data)
    order = "<"
    ifaces: list[tuple[int, int, int]] = []  # (linktype, snaplen, ticks per second)
    while pos < n:
        if pos + 12 > n:
            raise PcapError(f"{name}: truncated pcapng block at offset {pos}")
        (btype,) = struct.unpack_from("<I", data, pos)
        if btype == _SHB:
            (bom,) = struct.unpack_from("<I", data, pos + 8)
            if bom == _BOM:
                order = "<"
            elif bom == 0x4D3C2B1A:
                order = ">"
            else:
                raise PcapError(f"{name}: bad pcapng byte-order magic at offset {pos}")
            ifaces = []
        else:
            (btype,) = struct.unpack_from(order + "I", data, pos)
        (blen,) = struct.unpack_from(order + "I", data, pos + 4)
        if blen < 12 or blen % 4 or pos + blen > n:
            raise PcapError(f"{name}: pcapng block at offset {pos} has bad length {blen}")
        body = data[pos + 8 : pos + blen - 4]
        if btype == 1:  # Interface Description Block
            if len(body) < 8:
                raise PcapError(f"{name}: short interface description at offset {pos}")
            linktype, _, snaplen = struct.unpack_from(order + "HHI", body)
            ifaces.append((linktype, snaplen, _tsresol(body[8:], order)))
        elif btype == 6:  # Enhanced Packet Block
            if len(body) < 20:
                raise PcapError(f"{name}: short enhanced packet block at offset {pos}")
            ifid, hi, lo, cap, orig = struct.unpack_from(order + "IIIII", body)
            if ifid >= len(ifaces):
                raise PcapError(f"{name}: packet for undeclared interface {ifid} at {pos}")
            if 20 + cap > len(body):
                raise PcapError(f"{name}: packet data runs past its block at offset {pos}")
            linktype, _, ticks = ifaces[ifid]
            _check_linktype(name, linktype, any_linktype)
            ts = (hi << 32) | lo
            yield PcapRecord(
                time=ts / ticks,
                data=body[20 : 20 + cap],
                orig_len=orig,
                linktype=linktype,
                time_ns=ts * 1_000_000_000 // ticks,
            )
        elif btype == 3:  # Simple Packet Block: no timestamp, interface 0
            if not ifaces or len(body) < 4:
                raise PcapError(f"{name}: simple packet block without interface at {pos}")
            (orig,) = struct.unpack_from(order + "I", body)
            linktype, snaplen, _ = ifaces[0]
            _check_linktype(name, linktype, any_linktype)
            cap = min(orig, len(body) - 4)
            if snaplen:
                cap = min(cap, snaplen)
            yield PcapRecord(time=0.0, data=body[4 : 4 + cap], orig_len=orig, linktype=linktype)
        pos += blen


def write_pcap(
    path: str | Path,
    records: Iterable[PcapRecord | bytes],
    linktype: int = LINKTYPE_ETHERNET,
    *,
    nano: bool = False,
    snaplen: int = 262144,
) -> int:
    """Write classic pcap (little-endian, version 2.4); returns the number of records.

    Plain ``bytes`` items are written with time 0.  The timestamp comes from ``time_ns``
    when present (exact), else from ``time`` rounded to the file's resolution.
    """
    magic = _MAGIC_NS if nano else _MAGIC_US
    scale = 1_000_000_000 if nano else 1_000_000
    rec = struct.Struct("<IIII")
    out = bytearray(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    count = 0
    for r in records:
        if isinstance(r, bytes | bytearray | memoryview):
            frac_total, data, orig = 0, bytes(r), len(r)
        else:
            if r.time_ns is not None:
                frac_total = r.time_ns if nano else r.time_ns // 1000
            else:
                frac_total = round(r.time * scale)
            data, orig = r.data, r.orig_len
        sec, frac = divmod(frac_total, scale)
        out += rec.pack(sec, frac, len(data), orig)
        out += data
        count += 1
    try:
        Path(path).write_bytes(bytes(out))
    except OSError as exc:
        raise PcapError(f"{path}: {exc.strerror or exc}") from None
    return count
