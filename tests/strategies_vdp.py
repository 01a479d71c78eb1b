"""Hypothesis strategies, one per VDP/ECP value type (STYLE habit 14).

Each strategy yields values in the codec's canonical domain, i.e. values for which
``decode(encode(v)) == v`` must hold: unknown TLVs never use a registered key, and padding
after a PDU without End TLV is empty.
"""

from __future__ import annotations

from hypothesis import strategies as st

from qbg.evb.ecpdu import DraftEcpdu, Ecpdu
from qbg.vdp.draft02 import DraftFilterEntry, DraftUnknownTlv, DraftVdpdu, DraftVdpTlv
from qbg.vdp.filters import MAX_ENTRIES
from qbg.vdp.tlv import (
    CISCO_OUI,
    CiscoL3AddressTlv,
    CiscoVmNameTlv,
    FilterEntry,
    ManagerIdTlv,
    UnknownOrgVdpTlv,
    UnknownVdpTlv,
    Vdpdu,
    VdpEndTlv,
    VdpTlv,
    VsiTlv,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
octets16 = st.binary(min_size=16, max_size=16)
macs = st.binary(min_size=6, max_size=6)


def filter_entries(fmt: int) -> st.SearchStrategy[FilterEntry]:
    return st.builds(
        FilterEntry,
        ps=st.booleans(),
        pcp=st.integers(0, 7),
        vid=st.integers(0, 0xFFF),
        mac=macs if fmt in (2, 4) else st.none(),
        group_id=u32 if fmt in (3, 4) else st.none(),
    )


@st.composite
def vsi_tlvs(draw: st.DrawFn, min_entries: int = 0, max_entries: int = 6) -> VsiTlv:
    fmt = draw(st.integers(1, 4))
    n_max = min(max_entries, MAX_ENTRIES[fmt])
    filters = draw(st.lists(filter_entries(fmt), min_size=min_entries, max_size=n_max))
    return VsiTlv(
        mode=draw(st.integers(1, 4)),
        status=draw(u8),
        type_id=draw(u24),
        type_version=draw(u8),
        vsiid_format=draw(u8),
        vsiid=draw(octets16),
        filter_format=fmt,
        filters=tuple(filters),
    )


manager_id_tlvs = st.builds(ManagerIdTlv, mgrid=octets16)
cisco_vm_name_tlvs = st.builds(
    CiscoVmNameTlv,
    vsiid_format=u8,
    vsiid=octets16,
    vm_id_format=u8,
    vm_uuid=octets16,
    name=st.binary(max_size=40),
)
cisco_l3_tlvs = st.builds(
    CiscoL3AddressTlv, vsiid_format=u8, vsiid=octets16, afi=u16, address=st.binary(max_size=16)
)
unknown_org_vdp_tlvs = st.builds(
    UnknownOrgVdpTlv,
    oui=u24.filter(lambda o: o != CISCO_OUI),
    info=st.binary(max_size=40),
)
unknown_vdp_tlvs = st.one_of(
    st.builds(UnknownVdpTlv, tlv_type=st.integers(6, 126), value=st.binary(max_size=40)),
    st.builds(UnknownVdpTlv, tlv_type=st.just(127), value=st.binary(max_size=2)),
)
body_tlvs: st.SearchStrategy[VdpTlv] = st.one_of(
    vsi_tlvs(),
    cisco_vm_name_tlvs,
    cisco_l3_tlvs,
    unknown_org_vdp_tlvs,
    unknown_vdp_tlvs,
)


@st.composite
def vdpdus(draw: st.DrawFn) -> Vdpdu:
    body = draw(st.lists(body_tlvs, max_size=4))
    if draw(st.booleans()):
        return Vdpdu(
            tlvs=(draw(manager_id_tlvs), *body, VdpEndTlv()), padding=draw(st.binary(max_size=30))
        )
    return Vdpdu(tlvs=(draw(manager_id_tlvs), *body))


ecpdus = st.builds(
    Ecpdu,
    version=st.integers(0, 15),
    op=st.integers(0, 3),
    subtype=st.integers(0, 0x3FF),
    seq=u16,
    payload=st.binary(max_size=60),
)
draft_ecpdus = st.builds(
    DraftEcpdu, oui=u24, pad=u8, subtype=u16, mode=u8, seq=u16, payload=st.binary(max_size=60)
)
draft_filter_entries = st.builds(DraftFilterEntry, mac=macs, vid=u16)
draft_vdp_tlvs = st.builds(
    DraftVdpTlv,
    mode=u8,
    response=u8,
    mgrid=u8,
    type_id=u24,
    type_version=u8,
    instance=octets16,
    filter_format=u8,
    entries=st.lists(draft_filter_entries, max_size=5).map(tuple),
)
draft_unknown_tlvs = st.builds(
    DraftUnknownTlv,
    tlv_type=st.integers(1, 127),
    value=st.binary(max_size=30).filter(lambda v: not v.startswith(b"\x00\x1b\x3f\x02")),
)


@st.composite
def draft_vdpdus(draw: st.DrawFn) -> DraftVdpdu:
    body = draw(st.lists(st.one_of(draft_vdp_tlvs, draft_unknown_tlvs), max_size=4))
    if draw(st.booleans()):
        return DraftVdpdu(tlvs=(*body, VdpEndTlv()), padding=draw(st.binary(max_size=30)))
    return DraftVdpdu(tlvs=tuple(body))
