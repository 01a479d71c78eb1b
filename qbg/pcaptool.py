"""``qbg pcap decode`` and ``qbg pcap check``: 802.1Qbg captures for humans and for scripts.

decode prints one line per frame (``-v``: every field and a hex dump) or, with ``--json``, one
JSON object per frame (docs/pcap-json.md).  check applies the rules of :mod:`qbg.pcapcheck`
and ends with ``N frames, M violations``.  Exit codes: 0 fine, 1 violations, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from .pcapcheck import check
from .pcapfile import read_pcap
from .pcapjson import PROTO_NAMES, frame_json, summary

__all__ = ["InputError", "cmd_check", "cmd_decode", "load_records"]


class InputError(Exception):
    """The capture file cannot be read (missing, not a pcap, truncated header)."""


def load_records(path: str) -> list[tuple[float, bytes]]:
    """``(seconds since the first record, frame octets)`` of every record of a capture.

    Times are computed from the exact integer nanoseconds, so they carry no float noise.
    """
    try:
        raw = [
            (r.time_ns if r.time_ns is not None else round(r.time * 1e9), r.data)
            for r in read_pcap(path)
        ]
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    except Exception as e:  # any parse failure of the container is an input error
        raise InputError(f"{path}: not a readable capture: {e}") from None
    t0 = raw[0][0] if raw else 0
    return [((ns - t0) / 1e9, data) for ns, data in raw]


# --- decode ---------------------------------------------------------------------------------


def _dump_tree(out: TextIO, obj: Any, indent: str) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict | list) and v:
                out.write(f"{indent}{k}:\n")
                _dump_tree(out, v, indent + "  ")
            else:
                out.write(f"{indent}{k}: {json.dumps(v)}\n")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, dict | list):
                out.write(f"{indent}[{i}]\n")
                _dump_tree(out, v, indent + "  ")
            else:
                out.write(f"{indent}[{i}] {json.dumps(v)}\n")


def _hexdump(out: TextIO, raw: bytes, indent: str) -> None:
    for off in range(0, len(raw), 16):
        chunk = raw[off : off + 16]
        out.write(f"{indent}{off:04x}  {chunk.hex(' ')}\n")


_SKIP = {"frame", "time", "src", "dst", "len", "proto"}


def human_line(obj: dict[str, Any]) -> str:
    """``frame time src → dst PROTO summary`` (summary is ours, not tshark's)."""
    proto = PROTO_NAMES.get(str(obj.get("proto")), "-")
    if obj.get("proto") == "other":
        et = int(obj.get("ethertype", 0))
        proto = "802.3" if et < 0x600 else f"{et:#06x}"
    text = summary(obj)
    if obj.get("proto") == "other" and "error" not in obj:
        et = int(obj.get("ethertype", 0))
        text = f"LLC, length {et}" if et < 0x600 else "not 802.1Qbg"
    return f"{obj['frame']:5d} {obj['time']:11.6f} {obj['src']} → {obj['dst']} {proto:<5} {text}"


def iter_json(records: list[tuple[float, bytes]]) -> Iterator[dict[str, Any]]:
    """The JSON object of every record (``time``: seconds since the first frame)."""
    for n, (t, raw) in enumerate(records, 1):
        yield frame_json(n, t, raw)


def cmd_decode(args: argparse.Namespace) -> int:
    """qbg pcap decode FILE [--json] [-v]."""
    try:
        records = load_records(args.file)
    except InputError as e:
        print(f"qbg pcap decode: {e}", file=sys.stderr)
        return 2
    out = sys.stdout
    write = out.write
    if args.json:
        enc = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
        for obj in iter_json(records):
            write(enc(obj))
            write("\n")
        return 0
    verbose = bool(getattr(args, "verbose", False))
    for obj, (_, raw) in zip(iter_json(records), records, strict=True):
        write(human_line(obj) + "\n")
        if verbose:
            _dump_tree(out, {k: v for k, v in obj.items() if k not in _SKIP}, "        ")
            _hexdump(out, raw, "        ")
    return 0


# --- check ----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    """qbg pcap check FILE... [--json]."""
    files: list[str] = list(args.files)
    as_json = bool(getattr(args, "json", False))
    total_frames = total_viol = 0
    bad_input = False
    out = sys.stdout
    for path in files:
        try:
            records = load_records(path)
        except InputError as e:
            print(f"qbg pcap check: {e}", file=sys.stderr)
            bad_input = True
            continue
        n, violations = check(records)
        total_frames += n
        total_viol += len(violations)
        for v in violations:
            if as_json:
                line = {"file": path, "frame": v.frame, "rule": v.rule, "message": v.message}
                out.write(json.dumps(line) + "\n")
            else:
                out.write(f"{path}: frame {v.frame}: {v.rule}: {v.message}\n")
        if len(files) > 1 and not as_json:
            out.write(f"{path}: {n} frames, {len(violations)} violations\n")
    if as_json:
        summary_obj = {"files": len(files), "frames": total_frames, "violations": total_viol}
        out.write(json.dumps(summary_obj) + "\n")
    else:
        out.write(f"{total_frames} frames, {total_viol} violations\n")
    if bad_input:
        return 2
    return 1 if total_viol else 0
