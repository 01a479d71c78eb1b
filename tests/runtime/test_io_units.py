"""Unit tests of the Linux I/O layer's pure parts: BPF assembly, records, nft script, event
folding.  No namespaces needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qbg.bridge.linux import BridgeRecords, FdbRecord, isolation_ruleset
from qbg.link import PACKET_OUTGOING, bpf_program
from qbg.netlink import LinkEvent, LinkMonitor


def run_bpf(
    prog: list[tuple[int, int, int, int]], ethertype: int, tagged: bool, pkttype: int
) -> int:
    """A tiny classic-BPF interpreter for the opcodes the filter uses."""
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == 0x20:  # ld [k] (ancillary)
            off = k - 0x100000000 + 0x1000
            acc = {48: int(tagged), 4: pkttype}[off]
        elif code == 0x28:  # ldh [k]
            assert k == 12
            acc = ethertype
        elif code == 0x15:  # jeq #k
            pc += jt if acc == k else jf
        elif code == 0x06:
            return k
        pc += 1


@pytest.mark.parametrize("ethertype", [0x88CC, 0x8940, 0x88B7])
def test_bpf_accepts_untagged_qbg_ethertypes(ethertype: int) -> None:
    assert run_bpf(bpf_program(), ethertype, tagged=False, pkttype=2) > 0
    assert run_bpf(bpf_program(), ethertype, tagged=False, pkttype=0) > 0


@pytest.mark.parametrize("ethertype", [0x0800, 0x86DD, 0x8100, 0x88F7, 0x0000])
def test_bpf_drops_other_ethertypes(ethertype: int) -> None:
    assert run_bpf(bpf_program(), ethertype, tagged=False, pkttype=2) == 0


def test_bpf_drops_tagged_and_outgoing() -> None:
    assert run_bpf(bpf_program(), 0x88CC, tagged=True, pkttype=2) == 0
    assert run_bpf(bpf_program(), 0x8940, tagged=False, pkttype=PACKET_OUTGOING) == 0


def test_bpf_custom_ethertype_list() -> None:
    prog = bpf_program([0x1234])
    assert run_bpf(prog, 0x1234, False, 2) > 0 and run_bpf(prog, 0x88CC, False, 2) == 0
    with pytest.raises(ValueError):
        bpf_program([])


def test_records_json_round_trip() -> None:
    rec = BridgeRecords(
        hairpin={"swp1"},
        fdb={
            FdbRecord("swp1", "02:aa:bb:cc:dd:01", None),
            FdbRecord("swp2", "02:aa:bb:cc:dd:02", 7),
        },
        vlans={("swp1", 100): {"vsi-a", "vsi-b"}},
        isolated={"swp1", "swp2"},
    )
    data = json.loads(json.dumps(rec.to_dict()))
    assert BridgeRecords.from_dict(data) == rec
    assert data["vlans"] == [{"port": "swp1", "vid": 100, "owners": ["vsi-a", "vsi-b"]}]
    copy = rec.copy()
    copy.vlans[("swp1", 100)].add("vsi-c")
    assert rec.vlans[("swp1", 100)] == {"vsi-a", "vsi-b"}
    assert BridgeRecords.from_dict({}) == BridgeRecords()


def test_isolation_ruleset_text() -> None:
    text = isolation_ruleset("br-0", ["swp2", "swp1"])
    assert "table bridge qbg_br_0" in text
    assert 'elements = { "swp1", "swp2" }' in text
    assert "hook prerouting priority -200" in text
    assert "01:80:c2:00:00:00, 01:80:c2:00:00:03, 01:80:c2:00:00:0e" in text
    assert "0x88cc, 0x8940, 0x88b7" in text
    assert text.index("delete table") < text.rindex("table bridge")  # atomic rewrite
    assert "elements" not in isolation_ruleset("br0", [])
    with pytest.raises(ValueError):
        isolation_ruleset("br0", ['x"; flush ruleset; "'])


def msg(event: str, index: int, name: str, oper: str, family: int = 0, mtu: int = 1500) -> Any:
    attrs = {
        "IFLA_IFNAME": name,
        "IFLA_OPERSTATE": oper,
        "IFLA_MTU": mtu,
        "IFLA_ADDRESS": "02:00:00:00:00:01",
    }

    class Msg(dict[str, Any]):
        def get(self, key: Any, default: Any = None) -> Any:
            if key in attrs:
                return attrs[key]
            return super().get(key, default)

    return Msg(event=event, index=index, family=family, flags=1 if oper != "DOWN" else 0)


def test_monitor_folds_duplicates_and_bridge_family_copies() -> None:
    events: list[LinkEvent] = []
    mon = LinkMonitor(events.append)
    for m in [
        msg("RTM_NEWLINK", 5, "swp1", "DOWN"),
        msg("RTM_NEWLINK", 5, "swp1", "DOWN"),  # repeat
        msg("RTM_NEWLINK", 5, "swp1", "UP", family=7),  # AF_BRIDGE copy: ignored
        msg("RTM_NEWLINK", 5, "swp1", "UP"),
        msg("RTM_NEWLINK", 5, "swp1", "UP"),
        msg("RTM_NEWLINK", 5, "swp1", "UP", mtu=9000),
        msg("RTM_DELLINK", 5, "swp1", "DOWN"),
        msg("RTM_DELLINK", 5, "swp1", "DOWN"),
    ]:
        mon.handle(m)
    assert [e.kind for e in events] == ["added", "up", "changed", "removed"]
    assert events[2].previous is not None and events[2].previous.mtu == 1500


def test_monitor_name_filter() -> None:
    events: list[LinkEvent] = []
    mon = LinkMonitor(events.append, ifnames={"uplink"})
    mon.handle(msg("RTM_NEWLINK", 2, "other", "UP"))
    mon.handle(msg("RTM_NEWLINK", 3, "uplink", "UP"))
    assert [(e.kind, e.link.ifname) for e in events] == [("added", "uplink")]
