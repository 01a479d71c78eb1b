"""``qbg pcap decode``: the JSON Lines contract on the corpus, human output, bad input."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qbg.cli import main
from qbg.pcapfile import PcapRecord, write_pcap
from qbg.pcaptool import load_records
from tests.conftest import CORPUS, ROOT, corpus_files

MAC = re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VSI_KEYS = (
    "response", "status", "error", "type_id", "type_version", "vsiid_format", "vsiid",
    "filter_format", "filters",
)  # fmt: skip
EVB_KEYS = (
    "variant", "bgid", "rrcap", "rrctr", "sgid", "rrreq", "rrstat", "r", "rte", "mode",
    "rol_rwd", "rwd", "rol_rka", "rka",
)  # fmt: skip


def decode_json(path: Path | str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["pcap", "decode", "--json", str(path)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def check_contract(o: dict[str, Any]) -> None:
    assert isinstance(o["frame"], int) and isinstance(o["time"], float)
    assert MAC.fullmatch(o["src"]) and MAC.fullmatch(o["dst"])
    assert isinstance(o["ethertype"], int)
    assert o["proto"] in ("lldp", "ecp", "ecp-draft", "other")
    if o["proto"] == "lldp":
        ll = o["lldp"]
        assert {"chassis_id", "port_id", "ttl", "evb", "cdcp"} <= ll.keys()
        if ll["evb"] is not None and ll["evb"]["variant"] == "std":
            assert set(EVB_KEYS) <= ll["evb"].keys()
            assert ll["evb"]["mode"] in ("bridge", "station", "none", "reserved")
    elif o["proto"] in ("ecp", "ecp-draft"):
        e = o["ecp"]
        assert {"version", "op", "subtype", "seq", "tlvs"} <= e.keys()
        assert e["op"] in ("request", "ack") and isinstance(e["seq"], int)
        for t in e["tlvs"]:
            assert t["tlv"] in (
                "preassoc", "preassoc-rr", "assoc", "deassoc", "mgrid", "org", "end", "unknown"
            )  # fmt: skip
            if t["tlv"] in ("preassoc", "preassoc-rr", "assoc", "deassoc"):
                assert set(VSI_KEYS) <= t.keys()
                assert isinstance(t["response"], bool) and isinstance(t["status"], int)
                for f in t["filters"]:
                    assert {"ps", "pcp", "vid", "mac", "group_id"} <= f.keys()
            if t["tlv"] == "org":
                assert "oui" in t


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_frame_decodes(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objs = decode_json(path, capsys)
    assert [o["frame"] for o in objs] == list(range(1, len(load_records(str(path))) + 1))
    for o in objs:
        assert "error" not in o, o
        check_contract(o)
    assert objs[0]["time"] == 0.0
    assert all(a["time"] <= b["time"] for a, b in itertools.pairwise(objs))


def test_assoc_contract(capsys: pytest.CaptureFixture[str]) -> None:
    objs = decode_json(CORPUS / "std-vdp22-assoc.pcap", capsys)
    assert [o["proto"] for o in objs] == ["lldp", "lldp", "ecp", "ecp", "ecp", "ecp"]
    assert objs[2]["ethertype"] == 0x8940 and objs[0]["ethertype"] == 0x88CC
    assert objs[2]["src"] == "02:00:00:00:5a:01" and objs[2]["dst"] == "01:80:c2:00:00:00"
    assert abs(objs[2]["time"] - 1.064936) < 1e-9
    req, ack = objs[2]["ecp"], objs[3]["ecp"]
    assert (req["version"], req["op"], req["subtype"], req["seq"]) == (1, "request", 1, 1)
    assert (ack["op"], ack["seq"], ack["tlvs"]) == ("ack", 1, [])
    mgr, vsi = req["tlvs"][0], req["tlvs"][1]
    assert mgr["tlv"] == "mgrid" and mgr["mgrid"] == "pkmgr"
    assert vsi == {
        **vsi,
        "tlv": "assoc",
        "response": False,
        "status": 0,
        "error": 0,
        "type_id": 5,
        "type_version": 4,
        "vsiid_format": 5,
        "vsiid": "00000000-0000-4000-8000-000000000001",
        "filter_format": 2,
        "filters": [
            {"ps": False, "pcp": 0, "vid": 100, "mac": "02:aa:00:00:00:01", "group_id": None}
        ],
    }
    rsp = objs[4]["ecp"]["tlvs"][1]
    assert (rsp["response"], rsp["status"], rsp["error"]) == (True, 0x40, 0)
    ll = objs[0]["lldp"]
    assert (ll["chassis_id"], ll["port_id"], ll["ttl"]) == ("02:00:00:00:b0:01",) * 2 + (120,)


def test_coldstart_evb(capsys: pytest.CaptureFixture[str]) -> None:
    objs = decode_json(CORPUS / "std-evb22-coldstart.pcap", capsys)
    evbs = [o["lldp"]["evb"] for o in objs]
    assert len(evbs) == 14 and all(e["variant"] == "std" for e in evbs)
    # evb-tlv.md §1.1: frame 1 bridge 02 00 6e 54 14, frame 4 station 03 05 6e b4 34
    assert {k: evbs[0][k] for k in EVB_KEYS} == {
        "variant": "std", "bgid": False, "rrcap": True, "rrctr": False, "sgid": False,
        "rrreq": False, "rrstat": 0, "r": 3, "rte": 14, "mode": "bridge", "rol_rwd": False,
        "rwd": 20, "rol_rka": False, "rka": 20,
    }  # fmt: skip
    assert {k: evbs[3][k] for k in EVB_KEYS} == {
        "variant": "std", "bgid": False, "rrcap": True, "rrctr": True, "sgid": False,
        "rrreq": True, "rrstat": 1, "r": 3, "rte": 14, "mode": "station", "rol_rwd": True,
        "rwd": 20, "rol_rka": True, "rka": 20,
    }  # fmt: skip


def test_tcpdump_capture_cdcp_and_llc(capsys: pytest.CaptureFixture[str]) -> None:
    objs = decode_json(CORPUS / "tcpdump-evb.pcap", capsys)
    ll = objs[3]["lldp"]
    assert ll["evb"]["r"] == 7 and ll["evb"]["rte"] == 20 and ll["evb"]["rka"] == 31
    assert ll["cdcp"]["chncap"] == 167 and ll["cdcp"]["channels"] == [{"scid": 1, "svid": 1}]
    assert {o["proto"] for i, o in enumerate(objs) if i != 3} == {"other"}


def test_bridge_deassoc_and_batch(capsys: pytest.CaptureFixture[str]) -> None:
    objs = decode_json(CORPUS / "std-vdp22-bridge-ka-timeout.pcap", capsys)
    t = objs[6]["ecp"]["tlvs"][1]
    assert (t["tlv"], t["response"], t["status"]) == ("deassoc", False, 0)
    assert t["filters"][0]["vid"] == 702  # tshark would show the count as the MAC (vdp.md §12)
    objs = decode_json(CORPUS / "std-vdp22-batched-injected.pcap", capsys)
    vsis = [t["vsiid"] for t in objs[0]["ecp"]["tlvs"] if t["tlv"] == "assoc"]
    assert [v[-3:] for v in vsis] == ["901", "902", "903"]
    assert all(UUID.fullmatch(v) for v in vsis)


def test_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pcap", "decode", str(CORPUS / "std-vdp22-assoc.pcap")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert re.match(r"\s+3\s+1\.064936 02:00:00:00:5a:01 → 01:80:c2:00:00:00 ECP\s+req", lines[2])
    assert "seq=0x0001" in lines[2] and "assoc req" in lines[2]
    assert "vsi=00000000-0000-4000-8000-000000000001" in lines[2]
    assert "mac=02:aa:00:00:00:01 vid=100" in lines[2]  # not tshark's 00:01:02:aa:00:00
    assert "ack seq=0x0001" in lines[3]
    assert "assoc rsp ok" in lines[4]
    assert "LLDP" in lines[0] and "EVB bridge" in lines[0] and "RTE=14" in lines[0]


def test_verbose_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pcap", "decode", "-v", str(CORPUS / "std-vdp22-assoc.pcap")]) == 0
    out = capsys.readouterr().out
    assert "type_version: 4" in out and "0000  01 80 c2 00 00 00" in out
    assert out.count("→") == 6


def test_malformed_frame_is_marked_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recs = load_records(str(CORPUS / "std-vdp22-assoc.pcap"))
    bad = bytearray(recs[2][1])
    bad[0x25] = 0x30  # VSI TLV length runs past the frame
    short = recs[0][1][:16]  # LLDP cut inside the Chassis ID TLV
    data = [recs[1][1], bytes(bad), short, recs[3][1]]
    path = tmp_path / "bad.pcap"
    write_pcap(path, [PcapRecord(time=i, data=d, orig_len=len(d)) for i, d in enumerate(data)])
    objs = decode_json(path, capsys)
    assert "error" not in objs[0] and "error" not in objs[3]
    assert objs[1]["proto"] == "ecp" and "error" in objs[1]
    assert objs[2]["proto"] == "lldp" and "error" in objs[2]
    assert main(["pcap", "decode", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and "MALFORMED" in lines[1] and "MALFORMED" in lines[2]


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pcap", "decode", str(tmp_path / "nope.pcap")]) == 2
    assert "nope.pcap" in capsys.readouterr().err
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 5)
    assert main(["pcap", "decode", "--json", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "junk.pcap" in err and "Traceback" not in err


def test_entry_point_subprocess() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "qbg.cli", "pcap", "decode", "--json",
         str(CORPUS / "std-vdp22-deassoc.pcap")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert [json.loads(x)["ecp"]["op"] for x in p.stdout.splitlines()] == [
        "request", "ack", "request", "ack"
    ]  # fmt: skip
