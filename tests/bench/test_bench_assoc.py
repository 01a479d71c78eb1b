"""``qbg bench assoc`` keeps working: small N, JSON keys and sane values, no timing thresholds."""

from __future__ import annotations

import json
import os

import pytest

from qbg.bench import assoc
from qbg.bench.lldpad import command, vsi_spec
from qbg.cli import main

KEYS = ("vsis", "rte", "qbg_s", "lldpad_s", "ratio", "ecp_pdus", "round_trips", "pairs")


def _ecp(src: bytes, op: int, seq: int, payload: bytes = b"") -> bytes:
    hdr = bytes.fromhex("0180c2000000") + src + b"\x89\x40"
    return hdr + bytes((0x10 | (op << 2), 0x01)) + seq.to_bytes(2, "big") + payload


def _vsi_tlv(n: int, status: int) -> bytes:
    value = bytes((status,)) + b"\x00\x00\x05\x04\x05" + n.to_bytes(16, "big")
    value += b"\x02\x00\x01" + b"\x00\x64" + b"\x02\xaa\x00\x00\x00" + bytes((n,))
    return ((3 << 9) | len(value)).to_bytes(2, "big") + value


def test_analyse_counts_round_trips_and_ends_at_the_station_ack() -> None:
    sta, br = bytes.fromhex("020000005a01"), bytes.fromhex("02000000b001")
    mgr = ((5 << 9) | 16).to_bytes(2, "big") + b"pkmgr" + bytes(11)
    req = mgr + _vsi_tlv(1, 0) + _vsi_tlv(2, 0) + b"\x00\x00"
    resp = mgr + _vsi_tlv(1, 0x40) + _vsi_tlv(2, 0x40) + b"\x00\x00"
    recs = [
        (0.5, _ecp(sta, 0, 7, mgr + b"\x00\x00")),  # no VSI: before the start
        (1.0, _ecp(sta, 0, 8, req)),
        (1.001, _ecp(br, 1, 8)),
        (1.002, _ecp(sta, 0, 8, req)),  # a retransmission
        (1.003, _ecp(br, 0, 40, resp)),
        (1.004, _ecp(sta, 1, 40)),
    ]
    w = assoc.analyse(recs, sta, 2)
    assert w.start == 1.0 and w.end == 1.004 and w.last_response == 1.003
    assert (w.round_trips, w.ecp_pdus, w.retransmissions, w.answered) == (1, 2, 1, 2)
    assert w.station_vsis_per_pdu == 2.0


def test_lldpad_command_is_vdptools_datagram() -> None:
    # byte for byte what strace shows vdptool -i veth-sta -T -V assoc ... sending (Debian 12)
    want = (
        b"M000080c4C3020000011c08veth-sta020000000304mode0005assoc06mgrid20005pkmgr06typeid00015"
        b"04uuid002400000000-0000-4000-8000-00000000000109typeidver0001405hints0004none06filter"
        b"0015100-02:aa:00:00:00:01"
    )
    assert command("veth-sta", vsi_spec(1)) == want


@pytest.mark.netns
@pytest.mark.interop
def test_assoc_json_small(capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root (CI runs it as root)")
    rc = main(["bench", "assoc", "--vsis", "10", "--rte", "8", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    for k in KEYS:
        assert k in out
    assert out["vsis"] == 10 and out["rte"] == 8
    assert set(out["pairs"]) == set(assoc.PAIRS)
    for name, p in out["pairs"].items():
        assert {"seconds", "round_trips", "ecp_pdus", "retransmissions", "answered"} <= set(p)
        if name in ("qbg-qbg", "lldpad-lldpad"):  # the mixed pairs are interop findings
            assert p["complete"], (name, p)
            assert p["answered"] == 10 and 0 < p["seconds"] < 30
    assert out["qbg_s"] > 0 and out["lldpad_s"] > 0
    assert out["ratio"] == pytest.approx(out["lldpad_s"] / out["qbg_s"])
    assert out["round_trips"] >= 1 and out["ecp_pdus"] >= 2
    assert out["lldpad_round_trips"] >= 10  # lldpad: one VSI per ECPDU
