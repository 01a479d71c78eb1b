"""Plot ``qbg bench assoc --json`` results: association time vs N, qbg vs lldpad (log-log).

Optional (needs matplotlib: ``pip install 'qbg[bench]'``); never imported by qbg itself::

    for n in 10 100 1000 10000; do qbg bench assoc --vsis $n --json; done > assoc.jsonl
    python -m qbg.bench.plot assoc.jsonl docs/bench-assoc.png
"""

from __future__ import annotations

import json
import sys
from typing import Any

PAIRS = (
    ("qbg-qbg", "qbg station ↔ qbg bridge", "o-"),
    ("lldpad-lldpad", "lldpad station ↔ lldpad bridge", "s-"),
    ("qbg-lldpad", "qbg station ↔ lldpad bridge", "^--"),
    ("lldpad-qbg", "lldpad station ↔ qbg bridge", "v--"),
)


def load(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot(results: list[dict[str, Any]], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in PAIRS:
        pts = sorted(
            (r["vsis"], r["pairs"][key]["seconds"])
            for r in results
            if key in r.get("pairs", {})
            and r["pairs"][key].get("complete")
            and r["pairs"][key].get("seconds")
        )
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
    rte = int(results[0].get("rte", 8)) if results else 8
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("VSIs associated at once (N)")
    ax.set_ylabel("first request → last response (s)")
    ax.set_title(f"qbg bench assoc, RTE {rte} (ack timer {10e-6 * 2**rte * 1e3:.2f} ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m qbg.bench.plot RESULTS.jsonl OUT.png", file=sys.stderr)
        return 2
    plot(load(args[0]), args[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
