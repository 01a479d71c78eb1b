"""EVB timer formulas, in integer microseconds.

Every EVB timer is derived from an exponent X carried in the EVB TLV (RTE, RWD, RKA) and means
**10 µs × 2^X** (handbook README §2.4).  The formulas live here, once (STYLE habit 3), and are
computed in integer microseconds so that fake-clock tests reproduce the handbook's tables
exactly; machines convert to float seconds only at their edges (:func:`to_seconds`,
:func:`to_us`).

========================  ======  ==============================================  ==============
timer                     side    formula                                          clause
========================  ======  ==============================================  ==============
ECP ack timer             both    10 µs·2^RTE                                      43 (ECP)
ECP give-up               both    (1 + R) · ack after the first transmission       ecp.md §3.4
resource wait delay       bridge  10 µs·2^RWD                                      41.5.5.x
response wait             station x + x // 2, x = (1 + 2R)·ack + 10 µs·2^RWD       41.5.5.7
keep-alive period         station 10 µs·2^RKA                                      41.5.5.x
keep-alive supervision    bridge  x + x // 2, x = (1 + 2R)·ack + 10 µs·2^RKA       41.5.5.9
========================  ======  ==============================================  ==============

The 1.5 factor of 802.1Qbg-2012 41.5.5.7/41.5.5.9 (as lldpad cites them) truncates: ``x + x // 2``
(vdp.md §9).  lldpad computes ``(1 << X) * 10`` in a C ``int`` and overflows for X ≥ 28
(interop-lldpad.md Q-T3); we compute exactly and let :data:`LLDPAD_SAFE_MAX_EXPONENT` tell the
negotiation layer what not to offer.

The draft 0.2 variant uses fixed timers instead (interop-lldpad.md Q-T5, ecp.md §8.2,
vdp.md §13.2): they are the ``DRAFT_*`` constants at the end of this module.
"""

from __future__ import annotations

__all__ = [
    "DRAFT_ACK_TIMEOUT_US",
    "DRAFT_DORMANT_DELAY_US",
    "DRAFT_KEEPALIVE_US",
    "DRAFT_MAX_TRIES",
    "DRAFT_RESPONSE_WAIT_US",
    "DRAFT_SUPERVISION_US",
    "DRAFT_VDP_GRANULARITY_US",
    "LLDPAD_SAFE_MAX_EXPONENT",
    "MAX_EXPONENT",
    "MAX_RETRIES",
    "US_PER_SECOND",
    "ack_timeout_us",
    "exp_seconds",
    "exp_us",
    "give_up_us",
    "keepalive_us",
    "resource_wait_us",
    "response_wait_us",
    "supervision_us",
    "to_seconds",
    "to_us",
]

US_PER_SECOND = 1_000_000
MAX_EXPONENT = 31
"""RTE, RWD and RKA are 5-bit fields (evb-tlv.md §1)."""
MAX_RETRIES = 7
"""R is a 3-bit field (evb-tlv.md §1)."""
LLDPAD_SAFE_MAX_EXPONENT = 27
"""Largest exponent lldpad's 32-bit ``int`` timer arithmetic survives (Q-T3)."""


def _check(name: str, value: int, high: int) -> None:
    if not 0 <= value <= high:
        raise ValueError(f"{name} {value} outside 0..{high}")


def exp_us(x: int) -> int:
    """10 µs × 2^x, exactly, in microseconds (README §2.4); ``x`` in 0..31."""
    _check("exponent", x, MAX_EXPONENT)
    return 10 << x


def exp_seconds(x: int) -> float:
    """:func:`exp_us` in seconds (for display and adapters; machines stay in µs)."""
    return exp_us(x) / US_PER_SECOND


def ack_timeout_us(rte: int) -> int:
    """ECP acknowledgement timer: 10 µs × 2^RTE (ecp.md §2)."""
    return exp_us(rte)


def give_up_us(r: int, rte: int) -> int:
    """Time from the first transmission of an ECPDU to ECP's give-up: (1 + R) acks (ecp.md §3.4)."""
    _check("R", r, MAX_RETRIES)
    return (1 + r) * ack_timeout_us(rte)


def _one_and_a_half(r: int, rte: int, x: int) -> int:
    _check("R", r, MAX_RETRIES)
    base = (1 + 2 * r) * ack_timeout_us(rte) + exp_us(x)
    return base + base // 2


def response_wait_us(r: int, rte: int, rwd: int) -> int:
    """Station VDP response wait: 1.5 × ((1 + 2R)·ack + 10 µs·2^RWD) (802.1Qbg 41.5.5.7)."""
    return _one_and_a_half(r, rte, rwd)


def supervision_us(r: int, rte: int, rka: int) -> int:
    """Bridge keep-alive supervision: 1.5 × ((1 + 2R)·ack + 10 µs·2^RKA) (802.1Qbg 41.5.5.9)."""
    return _one_and_a_half(r, rte, rka)


def keepalive_us(rka: int) -> int:
    """Station keep-alive period: 10 µs × 2^RKA (vdp.md §9)."""
    return exp_us(rka)


def resource_wait_us(rwd: int) -> int:
    """Bridge resource wait delay (time allowed to answer a request): 10 µs × 2^RWD."""
    return exp_us(rwd)


def to_us(seconds: float) -> int:
    """Adapter time (float seconds) → integer microseconds, rounded to the nearest µs."""
    return round(seconds * US_PER_SECOND)


def to_seconds(us: int) -> float:
    """Integer microseconds → float seconds (what ``next_deadline()`` returns)."""
    return us / US_PER_SECOND


# --- draft 0.2 fixed timers [DRAFT] -------------------------------------------------------------

DRAFT_ACK_TIMEOUT_US = 500_000
"""Draft ECP ack timer, fixed 500 ms (ecp.md §8.2)."""
DRAFT_MAX_TRIES = 3
"""Draft ECP transmissions per exchange (initial + 2), each with a new sequence number."""
DRAFT_RESPONSE_WAIT_US = 3_000_000
"""Draft VDP response timer: 3 s = 2 × 500 ms × 3 (vdp.md §13.2)."""
DRAFT_KEEPALIVE_US = 10_000_000
"""Draft VDP keep-alive period: 10 s (vdp.md §13.2)."""
DRAFT_SUPERVISION_US = (DRAFT_MAX_TRIES * DRAFT_ACK_TIMEOUT_US + DRAFT_KEEPALIVE_US) * 3 // 2
"""qbg draft bridge supervision 1.5 × (3 × 500 ms + 10 s) = 17.25 s [PROJECT] (vdp.md §13.3)."""
DRAFT_VDP_GRANULARITY_US = 100_000
"""lldpad's draft VDP timer granularity, 100 ms (Q-T5)."""
DRAFT_DORMANT_DELAY_US = 15_000_000
"""Draft VDP starts at the latest 15 s after link up (evb-tlv.md §4.2)."""
