"""The bulk fuzz run (1,000,000 frames per CI run) and targeted decoder properties.

``QBG_FUZZ_FRAMES`` overrides the size (``QBG_FULL=1``: 10,000,000); the run is split over
the machine's cores and is deterministic per seed (``QBG_FUZZ_SEED``, default: the day, so CI
explores new inputs daily and a failure prints the seed and the frame to keep).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbg import fuzz
from qbg.lldp.errors import DecodeError
from qbg.vdp.frames import decode_frame, encode_frame
from tests.reliability.sizes import FULL

SEEDS = Path(__file__).parent / "seeds"
FRAMES = int(os.environ.get("QBG_FUZZ_FRAMES", 10_000_000 if FULL else 1_000_000))
SEED = int(os.environ.get("QBG_FUZZ_SEED", datetime.date.today().toordinal()))
CORPUS = fuzz.seed_corpus()


def test_one_million_frames_only_typed_errors() -> None:
    res = fuzz.run_parallel(FRAMES, seed=SEED)
    d = res.as_dict()
    print(
        f"\nfuzz: {d['frames']} frames, seed {SEED}, {d['seconds']} s ({d['frames_per_s']}/s); "
        f"decoded {d['decoded']}, typed errors {sum(res.decode_errors.values())} "
        f"{d['decode_errors']}; machines {d['machine_frames']} frames, "
        f"{d['machine_drops']} dropped; findings {d['finding_count']}"
    )
    assert res.frames == FRAMES
    assert not res.findings, f"seed {SEED}: " + "\n".join(
        f"{f.target} {f.kind}: {f.detail}\n  {f.frame.hex()}" for f in res.findings[:10]
    )
    # the run reached every layer
    assert {"ethernet", "LLDPDU", "ecp", "vdp"} <= set(res.decode_errors)
    assert res.decoded > FRAMES // 4 and res.machine_frames > FRAMES // 10


def test_regression_seeds() -> None:
    seeds = fuzz.load_seeds(SEEDS)
    assert len(seeds) >= 20
    res = fuzz.FuzzResult()
    live = fuzz.Machines(3)
    for _, frame in seeds:
        fuzz.check_frame(frame, res)
        live.feed(frame, res)
    assert not res.findings, [(f.target, f.detail) for f in res.findings]
    # decode-errors.hex holds frames that must stay typed errors
    for where, frame in fuzz.load_seeds(SEEDS):
        if where.startswith("decode-errors"):
            try:
                decode_frame(frame)
            except DecodeError:
                continue
            raise AssertionError(f"{where} decodes now; update the seed file")


def test_corpus_round_trips() -> None:
    ok = 0
    for frame in CORPUS:
        try:
            decoded = decode_frame(frame)
        except DecodeError:
            continue  # the decode-errors seeds
        assert encode_frame(decoded) == frame
        ok += 1
    assert ok >= 1000


_frames = st.sampled_from(CORPUS)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames, st.integers(0, 1600))
def test_every_truncation_is_a_typed_error_or_round_trips(frame: bytes, cut: int) -> None:
    res = fuzz.FuzzResult()
    fuzz.check_frame(frame[:cut], res)
    assert not res.findings, res.findings


@settings(max_examples=3000, deadline=None)
@given(_frames, st.integers(14, 1600), st.integers(0, 0xFFFF))
def test_any_16_bit_word_anywhere(frame: bytes, at: int, word: int) -> None:
    """TLV headers and lengths are 16-bit words: overwrite any one with any value."""
    if at + 2 > len(frame):
        at = max(14, len(frame) - 2)
    mutated = frame[:at] + word.to_bytes(2, "big") + frame[at + 2 :]
    res = fuzz.FuzzResult()
    fuzz.check_frame(mutated, res)
    assert not res.findings, res.findings


@settings(max_examples=1000, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.sampled_from(fuzz._ETHERTYPES))
def test_random_payloads_behind_qbg_ethertypes(payload: bytes, ethertype: bytes) -> None:
    frame = b"\x01\x80\xc2\x00\x00\x00\x02\x00\x00\x00\x5a\x01" + ethertype + payload
    res = fuzz.FuzzResult()
    fuzz.check_frame(frame, res)
    assert not res.findings, res.findings
