"""``qbg sim``: the whole protocol core in memory under a fake clock."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from qbg.sim import run


def test_batched_association_uses_mtu_minimum_round_trips() -> None:
    res = run(1000, seed=1)
    assert res.associated == 1000 and res.given_up == 0
    # 35-octet format-2 VSI TLVs; ULPDU ≤ 1493 octets with the Manager ID and End TLVs
    assert res.round_trips == math.ceil(1000 / ((1493 - 18 - 2) // 35))
    assert res.retransmits == 0
    assert res.extra["bridge_vsis"] == 1000


def test_lldpad_pacing_sends_one_vsi_per_pdu_paced_by_the_ack_timer() -> None:
    res = run(20, rte=8, seed=1, pacing="lldpad")
    assert res.associated == 20
    assert res.round_trips == 20
    # each new ECPDU waits for the ack timer (2.56 ms at RTE 8) — 19 gaps at least
    assert res.sim_seconds >= 19 * 0.00256


def test_loss_is_recovered_by_ecp_retransmission() -> None:
    res = run(200, loss=0.2, seed=7)
    assert res.frames_lost > 0 and res.retransmits > 0
    assert res.associated + res.given_up == 200
    assert res.associated >= 190


def test_same_seed_same_outcome() -> None:
    a, b = run(100, loss=0.3, seed=5), run(100, loss=0.3, seed=5)
    assert (a.associated, a.round_trips, a.retransmits, a.frames_lost, a.sim_seconds) == (
        b.associated,
        b.round_trips,
        b.retransmits,
        b.frames_lost,
        b.sim_seconds,
    )


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        run(10, loss=1.5)
    p = subprocess.run(
        [sys.executable, "-m", "qbg.cli", "sim", "--vsis", "5", "--rte", "40"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and "RTE" in p.stderr


def test_cli_json_contract() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "qbg.cli", "sim", "--vsis", "50", "--seed", "1", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    j = json.loads(p.stdout.strip().splitlines()[-1])
    for key in (
        "vsis",
        "associated",
        "ecp_pdus",
        "round_trips",
        "retransmits",
        "sim_seconds",
        "wall_seconds",
    ):
        assert key in j
    assert j["vsis"] == 50 and j["associated"] == 50
