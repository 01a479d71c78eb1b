"""Our decoder agrees with tshark, frame by frame, on the fields tshark gets right.

tshark 4.0 decodes the ratified ECP header (``ecp21``: ``ecp.op``, ``ecp.seqno``) and the LLDP
mandatory TLVs correctly; it mis-decodes VDP filters and ignores the EVB fields (vdp.md §12),
so those are not compared.  This test needs tshark and fails (never skips) without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qbg.pcapjson import frame_json
from qbg.pcaptool import load_records
from tests.conftest import corpus_files

pytestmark = pytest.mark.interop

FIELDS = (
    "frame.number",
    "eth.src",
    "eth.dst",
    "ecp.op",
    "ecp.seqno",
    "ecp.mode",
    "ecp.seq",
    "lldp.chassis.id.mac",
    "lldp.port.id.mac",
    "lldp.time_to_live",
)


def tshark_rows(path: Path) -> list[dict[str, str]]:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed: apt-get install tshark (this test must run)")
    cmd = [exe, "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in p.stdout.splitlines()]


def _int(text: str) -> int:
    return int(text, 0)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_agrees_with_tshark(path: Path) -> None:
    records = load_records(str(path))
    ours: list[dict[str, Any]] = [frame_json(n, t, raw) for n, (t, raw) in enumerate(records, 1)]
    theirs = tshark_rows(path)
    assert len(theirs) == len(ours), "frame counts differ"
    compared = 0
    for o, t in zip(ours, theirs, strict=True):
        n = o["frame"]
        assert int(t["frame.number"]) == n
        if t["eth.src"]:
            assert o["src"] == t["eth.src"] and o["dst"] == t["eth.dst"], f"frame {n}"
        if t["ecp.op"]:
            assert o["proto"] == "ecp", f"frame {n}: tshark sees ECP, we see {o['proto']}"
            op = {0: "request", 1: "ack"}[_int(t["ecp.op"])]
            assert o["ecp"]["op"] == op, f"frame {n}: ECP op"
            assert o["ecp"]["seq"] == _int(t["ecp.seqno"]), f"frame {n}: ECP seq"
            compared += 1
        elif t["ecp.mode"]:
            assert o["proto"] == "ecp-draft", f"frame {n}"
            assert o["ecp"]["op"] == {0: "request", 1: "ack"}[_int(t["ecp.mode"])]
            assert o["ecp"]["seq"] == _int(t["ecp.seq"]), f"frame {n}: draft ECP seq"
            compared += 1
        else:
            assert o["proto"] != "ecp", f"frame {n}: we see ECP, tshark does not"
        if t["lldp.time_to_live"]:
            assert o["proto"] == "lldp", f"frame {n}"
            ll = o["lldp"]
            assert ll["ttl"] == int(t["lldp.time_to_live"]), f"frame {n}: TTL"
            if t["lldp.chassis.id.mac"]:
                assert ll["chassis_id"] == t["lldp.chassis.id.mac"], f"frame {n}: chassis"
            if t["lldp.port.id.mac"]:
                assert ll["port_id"] == t["lldp.port.id.mac"], f"frame {n}: port"
            compared += 1
        else:
            assert o["proto"] != "lldp", f"frame {n}: we see LLDP, tshark does not"
    if any(o["proto"] in ("ecp", "lldp") for o in ours):
        assert compared > 0
