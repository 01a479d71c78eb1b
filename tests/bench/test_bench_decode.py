"""``qbg bench decode`` keeps working (small N; no timing thresholds)."""

from __future__ import annotations

import argparse
import json

import pytest

from qbg.bench import decode
from qbg.cli import main
from qbg.vdp.frames import EcpFrame, LldpFrame, decode_frame, encode_frame
from tests.conftest import CORPUS

KEYS = (
    "frames",
    "qbg_fps",
    "qbg_json_fps",
    "tshark_fps",
    "scapy_fps",
    "ratio_tshark",
    "ratio_scapy",
)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "MIN_SECONDS", 0.02)


def test_generated_capture_is_mixed_and_round_trips() -> None:
    recs = decode.generate(300)
    assert len(recs) == 300
    frames = [decode_frame(r.data) for r in recs]
    assert all(encode_frame(f) == r.data for f, r in zip(frames, recs, strict=True))
    assert any(isinstance(f, LldpFrame) for f in frames)
    counts = {len(f.vdpdu.vsis) for f in frames if isinstance(f, EcpFrame) and f.vdpdu}
    assert min(counts) >= 1 and max(counts) <= 30 and len(counts) > 5


@pytest.mark.interop
def test_bench_generated_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "decode", "--frames", "200", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for k in KEYS:
        assert k in res
    assert res["frames"] == 200
    for k in ("qbg_fps", "qbg_json_fps", "tshark_fps", "scapy_fps", "ratio_tshark", "ratio_scapy"):
        assert isinstance(res[k], float) and res[k] > 0, k


def test_bench_file_skipping_others(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(CORPUS / "std-vdp22-keepalive.pcap")
    args = ["bench", "decode", path, "--json", "--skip-tshark", "--skip-scapy"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["frames"] == 60 and res["qbg_fps"] > 0 and res["qbg_json_fps"] > 0
    assert res["tshark_fps"] is None and res["ratio_tshark"] is None
    assert res["scapy_fps"] is None and res["ratio_scapy"] is None


def test_bench_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    ns = argparse.Namespace(file=None, frames=50, json=False, skip_tshark=True, skip_scapy=True)
    assert decode.main(ns) == 0
    out = capsys.readouterr().out
    assert "50 frames" in out and "frames/s" in out


def test_bench_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "decode", "/nonexistent.pcap", "--json"]) == 2
    assert "nonexistent" in capsys.readouterr().err
