"""qbg.pcapfile: classic pcap (both byte orders, µs/ns) and pcapng reading; writing."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from qbg.lldp.errors import QbgError
from qbg.pcapfile import PcapError, PcapRecord, read_pcap, read_pcap_bytes, write_pcap
from tests.conftest import corpus_files

FRAME_A = bytes(range(18))
FRAME_B = bytes(60)


def classic(order: str, nano: bool, linktype: int = 1) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    frac = 123456789 if nano else 123456
    out += struct.pack(order + "IIII", 1700000000, frac, len(FRAME_A), len(FRAME_A)) + FRAME_A
    out += struct.pack(order + "IIII", 1700000001, 0, len(FRAME_B), 100) + FRAME_B
    return out


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic(order: str, nano: bool) -> None:
    a, b = read_pcap_bytes(classic(order, nano))
    assert a.data == FRAME_A and a.orig_len == 18 and a.linktype == 1
    assert b.data == FRAME_B and b.orig_len == 100
    assert a.time_ns == 1700000000_123456789 if nano else 1700000000_123456000
    assert abs(a.time - (1700000000.123456789 if nano else 1700000000.123456)) < 1e-6
    assert b.time == 1700000001.0


def _block(btype: int, body: bytes, order: str = "<") -> bytes:
    pad = (-len(body)) % 4
    n = 12 + len(body) + pad
    return struct.pack(order + "II", btype, n) + body + bytes(pad) + struct.pack(order + "I", n)


def pcapng(order: str = "<", tsresol: int | None = None, linktype: int = 1) -> bytes:
    shb = _block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)
    opts = b""
    if tsresol is not None:
        opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol, 0, 0, 0]) + bytes(4)
    idb = _block(1, struct.pack(order + "HHI", linktype, 0, 0) + opts, order)
    ts = 1700000000_123456 if tsresol is None else 1700000000_123456789
    epb = _block(
        6, struct.pack(order + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, 18, 18) + FRAME_A, order
    )
    spb = _block(3, struct.pack(order + "I", 60) + FRAME_B, order)
    nrb = _block(4, bytes(4), order)  # name resolution block: skipped
    return shb + idb + nrb + epb + spb


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng(order: str) -> None:
    a, b = read_pcap_bytes(pcapng(order))
    assert a.data == FRAME_A and a.time_ns == 1700000000_123456000
    assert b.data == FRAME_B and b.orig_len == 60 and b.time == 0.0


def test_pcapng_nanosecond_resolution() -> None:
    (a, _) = read_pcap_bytes(pcapng(tsresol=9))
    assert a.time_ns == 1700000000_123456789


@pytest.mark.parametrize(
    "data",
    [b"", b"\xd4\xc3", b"GIF89a........................", classic("<", False)[:20]],
)
def test_bad_headers(data: bytes) -> None:
    with pytest.raises(PcapError):
        list(read_pcap_bytes(data))


def test_truncated_records() -> None:
    raw = classic("<", False)
    for cut in (len(raw) - 1, len(raw) - 61, 24 + 10):
        with pytest.raises(PcapError, match=r"truncated|runs past"):
            list(read_pcap_bytes(raw[:cut]))
    ng = pcapng()
    with pytest.raises(PcapError):
        list(read_pcap_bytes(ng[:-3]))


def test_other_linktype_reported() -> None:
    with pytest.raises(PcapError, match="link type 113"):
        list(read_pcap_bytes(classic("<", False, linktype=113)))
    with pytest.raises(PcapError, match="link type 105"):
        list(read_pcap_bytes(pcapng(linktype=105)))
    recs = list(read_pcap_bytes(classic("<", False, linktype=113), any_linktype=True))
    assert [r.linktype for r in recs] == [113, 113]
    assert issubclass(PcapError, QbgError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PcapError):
        read_pcap(tmp_path / "nope.pcap")


def test_write_then_read(tmp_path: Path) -> None:
    path = tmp_path / "out.pcap"
    recs = [
        PcapRecord(time=1.5, data=FRAME_A, orig_len=18),
        PcapRecord(time=2.0000015, data=FRAME_B, orig_len=60),
    ]
    assert write_pcap(path, [*recs, FRAME_A]) == 3
    back = list(read_pcap(path))
    assert [r.data for r in back] == [FRAME_A, FRAME_B, FRAME_A]
    assert [r.time_ns for r in back] == [1_500_000_000, 2_000_002_000, 0]
    write_pcap(path, recs, nano=True)
    assert list(read_pcap(path))[1].time_ns == 2_000_001_500


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_rewrite_is_byte_identical(path: Path, tmp_path: Path) -> None:
    raw = path.read_bytes()
    snaplen = struct.unpack_from("<I", raw, 16)[0]
    out = tmp_path / "copy.pcap"
    write_pcap(out, read_pcap(path), snaplen=snaplen)
    assert out.read_bytes() == raw
