"""Local control socket of both daemons: JSON lines over AF_UNIX, server and client.

Everything ``qbg ctl`` does goes through here, so any program can do it too.  One request per
line, one reply per line, in order, on one connection (docs/control.md)::

    → {"cmd": "vsi.assoc", "args": {...}, "id": 7}
    ← {"id": 7, "ok": true, "result": {...}}
    ← {"id": 7, "ok": false, "error": {"code": "EBUSY", "message": "..."}}

The server is the daemon's front door, so it must survive any client: a peer whose uid is not
allowed (SO_PEERCRED) is refused before it can send anything, a request line over the size limit
gets ``too_large`` and the connection is closed (the rest of that line cannot be framed), and
malformed JSON, a wrong envelope, an unknown command or a failing handler each get a typed error
while the connection stays usable.  The envelope is checked completely before a handler runs,
so a rejected request never reaches the daemon's state; handlers themselves validate their
``args`` and must change nothing before they raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_REQUEST",
    "ControlClient",
    "ControlError",
    "ControlServer",
    "ControlUnreachable",
    "Handler",
]

log = logging.getLogger("qbg.control")

MAX_REQUEST = 64 * 1024
MAX_REPLY = 64 * 1024 * 1024
_CMD_MAX = 64
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class ControlError(Exception):
    """A typed refusal: raised by handlers, sent as ``error``, raised again by the client.

    ``code`` is a short stable name (``bad_args``, ``not_found``, ``EBUSY``...), ``message`` is
    for humans, ``data`` optional extra JSON (e.g. the VDP status the bridge answered).
    """

    def __init__(self, code: str, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class ControlUnreachable(Exception):
    """The daemon could not be reached (no socket, refused, closed, or timed out)."""


class ControlServer:
    """Serve ``handlers`` (command name → ``async def handler(args) -> JSON value``).

    ``allowed_uids=None`` admits every peer (tests only); the default admits root alone.
    Counters: ``requests`` (replied with ok), ``rejected`` (every error reply or refused peer).
    ``on_reject(code)`` is called for each rejection (e.g. to feed a metrics counter).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        handlers: Mapping[str, Handler],
        *,
        mode: int = 0o600,
        allowed_uids: Iterable[int] | None = frozenset({0}),
        max_request: int = MAX_REQUEST,
        max_clients: int = 64,
        idle_timeout: float = 300.0,
        handler_timeout: float | None = 60.0,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.handlers = dict(handlers)
        self.mode = mode
        self.allowed_uids = None if allowed_uids is None else frozenset(allowed_uids)
        self.max_request = max_request
        self.max_clients = max_clients
        self.idle_timeout = idle_timeout
        self.handler_timeout = handler_timeout
        self.on_reject = on_reject
        self.requests = 0
        self.rejected = 0
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket (mode set before anyone can connect) and start accepting."""
        self._prepare_path()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o777 & ~self.mode)
        try:
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old)
        os.chmod(self.path, self.mode)
        self._server = await asyncio.start_unix_server(
            self._client, sock=sock, limit=self.max_request + 1
        )
        log.info("control socket listening on %s", self.path)

    def _prepare_path(self) -> None:
        """Create the directory; replace a stale socket, but never a live one or a file."""
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            st = self.path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise FileExistsError(f"{self.path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.path))
        except OSError:
            self.path.unlink()  # nobody listening: stale
        else:
            raise RuntimeError(f"another daemon is listening on {self.path}")
        finally:
            probe.close()

    async def close(self) -> None:
        """Stop accepting, drop the clients, remove the socket file."""
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- one connection ----------------------------------------------------------------------

    def _reject(self, code: str) -> None:
        self.rejected += 1
        if self.on_reject is not None:
            with contextlib.suppress(Exception):
                self.on_reject(code)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to clean up but the socket
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not take the daemon down
            log.exception("control connection failed")
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _send(self, writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
        writer.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
        await writer.drain()

    async def _error(
        self, writer: asyncio.StreamWriter, rid: Any, code: str, message: str, data: Any = None
    ) -> None:
        self._reject(code)
        await self._send(
            writer, {"id": rid, "ok": False, "error": ControlError(code, message, data).to_json()}
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid = _peer_uid(writer)
        if self.allowed_uids is not None and uid not in self.allowed_uids:
            log.warning("control: refused peer uid %s", uid)
            await self._error(
                writer, None, "permission_denied", f"uid {uid} may not use this socket"
            )
            return
        if len(self._clients) > self.max_clients:
            await self._error(writer, None, "busy", "too many control connections")
            return
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), self.idle_timeout)
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip():  # closed mid-request: nothing was applied
                    self._reject("incomplete")
                return
            except asyncio.LimitOverrunError:
                await self._error(
                    writer, None, "too_large", f"request longer than {self.max_request} bytes"
                )
                return
            except TimeoutError:
                return
            if len(line) > self.max_request + 1:
                await self._error(
                    writer, None, "too_large", f"request longer than {self.max_request} bytes"
                )
                return
            if not line.strip():
                continue
            await self._send(writer, await self.handle_line(line))

    async def handle_line(self, line: bytes) -> dict[str, Any]:
        """One request line → one reply object (public for tests and in-process callers)."""
        rid: Any = None
        try:
            req = json.loads(line)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return self._fail(rid, "bad_json", f"not JSON: {exc}")
        if not isinstance(req, dict):
            return self._fail(rid, "bad_request", "a request is a JSON object")
        rid = req.get("id")
        if not (rid is None or (isinstance(rid, int | str) and not isinstance(rid, bool))):
            rid = None
            return self._fail(rid, "bad_request", "id must be an integer, a string or null")
        extra = set(req) - {"cmd", "args", "id"}
        if extra:
            return self._fail(
                rid, "bad_request", f"unknown request keys: {', '.join(sorted(extra))}"
            )
        cmd = req.get("cmd")
        if not isinstance(cmd, str) or not 0 < len(cmd) <= _CMD_MAX:
            return self._fail(rid, "bad_request", "cmd must be a non-empty string")
        args = req.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return self._fail(rid, "bad_request", "args must be a JSON object")
        handler = self.handlers.get(cmd)
        if handler is None:
            if cmd == "ping":
                return self._ok(rid, {"pong": True})
            if cmd == "commands":
                return self._ok(rid, {"commands": sorted({*self.handlers, "ping", "commands"})})
            return self._fail(rid, "unknown_command", f"unknown command {cmd!r} (try 'commands')")
        try:
            if self.handler_timeout is None:
                result = await handler(args)
            else:
                result = await asyncio.wait_for(handler(args), self.handler_timeout)
        except ControlError as exc:
            return self._fail(rid, exc.code, exc.message, exc.data)
        except TimeoutError:
            return self._fail(rid, "timeout", f"{cmd} did not finish in {self.handler_timeout} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, str) and code:  # e.g. qbg.lldp.errors.LocalError("EBUSY", ...)
                return self._fail(rid, code, str(getattr(exc, "reason", exc)))
            log.exception("control: handler %s failed", cmd)
            return self._fail(rid, "internal", f"{type(exc).__name__}: {exc}")
        try:
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            log.error("control: %s returned a non-JSON result: %s", cmd, exc)
            return self._fail(rid, "internal", f"{cmd} produced an unserialisable result")
        return self._ok(rid, result)

    def _ok(self, rid: Any, result: Any) -> dict[str, Any]:
        self.requests += 1
        return {"id": rid, "ok": True, "result": result}

    def _fail(self, rid: Any, code: str, message: str, data: Any = None) -> dict[str, Any]:
        self._reject(code)
        return {"id": rid, "ok": False, "error": ControlError(code, message, data).to_json()}


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    except OSError:
        return None
    _pid, uid, _gid = _PEERCRED.unpack(raw)
    return int(uid)


class ControlClient:
    """Blocking client for the CLI: ``ControlClient(path).call("vsi.list", interface="eth0")``.

    Returns the ``result``; raises :class:`ControlError` when the daemon refused the request
    and :class:`ControlUnreachable` when it cannot be reached or hangs up.  One connection is
    opened lazily and reused; use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float | None = 30.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""
        self._next_id = 1

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
            except OSError as exc:
                s.close()
                raise ControlUnreachable(
                    f"cannot connect to {self.path}: {exc.strerror or exc}"
                ) from None
            self._sock = s
        return self._sock

    def call(self, cmd: str, /, **args: Any) -> Any:
        """Send one request and wait for its reply."""
        rid = self._next_id
        self._next_id += 1
        reply = self.request({"cmd": cmd, "args": args, "id": rid})
        if reply.get("ok") is True:
            return reply.get("result")
        err = reply.get("error")
        if not isinstance(err, dict):
            raise ControlUnreachable(f"malformed reply from {self.path}")
        raise ControlError(
            str(err.get("code", "error")), str(err.get("message", "")), err.get("data")
        )

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send a raw request object and return the raw reply object."""
        sock = self._connect()
        try:
            # The server may have refused us (permission_denied, busy) and hung up before we
            # wrote: then its reply is still waiting in our receive buffer.
            with contextlib.suppress(OSError):
                sock.sendall(json.dumps(req, separators=(",", ":")).encode() + b"\n")
            line = self._readline(sock)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ControlUnreachable(f"{self.path}: {exc}") from None
        try:
            reply = json.loads(line)
        except ValueError:
            self.close()
            raise ControlUnreachable(f"malformed reply from {self.path}") from None
        if not isinstance(reply, dict):
            raise ControlUnreachable(f"malformed reply from {self.path}")
        return reply

    def _readline(self, sock: socket.socket) -> bytes:
        while b"\n" not in self._buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("daemon closed the connection")
            self._buf += chunk
            if len(self._buf) > MAX_REPLY:
                raise ConnectionError("reply too large")
        line, _, self._buf = self._buf.partition(b"\n")
        return line
