"""LLDPDU codec: handbook examples (lldp.md 2, 4), receive validation (lldp.md 1.2), registry,
and byte-exact round trip of every LLDP frame of the corpus."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import pytest

import qbg.evb  # noqa: F401  (registration)
import qbg.lldp.tlv as tlvmod
from qbg.evb.cdcp import CdcpTlv
from qbg.evb.tlv import EvbMode, EvbTlv
from qbg.lldp.errors import DecodeError, EncodeError, LocalError
from qbg.lldp.frame import NEAREST_CUSTOMER_BRIDGE, EthernetFrame, EtherType
from qbg.lldp.tlv import (
    OUI_IEEE_8021,
    ChassisIdSubtype,
    ChassisIdTlv,
    EndTlv,
    Lldpdu,
    LldpTlvType,
    OrgTlv,
    PortIdSubtype,
    PortIdTlv,
    TtlTlv,
    UnknownOrgTlv,
    UnknownTlv,
    build_lldpdu,
    decode_tlv,
    encode_lldp_frame,
    org_tlv_class,
    register_org_tlv,
    registered_org_tlvs,
)
from tests.conftest import ROOT
from tests.strategies_lldp import corpus_frames

STATION = bytes.fromhex("020000005a01")
BRIDGE = bytes.fromhex("02000000b001")

# lldp.md 2: std-evb22-coldstart.pcap frame 4.
COLDSTART_F4 = bytes.fromhex(
    "0180c200000002000000 5a0188cc0207"
    "04020000005a010407 03020000005a01"
    "06020078fe090080c20d03056eb43400"
    "000000000000000000000000"
)
# lldp.md 4: std-lldp-shutdown.pcap frame 1.
SHUTDOWN_F1 = bytes.fromhex(
    "0180c200000002000000 5a0188cc0207"
    "04020000005a010407 03020000005a01"
    "06020000000000000000000000000000"
    "000000000000000000000000"
)
CHASSIS = "0207 04020000005a01"
PORT = "0407 03020000005a01"
TTL = "06020078"


def pdu(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


def test_tlv_type_codes() -> None:
    assert [int(t) for t in LldpTlvType] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 127]
    assert int(ChassisIdSubtype.MAC_ADDRESS) == 4
    assert int(PortIdSubtype.MAC_ADDRESS) == 3


def test_handbook_example_decodes_field_by_field() -> None:
    payload = COLDSTART_F4[14:]
    lldpdu = Lldpdu.decode(payload)
    chassis, port, ttl, evb, end = lldpdu.tlvs
    assert chassis == ChassisIdTlv(subtype=ChassisIdSubtype.MAC_ADDRESS, value=STATION)
    assert chassis.subtype is ChassisIdSubtype.MAC_ADDRESS
    assert port == PortIdTlv(subtype=PortIdSubtype.MAC_ADDRESS, value=STATION)
    assert ttl == TtlTlv(ttl=120)
    assert isinstance(evb, EvbTlv)
    assert evb.mode is EvbMode.STATION and evb.rrstat == 1
    assert end == EndTlv()
    assert lldpdu.padding == bytes(11)
    assert lldpdu.ttl == 120
    assert lldpdu.chassis_id is chassis and lldpdu.port_id is port
    assert lldpdu.msap == (chassis, port)
    assert lldpdu.has_end
    assert lldpdu.org(EvbTlv) is evb
    assert lldpdu.org(CdcpTlv) is None
    assert lldpdu.orgs(EvbTlv) == (evb,)
    assert lldpdu.encode() == payload


def test_build_reproduces_lldpad_frame_byte_exact() -> None:
    evb = EvbTlv.decode_info(bytes.fromhex("03056eb434"), 0)
    lldpdu = build_lldpdu(STATION, 120, [evb])
    assert encode_lldp_frame(lldpdu, STATION) == COLDSTART_F4
    assert len(lldpdu.encode()) == 49 - 14 and lldpdu.padding == b""


def test_shutdown_example() -> None:
    f = EthernetFrame.decode(SHUTDOWN_F1)
    lldpdu = Lldpdu.decode(f.payload)
    assert lldpdu.ttl == 0
    assert [type(t) for t in lldpdu.tlvs] == [ChassisIdTlv, PortIdTlv, TtlTlv, EndTlv]
    assert SHUTDOWN_F1[0x20:0x24] == bytes.fromhex("06020000")
    assert SHUTDOWN_F1[0x24:0x26] == b"\x00\x00"
    assert encode_lldp_frame(build_lldpdu(STATION, 0), STATION) == SHUTDOWN_F1
    bridge = encode_lldp_frame(build_lldpdu(BRIDGE, 0), BRIDGE, NEAREST_CUSTOMER_BRIDGE)
    assert bridge == SHUTDOWN_F1.replace(STATION, BRIDGE)


def test_missing_end_is_accepted() -> None:
    raw = pdu(CHASSIS + PORT + TTL + "0a03414243")
    lldpdu = Lldpdu.decode(raw)
    assert not lldpdu.has_end
    assert lldpdu.tlvs[-1] == UnknownTlv(tlv_type=5, value=b"ABC")
    assert lldpdu.padding == b""
    assert lldpdu.encode() == raw
    assert Lldpdu.decode(pdu(CHASSIS + PORT + TTL)).encode() == pdu(CHASSIS + PORT + TTL)


def test_optional_basic_tlvs_are_kept_verbatim() -> None:
    raw = pdu(CHASSIS + PORT + TTL + "0803657468" + "0a026831" + "0e0400140014" + "0000")
    lldpdu = Lldpdu.decode(raw)
    assert lldpdu.tlvs[3:6] == (
        UnknownTlv(tlv_type=4, value=b"eth"),
        UnknownTlv(tlv_type=5, value=b"h1"),
        UnknownTlv(tlv_type=7, value=bytes.fromhex("00140014")),
    )
    assert lldpdu.encode() == raw


def test_padding_after_end_is_kept_even_if_not_zero() -> None:
    raw = pdu(CHASSIS + PORT + TTL + "0000" + "deadbeef0000")
    lldpdu = Lldpdu.decode(raw)
    assert lldpdu.padding == bytes.fromhex("deadbeef0000")
    assert lldpdu.encode() == raw


# lldp.md 1.2: every check, plus the project's own.
@pytest.mark.parametrize(
    ("hexstr", "offset", "why"),
    [
        (PORT + CHASSIS + TTL + "0000", 0, "order: Port ID first"),
        (CHASSIS + TTL + PORT + "0000", 9, "order: TTL second"),
        (CHASSIS + PORT + "0a026831" + TTL, 18, "order: TLV 3 not TTL"),
        (CHASSIS + PORT + TTL + CHASSIS + "0000", 22, "second Chassis ID"),
        (CHASSIS + PORT + TTL + PORT + "0000", 22, "second Port ID"),
        (CHASSIS + PORT + TTL + TTL + "0000", 22, "second TTL"),
        (CHASSIS + PORT + "0603000078" + "0000", 18, "TTL length 3"),
        (CHASSIS + PORT + "060100" + "0000", 18, "TTL length 1"),
        (CHASSIS + PORT + TTL + "0a05414243", 22, "TLV runs past the end"),
        (CHASSIS + PORT + TTL + "0a", 22, "truncated TLV header"),
        (CHASSIS + PORT + TTL + "0a00" + "0000", 22, "length 0 for type 5"),
        (CHASSIS + PORT + TTL + "fe00" + "0000", 22, "length 0 for type 127"),
        (CHASSIS + PORT + TTL + "fe030080c2" + "0000", 22, "org TLV shorter than 4"),
        (CHASSIS + PORT + TTL + "0001ff", 22, "End TLV with a length"),
        ("020104" + PORT + TTL + "0000", 0, "Chassis ID length 1"),
        (CHASSIS + "0201" + TTL + "0000", 9, "Port ID length 1 (and type 1 again)"),
        (CHASSIS + "0401 03" + TTL + "0000", 9, "Port ID length 1"),
        (CHASSIS + PORT + "0000", 18, "End before TTL"),
        ("0000", 0, "End first"),
        (CHASSIS + PORT, 18, "ends before TTL"),
        ("", 0, "empty"),
    ],
)
def test_receive_validation(hexstr: str, offset: int, why: str) -> None:
    with pytest.raises(DecodeError) as exc:
        Lldpdu.decode(pdu(hexstr))
    assert exc.value.layer == "LLDPDU", why
    assert exc.value.offset == offset, why


def test_chassis_id_length_256_is_the_maximum() -> None:
    ok = "0300" + "07" + "41" * 255  # type 1 length 256
    assert Lldpdu.decode(pdu(ok + PORT + TTL)).chassis_id.value == b"A" * 255
    # Length 257 cannot be expressed as a 255-octet ID: refused.
    bad = "0301" + "07" + "41" * 256
    with pytest.raises(DecodeError):
        Lldpdu.decode(pdu(bad + PORT + TTL))


def test_unknown_chassis_subtype_stays_int() -> None:
    lldpdu = Lldpdu.decode(pdu("0203 0a4142" + PORT + TTL + "0000"))
    assert lldpdu.chassis_id.subtype == 10 and type(lldpdu.chassis_id.subtype) is int


def test_unknown_org_tlv_kept_verbatim() -> None:
    raw = pdu(CHASSIS + PORT + TTL + "fe0600120f010203" + "fe040080c2ff" + "0000")
    lldpdu = Lldpdu.decode(raw)
    assert lldpdu.tlvs[3] == UnknownOrgTlv(oui=0x00120F, subtype=1, info=b"\x02\x03")
    assert lldpdu.tlvs[4] == UnknownOrgTlv(oui=OUI_IEEE_8021, subtype=0xFF, info=b"")
    assert lldpdu.encode() == raw


def test_invalid_registered_org_tlv_is_ignored_not_fatal() -> None:
    # An EVB TLV of 8 value octets: the LLDPDU stays valid; the TLV decodes as unknown.
    raw = pdu(CHASSIS + PORT + TTL + "fe080080c20d03056eb4" + "0000")
    lldpdu = Lldpdu.decode(raw)
    tlv = lldpdu.tlvs[3]
    assert isinstance(tlv, UnknownOrgTlv)
    assert (tlv.oui, tlv.subtype, tlv.info) == (0x0080C2, 0x0D, bytes.fromhex("03056eb4"))
    assert isinstance(tlv.error, DecodeError)
    assert tlv.error.offset == 28  # the information string starts at payload offset 28
    assert lldpdu.org(EvbTlv) is None
    assert lldpdu.encode() == raw


def test_decode_tlv_single() -> None:
    assert decode_tlv(pdu(TTL)) == TtlTlv(ttl=120)
    assert decode_tlv(b"\x00\x00") == EndTlv()
    evb = decode_tlv(pdu("fe090080c20d03056eb434"))
    assert isinstance(evb, EvbTlv) and evb.rte == 14
    for bad in ("", "06", "060300", "0a00", "0001", "fe0a0080c20d03056eb434"):
        with pytest.raises(DecodeError):
            decode_tlv(pdu(bad))


def test_tlv_encoders() -> None:
    assert ChassisIdTlv(subtype=4, value=STATION).encode() == pdu(CHASSIS)
    assert PortIdTlv(subtype=3, value=STATION).encode() == pdu(PORT)
    assert TtlTlv(ttl=120).encode() == pdu(TTL)
    assert TtlTlv(ttl=0xFFFF).encode() == pdu("0602ffff")
    assert EndTlv().encode() == b"\x00\x00"
    assert UnknownTlv(tlv_type=126, value=b"x" * 511).encode()[:2] == pdu("fdff")
    assert UnknownOrgTlv(oui=0x00000C, subtype=2, info=b"ab").encode() == pdu("fe0600000c026162")


@pytest.mark.parametrize(
    "make",
    [
        lambda: ChassisIdTlv(subtype=256, value=b"a"),
        lambda: ChassisIdTlv(subtype=4, value=b""),
        lambda: PortIdTlv(subtype=-1, value=b"a"),
        lambda: PortIdTlv(subtype=3, value=bytes(256)),
        lambda: TtlTlv(ttl=65536),
        lambda: TtlTlv(ttl=-1),
        lambda: UnknownTlv(tlv_type=3, value=b"a"),
        lambda: UnknownTlv(tlv_type=127, value=b"a"),
        lambda: UnknownTlv(tlv_type=5, value=b""),
        lambda: UnknownTlv(tlv_type=5, value=bytes(512)),
        lambda: UnknownOrgTlv(oui=1 << 24, subtype=0),
        lambda: UnknownOrgTlv(oui=0, subtype=256),
        lambda: UnknownOrgTlv(oui=0, subtype=0, info=bytes(508)),
    ],
)
def test_impossible_tlvs_refused(make: object) -> None:
    with pytest.raises(EncodeError):
        make()  # type: ignore[operator]


def test_impossible_lldpdus_refused() -> None:
    c = ChassisIdTlv(subtype=4, value=STATION)
    p = PortIdTlv(subtype=3, value=STATION)
    t = TtlTlv(ttl=120)
    end = EndTlv()
    for tlvs, padding in [
        ((c, p), b""),
        ((p, c, t), b""),
        ((c, p, t, t), b""),
        ((c, p, t, c, end), b""),
        ((c, p, t, end, end), b""),
        ((c, p, t, end, UnknownTlv(tlv_type=5, value=b"x")), b""),
        ((c, p, t), b"\x00"),
    ]:
        with pytest.raises(EncodeError):
            Lldpdu(tlvs=tlvs, padding=padding)


def test_build_lldpdu_limits_and_overrides() -> None:
    with pytest.raises(EncodeError):
        build_lldpdu(STATION, 120, [UnknownTlv(tlv_type=9, value=bytes(511))] * 3)
    with pytest.raises(EncodeError):
        build_lldpdu(b"\x00" * 5, 120)
    custom = build_lldpdu(
        STATION, 121, chassis_id=ChassisIdTlv(subtype=ChassisIdSubtype.LOCAL, value=b"host")
    )
    assert custom.chassis_id.value == b"host" and custom.ttl == 121
    assert custom.port_id == PortIdTlv(subtype=PortIdSubtype.MAC_ADDRESS, value=STATION)


# ------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True, slots=True, kw_only=True)
class _Probe(OrgTlv):
    OUI: ClassVar[int] = 0xABCDEF
    SUBTYPE: ClassVar[int] = 7
    x: int

    @classmethod
    def decode_info(cls, info: bytes, offset: int) -> Self:
        if len(info) != 1:
            raise DecodeError("probe", offset, "need 1 octet")
        return cls(x=info[0])

    def encode_info(self) -> bytes:
        return bytes((self.x,))


def test_registry_refuses_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tlvmod, "_ORG_REGISTRY", dict(tlvmod._ORG_REGISTRY))
    assert org_tlv_class(0xABCDEF, 7) is None
    register_org_tlv(_Probe)
    register_org_tlv(_Probe)  # same class again: no-op
    assert org_tlv_class(0xABCDEF, 7) is _Probe
    assert registered_org_tlvs()[(0xABCDEF, 7)] is _Probe

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Impostor(_Probe):
        pass

    with pytest.raises(LocalError) as exc:
        register_org_tlv(Impostor)
    assert exc.value.code == "EEXIST"

    raw = pdu(CHASSIS + PORT + TTL + "fe05abcdef072a" + "0000")
    lldpdu = Lldpdu.decode(raw)
    assert lldpdu.org(_Probe) == _Probe(x=42)
    assert lldpdu.encode() == raw
    assert _Probe(x=42).encode() == pdu("fe05abcdef072a")
    assert _Probe.decode(pdu("fe05abcdef072a")) == _Probe(x=42)


def test_evb_classes_are_registered() -> None:
    with pytest.raises(LocalError):
        register_org_tlv(type("Fake", (EvbTlv,), {"__slots__": ()}))
    keys = registered_org_tlvs()
    assert keys[(0x0080C2, 0x0D)] is EvbTlv
    assert keys[(0x0080C2, 0x0E)] is CdcpTlv
    assert keys[(0x001B3F, 0x00)].__name__ == "DraftEvbTlv"


def test_lldp_tlv_alone_decodes_org_tlvs_as_unknown() -> None:
    """Without ``import qbg.evb`` nothing is registered: EVB TLVs decode as UnknownOrgTlv."""
    code = f"""
import sys
import qbg.lldp.tlv as t
assert "qbg.evb" not in sys.modules, sorted(sys.modules)
payload = bytes.fromhex({COLDSTART_F4[14:].hex()!r})
pdu = t.Lldpdu.decode(payload)
org = pdu.tlvs[3]
assert type(org) is t.UnknownOrgTlv and org.error is None, org
assert (org.oui, org.subtype, org.info.hex()) == (0x0080C2, 0x0D, "03056eb434")
assert pdu.encode() == payload
import qbg.evb
assert type(t.Lldpdu.decode(payload).tlvs[3]).__name__ == "EvbTlv"
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ------------------------------------------------------------------------------------------
# corpus


def test_every_corpus_lldp_frame_round_trips(corpus: Path) -> None:
    seen = 0
    for name, number, raw in corpus_frames(corpus):
        frame = EthernetFrame.decode(raw)
        if frame.ethertype != EtherType.LLDP:
            continue
        lldpdu = Lldpdu.decode(frame.payload)
        assert (
            EthernetFrame(
                dst=frame.dst, src=frame.src, ethertype=frame.ethertype, payload=lldpdu.encode()
            ).encode()
            == raw
        ), f"{name} frame {number}"
        assert lldpdu.has_end
        # lldpad's MSAP: Chassis ID subtype 4 / Port ID subtype 3, both the source MAC.
        assert lldpdu.chassis_id == ChassisIdTlv(subtype=4, value=frame.src)
        assert lldpdu.port_id == PortIdTlv(subtype=3, value=frame.src)
        if name.startswith("std-") or name.startswith("perf-"):
            assert len(raw) == 60 and frame.dst == NEAREST_CUSTOMER_BRIDGE
            assert lldpdu.ttl in (0, 120)
            assert set(lldpdu.padding) <= {0}
            # lldpad's NCB LLDPDU is exactly Chassis, Port, TTL, [EVB], End.
            kinds = [type(t) for t in lldpdu.tlvs]
            expect = [ChassisIdTlv, PortIdTlv, TtlTlv, EndTlv]
            if lldpdu.ttl:
                expect.insert(3, EvbTlv)
            assert kinds == expect, f"{name} frame {number}"
        seen += 1
    # 61 LLDPDUs in the lldpad captures (MANIFEST frame counts) + 1 in tcpdump-evb.pcap.
    assert seen >= 62
