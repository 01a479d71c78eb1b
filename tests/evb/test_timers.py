"""evb/timers.py reproduces every number of README §2.4, ecp.md §2/§3.4 and vdp.md §9."""

from __future__ import annotations

import pytest

from qbg.evb import timers as T

# README §2.4: X → 10 µs·2^X (values above 1 s rounded to the ms in the handbook table).
EXPONENT_TABLE_US = {
    0: 10, 1: 20, 2: 40, 3: 80, 4: 160, 5: 320, 6: 640, 7: 1_280, 8: 2_560, 9: 5_120,
    10: 10_240, 11: 20_480, 12: 40_960, 13: 81_920, 14: 163_840, 15: 327_680, 16: 655_360,
    17: 1_310_720, 18: 2_621_440, 19: 5_242_880, 20: 10_485_760,
}  # fmt: skip
EXPONENT_TABLE_ROUNDED_S = {
    21: 20.97152, 22: 41.943, 23: 83.886, 24: 167.772, 25: 335.544, 26: 671.089,
    27: 1342.177, 28: 2684.355, 29: 5368.709, 30: 10737.418, 31: 21474.836,
}  # fmt: skip


@pytest.mark.parametrize(("x", "us"), sorted(EXPONENT_TABLE_US.items()))
def test_exp_us_exact(x: int, us: int) -> None:
    assert T.exp_us(x) == us
    assert T.exp_seconds(x) == us / 1_000_000


@pytest.mark.parametrize(("x", "seconds"), sorted(EXPONENT_TABLE_ROUNDED_S.items()))
def test_exp_large_values_round_as_in_table(x: int, seconds: float) -> None:
    assert T.exp_us(x) == 10 * 2**x
    digits = len(str(seconds).split(".")[1])
    assert round(T.exp_seconds(x), digits) == seconds


@pytest.mark.parametrize("x", [-1, 32])
def test_exponent_out_of_range(x: int) -> None:
    with pytest.raises(ValueError):
        T.exp_us(x)


def test_ack_timer_examples() -> None:
    # ecp.md §2: RTE 8 → 2.56 ms; RTE 14 → 163.84 ms; RTE 16 → 655.36 ms.
    assert T.ack_timeout_us(8) == 2_560
    assert T.ack_timeout_us(14) == 163_840
    assert T.ack_timeout_us(16) == 655_360


@pytest.mark.parametrize(
    ("r", "rte", "giveup_us"),
    [(3, 8, 10_240), (3, 14, 655_360), (3, 16, 2_621_440), (7, 14, 1_310_720), (0, 14, 163_840)],
)
def test_give_up(r: int, rte: int, giveup_us: int) -> None:
    # ecp.md §3.4 table, and GIVEUP of scenarios.md §0.2.
    assert T.give_up_us(r, rte) == giveup_us


@pytest.mark.parametrize(
    ("r", "rte", "e", "expected"),
    [
        (3, 14, 20, 17_448_960),  # corpus config (scenarios.md §0.2 RESP_WAIT/SUPERV)
        (3, 8, 20, 15_755_520),  # lldpad default
        (3, 14, 8, 1_724_160),  # vdp.md §9 "R3/RTE14/RWD8/RKA8 → 1.724 s"
        (3, 16, 20, 22_609_920),  # H3C defaults → 22.6099 s
    ],
)
def test_response_wait_and_supervision(r: int, rte: int, e: int, expected: int) -> None:
    assert T.response_wait_us(r, rte, e) == expected
    assert T.supervision_us(r, rte, e) == expected


def test_keepalive_and_resource_wait() -> None:
    assert T.keepalive_us(20) == 10_485_760
    assert T.resource_wait_us(20) == 10_485_760
    assert T.keepalive_us(8) == 2_560  # vdp.md §9 "keep-alive 2.56 ms"
    assert T.keepalive_us(22) == 41_943_040  # S24 b: RKA 22 → 41.94 s


def test_draft_constants() -> None:
    assert T.DRAFT_ACK_TIMEOUT_US == 500_000
    assert T.DRAFT_MAX_TRIES == 3
    assert T.DRAFT_RESPONSE_WAIT_US == 3_000_000
    assert T.DRAFT_RESPONSE_WAIT_US == 2 * T.DRAFT_ACK_TIMEOUT_US * T.DRAFT_MAX_TRIES
    assert T.DRAFT_KEEPALIVE_US == 10_000_000
    assert T.DRAFT_SUPERVISION_US == 17_250_000


def test_conversions() -> None:
    assert T.to_us(17.44896) == 17_448_960
    assert T.to_seconds(163_840) == 0.16384
    assert T.to_us(T.to_seconds(655_360)) == 655_360


def test_retries_range() -> None:
    with pytest.raises(ValueError):
        T.give_up_us(8, 14)
