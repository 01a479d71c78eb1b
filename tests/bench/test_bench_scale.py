"""``qbg bench scale`` keeps working: small N, JSON keys and sane values, no timing thresholds."""

from __future__ import annotations

import json
import os

import pytest

from qbg.cli import main

KEYS = (
    "vsis",
    "ports",
    "associated",
    "cpu_pct",
    "rss_mb",
    "bytes_per_vsi",
    "keepalive_pdus",
    "keepalive_latency_ms",
    "window_s",
)


@pytest.mark.netns
def test_scale_json_small(capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root (CI runs it as root)")
    argv = ["bench", "scale", "--vsis", "300", "--ports", "3", "--rka", "15", "--periods", "4"]
    rc = main([*argv, "--agent", "worker", "--json"])  # the default (daemon): test_scale_daemon
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    for k in KEYS:
        assert k in out
    assert out["associated"] == 300 and out["still_associated"] == 300
    assert 0 <= out["cpu_pct"] < 200 and out["rss_mb"] > 0
    assert out["keepalive_pdus"] > 0 and out["keepalive_latency_ms"]["p50"] > 0
    assert out["bridge_alive"]
