"""The station daemon's desired-VSI table and state journal (no kernel needed): lookups by VSI ID
text and name stay true through adds and removals, each desired-set change is one journal line,
and a restart replays snapshot + journal into the same desired set."""

from __future__ import annotations

import uuid
from pathlib import Path

from qbg.config import load_config_text
from qbg.station.daemon import StationDaemon, StationVsi
from qbg.station.table import VsiTable
from qbg.vdp.filters import FilterEntry
from qbg.vdp.tlv import VdpTlvType, VsiIdFormat, VsiTlv, parse_mgrid

MGR = parse_mgrid("pkmgr")


def tlv(n: int, mode: int = 3, type_id: int = 5) -> VsiTlv:
    return VsiTlv(
        mode=VdpTlvType(mode),
        status=0,
        type_id=type_id,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=uuid.UUID(int=n).bytes,
        filter_format=2,
        filters=(FilterEntry(ps=False, pcp=0, vid=100, mac=bytes([2, 0xAA, 0, 0, 0, n])),),
    )


def vsi(n: int, iface: str = "uplink", **kw: object) -> StationVsi:
    mode = int(kw.pop("mode", 3))  # type: ignore[call-overload]
    type_id = int(kw.pop("type_id", 5))  # type: ignore[call-overload]
    return StationVsi(iface, MGR, tlv(n, mode, type_id), source="api", **kw)  # type: ignore[arg-type]


def slot(v: StationVsi) -> tuple[str, object]:
    return (v.interface, v.key)


def test_table_finds_by_id_text_and_name_through_changes() -> None:
    t = VsiTable()
    a, b = vsi(1, name="web"), vsi(1, type_id=6)  # one VSI ID under two types
    c = vsi(2, iface="other", name="web")
    for v in (a, b, c):
        t[slot(v)] = v  # type: ignore[index]
    text = str(uuid.UUID(int=1))
    assert t.find("uplink", text) is a and t.find("uplink", text.upper()) is a  # oldest first
    assert t.find("uplink", "web") is a and t.find("other", "web") is c
    assert t.find("uplink", str(uuid.UUID(int=2))) is None  # per interface
    del t[slot(a)]  # type: ignore[arg-type]
    assert t.find("uplink", text) is b and t.find("uplink", "web") is None
    replaced = vsi(1, type_id=6, name="db")
    t[slot(b)] = replaced  # type: ignore[index]
    assert t.find("uplink", text) is replaced and t.find("uplink", "db") is replaced
    assert t.pop(slot(replaced)) is replaced  # type: ignore[arg-type]
    assert t.find("uplink", text) is None and t.find("uplink", "db") is None
    assert len(t) == 1 and list(t.values()) == [c] and slot(c) in t


def daemon(tmp: Path) -> StationDaemon:
    text = (
        "role: station\n"
        "daemon:\n"
        f"  state_file: {tmp / 'station.state.json'}\n"
        f"  control_socket: {tmp / 'station.sock'}\n"
        "interfaces:\n  - name: uplink\n"
    )
    cfg = load_config_text(text, "station.yaml", "station")
    return StationDaemon(cfg)  # type: ignore[arg-type]


def restarted(tmp: Path) -> StationDaemon:
    d = daemon(tmp)
    d.restore(d.store.load())
    d.restore_journal(d.store.journal())
    return d


def desired(d: StationDaemon) -> set[tuple[int, int, str | None]]:
    return {(v.tlv.vsiid[-1], int(v.tlv.mode), v.name) for v in d.vsis.values()}


def test_changes_are_journal_lines_and_a_restart_replays_them(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    one, two, three = vsi(1, name="vm1"), vsi(2, mode=1), vsi(3)
    d.vsis[slot(one)] = one  # type: ignore[index]
    d.save_now()  # the snapshot: VSI 1
    for v in (two, three):
        d.vsis[slot(v)] = v  # type: ignore[index]
        d._persist(v)
    two.tlv = tlv(2, mode=3)  # pre-associated, then associated
    d._persist(two)
    one.tlv = tlv(1, mode=4)  # a de-associate in flight is no longer desired
    d._persist(one)
    d.flush_journal()
    assert d.store.journal_entries == 4
    assert desired(restarted(tmp_path)) == {(2, 3, None), (3, 3, None)}

    del d.vsis[slot(three)]  # type: ignore[arg-type]
    d._persist(three)
    d.flush_journal()
    assert desired(restarted(tmp_path)) == {(2, 3, None)}

    d.save_now()  # a snapshot takes the journal's place
    assert d.store.journal_entries == 0 and not list(tmp_path.glob("*.journal.*"))
    assert desired(restarted(tmp_path)) == {(2, 3, None)}


def test_damaged_lines_are_skipped_and_config_vsis_stay(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    config = StationVsi("uplink", MGR, tlv(9), name="cfg", source="config")
    d.vsis[slot(config)] = config  # type: ignore[index]
    good = ["vsi", "uplink", MGR.hex(), tlv(4).encode().hex(), "vm4"]
    d.restore_journal(
        [
            ["vsi", "uplink", "zz", "not hex"],
            ["what", "uplink", MGR.hex(), tlv(5).encode().hex()],
            ["vsi", "gone0", MGR.hex(), tlv(6).encode().hex()],  # no such interface now
            ["vsi-", "uplink", MGR.hex(), tlv(9).encode().hex()],  # config VSIs are not ours
            ["vsi", "uplink", MGR.hex(), tlv(9, mode=1).encode().hex()],
            good,
        ]
    )
    assert desired(d) == {(9, 3, "cfg"), (4, 3, "vm4")}
    assert d.vsis.get(slot(config)) is config and d.state_items() == 1
    assert d.vsis.find("uplink", "vm4") is not None
