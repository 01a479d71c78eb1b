"""Draft 0.2 EVB TLV codec (evb-tlv.md 4)."""

from __future__ import annotations

from typing import Any

import pytest

from qbg.evb.draft02 import CAP_ECP, CAP_RTE, CAP_VDP, MODE_RR, MODE_STD, DraftEvbTlv
from qbg.lldp.errors import DecodeError, EncodeError
from qbg.lldp.tlv import Lldpdu, UnknownOrgTlv, org_tlv_class

# evb-tlv.md 4.3 (constructed): station fmode=reflectiverelay, capabilities=rte,ecp,vdp,
# rte=15, before and after hearing a bridge (both modes, all caps, RTE 20), one VSI.
BEFORE = "40074000000000000f"
AFTER = "4007400 70cdf000114".replace(" ", "")


def test_flag_constants() -> None:
    assert (MODE_STD, MODE_RR, CAP_RTE, CAP_ECP, CAP_VDP) == (0x80, 0x40, 0x04, 0x02, 0x01)


def test_handbook_example_before() -> None:
    tlv = DraftEvbTlv.decode_info(bytes.fromhex(BEFORE), 0)
    assert tlv == DraftEvbTlv(
        supported_mode=MODE_RR,
        supported_caps=CAP_RTE | CAP_ECP | CAP_VDP,
        configured_mode=MODE_RR,
        configured_caps=0,
        supported_vsis=0,
        configured_vsis=0,
        rte=15,
    )
    assert tlv.encode_info().hex() == BEFORE


def test_handbook_example_after() -> None:
    raw = bytes.fromhex("fe0d001b3f00" + AFTER)
    tlv = DraftEvbTlv.decode(raw)
    assert tlv.configured_caps == CAP_RTE | CAP_ECP | CAP_VDP
    assert tlv.supported_vsis == 3295  # lldpad's default "vsis"
    assert tlv.configured_vsis == 1
    assert tlv.rte == 20
    assert tlv.encode() == raw


def test_registered_and_decoded_inside_lldpdu() -> None:
    assert org_tlv_class(0x001B3F, 0x00) is DraftEvbTlv
    payload = bytes.fromhex(
        "020704020000005a01 040703020000005a01 06020078 fe0d001b3f00" + AFTER + "0000"
    )
    lldpdu = Lldpdu.decode(payload)
    tlv = lldpdu.org(DraftEvbTlv)
    assert tlv is not None and tlv.rte == 20
    assert lldpdu.encode() == payload


def test_extra_octets_kept() -> None:
    raw = bytes.fromhex("fe0f001b3f00" + BEFORE + "beef")
    tlv = DraftEvbTlv.decode(raw)
    assert tlv.extra == b"\xbe\xef" and tlv.encode() == raw


@pytest.mark.parametrize("n", range(0, 9))
def test_short_is_decode_error(n: int) -> None:
    with pytest.raises(DecodeError) as exc:
        DraftEvbTlv.decode_info(bytes(n), 6)
    assert exc.value.offset == 6


def test_short_inside_lldpdu_is_ignored() -> None:
    payload = bytes.fromhex("020704020000005a01 040703020000005a01 06020078 fe06001b3f004007 0000")
    lldpdu = Lldpdu.decode(payload)
    assert lldpdu.org(DraftEvbTlv) is None
    assert isinstance(lldpdu.tlvs[3], UnknownOrgTlv)
    assert lldpdu.encode() == payload


@pytest.mark.parametrize(
    "field",
    [
        {"supported_mode": 256},
        {"supported_caps": -1},
        {"configured_mode": 0x100},
        {"configured_caps": 300},
        {"supported_vsis": 0x10000},
        {"configured_vsis": -1},
        {"rte": 256},
        {"extra": bytes(499)},
    ],
)
def test_out_of_range_refused(field: dict[str, Any]) -> None:
    with pytest.raises(EncodeError):
        DraftEvbTlv(**field)
