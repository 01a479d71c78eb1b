"""A raw control-socket client (docs/control.md framing) for bulk requests and abuse tests.

Unix sockets are not separated by network namespaces, so the test process talks to a daemon in
a namespace directly through the socket file in the testbed's directory.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class Ctl:
    def __init__(self, path: Path | str, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Ctl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> dict[str, Any] | None:
        """The next reply line (None at EOF)."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(raw)
        return reply

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        self.send_raw(json.dumps({"cmd": cmd, "args": args, "id": self.next_id}).encode() + b"\n")
        reply = self.line()
        assert reply is not None, f"{cmd}: connection closed"
        return reply

    def many(self, requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Pipeline ``requests`` on this connection; replies in order."""
        payload = b"".join(
            json.dumps({"cmd": c, "args": a, "id": i}).encode() + b"\n"
            for i, (c, a) in enumerate(requests)
        )
        self.send_raw(payload)
        out = []
        for _ in requests:
            reply = self.line()
            assert reply is not None
            out.append(reply)
        return out
