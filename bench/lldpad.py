"""Benchmark helpers for lldpad: hand VSIs to an lldpad station without vdptool's start-up cost.

``vdptool`` costs ≈ 5 ms of process start per command (corpus MANIFEST, perf-single-assoc-x20),
which would dominate a back-to-back loop.  :class:`VdpClient` speaks vdptool's own datagrams to
lldpad's per-namespace control socket (abstract ``/com/intel/lldpad``, interop-lldpad.md §7),
byte for byte what ``strace vdptool -T -W -V assoc …`` shows on Debian 12's lldpad:

* ``A80c4`` attaches to the VDP22 module's events (reply ``R00A``);
* ``M000080c4C302<opts>…`` is one VSI command (reply ``R00C3…`` = queued; ``R`` + non-zero
  status = refused); ``<opts>`` is ``0000011c`` with one filter argument;
* ``M000080c4E…uuid0024<UUID>…`` is the event lldpad sends when the bridge's response arrived
  (what ``vdptool -W`` waits for);
* ``D`` detaches.

:meth:`VdpClient.associate_many` keeps ``window`` commands outstanding.  ``window=1`` is the
``vdptool -W`` loop without process start-up and lldpad's fastest mode: with 2 or more
outstanding, lldpad's station sends a request every ack-timer period while its bridge's VDP
still handles the previous one from its single input buffer (Q-E4), requests are lost although
ECP acked them and only the response-wait timer recovers them (100 VSIs: 0.59 s with window 1,
7.5 s with window 2, measured on the benchmark machine).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from dataclasses import dataclass, field

from qbg.link import in_netns

__all__ = ["VdpClient", "VsiSpec", "vsi_spec"]

_MODULE = "000080c4"
_UUID_RE = re.compile(rb"uuid0024([0-9a-fA-F-]{36})")


@dataclass(frozen=True, slots=True)
class VsiSpec:
    """One VSI as vdptool keywords (manager ID ``pkmgr``, type 5 version 4, one MAC/VID)."""

    uuid: str
    mac: str
    vid: int = 100
    mgrid: str = "pkmgr"
    typeid: int = 5
    typeidver: int = 4


def vsi_spec(n: int, vid: int = 100) -> VsiSpec:
    """VSI number ``n``: UUID ``00000000-0000-4000-8000-<n>``, MAC ``02:aa:00:<n>`` (corpus)."""
    mac = f"02:aa:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
    return VsiSpec(uuid=f"00000000-0000-4000-8000-{n:012d}", mac=mac, vid=vid)


def _arg(key: str, value: str) -> str:
    return f"{len(key):02x}{key}{len(value):04x}{value}"


def command(ifname: str, v: VsiSpec, mode: str = "assoc") -> bytes:
    """The datagram ``vdptool -i IF -T -V MODE -c mode=MODE … -c filter=VID-MAC`` sends."""
    tlvid = {"preassoc": 1, "preassoc-rr": 2, "assoc": 3, "deassoc": 4}[mode]
    body = (
        _arg("mode", mode)
        + _arg("mgrid2", v.mgrid)
        + _arg("typeid", str(v.typeid))
        + _arg("uuid", v.uuid)
        + _arg("typeidver", str(v.typeidver))
        + _arg("hints", "none")
        + _arg("filter", f"{v.vid}-{v.mac}")
    )
    head = f"M{_MODULE}C302" + "0000011c" + f"{len(ifname):02x}{ifname}" + "02" + f"{tlvid:08x}"
    return (head + body).encode()


@dataclass
class VdpClient:
    """A client of lldpad's control socket in network namespace ``netns``."""

    netns: str | None
    ifname: str
    sock: socket.socket | None = None
    refused: list[bytes] = field(default_factory=list)

    def open(self) -> VdpClient:
        with in_netns(self.netns):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(f"\0/com/intel/lldpad/qbgbench{os.getpid()}")
            s.connect("\0/com/intel/lldpad")
        s.settimeout(5.0)
        s.send(b"A80c4")
        reply = s.recv(64)
        if not reply.startswith(b"R00"):
            s.close()
            raise OSError(f"lldpad refused the event attach: {reply!r}")
        self.sock = s
        return self

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.send(b"D")
            self.sock.close()
            self.sock = None

    def __enter__(self) -> VdpClient:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def associate_many(
        self, vsis: list[VsiSpec], *, window: int = 1, timeout: float = 600.0
    ) -> tuple[float, float, int]:
        """Associate every VSI, ``window`` outstanding at a time.

        Returns ``(t_first_send, t_last_event, answered)`` in ``time.monotonic()`` seconds."""
        assert self.sock is not None
        s = self.sock
        pending = {v.uuid.lower().encode(): v for v in vsis}
        order = list(vsis)
        nxt = 0
        outstanding = 0
        done: set[bytes] = set()
        t0 = time.monotonic()
        t_last = t0
        end = t0 + timeout
        while len(done) < len(vsis) and time.monotonic() < end:
            while outstanding < window and nxt < len(order):
                s.send(command(self.ifname, order[nxt]))
                nxt += 1
                outstanding += 1
            try:
                msg = s.recv(8192)
            except TimeoutError:
                continue
            if msg.startswith(b"R"):
                if not msg.startswith(b"R00"):
                    self.refused.append(msg)
                    outstanding -= 1
                continue
            if not msg.startswith(b"M" + _MODULE.encode() + b"E"):
                continue
            m = _UUID_RE.search(msg)
            if m is None:
                continue
            key = m.group(1).lower()
            if key in pending and key not in done:
                done.add(key)
                outstanding -= 1
                t_last = time.monotonic()
        return t0, t_last, len(done)
