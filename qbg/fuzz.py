"""``qbg fuzz``: feed generated and mutated 802.1Qbg frames to the decoders and live machines.

What it checks, per frame (docs/RELIABILITY.md, "Fuzzing"):

* :func:`~qbg.vdp.frames.decode_frame` (strict and lenient) raises nothing but a typed
  :class:`~qbg.lldp.errors.DecodeError` (``layer: str``, ``offset: int`` within the frame,
  ``reason: str``);
* every frame that decodes re-encodes byte-exact (``encode_frame(decode_frame(raw)) == raw``);
* a live bridge port and a live station port (associated VSIs, negotiated EVB) take the frame
  without raising, and a frame that produced no VSI event left their VSI tables unchanged.

Inputs: a seed corpus (frames a station/bridge pair exchanges in memory for every VSI ID and
filter format and every request type, the constructed frames of the handbook, the project's
captures, ``$QBG_CORPUS`` and the regression seeds in ``tests/fuzz/seeds``) and cheap byte-level
mutations of it (bit flips, interesting octets, TLV header rewrites, truncation, extension,
slice deletion/duplication, splicing, Ethertype swaps, random garbage).  No hypothesis here: the
bulk run is a tight loop over direct decoder calls so that 1,000,000 frames fit a CI budget;
``tests/fuzz`` adds targeted hypothesis properties.

Everything is deterministic for a given ``--seed``.  A finding is printed with the frame's hex
so it can be added to ``tests/fuzz/seeds/`` as a regression case.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .evb.negotiation import EvbConfig, EvbRole
from .lldp.errors import DecodeError
from .lldp.events import Output
from .vdp.bridge import VsiAdded, VsiChanged, VsiRemoved
from .vdp.filters import FilterEntry
from .vdp.frames import decode_frame, encode_frame
from .vdp.port import BridgePort, PortOptions, StationPort
from .vdp.station import VsiAssociated, VsiDeassociated, VsiPreassociated
from .vdp.tlv import VdpTlvType, VsiIdFormat, VsiTlv, parse_mgrid

__all__ = [
    "Finding",
    "FuzzResult",
    "LivePair",
    "check_frame",
    "load_seeds",
    "mutate",
    "run",
    "seed_corpus",
]

ROOT = Path(__file__).resolve().parent.parent
STATION_MAC = bytes.fromhex("020000005a01")
BRIDGE_MAC = bytes.fromhex("02000000b001")

# Constructed frames of the handbook (vdp.md §13.4, §14.3): draft and ratified encodings.
HANDBOOK_FRAMES = (
    "0180c200000e525400123456 88b7 001b3f 0000 00 0001 fe26001b3f020200011234560"
    "15e7a3b1c9d2f4a6b8c0d1e2f3a4b5c6d0200010200000000010064 0000",
    "0180c2000000525400123456 8940 1001 1234 0a10 01000000000000000000000000000000"
    "0621 0012345601055e7a3b1c9d2f4a6b8c0d1e2f3a4b5c6d 02 0001 0200000000 01 0064 0000",
    "0180c2000000525400123456 8940 1001 1234 0a10 01000000000000000000000000000000"
    "081b 2012345601010000000000000000000000ffff0a000005 01 0001 012c 0000",
)

_INTERESTING = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7F, 0x80, 0xFE, 0xFF, 0x40, 0x10, 0x20)
_ETHERTYPES = (b"\x88\xcc", b"\x89\x40", b"\x88\xb7", b"\x81\x00", b"\x88\xa8")
_EXTREMES = (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x80\x00\x00\x00")
_TLV_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33, 39, 100, 255, 256, 510, 511)


# --- findings and results -------------------------------------------------------------------------


@dataclass(slots=True)
class Finding:
    """One frame that broke a rule: what was called, what happened, the frame."""

    target: str
    kind: str  # "exception", "bad-error", "roundtrip", "state"
    detail: str
    frame: bytes

    def as_dict(self) -> dict[str, str]:
        return {
            "target": self.target,
            "kind": self.kind,
            "detail": self.detail,
            "frame": self.frame.hex(),
        }


@dataclass(slots=True)
class FuzzResult:
    frames: int = 0
    seeds: int = 0
    decoded: int = 0
    decode_errors: Counter[str] = field(default_factory=Counter)
    machine_frames: int = 0
    machine_drops: int = 0
    machine_resets: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    seed: int = 0

    def merge(self, other: FuzzResult) -> None:
        self.frames += other.frames
        self.decoded += other.decoded
        self.decode_errors.update(other.decode_errors)
        self.machine_frames += other.machine_frames
        self.machine_drops += other.machine_drops
        self.machine_resets += other.machine_resets
        self.findings.extend(other.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "seeds": self.seeds,
            "decoded": self.decoded,
            "decode_errors": dict(sorted(self.decode_errors.items())),
            "machine_frames": self.machine_frames,
            "machine_drops": self.machine_drops,
            "machine_resets": self.machine_resets,
            "findings": [f.as_dict() for f in self.findings[:50]],
            "finding_count": len(self.findings),
            "seconds": round(self.seconds, 3),
            "frames_per_s": round(self.frames / self.seconds) if self.seconds else 0,
            "seed": self.seed,
        }


# --- the seed corpus ------------------------------------------------------------------------------


def _vsi(n: int, mode: int, fmt: int, idfmt: int) -> VsiTlv:
    mac = bytes((0x02, 0xAA, 0, 0, n >> 8 & 0xFF, n & 0xFF))
    gid = 1000 + n if fmt in (3, 4) else None
    filters = tuple(
        FilterEntry(
            ps=bool(i % 2),
            pcp=i % 8,
            vid=(0 if i == 0 and fmt != 1 else 100 + n + i),
            mac=(mac[:5] + bytes([(mac[5] + i) & 0xFF])) if fmt in (2, 4) else None,
            group_id=(gid + i) if gid is not None else None,
        )
        for i in range(1 + n % 3)
    )
    if idfmt == VsiIdFormat.UUID:
        vsiid = uuid.UUID(int=(0x4000_8000 << 64) | (n + 1)).bytes
    elif idfmt == VsiIdFormat.IPV4:
        vsiid = bytes(10) + b"\xff\xff" + bytes((10, 0, 0, n & 0xFF or 1))
    elif idfmt == VsiIdFormat.MAC:
        vsiid = bytes(10) + mac
    else:
        vsiid = bytes(range(n & 0xF, (n & 0xF) + 16))
    return VsiTlv(
        mode=mode,
        status=0,
        type_id=5 + n,
        type_version=n & 0xFF,
        vsiid_format=idfmt,
        vsiid=vsiid,
        filter_format=fmt,
        filters=filters,
    )


class LivePair:
    """A station port and a bridge port joined in memory (zero-delay queue, fake clock).

    ``capture`` collects every frame either side sent (the generated part of the corpus).
    """

    def __init__(self, *, gid: bool = True, seed: int = 1, rka: int = 20) -> None:
        self.rng = random.Random(seed)
        opts = PortOptions(min_gap_ms=0.0, vdp_hold=0.5)
        self.station = StationPort(
            "fz-sta",
            STATION_MAC,
            EvbConfig(role=EvbRole.STATION, gid=gid, rka=rka),
            opts,
            initial_seq=0x1000,
            rng=lambda: self.rng.randrange(1, 0x10000),
        )
        self.bridge = BridgePort(
            "fz-br",
            BRIDGE_MAC,
            EvbConfig(role=EvbRole.BRIDGE, gid=gid, rka=rka),
            opts,
            initial_seq=0x2000,
            rng=lambda: self.rng.randrange(1, 0x10000),
        )
        self.now = 0.0
        self.capture: list[bytes] = []
        self.queue: list[tuple[int, bytes]] = []  # (destination side, frame)
        self._put(1, self.bridge.link_up(0.0))
        self._put(0, self.station.link_up(0.0))
        self.run(2.0)

    def port(self, side: int) -> StationPort | BridgePort:
        return self.station if side == 0 else self.bridge

    def _put(self, side: int, out: Output) -> None:
        for f in out.frames:
            self.capture.append(f)
            self.queue.append((1 - side, f))

    def _drain(self) -> None:
        steps = 0
        while self.queue and steps < 100_000:
            steps += 1
            dest, frame = self.queue.pop(0)
            self._put(dest, self.port(dest).receive(frame, self.now))

    def run(self, until: float, step: float = 0.01) -> None:
        """Advance the clock to ``until``, running deadlines and delivering frames."""
        while self.now < until:
            self._drain()
            ds = (self.station.next_deadline(), self.bridge.next_deadline())
            nxt = [d for d in ds if d is not None]
            t = min([*nxt, until])
            self.now = max(self.now, min(t, self.now + step) if not nxt else t)
            for side in (0, 1):
                d = self.port(side).next_deadline()
                if d is not None and d <= self.now:
                    self._put(side, self.port(side).timer(self.now))
            self._drain()

    def command(self, mgrid: bytes, tlv: VsiTlv) -> None:
        self._put(0, self.station.command(mgrid, tlv, self.now))
        self._drain()


def generated_frames(seed: int = 1) -> list[bytes]:
    """Frames of a whole conversation: negotiation, every request type x filter format x VSI
    ID format, replies, keep-alives, de-associations (ratified variant)."""
    pair = LivePair(seed=seed)
    mgrids = [parse_mgrid(m) for m in ("pkmgr", "1", "10.1.2.3", "fe80::1")]
    n = 0
    for fmt in (1, 2, 3, 4):
        for idfmt in (VsiIdFormat.UUID, VsiIdFormat.IPV4, VsiIdFormat.MAC, VsiIdFormat.LOCAL):
            n += 1
            mg = mgrids[n % len(mgrids)]
            for mode in (VdpTlvType.PREASSOC, VdpTlvType.PREASSOC_RR, VdpTlvType.ASSOC):
                pair.command(mg, _vsi(n, mode, fmt, idfmt))
                pair.run(pair.now + 0.05)
    pair.run(pair.now + 12.0)  # one keep-alive round
    n = 0
    for fmt in (1, 2, 3, 4):
        for idfmt in (VsiIdFormat.UUID, VsiIdFormat.IPV4, VsiIdFormat.MAC, VsiIdFormat.LOCAL):
            n += 1
            if n % 2:
                pair.command(mgrids[n % len(mgrids)], _vsi(n, VdpTlvType.DEASSOC, fmt, idfmt))
                pair.run(pair.now + 0.05)
    pair.run(pair.now + 1.0)
    return list(dict.fromkeys(pair.capture))


def load_seeds(directory: Path) -> list[tuple[str, bytes]]:
    """Regression seeds: ``*.hex`` files, one frame per line as hex (blanks ignored), ``#``
    starts a comment.  Returns (``file:line``, frame)."""
    out: list[tuple[str, bytes]] = []
    for path in sorted(directory.glob("*.hex")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            text = line.split("#", 1)[0].replace(" ", "").strip()
            if text:
                out.append((f"{path.name}:{i}", bytes.fromhex(text)))
    return out


def _pcap_frames(directory: Path) -> list[bytes]:
    from .pcapfile import PcapError, read_pcap

    frames: list[bytes] = []
    for path in sorted(directory.glob("*.pcap*")):
        try:
            frames.extend(r.data for r in read_pcap(path))
        except PcapError:
            continue
    return frames


def seed_corpus(extra_dirs: Iterable[Path] = ()) -> list[bytes]:
    """Generated frames + handbook frames + captures + regression seeds, de-duplicated."""
    frames = generated_frames()
    frames += [bytes.fromhex(h.replace(" ", "")) for h in HANDBOOK_FRAMES]
    dirs = [ROOT / "examples" / "captures"]
    env = os.environ.get("QBG_CORPUS")
    dirs.append(Path(env) if env else ROOT.parent / "shared" / "corpus")
    dirs.extend(extra_dirs)
    for d in dirs:
        if d.is_dir():
            frames += _pcap_frames(d)
    seeds = ROOT / "tests" / "fuzz" / "seeds"
    if seeds.is_dir():
        frames += [f for _, f in load_seeds(seeds)]
    for d in extra_dirs:
        if d.is_dir():
            frames += [f for _, f in load_seeds(d)]
    return list(dict.fromkeys(f for f in frames if f))


# --- mutation -------------------------------------------------------------------------------------


def mutate(rng: random.Random, frame: bytes, corpus: Sequence[bytes]) -> bytes:
    """One to three random mutations of ``frame`` (biased to octets past the Ethernet header)."""
    b = bytearray(frame)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        n = len(b)
        lo = 14 if n > 16 and rng.random() < 0.9 else 0
        op = rng.randrange(12)
        if op == 0 and n:  # bit flip
            i = rng.randrange(lo, n) if n > lo else rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # interesting octet
            i = rng.randrange(lo, n) if n > lo else rng.randrange(n)
            b[i] = rng.choice(_INTERESTING)
        elif op == 2 and n > lo + 1:  # rewrite a TLV-header-like 16-bit word
            i = rng.randrange(lo, n - 1)
            ttype = rng.choice((0, 1, 2, 3, 4, 5, 127, rng.randrange(128)))
            word = (ttype << 9) | rng.choice(_TLV_LENGTHS)
            b[i : i + 2] = word.to_bytes(2, "big")
        elif op == 3 and n > lo + 1:  # length field: off by a little
            i = rng.randrange(lo, n - 1)
            word = int.from_bytes(b[i : i + 2], "big")
            ln = (word & 0x1FF) + rng.choice((-2, -1, 1, 2, 16, -16))
            b[i : i + 2] = ((word & 0xFE00) | (ln & 0x1FF)).to_bytes(2, "big")
        elif op == 4 and n:  # truncate
            del b[rng.randrange(n) :]
        elif op == 5:  # extend
            b += rng.randbytes(rng.choice((1, 2, 4, 16, 64)))
        elif op == 6 and n > 2:  # delete a slice
            i = rng.randrange(n - 1)
            del b[i : i + rng.randrange(1, min(32, n - i) + 1)]
        elif op == 7 and n > 2:  # duplicate a slice
            i = rng.randrange(n - 1)
            j = i + rng.randrange(1, min(64, n - i) + 1)
            b[j:j] = b[i:j]
        elif op == 8 and corpus:  # splice with another corpus frame
            other = rng.choice(corpus)
            cut = rng.randrange(min(len(b), len(other)) + 1)
            b = b[:cut] + bytearray(other[cut:])
        elif op == 9 and n >= 14:  # swap the Ethertype
            b[12:14] = rng.choice(_ETHERTYPES)
        elif op == 10 and n > lo:  # random run of octets
            i = rng.randrange(lo, n)
            k = rng.randrange(1, 9)
            b[i : i + k] = rng.randbytes(k)
        elif op == 11 and n > lo + 4:  # 32-bit extreme
            i = rng.randrange(lo, n - 3)
            b[i : i + 4] = rng.choice(_EXTREMES)
    return bytes(b)


def garbage(rng: random.Random) -> bytes:
    """A random frame with a plausible header (802.1Qbg destination, a Qbg Ethertype)."""
    dst = rng.choice((b"\x01\x80\xc2\x00\x00\x00", b"\x01\x80\xc2\x00\x00\x0e", BRIDGE_MAC))
    return (
        dst
        + b"\x02\xde\xad\xbe\xef\x01"
        + rng.choice(_ETHERTYPES)
        + rng.randbytes(rng.randrange(0, 120))
    )


# --- the checks -----------------------------------------------------------------------------------


def _check_error(err: DecodeError, frame: bytes) -> str | None:
    if type(err.layer) is not str or not err.layer:
        return f"layer {err.layer!r} is not a non-empty string"
    if type(err.offset) is not int or not 0 <= err.offset <= len(frame):
        return f"offset {err.offset!r} outside the frame (0..{len(frame)})"
    if type(err.reason) is not str or not err.reason:
        return f"reason {err.reason!r} is not a non-empty string"
    return None


def check_frame(frame: bytes, res: FuzzResult) -> None:
    """Decoder rules for one frame (strict and lenient); findings go to ``res``."""
    for lenient in (False, True):
        target = "decode_frame(lenient)" if lenient else "decode_frame"
        try:
            decoded = decode_frame(frame, lenient=lenient)
        except DecodeError as err:
            if not lenient:
                res.decode_errors[err.layer] += 1
            bad = _check_error(err, frame)
            if bad:
                res.findings.append(Finding(target, "bad-error", f"{err}: {bad}", frame))
            continue
        except Exception as exc:
            res.findings.append(Finding(target, "exception", _exc_text(exc), frame))
            continue
        if not lenient:
            res.decoded += 1
        try:
            again = encode_frame(decoded)
        except Exception as exc:
            where = f"encode_frame({target})"
            res.findings.append(Finding(where, "exception", _exc_text(exc), frame))
            continue
        if again != frame:
            res.findings.append(
                Finding(
                    f"encode_frame({target})",
                    "roundtrip",
                    f"re-encoded {len(again)} octets differ from {len(frame)}",
                    frame,
                )
            )


_VSI_EVENTS = (VsiAdded, VsiChanged, VsiRemoved, VsiAssociated, VsiDeassociated, VsiPreassociated)


class Machines:
    """A live, associated pair; mutated frames go to one side's ``receive``."""

    RESET_EVERY = 20_000

    def __init__(self, corpus_seed: int) -> None:
        self.seed = corpus_seed
        self.fed = 0
        self.pair = self._fresh()

    def _fresh(self) -> LivePair:
        pair = LivePair(seed=self.seed)
        mg = parse_mgrid("pkmgr")
        for n in range(1, 5):
            pair.command(mg, _vsi(n, VdpTlvType.ASSOC, 2, VsiIdFormat.UUID))
        pair.run(pair.now + 0.2)
        self.seed += 1
        return pair

    def feed(self, frame: bytes, res: FuzzResult) -> None:
        self.fed += 1
        if self.fed % self.RESET_EVERY == 0:
            self.pair = self._fresh()
            res.machine_resets += 1
        pair = self.pair
        side = self.fed & 1
        port = pair.port(side)
        before = len(port.vdp)
        pair.now += 0.0001
        try:
            out = port.receive(frame, pair.now)
            if self.fed % 64 == 0:
                out = out + port.timer(pair.now)
        except Exception as exc:
            res.findings.append(Finding(f"{type(port).__name__}.receive", "exception",
                                        _exc_text(exc), frame))  # fmt: skip
            self.pair = self._fresh()
            return
        res.machine_frames += 1
        if any(type(e).__name__ == "FrameDropped" for e in out.events):
            res.machine_drops += 1
        if len(port.vdp) != before and not any(isinstance(e, _VSI_EVENTS) for e in out.events):
            res.findings.append(
                Finding(
                    f"{type(port).__name__}.receive",
                    "state",
                    f"VSI table {before} -> {len(port.vdp)} without a VSI event",
                    frame,
                )
            )


def _exc_text(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


# --- the run --------------------------------------------------------------------------------------


def run(
    frames: int = 1_000_000,
    *,
    seed: int = 0,
    machines: bool = True,
    machine_share: float = 0.25,
    corpus: Sequence[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
) -> FuzzResult:
    """Fuzz ``frames`` frames (seeds first, then mutations and garbage)."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    seeds = list(corpus) if corpus is not None else seed_corpus()
    res = FuzzResult(seed=seed, seeds=len(seeds))
    live = Machines(seed + 1) if machines else None
    count = 0
    for frame in seeds:
        if count >= frames:
            break
        check_frame(frame, res)
        count += 1
    pool = seeds or [garbage(rng)]
    while count < frames:
        if rng.random() < 0.05:
            frame = garbage(rng)
        else:
            frame = mutate(rng, rng.choice(pool), pool)
        check_frame(frame, res)
        if live is not None and rng.random() < machine_share:
            live.feed(frame, res)
        count += 1
        if progress is not None and count % 100_000 == 0:
            progress(count)
    res.frames = count
    res.seconds = time.perf_counter() - t0
    return res


def _run_part(args: tuple[int, int, bool]) -> FuzzResult:
    frames, seed, machines = args
    return run(frames, seed=seed, machines=machines)


def run_parallel(frames: int, *, seed: int = 0, jobs: int = 0, machines: bool = True) -> FuzzResult:
    """``run`` split over ``jobs`` processes (seeds ``seed``, ``seed+1000003``, ...)."""
    jobs = jobs or min(os.cpu_count() or 1, 8)
    if jobs <= 1 or frames < 20_000:
        return run(frames, seed=seed, machines=machines)
    import multiprocessing

    t0 = time.perf_counter()
    share = [frames // jobs + (1 if i < frames % jobs else 0) for i in range(jobs)]
    parts = [(n, seed + i * 1_000_003, machines) for i, n in enumerate(share)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        results = pool.map(_run_part, parts)
    total = FuzzResult(seed=seed, seeds=results[0].seeds)
    for r in results:
        total.merge(r)
    total.seconds = time.perf_counter() - t0
    return total


# --- CLI ------------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    if args.frames < 0:
        print("qbg fuzz: --frames must be >= 0", file=sys.stderr)
        return 2
    res = run_parallel(args.frames, seed=args.seed, jobs=args.jobs, machines=not args.no_machines)
    if args.json:
        print(json.dumps(res.as_dict()))
    else:
        d = res.as_dict()
        print(
            f"qbg fuzz: {d['frames']} frames ({d['seeds']} seeds) in {d['seconds']} s "
            f"({d['frames_per_s']}/s), seed {res.seed}"
        )
        print(f"  decoded {res.decoded}; typed decode errors by layer: {d['decode_errors']}")
        print(
            f"  live machines: {res.machine_frames} frames, {res.machine_drops} dropped "
            f"(FrameDropped), {res.machine_resets} resets"
        )
        print(f"  findings: {len(res.findings)}")
        for f in res.findings[:20]:
            print(f"    {f.target} {f.kind}: {f.detail}\n      {f.frame.hex()}")
    return 1 if res.findings else 0
