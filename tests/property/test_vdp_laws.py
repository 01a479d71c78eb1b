"""Laws of the VDP/ECP codecs: round trip, totality on garbage, mutation of real frames."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qbg.evb.ecpdu import DraftEcpdu, Ecpdu
from qbg.lldp.errors import DecodeError
from qbg.pcapfile import read_pcap
from qbg.vdp.draft02 import DraftVdpdu, DraftVdpTlv
from qbg.vdp.frames import decode_frame, encode_frame
from qbg.vdp.tlv import (
    FilterEntry,
    Vdpdu,
    VsiIdFormat,
    VsiTlv,
    mgrid_text,
    parse_mgrid,
    parse_vsiid,
    validate_request,
    vsiid_text,
)
from tests import strategies_vdp as s
from tests.conftest import corpus_files

CORPUS_FRAMES = [r.data for path in corpus_files() for r in read_pcap(path)]
assert CORPUS_FRAMES, "corpus is empty"


@given(s.ecpdus)
def test_ecpdu_round_trip(v: Ecpdu) -> None:
    assert Ecpdu.decode(v.encode()) == v


@given(s.draft_ecpdus)
def test_draft_ecpdu_round_trip(v: DraftEcpdu) -> None:
    assert DraftEcpdu.decode(v.encode()) == v


@given(s.vsi_tlvs(max_entries=250))
def test_vsi_tlv_round_trip(v: VsiTlv) -> None:
    raw = v.encode()
    assert len(raw) == 27 + len(v.filters) * {1: 2, 2: 8, 3: 6, 4: 12}[v.filter_format]
    assert VsiTlv.decode(raw) == v


@given(s.filter_entries(4))
def test_filter_entry_word(e: FilterEntry) -> None:
    assert FilterEntry.from_word(e.word, mac=e.mac, group_id=e.group_id) == e


@given(s.vdpdus())
def test_vdpdu_round_trip(v: Vdpdu) -> None:
    raw = v.encode()
    assert Vdpdu.decode(raw) == v
    assert Vdpdu.decode(raw, lenient=True) == v


@given(s.draft_vdp_tlvs)
def test_draft_vdp_tlv_round_trip(v: DraftVdpTlv) -> None:
    assert DraftVdpTlv.decode(v.encode()) == v


@given(s.draft_vdpdus())
def test_draft_vdpdu_round_trip(v: DraftVdpdu) -> None:
    assert DraftVdpdu.decode(v.encode()) == v


@given(s.cisco_vm_name_tlvs | s.cisco_l3_tlvs | s.unknown_org_vdp_tlvs | s.unknown_vdp_tlvs)
def test_org_and_unknown_round_trip_inside_pdu(t: object) -> None:
    pdu = Vdpdu.build(bytes(16), [], org=(t,))  # type: ignore[arg-type]
    assert Vdpdu.decode(pdu.encode()) == pdu


@given(s.vsi_tlvs(), st.booleans())
def test_validate_request_is_total(v: VsiTlv, group_ok: bool) -> None:
    assert 0 <= validate_request(v, group_ok) <= 5


@given(s.octets16)
def test_mgrid_text_round_trip(m: bytes) -> None:
    assert parse_mgrid(mgrid_text(m)) == m


@given(st.sampled_from(list(VsiIdFormat)) | st.integers(0, 255), s.octets16)
@example(1, bytes(10) + b"\xff\xff\x0a\x00\x00\x05")
@example(3, bytes(10) + b"\x52\x54\x00\x12\x34\x56")
def test_vsiid_text_round_trip(fmt: int, v: bytes) -> None:
    assert parse_vsiid(fmt, vsiid_text(fmt, v)) == v


# --- totality: decoders raise DecodeError and nothing else ----------------------------------


def _total(fn: object, data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        fn(data)  # type: ignore[operator]


@given(st.binary(max_size=200))
def test_garbage_raises_only_decode_error(data: bytes) -> None:
    for fn in (
        Ecpdu.decode,
        DraftEcpdu.decode,
        Vdpdu.decode,
        lambda d: Vdpdu.decode(d, lenient=True),
        VsiTlv.decode,
        DraftVdpdu.decode,
        DraftVdpTlv.decode,
        decode_frame,
    ):
        _total(fn, data)


@given(st.sampled_from(CORPUS_FRAMES), st.data())
@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
def test_mutated_corpus_frames(raw: bytes, data: st.DataObject) -> None:
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(mutated) - 1))
        mutated[i] ^= 1 << data.draw(st.integers(0, 7))
    try:
        frame = decode_frame(bytes(mutated))
    except DecodeError:
        return
    assert encode_frame(frame) == bytes(mutated)


@given(st.sampled_from(CORPUS_FRAMES), st.data())
def test_truncated_corpus_frames(raw: bytes, data: st.DataObject) -> None:
    cut = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        frame = decode_frame(cut)
    except DecodeError:
        return
    assert encode_frame(frame) == cut


@given(st.sampled_from(CORPUS_FRAMES), st.binary(min_size=1, max_size=20))
def test_corpus_frames_with_trailing_octets(raw: bytes, tail: bytes) -> None:
    try:
        frame = decode_frame(raw + tail)
    except DecodeError:
        return
    assert encode_frame(frame) == raw + tail
