"""Policy decisions (vdp/policy.py): AllowAll, TypeDbPolicy, the MAC/VID conflict rule."""

from __future__ import annotations

import pytest

from qbg.vdp.policy import (
    AllowAll,
    Bindings,
    Decision,
    PolicyRequest,
    TypeDbPolicy,
    VsiType,
    assign,
)
from qbg.vdp.tlv import FilterEntry, VdpError

MAC1 = bytes.fromhex("02aa00000001")
MAC2 = bytes.fromhex("02aa00000002")


def req(
    *,
    port: str = "p1",
    key: object = "k1",
    mode: int = 3,
    vsiid: bytes = b"A" * 16,
    filters: tuple[FilterEntry, ...] = (FilterEntry(vid=100, mac=MAC1),),
    type_id: int = 5,
    version: int = 4,
    current: int | None = None,
) -> PolicyRequest:
    return PolicyRequest(
        port=port,
        key=key,  # type: ignore[arg-type]
        mode=mode,
        mgrid=bytes(16),
        type_id=type_id,
        type_version=version,
        vsiid_format=5,
        vsiid=vsiid,
        filter_format=2,
        filters=filters,
        current_mode=current,
    )


def test_decision_constructors() -> None:
    assert Decision.accept(()).accepted
    d = Decision.refuse(VdpError.OTHER_FAILURE, hard=True)
    assert not d.accepted and d.code == 4 and d.hard
    with pytest.raises(ValueError):
        Decision.refuse(0)


def test_assign_only_touches_wildcards_and_ps0() -> None:
    fs = (
        FilterEntry(vid=0, mac=MAC1),
        FilterEntry(vid=200, ps=True, pcp=5, mac=MAC2),
    )
    out = assign(fs, 300, 3)
    assert out[0] == FilterEntry(vid=300, ps=True, pcp=3, mac=MAC1)
    assert out[1] == fs[1]
    grouped = (FilterEntry(vid=0, group_id=7), FilterEntry(vid=0, group_id=8))
    assert [f.vid for f in assign(grouped, {7: 70, 8: 80}, None)] == [70, 80]


def test_allowall_is_lldpad_like() -> None:
    p = AllowAll()
    wild = (FilterEntry(vid=0, mac=MAC1),)
    assert p.decide(req(filters=wild)) == Decision.accept(wild)
    assert AllowAll(vid=42).decide(req(filters=wild)).filters[0].vid == 42


def test_typedb_checks_in_order() -> None:
    db = TypeDbPolicy(
        {
            (5, 4): VsiType(
                vlans=frozenset({100, 101}),
                wildcard_vid=101,
                pcp=2,
                mac_prefixes=(b"\x02\xaa",),
                max_vsis_per_port=2,
            ),
            6: VsiType(enforceable=False),
        },
        refuse_unenforceable=True,
    )
    assert db.decide(req(type_id=9)) == Decision.refuse(4, hard=True)
    assert db.decide(req(type_id=6, version=1)) == Decision.refuse(4, hard=True)
    assert db.decide(req(filters=(FilterEntry(vid=102, mac=MAC1),))).code == 5
    assert db.decide(req(filters=(FilterEntry(vid=100, mac=b"\x52" + MAC1[1:]),))).code == 5
    d = db.decide(req(filters=(FilterEntry(vid=0, mac=MAC1),)))
    assert d.filters == (FilterEntry(vid=101, ps=True, pcp=2, mac=MAC1),)
    for i, k in enumerate(("a", "b")):
        r = req(key=k, filters=(FilterEntry(vid=100, mac=bytes([2, 0xAA, 0, 0, 0, 10 + i])),))
        db.bound(r, r.filters)
    assert db.count("p1", 5, 4) == 2
    assert db.decide(req(key="c", filters=(FilterEntry(vid=100, mac=MAC2),))).code == 2
    assert db.decide(
        req(key="a", current=1, filters=(FilterEntry(vid=100, mac=bytes([2, 0xAA, 0, 0, 0, 10])),))
    ).accepted
    db.released("p1", "a")
    assert db.count("p1", 5, 4) == 1
    assert db.decide(req(key="c", filters=(FilterEntry(vid=100, mac=MAC2),))).accepted


def test_wildcard_without_vid_to_give_is_refused() -> None:
    db = TypeDbPolicy({(5, 4): VsiType()})
    assert db.decide(req(filters=(FilterEntry(vid=0, mac=MAC1),))).code == 2


def test_vsitype_validates() -> None:
    with pytest.raises(ValueError):
        VsiType(wildcard_vid=4095)
    with pytest.raises(ValueError):
        VsiType(pcp=8)


def test_mac_vid_conflict_across_ports_and_migration() -> None:
    b = Bindings()
    db = TypeDbPolicy({(5, 4): VsiType()}, bindings=b)
    first = req(port="p1", key="k1")
    db.bound(first, first.filters)
    assert b.owners(MAC1, 100) == (("p1", "k1"),)
    other_vsi = req(port="p2", key="k2", vsiid=b"B" * 16)
    assert db.decide(other_vsi).code == VdpError.INVALID_VID_GROUP_MAC
    same_vsi_elsewhere = req(port="p2", key="k1")
    assert db.decide(same_vsi_elsewhere).code == 5  # migration not allowed
    b.allow_migration = True
    assert db.decide(same_vsi_elsewhere).accepted
    assert db.decide(other_vsi).code == 5  # a different VSI never shares
    assert db.decide(req(port="p2", key="k2", vsiid=b"B" * 16, mode=1)).accepted  # no reserve
    assert db.decide(first).accepted  # itself: no conflict
    db.released("p1", "k1")
    assert b.owners(MAC1, 100) == ()
    assert db.decide(other_vsi).accepted


def test_allowall_with_bindings() -> None:
    p = AllowAll(bindings=Bindings())
    r = req()
    p.bound(r, r.filters)
    assert p.decide(req(port="p2", key="x", vsiid=b"C" * 16)).code == 5
    p.released("p1", "k1")
    assert p.decide(req(port="p2", key="x", vsiid=b"C" * 16)).accepted
