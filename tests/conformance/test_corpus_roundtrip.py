"""Every frame of every capture in the corpus decodes and re-encodes byte-exact (STYLE habit 15).

The directory is globbed (tests/conftest.py ``corpus_files``), so a capture added to the
corpus is covered without touching this file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from qbg.evb.ecpdu import EcpOp
from qbg.lldp.frame import NEAREST_CUSTOMER_BRIDGE
from qbg.pcapfile import read_pcap
from qbg.vdp.frames import EcpFrame, LldpFrame, decode_frame, encode_frame
from qbg.vdp.tlv import MalformedVsiTlv, VsiTlv
from tests.conftest import corpus_files

FILES = corpus_files()


def test_corpus_is_there() -> None:
    assert len(FILES) >= 13, FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_frame_round_trips(path: Path) -> None:
    kinds: Counter[str] = Counter()
    for i, rec in enumerate(read_pcap(path), 1):
        assert len(rec.data) == rec.orig_len, f"frame {i} truncated by the capture"
        frame = decode_frame(rec.data)
        assert encode_frame(frame) == rec.data, f"{path.name} frame {i}"
        kinds[type(frame).__name__] += 1
        if isinstance(frame, EcpFrame):
            # ecp.md §1.1: every ECP frame of the corpus goes to the nearest customer bridge
            assert frame.eth.dst == NEAREST_CUSTOMER_BRIDGE
            assert frame.ecpdu.version == 1 and frame.ecpdu.subtype == 1
            if frame.ecpdu.op == EcpOp.REQUEST:
                assert frame.vdpdu is not None
                assert not any(type(t) is MalformedVsiTlv for t in frame.vdpdu.tlvs)
                vsis = frame.vdpdu.vsis
                assert vsis and all(type(v) is VsiTlv for v in vsis)
                # lldpad's VSIs: type 5 v4, UUID VSI IDs, one MAC/VID entry (MANIFEST)
                for v in vsis:
                    assert (v.type_id, v.type_version, v.vsiid_format) == (5, 4, 5)
                    assert v.filter_format == 2 and len(v.filters) == 1
                assert frame.vdpdu.mgrid[:5] == b"pkmgr"
            else:
                assert frame.vdpdu is None and len(rec.data) == 18  # veth: unpadded acks
        elif isinstance(frame, LldpFrame):
            assert frame.lldpdu.ttl in (0, 120) or path.name.startswith("tcpdump")
    assert sum(kinds.values()) > 0
    if path.name.startswith("std-vdp22") or path.name.startswith("perf-"):
        assert kinds["EcpFrame"] > 0
    if path.name == "tcpdump-evb.pcap":
        assert kinds == Counter(LldpFrame=1, OtherFrame=15)


def test_batched_injection_has_three_associates() -> None:
    # vdp.md §2: one ECPDU with one Manager ID and three Associate TLVs
    batched = [p for p in FILES if p.name == "std-vdp22-batched-injected.pcap"]
    assert batched
    counts = []
    for rec in read_pcap(batched[0]):
        frame = decode_frame(rec.data)
        if isinstance(frame, EcpFrame) and frame.vdpdu is not None:
            counts.append(len(frame.vdpdu.vsis))
    assert 3 in counts
