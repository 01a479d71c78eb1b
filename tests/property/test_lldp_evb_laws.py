"""Laws of the lldp/ and evb/ codecs (STYLE habit 14).

* round trip: ``decode(encode(v)) == v`` for every value type;
* totality: decoding arbitrary bytes, and truncated or mutated corpus LLDP frames, either
  succeeds or raises ``DecodeError`` (nothing else);
* exactness: whenever decoding succeeds, re-encoding gives the input back byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbg.evb.cdcp import CdcpTlv
from qbg.evb.draft02 import DraftEvbTlv
from qbg.evb.tlv import EvbTlv
from qbg.lldp.errors import DecodeError
from qbg.lldp.frame import EthernetFrame, EtherType
from qbg.lldp.tlv import Lldpdu, OrgTlv, Tlv, decode_tlv
from tests.conftest import CORPUS
from tests.strategies_lldp import (
    cdcp_tlvs,
    chassis_id_tlvs,
    corpus_frames,
    draft_evb_tlvs,
    ethernet_frames,
    evb_tlvs,
    lldpdus,
    optional_tlvs,
    port_id_tlvs,
    ttl_tlvs,
    unknown_org_tlvs,
    unknown_tlvs,
)

ORG_CLASSES: list[type[OrgTlv]] = [EvbTlv, DraftEvbTlv, CdcpTlv]


def _lldp_corpus() -> list[bytes]:
    frames = {
        raw
        for _, _, raw in corpus_frames(CORPUS)
        if EthernetFrame.decode(raw).ethertype == EtherType.LLDP
    }
    return sorted(frames)


LLDP_FRAMES = _lldp_corpus()


def test_corpus_has_lldp_frames() -> None:
    assert len(LLDP_FRAMES) >= 10, f"corpus at {CORPUS} has too few distinct LLDP frames"


def _decode_frame(raw: bytes) -> bytes | None:
    """Decode frame + LLDPDU; return the re-encoded frame, or None on DecodeError."""
    try:
        eth = EthernetFrame.decode(raw)
        if eth.ethertype != EtherType.LLDP:
            return eth.encode()
        lldpdu = Lldpdu.decode(eth.payload)
    except DecodeError:
        return None
    return EthernetFrame(
        dst=eth.dst, src=eth.src, ethertype=eth.ethertype, payload=lldpdu.encode(), tags=eth.tags
    ).encode()


def _total(decode: Callable[[bytes], Any], encode: Callable[[Any], bytes], data: bytes) -> None:
    try:
        value = decode(data)
    except DecodeError:
        return
    assert encode(value) == data


# ------------------------------------------------------------------------------------------
# round trips


@given(ethernet_frames())
def test_ethernet_frame_round_trip(v: EthernetFrame) -> None:
    assert EthernetFrame.decode(v.encode()) == v


@pytest.mark.parametrize(
    "strategy",
    [
        chassis_id_tlvs(),
        port_id_tlvs(),
        ttl_tlvs(),
        unknown_tlvs(),
        unknown_org_tlvs(),
        evb_tlvs(),
        draft_evb_tlvs(),
        cdcp_tlvs(),
    ],
    ids=["chassis", "port", "ttl", "unknown", "unknown_org", "evb", "draft", "cdcp"],
)
@settings(max_examples=150)
@given(data=st.data())
def test_tlv_round_trip(strategy: st.SearchStrategy[Tlv], data: st.DataObject) -> None:
    v = data.draw(strategy)
    raw = v.encode()
    assert decode_tlv(raw) == v
    assert len(raw) == 2 + ((raw[0] << 8 | raw[1]) & 0x1FF)


@given(st.one_of(evb_tlvs(), draft_evb_tlvs(), cdcp_tlvs(max_channels=40)))
def test_org_tlv_info_round_trip(v: EvbTlv | DraftEvbTlv | CdcpTlv) -> None:
    cls = type(v)
    assert cls.decode_info(v.encode_info(), 0) == v
    assert cls.decode(v.encode()) == v


@settings(max_examples=300)
@given(lldpdus())
def test_lldpdu_round_trip(v: Lldpdu) -> None:
    raw = v.encode()
    back = Lldpdu.decode(raw)
    assert back == v
    assert back.encode() == raw


@given(st.lists(optional_tlvs(), max_size=4))
def test_evb_tlvs_survive_a_whole_frame(extra: list[Tlv]) -> None:
    from qbg.lldp.tlv import build_lldpdu, encode_lldp_frame

    mac = bytes.fromhex("020000005a01")
    pdu = build_lldpdu(mac, 120, extra)
    raw = encode_lldp_frame(pdu, mac)
    assert len(raw) >= 60
    eth = EthernetFrame.decode(raw)
    back = Lldpdu.decode(eth.payload)
    assert back.tlvs == pdu.tlvs
    assert set(back.padding) <= {0}


# ------------------------------------------------------------------------------------------
# totality on garbage


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    _total(Lldpdu.decode, Lldpdu.encode, data)
    _total(decode_tlv, lambda t: t.encode(), data)
    _total(EthernetFrame.decode, EthernetFrame.encode, data)
    for cls in ORG_CLASSES:

        def decode_info(b: bytes, c: type[OrgTlv] = cls) -> OrgTlv:
            return c.decode_info(b, 0)

        _total(decode_info, _encode_info, data)
        _total(cls.decode, _encode, data)


def _encode_info(tlv: OrgTlv) -> bytes:
    return tlv.encode_info()


def _encode(tlv: OrgTlv) -> bytes:
    return tlv.encode()


MANDATORY = bytes.fromhex("020704020000005a01040703020000005a0106020078")


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_bytes_after_valid_mandatory_tlvs(tail: bytes) -> None:
    """Drives the decoder past the mandatory TLVs into optional/org TLV parsing."""
    _total(Lldpdu.decode, Lldpdu.encode, MANDATORY + tail)


@settings(max_examples=500)
@given(
    st.sampled_from([(0x0080C2, 0x0D), (0x0080C2, 0x0E), (0x001B3F, 0x00)]),
    st.binary(max_size=40),
)
def test_registered_org_tlvs_with_garbage_info(key: tuple[int, int], info: bytes) -> None:
    oui, sub = key
    tlv = bytes((0xFE, 4 + len(info), oui >> 16, (oui >> 8) & 0xFF, oui & 0xFF, sub)) + info
    _total(Lldpdu.decode, Lldpdu.encode, MANDATORY + tlv + b"\x00\x00")


# ------------------------------------------------------------------------------------------
# corpus frames truncated and mutated


def test_every_truncation_of_every_corpus_lldp_frame() -> None:
    for raw in LLDP_FRAMES:
        for cut in range(len(raw) + 1):
            prefix = raw[:cut]
            out = _decode_frame(prefix)
            if out is not None:
                assert out == prefix


@settings(max_examples=1000)
@given(data=st.data())
def test_bit_flips_of_corpus_lldp_frames(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(LLDP_FRAMES)))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(12, len(raw) - 1))
        raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    out = _decode_frame(bytes(raw))
    if out is not None:
        assert out == bytes(raw)


@settings(max_examples=500)
@given(data=st.data())
def test_splices_of_corpus_lldp_frames(data: st.DataObject) -> None:
    """Delete, insert or overwrite a run of octets inside the LLDPDU."""
    raw = data.draw(st.sampled_from(LLDP_FRAMES))
    start = data.draw(st.integers(14, len(raw)))
    stop = data.draw(st.integers(start, min(len(raw), start + 8)))
    insert = data.draw(st.binary(max_size=8))
    mutated = raw[:start] + insert + raw[stop:]
    out = _decode_frame(mutated)
    if out is not None:
        assert out == mutated
