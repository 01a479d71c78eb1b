"""``qbg pcap check``: every corpus capture is clean, and mutated captures are caught with the
right frame number and rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qbg.cli import main
from qbg.pcapcheck import check
from qbg.pcapfile import PcapRecord, write_pcap
from qbg.pcaptool import load_records
from tests.conftest import CORPUS, corpus_files

Records = list[tuple[float, bytes]]


def load(name: str) -> Records:
    return load_records(str(CORPUS / name))


def rules_at(records: Records) -> set[tuple[int, str]]:
    _, violations = check(records)
    return {(v.frame, v.rule) for v in violations}


def patch(raw: bytes, offset: int, value: int) -> bytes:
    b = bytearray(raw)
    b[offset] = value
    return bytes(b)


def drop(records: Records, *frames: int) -> Records:
    return [r for i, r in enumerate(records, 1) if i not in frames]


def edit(records: Records, frame: int, fn: Callable[[bytes], bytes]) -> Records:
    out = list(records)
    t, raw = out[frame - 1]
    out[frame - 1] = (t, fn(raw))
    return out


def shift(records: Records, first: int, dt: float) -> Records:
    return [(t + dt if i >= first else t, raw) for i, (t, raw) in enumerate(records, 1)]


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_capture_is_clean(path: Path) -> None:
    records = load_records(str(path))
    n, violations = check(records)
    assert n == len(records)
    assert violations == [], "\n".join(map(str, violations))


# Offsets in std-vdp22-assoc.pcap frames 3 (station request) and 5 (bridge response):
# 0x10 seq, 0x24 VSI TLV header, 0x26 status, 0x45..0x46 PS/PCP/VID word.
STATUS = 0x26


def test_dropped_ack_is_reported_at_the_request() -> None:
    recs = drop(load("std-vdp22-assoc.pcap"), 4)
    assert (3, "ecp-no-ack") in rules_at(recs)


def test_dropped_ack_in_the_middle_of_keepalives() -> None:
    recs = drop(load("std-vdp22-keepalive.pcap"), 20)  # ack of station seq 0x0d (frame 19)
    assert rules_at(recs) == {(19, "ecp-no-ack")}


def test_changed_ack_seq_is_an_orphan_and_leaves_the_request_unacked() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 4, lambda r: patch(r, 0x11, 0x02))
    found = rules_at(recs)
    assert (3, "ecp-no-ack") in found
    assert (4, "ecp-ack-orphan") in found


def test_changed_request_seq_breaks_the_sequence() -> None:
    # keepalive frame 5: station seq 0x0a → 0x07; its ack (frame 6) still says 0x0a
    recs = edit(load("std-vdp22-keepalive.pcap"), 5, lambda r: patch(r, 0x11, 0x07))
    found = rules_at(recs)
    assert {(5, "ecp-seq-step"), (5, "ecp-no-ack"), (6, "ecp-ack-orphan")} <= found


def test_reused_seq_with_new_content() -> None:
    # frame 9 (station seq 0x0b) gets seq 0x0a of frame 5, but it is a new ECPDU
    recs = load("std-vdp22-keepalive.pcap")
    recs = edit(recs, 9, lambda r: patch(r, 0x11, 0x0A))
    recs = edit(recs, 5, lambda r: patch(r, 0x45, 0x90))  # make frame 5 differ from 9
    recs = drop(recs, 6, 7, 8)
    assert (6, "ecp-seq-reuse") in rules_at(recs)


def test_too_many_retransmissions() -> None:
    recs = load("std-ecp22-retransmit-bridge-frozen.pcap")
    recs = [*recs[:4], (recs[3][0] + 0.164, recs[3][1]), *recs[4:]]
    assert (5, "ecp-retries") in rules_at(recs)


def test_flipped_response_bit_on_the_bridge() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 5, lambda r: patch(r, STATUS, 0x00))
    assert (5, "vdp-bridge-request") in rules_at(recs)


def test_flipped_response_bit_on_the_station() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 3, lambda r: patch(r, STATUS, 0x40))
    assert (3, "vdp-station-response") in rules_at(recs)


def test_reserved_status_bit() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 5, lambda r: patch(r, STATUS, 0xC0))
    assert rules_at(recs) == {(5, "vdp-status-reserved")}


def test_reserved_error_code() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 5, lambda r: patch(r, STATUS, 0x47))
    assert rules_at(recs) == {(5, "vdp-error-code")}


def test_error_bits_in_a_request() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 3, lambda r: patch(r, STATUS, 0x02))
    assert (3, "vdp-request-status") in rules_at(recs)


def test_response_with_other_vid() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 5, lambda r: patch(r, 0x46, 0x65))
    assert rules_at(recs) == {(5, "vdp-response-filter")}


def test_response_with_other_mode() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 5, lambda r: patch(r, 0x24, 0x02))  # type 1
    assert rules_at(recs) == {(5, "vdp-response-mode")}


def test_refusal_answered_with_deassoc_is_fine() -> None:
    recs = load("std-vdp22-assoc.pcap")
    recs = edit(recs, 5, lambda r: patch(patch(r, 0x24, 0x08), STATUS, 0x42))
    assert rules_at(recs) == set()


def test_inconsistent_tlv_length() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 3, lambda r: patch(r, 0x25, 0x20))
    assert (3, "vdp-tlv-length") in rules_at(recs)


def test_tlv_running_past_the_frame_is_a_decode_error() -> None:
    recs = edit(load("std-vdp22-assoc.pcap"), 3, lambda r: patch(r, 0x25, 0x30))
    assert (3, "decode") in rules_at(recs)


def test_removed_response_is_reported_at_the_request() -> None:
    recs = drop(load("std-vdp22-keepalive.pcap"), 3, 4)  # bridge response to frame 1 + ack
    assert rules_at(recs) == {(1, "vdp-no-response")}


def test_removed_response_long_before_the_end() -> None:
    # VSI 1 of perf-rte8-n10 loses its first response; its keep-alives come 10.49 s later
    recs = load("perf-rte8-n10.pcap")
    assert recs[2][1][0x26] == 0x40  # frame 3 is the bridge's response
    recs = drop(recs, 3, 4)  # response to frame 1 and its ack
    assert rules_at(recs) == {(1, "vdp-no-response")}


def test_keepalive_too_early() -> None:
    recs = shift(load("std-vdp22-keepalive.pcap"), 5, -1.0)
    assert rules_at(recs) == {(5, "vdp-keepalive-early")}


def test_keepalive_too_late() -> None:
    recs = shift(load("std-vdp22-keepalive.pcap"), 5, +1.0)
    assert rules_at(recs) == {(5, "vdp-keepalive-late")}


def test_unsolicited_response() -> None:
    recs = load("std-vdp22-assoc.pcap")
    # the bridge answers the (already answered) request again, with its next seq, and the
    # station acks it
    t5, r5 = recs[4]
    t6, r6 = recs[5]
    recs = [*recs, (t5 + 0.5, patch(r5, 0x11, 0x02)), (t6 + 0.5, patch(r6, 0x11, 0x02))]
    assert rules_at(recs) == {(7, "vdp-unsolicited-response")}


def test_response_to_a_request_before_the_capture_is_fine() -> None:
    recs = load("std-vdp22-assoc.pcap")
    assert rules_at(recs[3:]) == set()


def test_capture_cut_mid_exchange_is_fine() -> None:
    recs = load("std-vdp22-assoc.pcap")
    assert rules_at(recs[:3]) == set()  # request without ack or response: the end came first
    assert rules_at(recs[:4]) == set()  # acked, response still due


def test_capture_starting_with_an_ack_is_fine() -> None:
    recs = load("std-vdp22-keepalive.pcap")
    assert rules_at(recs[1:]) == set()  # ack of a request sent before the capture began
    assert rules_at(recs[3:]) == set()  # the response's ack only


def test_bridge_deassoc_after_station_deassoc_is_fine() -> None:
    # lldpad's bridge sends an unsolicited De-Associate after answering the station's
    recs = load("std-vdp22-deassoc.pcap")
    ka = load("std-vdp22-bridge-ka-timeout.pcap")
    t_last = recs[-1][0]
    deassoc = patch(ka[6][1], 0x11, 0x03)  # type 4 status 0x00, the bridge's next seq
    unsolicited = [(t_last + 17.45, deassoc)]  # never acked: the station is gone
    copies = [(t_last + 17.45 + 0.164 * i, deassoc) for i in range(1, 4)]
    assert rules_at(recs + unsolicited + copies) == set()


def _write(tmp: Path, name: str, recs: Records) -> str:
    path = tmp / name
    write_pcap(path, [PcapRecord(time=t, data=d, orig_len=len(d)) for t, d in recs])
    return str(path)


def test_cli_clean_files(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(CORPUS / "std-vdp22-assoc.pcap")
    assert main(["pcap", "check", path]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["6 frames, 0 violations"]


def test_cli_reports_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, "bad.pcap", drop(load("std-vdp22-assoc.pcap"), 4))
    good = str(CORPUS / "std-vdp22-deassoc.pcap")
    assert main(["pcap", "check", bad, good]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith(f"{bad}: frame 3: ecp-no-ack:") for line in lines)
    assert f"{good}: 4 frames, 0 violations" in lines
    assert lines[-1] == "9 frames, 1 violations"


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    bad = _write(tmp_path, "bad.pcap", drop(load("std-vdp22-assoc.pcap"), 4))
    assert main(["pcap", "check", "--json", bad]) == 1
    objs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert objs[0] == {"file": bad, "frame": 3, "rule": "ecp-no-ack", "message": objs[0]["message"]}
    assert objs[-1] == {"files": 1, "frames": 5, "violations": 1}


def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    assert main(["pcap", "check", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "junk.pcap" in err and "Traceback" not in err
    assert main(["pcap", "check", str(tmp_path / "missing.pcap")]) == 2
