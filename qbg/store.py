"""Atomic JSON state file, so a daemon restart loses no VSI.

A save writes a temporary file in the same directory, fsyncs it, renames it over the old file
(``os.replace`` is atomic on POSIX) and fsyncs the directory: after a crash at any point the path
holds either the complete old state or the complete new one, never a mix.  Leftover temporary
files of a crashed save are ignored and cleaned up by the next save.

On disk::

    {"qbg_state": 1, "kind": "station", "saved_at": 1712345678.9, "state": {...}}

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

    @property
    def corrupt_path(self) -> Path:
        return self.path.with_name(self.path.name + ".corrupt")

    def _tmp_prefix(self) -> str:
        return f".{self.path.name}.tmp."

    # -- load --------------------------------------------------------------------------------

    def load(self, *, start_empty_on_corrupt: bool = False) -> dict[str, Any]:
        """The saved state, ``{}`` if there is no file yet; see the module doc for corruption."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return self._decode(raw)
        except ValueError as exc:
            copy = self._keep_corrupt()
            err = StateCorrupt(self.path, str(exc), copy)
            if not start_empty_on_corrupt:
                raise err from None
            log.error("%s; starting with empty state", err)
            return {}

    def _decode(self, raw: bytes) -> dict[str, Any]:
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
        return state

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
        doc = {
            "qbg_state": self.schema,
            "kind": self.kind,
            "saved_at": time.time(),
            "state": dict(state),
        }
        data = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False).encode() + b"\n"
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
