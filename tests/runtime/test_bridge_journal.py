"""The bridge daemon's state journal (no kernel needed): what it writes for VSI and record
changes, and that a restart replays snapshot + journal into the VSIs and records it restores."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from qbg.bridge.daemon import BridgeDaemon
from qbg.bridge.linux import BridgeRecords, FdbRecord, apply_changes
from qbg.config import load_config_text
from qbg.daemon import Interface
from qbg.evb.negotiation import EvbConfig, EvbRole
from qbg.vdp.filters import FilterEntry
from qbg.vdp.port import BridgePort
from qbg.vdp.tlv import VdpTlvType, VsiIdFormat, VsiTlv, parse_mgrid

MGR = parse_mgrid("pkmgr")


def vsi(n: int, mode: int = 3) -> VsiTlv:
    return VsiTlv(
        mode=VdpTlvType(mode),
        status=0,
        type_id=5,
        type_version=4,
        vsiid_format=VsiIdFormat.UUID,
        vsiid=uuid.UUID(int=n).bytes,
        filter_format=2,
        filters=(FilterEntry(ps=False, pcp=0, vid=100, mac=bytes([2, 0xAA, 0, 0, 0, n])),),
    )


def daemon(tmp: Path) -> BridgeDaemon:
    text = (
        "role: bridge\n"
        "daemon:\n"
        f"  state_file: {tmp / 'bridge.state.json'}\n"
        f"  control_socket: {tmp / 'bridge.sock'}\n"
        "linux_bridge: br0\n"
        "interfaces:\n  - name: swp1\n  - name: swp2\n"
    )
    cfg = load_config_text(text, "bridge.yaml", "bridge")
    return BridgeDaemon(cfg)  # type: ignore[arg-type]


def test_apply_changes_replays_every_kind() -> None:
    rec = BridgeRecords(vlans={("p1", 7): {"x"}})
    apply_changes(
        rec,
        [
            ["fdb+", "p1", "02:AA:00:00:00:01", None],
            ["fdb+", "p2", "02:aa:00:00:00:02", 100],
            ["fdb-", "p2", "02:aa:00:00:00:02", 100],
            ["vlan+", "p1", 100, "a"],
            ["vlan+", "p1", 100, "b"],
            ["vlan-", "p1", 100, "a"],
            ["vlan-", "p1", 7, "x"],  # the last owner: the key goes
            ["vlan-", "p9", 1, "nobody"],
            ["small", {"hairpin": ["p1"], "isolated": ["p1", "p2"], "locked": []}],
            ["future-kind", 1],
        ],
    )
    assert rec.fdb == {FdbRecord("p1", "02:aa:00:00:00:01", None)}
    assert rec.vlans == {("p1", 100): {"b"}}
    assert rec.hairpin == {"p1"} and rec.isolated == {"p1", "p2"} and rec.locked == {}


def test_vsi_changes_are_journaled_and_replayed(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    iface = d.interfaces["swp1"]
    port = BridgePort("swp1", bytes(6), EvbConfig(role=EvbRole.BRIDGE))
    iface.port = port
    port.vdp.restore(MGR, vsi(1), 0.0)
    port.vdp.restore(MGR, vsi(2, mode=1), 0.0)
    d._journal_vsi(iface, vsi(1).key(MGR))
    d._journal_vsi(iface, vsi(2).key(MGR))
    port.vdp.withdraw(vsi(2).key(MGR), 1.0)
    d._journal_vsi(iface, vsi(2).key(MGR))  # gone now: a removal entry
    d._journal_vsi(Interface(config=iface.config), vsi(1).key(MGR))  # no port: nothing
    kinds = [e[0] for e in d._jbuf]
    assert kinds == ["vsi", "vsi", "vsi-"]
    d.store.append(d._jbuf)
    d._jbuf = []

    # a restart: an older snapshot (VSI 3 on swp2, a record) + that journal
    old = {
        "bridge": "br0",
        "records": BridgeRecords(fdb={FdbRecord("swp2", "02:aa:00:00:00:03", None)}).to_dict(),
        "vsis": [{"interface": "swp2", "mgrid": MGR.hex(), "tlv": vsi(3).encode().hex()}],
    }
    again = daemon(tmp_path)
    again.restore(old)
    bad = ["vsi", "swp1", "zz", "not hex"]  # skipped (logged), the rest still replays
    again.restore_journal([*_entries(tmp_path), ["fdb+", "swp1", "02:aa:00:00:00:01", None], bad])
    restored = {(n, t.vsiid[-1], int(t.mode)) for n, _, t in again._restored}
    assert restored == {("swp2", 3, 3), ("swp1", 1, 3)}  # VSI 2 came and went
    assert again._records is not None
    assert BridgeRecords.from_dict(again._records).fdb == {
        FdbRecord("swp2", "02:aa:00:00:00:03", None),
        FdbRecord("swp1", "02:aa:00:00:00:01", None),
    }
    assert again.state_items() == 2 * 2


def _entries(tmp: Path) -> list[object]:
    lines: list[object] = []
    for path in sorted(tmp.glob("bridge.state.json.journal.*")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines
