"""qbg.store: a crash at any point leaves the old or the new state file, complete."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from qbg.store import SCHEMA_VERSION, StateCorrupt, StateStore

ROOT = Path(__file__).resolve().parents[2]


def test_missing_file_is_empty_state(tmp_path: Path) -> None:
    assert StateStore(tmp_path / "none.json").load() == {}


def test_round_trip_envelope_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "station.state.json"
    store = StateStore(path, kind="station")
    state = {"vsis": [{"vsiid": "u1", "state": "ASSOCIATED"}], "seq": 7}
    store.save(state)
    assert store.load() == state
    doc = json.loads(path.read_text())
    assert doc["qbg_state"] == SCHEMA_VERSION and doc["kind"] == "station" and doc["state"] == state
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["station.state.json"]  # no temp left


def test_unserialisable_state_leaves_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")
    store.save({"a": 1})
    with pytest.raises(TypeError):
        store.save({"a": object()})
    with pytest.raises(ValueError):
        store.save({"a": float("nan")})
    assert store.load() == {"a": 1}


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_failure_before_rename_keeps_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    store = StateStore(tmp_path / "s.json")
    store.save({"v": 1})
    real_write = os.write

    def half_write(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    def fail(*a: Any, **k: Any) -> Any:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(f"qbg.store.os.{fail_at}", half_write if fail_at == "write" else fail)
    with pytest.raises(OSError):
        store.save({"v": 2, "big": "x" * 100_000})
    monkeypatch.undo()
    assert store.load() == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import qbg.store as m
    store = m.StateStore(sys.argv[2])
    how = sys.argv[3]
    if how == "before_rename":
        m.os.replace = lambda *a: os._exit(9)
    elif how == "after_rename":
        m._fsync_dir = lambda d: os._exit(9)
    elif how == "loop":
        n = 0
        while True:
            n += 1
            store.save({"n": n, "pad": "x" * (n % 50_000)})
    store.save({"v": 2})
    os._exit(0)
""")


def run_child(path: Path, how: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(path), how])


def test_killed_before_rename_leaves_old_and_next_save_cleans(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    StateStore(path).save({"v": 1})
    assert run_child(path, "before_rename").wait(30) == 9
    leftovers = [p for p in tmp_path.iterdir() if p.name != "s.json"]
    assert leftovers, "the crashed save left its temp file (as a real crash would)"
    assert StateStore(path).load() == {"v": 1}
    StateStore(path).save({"v": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_killed_after_rename_has_new(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    StateStore(path).save({"v": 1})
    assert run_child(path, "after_rename").wait(30) == 9
    assert StateStore(path).load() == {"v": 2}


def test_sigkill_at_random_moments_never_tears(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    StateStore(path).save({"n": 0, "pad": ""})
    rng = random.Random(1)
    seen = set()
    for _ in range(8):
        child = run_child(path, "loop")
        time.sleep(0.15 + rng.random() * 0.2)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        state = StateStore(path).load()  # raises StateCorrupt if torn
        assert state["pad"] == "x" * (state["n"] % 50_000)
        seen.add(state["n"])
    assert len(seen) > 1, "the child never got to save"


def test_corrupt_file_is_kept_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b'{"qbg_state": 1, "state": {"tru')
    store = StateStore(path)
    with pytest.raises(StateCorrupt) as info:
        store.load()
    assert info.value.copy == store.corrupt_path
    assert store.corrupt_path.read_bytes() == path.read_bytes()
    assert "not JSON" in str(info.value) and str(store.corrupt_path) in str(info.value)
    assert store.load(start_empty_on_corrupt=True) == {}
    assert path.exists()  # untouched until the next save replaces it


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a qbg state"),
        (b'{"qbg_state": 1, "state": [1]}', "not a qbg state"),
        (b'{"qbg_state": "1", "state": {}}', "schema version"),
        (b'{"qbg_state": true, "state": {}}', "schema version"),
        (b'{"qbg_state": 99, "state": {}}', "newer"),
        (b'{"qbg_state": 1, "kind": "bridge", "state": {}}', "bridge daemon"),
    ],
)
def test_corrupt_variants(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(StateCorrupt, match=words):
        StateStore(path, kind="station").load()


def test_migrations(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    StateStore(path, schema=1).save({"vsis": ["a"]})
    store = StateStore(
        path, schema=3, migrations={1: lambda s: {"vsi": s["vsis"]}, 2: lambda s: {**s, "v3": True}}
    )
    assert store.load() == {"vsi": ["a"], "v3": True}
    with pytest.raises(StateCorrupt, match="no migration"):
        StateStore(path, schema=4, migrations={}).load()


def test_asave_serialises(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")

    async def main() -> None:
        await asyncio.gather(*(store.asave({"n": i}) for i in range(20)))

    asyncio.run(main())
    assert store.load()["n"] in range(20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


# --- the journal -----------------------------------------------------------------------------


def test_journal_entries_survive_until_the_next_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    store = StateStore(path, kind="bridge")
    store.save({"vsis": []})
    store.append([["vsi", "p1", "a"], ["vsi", "p1", "b"]])
    store.append([("vsi-", "p1", "a")])  # tuples are written as lists
    assert store.journal_entries == 3
    # a killed process: nothing closed, nothing flushed beyond the write() calls
    again = StateStore(path, kind="bridge")
    assert again.load() == {"vsis": []}
    assert again.journal() == [["vsi", "p1", "a"], ["vsi", "p1", "b"], ["vsi-", "p1", "a"]]
    # the new process appends to a generation of its own; its snapshot retires the old ones
    again.append([["vsi", "p1", "c"]])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["b.json", "b.json.journal.1", "b.json.journal.2"]
    again.save({"vsis": ["b", "c"]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]
    third = StateStore(path, kind="bridge")
    assert third.load() == {"vsis": ["b", "c"]} and third.journal() == []
    assert json.loads(path.read_text())["journal"] == 3


def test_journal_append_after_a_snapshot_goes_to_the_next_generation(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    store = StateStore(path)
    store.load()
    store.append([[1]])
    store.save({"n": 1})  # covers [1]
    store.append([[2]])
    later = StateStore(path)
    assert later.load() == {"n": 1} and later.journal() == [[2]]


def test_a_crash_between_rotation_and_rename_replays_both_generations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    store = StateStore(path)
    store.save({"n": 0})
    store.append([[1]])

    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("qbg.store.os.replace", fail)
    with pytest.raises(OSError):
        store.save({"n": 1})
    monkeypatch.undo()
    store.append([[2]])  # after the failed snapshot: the next generation
    later = StateStore(path)
    assert later.load() == {"n": 0} and later.journal() == [[1], [2]]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    store = StateStore(path)
    store.save({"n": 0})
    store.append([["a"], ["b"]])
    journal = store.journal_path(1)
    with journal.open("ab") as f:
        f.write(b'["c", "unfinish')  # a write cut short by the kill
    later = StateStore(path)
    assert later.load() == {"n": 0} and later.journal() == [["a"], ["b"]]


def test_a_corrupt_snapshot_started_empty_ignores_its_journal(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    store = StateStore(path)
    store.save({"n": 0})
    store.append([["a"]])
    path.write_text("{not json")
    later = StateStore(path)
    assert later.load(start_empty_on_corrupt=True) == {} and later.journal() == []
    later.save({"n": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.json.corrupt"]


def test_unserialisable_journal_entry_writes_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "b.json")
    with pytest.raises(TypeError):
        store.append([["ok"], [object()]])
    assert store.journal_entries == 0 and list(tmp_path.iterdir()) == []
