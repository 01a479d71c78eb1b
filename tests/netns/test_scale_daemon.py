"""``qbg bench scale --agent daemon``: the full bridge daemon under keep-alive load at small N
(JSON keys and sane values; the numbers themselves are in BENCHMARKS.md, never thresholds)."""

from __future__ import annotations

import json

import pytest

from qbg.cli import main

pytestmark = pytest.mark.netns


def test_scale_daemon_small(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "scale", "--vsis", "300", "--ports", "3", "--rka", "15", "--periods", "4"]
    rc = main([*argv, "--agent", "daemon", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["agent"] == "daemon" and out["bridge_alive"]
    assert out["associated"] == 300 and out["still_associated"] == 300
    assert out["bridge_vsis"] == 300  # the daemon's own view (vsi.list over its socket)
    assert 0 <= out["cpu_pct"] < 200 and out["rss_mb"] > 0
    assert out["keepalive_pdus"] > 0 and out["keepalive_latency_ms"]["p50"] > 0
    reply = out["keepalive_reply_latency_ms"]
    assert reply["p50"] is not None and reply["p50"] >= out["keepalive_latency_ms"]["p50"] / 10
