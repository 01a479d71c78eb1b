"""Atomic JSON state file, so a daemon restart loses no VSI.

A save writes a temporary file in the same directory, fsyncs it, renames it over the old file
(``os.replace`` is atomic on POSIX) and fsyncs the directory: after a crash at any point the path
holds either the complete old state or the complete new one, never a mix.  Leftover temporary
files of a crashed save are ignored and cleaned up by the next save.

On disk::

    {"qbg_state": 1, "kind": "station", "saved_at": 1712345678.9, "journal": 3, "state": {...}}

Journal (optional, for states too big to rewrite on every change — the bridge agent's 100,000
VSIs): :meth:`StateStore.append` writes changes as JSON lines to ``PATH.journal.N`` with one
``write()`` per batch, no fsync.  A process killed at any point (SIGKILL, OOM) loses nothing it
appended, since the page cache outlives it; a power loss can lose what was appended after the
last snapshot (and the kernel state it described goes with it).  :meth:`save` (a snapshot)
first moves appends on to generation ``N + 1``, records ``"journal": N + 1`` and then deletes the
older journal files; :meth:`load` reads the snapshot and keeps the entries of every journal file
of that generation or later for :meth:`journal` (a torn last line, a write cut short by a crash,
is skipped).  What the entries mean is the caller's business: they must be idempotent upserts
and deletions that can be replayed onto the snapshot.  A new process appends to a fresh
generation, never after somebody else's torn line.

``qbg_state`` is the schema version.  A file written by a newer schema, or one that is not such
an object (truncated by something other than qbg, hand-edited), is *corrupt*: it is copied to
``PATH.corrupt`` for inspection and :class:`StateCorrupt` is raised, unless the caller asked to
start empty (``load(start_empty_on_corrupt=True)``, e.g. a ``--discard-bad-state`` flag).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from qbg.lldp.errors import QbgError

__all__ = ["SCHEMA_VERSION", "StateCorrupt", "StateStore"]

SCHEMA_VERSION = 1
log = logging.getLogger("qbg.store")
_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # C-accelerated

Migration = Callable[[dict[str, Any]], dict[str, Any]]


class StateCorrupt(QbgError):
    """The state file exists but cannot be used; ``copy`` is where it was preserved."""

    def __init__(self, path: Path, reason: str, copy: Path | None) -> None:
        kept = f"; a copy is kept at {copy}" if copy else ""
        super().__init__(f"{path}: corrupt state file: {reason}{kept}")
        self.path = path
        self.reason = reason
        self.copy = copy


class StateStore:
    """Load and atomically save one JSON object at ``path``.

    ``kind`` (e.g. ``"station"``) is recorded and checked, so a bridge never loads a station's
    file.  ``migrations[n]`` turns a schema-``n`` state into schema ``n + 1``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str | None = None,
        schema: int = SCHEMA_VERSION,
        migrations: Mapping[int, Migration] | None = None,
        mode: int = 0o600,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.schema = schema
        self.migrations = dict(migrations or {})
        self.mode = mode
        self._lock = asyncio.Lock()
        self._jfd: int | None = None
        self._jgen = 0  # generation appends go to
        self._journal: list[Any] = []  # entries found by load()
        self.journal_entries = 0  # appended since the last snapshot (or found by load)
        self.compact = False  # snapshots without indentation (the C encoder: big states)

    @property
    def corrupt_path(self) -> Path:
        return self.path.with_name(self.path.name + ".corrupt")

    def _tmp_prefix(self) -> str:
        return f".{self.path.name}.tmp."

    def journal_path(self, generation: int) -> Path:
        return self.path.with_name(f"{self.path.name}.journal.{generation}")

    def _journal_files(self) -> list[tuple[int, Path]]:
        prefix = f"{self.path.name}.journal."
        out = []
        with contextlib.suppress(OSError):
            for entry in self.path.parent.iterdir():
                tail = entry.name[len(prefix) :]
                if entry.name.startswith(prefix) and tail.isdigit():
                    out.append((int(tail), entry))
        return sorted(out)

    # -- load --------------------------------------------------------------------------------

    def load(self, *, start_empty_on_corrupt: bool = False) -> dict[str, Any]:
        """The saved state, ``{}`` if there is no file yet; see the module doc for corruption."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._load_journal(0)
            return {}
        try:
            state, generation = self._decode(raw)
            self._load_journal(generation)
            return state
        except ValueError as exc:
            copy = self._keep_corrupt()
            err = StateCorrupt(self.path, str(exc), copy)
            if not start_empty_on_corrupt:
                raise err from None
            log.error("%s; starting with empty state", err)
            # the journal belonged to that state: not replayed, deleted by the next save
            self._load_journal(max([0, *(g for g, _ in self._journal_files())]) + 1)
            return {}

    def _load_journal(self, generation: int) -> None:
        """Keep the entries of journal generations >= ``generation``; appends start a new one."""
        self._journal = []
        files = self._journal_files()
        for gen, path in files:
            if gen < generation:
                continue
            try:
                lines = path.read_bytes().split(b"\n")
            except OSError as exc:
                log.error("cannot read journal %s: %s", path, exc)
                continue
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    self._journal.append(json.loads(line))
                except ValueError:
                    # a torn last line is a write cut short; anything else is damage
                    level = logging.INFO if number >= len(lines) - 1 else logging.ERROR
                    log.log(level, "%s line %d: not JSON, skipped", path, number)
        self.journal_entries = len(self._journal)
        self._close_journal()
        self._jgen = max([generation, *(g for g, _ in files)]) + 1

    def journal(self) -> list[Any]:
        """The journal entries :meth:`load` found after its snapshot, oldest first."""
        return list(self._journal)

    def append(self, entries: list[Any]) -> None:
        """Append ``entries`` (JSON values) to the journal in one ``write()``; ``OSError`` and
        ``TypeError``/``ValueError`` (not JSON) propagate, nothing half-written is kept
        readable as a complete line."""
        if not entries:
            return
        enc = _COMPACT
        raw = "".join([enc(e) + "\n" for e in entries]).encode()
        if self._jfd is None:
            self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            self._jfd = os.open(self.journal_path(self._jgen), flags, self.mode)
        view = memoryview(raw)
        while view:
            n = os.write(self._jfd, view)
            view = view[n:]
        self.journal_entries += len(entries)

    def _close_journal(self) -> None:
        if self._jfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._jfd)
            self._jfd = None

    def close(self) -> None:
        """Close the journal file (appends reopen it)."""
        self._close_journal()

    def _decode(self, raw: bytes) -> tuple[dict[str, Any], int]:
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("state"), dict):
            raise ValueError("not a qbg state object")
        version = doc.get("qbg_state")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"bad schema version {version!r}")
        if version > self.schema:
            raise ValueError(f"schema {version} is newer than this qbg's {self.schema}")
        if self.kind is not None and doc.get("kind") not in (None, self.kind):
            raise ValueError(f"written by a {doc.get('kind')} daemon, expected {self.kind}")
        state: dict[str, Any] = doc["state"]
        while version < self.schema:
            migrate = self.migrations.get(version)
            if migrate is None:
                raise ValueError(f"no migration from schema {version}")
            state = migrate(state)
            version += 1
        generation = doc.get("journal", 0)
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise ValueError(f"bad journal generation {generation!r}")
        return state, generation

    def _keep_corrupt(self) -> Path | None:
        try:
            shutil.copy2(self.path, self.corrupt_path)
            os.chmod(self.corrupt_path, self.mode)
        except OSError as exc:
            log.error("could not keep a copy of %s: %s", self.path, exc)
            return None
        return self.corrupt_path

    # -- save --------------------------------------------------------------------------------

    def save(self, state: Mapping[str, Any]) -> None:
        """Replace the file with ``state`` atomically (temp file + fsync + rename + dir fsync).

        Raises ``TypeError``/``ValueError`` for a state that is not JSON (the file is untouched)
        and ``OSError`` for I/O failures (the old file is untouched).
        """
        data = self.encode_snapshot(state, self._jgen + 1)
        generation, before = self.rotate()
        try:
            self.write_snapshot(data)
        except BaseException:
            self.journal_entries += before  # still in the older journal files
            raise
        self.retire(generation)

    # The three steps of :meth:`save`, for a caller that writes the snapshot elsewhere (the
    # bridge agent writes big states from a forked child): rotate, encode + write, retire.

    def rotate(self) -> tuple[int, int]:
        """Appends from now on go to a new journal generation, which a snapshot taken now must
        name; returns (that generation, entries appended before)."""
        before = self.journal_entries
        self._close_journal()
        self._jgen += 1
        self.journal_entries = 0
        return self._jgen, before

    def encode_snapshot(self, state: Mapping[str, Any], generation: int) -> bytes:
        """The file's octets for ``state`` (``TypeError``/``ValueError`` if it is not JSON)."""
        doc = {
            "qbg_state": self.schema,
            "kind": self.kind,
            "saved_at": time.time(),
            "journal": generation,
            "state": dict(state),
        }
        if self.compact or self._jfd is not None or self.journal_entries:
            # big states (the journaled ones) use the C encoder: no indentation
            return _COMPACT(doc).encode() + b"\n"
        return json.dumps(doc, indent=1, sort_keys=True, allow_nan=False).encode() + b"\n"

    def write_snapshot(self, data: bytes) -> None:
        """Write ``data`` as the state file atomically; touches nothing else of the store."""
        directory = self.path.parent
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._clean_temps()
        tmp = directory / f"{self._tmp_prefix()}{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, self.mode)
        try:
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(directory)

    def retire(self, generation: int) -> None:
        """The snapshot naming ``generation`` is durable: delete the older journal files."""
        self._journal = []
        for gen, path in self._journal_files():
            if gen < generation:
                with contextlib.suppress(OSError):
                    path.unlink()

    async def asave(self, state: Mapping[str, Any]) -> None:
        """:meth:`save` in a worker thread, one at a time (callers pass a snapshot)."""
        snapshot = dict(state)
        async with self._lock:
            await asyncio.to_thread(self.save, snapshot)

    def _clean_temps(self) -> None:
        prefix = self._tmp_prefix()
        with contextlib.suppress(OSError):
            for entry in self.path.parent.iterdir():
                if entry.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        entry.unlink()


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
