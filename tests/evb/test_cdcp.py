"""CDCP TLV codec (evb-tlv.md 5.1), incl. the tcpdump test vector and the corpus frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qbg.evb.cdcp import CDCP_MAX_CHANNELS, DEFAULT_SCHANNEL, CdcpTlv, SChannel
from qbg.evb.tlv import EvbMode, EvbTlv
from qbg.lldp.errors import DecodeError, EncodeError
from qbg.lldp.frame import NEAREST_BRIDGE, EthernetFrame, EtherType
from qbg.lldp.tlv import Lldpdu, UnknownOrgTlv, org_tlv_class
from tests.strategies_lldp import read_pcap

# evb-tlv.md 5.1: tcpdump's evb.pcap CDCP value (OUI, subtype, info).
TCPDUMP_VALUE = "0080c20e000000a7001001"


def test_tcpdump_vector() -> None:
    raw = bytes.fromhex("fe0b" + TCPDUMP_VALUE)
    tlv = CdcpTlv.decode(raw)
    assert tlv == CdcpTlv(role=0, scomp=False, chncap=167, channels=(SChannel(scid=1, svid=1),))
    assert tlv.channels == (DEFAULT_SCHANNEL,)
    assert (tlv.reserved1, tlv.reserved2, tlv.reserved3) == (0, 0, 0)
    assert tlv.encode() == raw
    assert org_tlv_class(0x0080C2, 0x0E) is CdcpTlv


def test_bit_layout() -> None:
    tlv = CdcpTlv(
        role=1,
        reserved1=0b101,
        scomp=True,
        reserved2=0x5A5,
        reserved3=0b1001,
        chncap=0xABC,
        channels=(SChannel(scid=0x123, svid=0x456), SChannel(scid=2, svid=0)),
    )
    info = tlv.encode_info()
    # b31 role, b30..28 res1, b27 scomp, b26..16 res2, b15..12 res3, b11..0 chncap
    word = (1 << 31) | (0b101 << 28) | (1 << 27) | (0x5A5 << 16) | (0b1001 << 12) | 0xABC
    assert info == word.to_bytes(4, "big") + bytes.fromhex("123456002000")
    assert CdcpTlv.decode_info(info, 0) == tlv
    assert len(tlv.encode()) == 2 + 8 + 3 * 2
    assert tlv.encode()[:2] == bytes((0xFE, 14))


def test_no_channels() -> None:
    tlv = CdcpTlv.decode(bytes.fromhex("fe080080c20e08000004"))
    assert tlv.scomp and tlv.chncap == 4 and tlv.channels == ()


def test_max_channels_fit() -> None:
    tlv = CdcpTlv(channels=tuple(SChannel(scid=i, svid=i) for i in range(CDCP_MAX_CHANNELS)))
    raw = tlv.encode()
    assert len(raw) == 2 + 8 + 3 * 167 == 2 + 509
    assert CdcpTlv.decode(raw) == tlv
    with pytest.raises(EncodeError):
        CdcpTlv(channels=(*tlv.channels, DEFAULT_SCHANNEL))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 6, 8, 9])
def test_length_not_8_plus_3n_is_decode_error(n: int) -> None:
    with pytest.raises(DecodeError):
        CdcpTlv.decode_info(bytes(n), 6)


def test_bad_length_inside_lldpdu_is_ignored() -> None:
    payload = bytes.fromhex(
        "020704020000005a01 040703020000005a01 06020078 fe0a0080c20e000000a70010 0000"
    )
    lldpdu = Lldpdu.decode(payload)
    assert lldpdu.org(CdcpTlv) is None
    assert isinstance(lldpdu.tlvs[3], UnknownOrgTlv)
    assert lldpdu.encode() == payload


@pytest.mark.parametrize(
    "field",
    [{"role": 2}, {"reserved1": 8}, {"reserved2": 0x800}, {"reserved3": 16}, {"chncap": 4096}],
)
def test_out_of_range_refused(field: dict[str, Any]) -> None:
    with pytest.raises(EncodeError):
        CdcpTlv(**field)


@pytest.mark.parametrize("field", [{"scid": 4096, "svid": 1}, {"scid": 1, "svid": -1}])
def test_schannel_range(field: dict[str, int]) -> None:
    with pytest.raises(EncodeError):
        SChannel(**field)


def test_tcpdump_capture_lldpdu(corpus: Path) -> None:
    """tcpdump-evb.pcap frame 4: EVB and CDCP TLVs among 802.1 TLVs, to the NB address."""
    frames = read_pcap(corpus / "tcpdump-evb.pcap")
    eth = EthernetFrame.decode(frames[3])
    assert eth.ethertype is EtherType.LLDP and eth.dst == NEAREST_BRIDGE
    lldpdu = Lldpdu.decode(eth.payload)
    evb = lldpdu.org(EvbTlv)
    assert evb == EvbTlv(rrcap=True, r=7, rte=20, mode=EvbMode.BRIDGE, rwd=31, rka=31)
    cdcp = lldpdu.org(CdcpTlv)
    assert cdcp == CdcpTlv.decode(bytes.fromhex("fe0b" + TCPDUMP_VALUE))
    # PVID, PPVID, VLAN name, protocol identity: 802.1 org TLVs qbg does not register.
    unknown = lldpdu.orgs(UnknownOrgTlv)
    assert [t.subtype for t in unknown] == [1, 2, 3, 4]
    assert all(t.oui == 0x0080C2 and t.error is None for t in unknown)
    assert lldpdu.encode() == eth.payload
