"""Raw Ethernet I/O for one interface: an AF_PACKET socket driven by asyncio.

What: :class:`RawLink` opens one ``SOCK_RAW`` packet socket on one interface, lets the kernel
filter it down to the untagged 802.1Qbg ethertypes, joins the three IEEE group MACs, and hands
every accepted frame to a callback as ``(frame, now)`` with ``now = loop.time()``.  ``send()``
never raises: errors are counted in :class:`LinkStats` and logged.

Why this shape (measured, see linux.md §3):

* ``ETH_P_ALL``, not a protocol-specific socket.  On a Linux-bridge port with STP off the bridge
  consumes 01-80-C2-00-00-00 in its rx_handler; only ``ETH_P_ALL`` taps (which run before it)
  see those frames.  The cost is that we also see our own transmissions and every other
  ethertype, hence the BPF filter.
* The socket is created with protocol 0 (receives nothing), the filter is attached, and only then
  is it bound to ``(ifname, ETH_P_ALL)``, so no unfiltered frame is ever queued.
* Classic BPF program (``SO_ATTACH_FILTER``)::

      ld  vlan_tag_present      ; SKF_AD_VLAN_TAG_PRESENT: the tag is stripped before BPF runs,
      jne #0, drop              ;   so a tagged LLDPDU would otherwise match ``ldh [12]``
      ld  pkttype               ; SKF_AD_PKTTYPE
      jeq #PACKET_OUTGOING, drop ; our own transmissions (belt and braces with IGNORE_OUTGOING)
      ldh [12]                  ; ethertype
      jeq #0x88cc, accept ; jeq #0x8940, accept ; jeq #0x88b7, accept
      drop:   ret #0
      accept: ret #0x40000

* ``PACKET_IGNORE_OUTGOING`` is set where the kernel has it, and ``sll_pkttype`` / ``sll_ifindex``
  are checked again in user space (a frame from a stacked VLAN device can carry another name).
* ``PACKET_ADD_MEMBERSHIP`` (``PACKET_MR_MULTICAST``) for the group MACs: not needed on veth or
  bridge ports (promiscuous), needed on real NICs; the kernel drops it when the socket closes.
* One reader callback drains the socket until ``EAGAIN``: one ``sock_recv`` per frame loses
  three quarters of a burst (linux.md §5).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import socket
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ETHERTYPES",
    "ETH_P_ALL",
    "GROUP_MACS",
    "LinkStats",
    "RawLink",
    "bpf_program",
    "in_netns",
]

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
#: LLDP, ECP, OUI-extended (802.1Qbg CDCP/VDP drafts use these).
ETHERTYPES: tuple[int, ...] = (0x88CC, 0x8940, 0x88B7)
#: Nearest bridge, nearest non-TPMR bridge, nearest customer bridge (802.1AB / 802.1Qbg).
GROUP_MACS: tuple[bytes, ...] = (
    bytes.fromhex("0180c2000000"),
    bytes.fromhex("0180c2000003"),
    bytes.fromhex("0180c200000e"),
)

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
PACKET_MR_MULTICAST = 0
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33

PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING = range(5)

# Classic BPF opcodes and ancillary offsets (linux/filter.h).
_LD_W_ABS, _LD_H_ABS, _JEQ_K, _RET_K = 0x20, 0x28, 0x15, 0x06
_SKF_AD_OFF = -0x1000
_SKF_AD_PKTTYPE = 4
_SKF_AD_VLAN_TAG_PRESENT = 48
_ACCEPT = 0x40000

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

Callback = Callable[[bytes, float], None]


def bpf_program(ethertypes: Sequence[int] = ETHERTYPES) -> list[tuple[int, int, int, int]]:
    """Assemble the untagged, not-outgoing, ethertype-in-``ethertypes`` filter (see module doc)."""
    if not ethertypes:
        raise ValueError("at least one ethertype")
    n = len(ethertypes)
    drop = 5 + n  # index of "ret #0"; a jump offset counts from the next instruction
    prog: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, (_SKF_AD_OFF + _SKF_AD_VLAN_TAG_PRESENT) & 0xFFFFFFFF),
        (_JEQ_K, 0, drop - 2, 0),
        (_LD_W_ABS, 0, 0, (_SKF_AD_OFF + _SKF_AD_PKTTYPE) & 0xFFFFFFFF),
        (_JEQ_K, drop - 4, 0, PACKET_OUTGOING),
        (_LD_H_ABS, 0, 0, 12),
    ]
    for i, et in enumerate(ethertypes):
        # jt skips the remaining compares and the drop to reach accept
        prog.append((_JEQ_K, n - i, 0, et))
    prog += [(_RET_K, 0, 0, 0), (_RET_K, 0, 0, _ACCEPT)]
    return prog


def _attach_filter(sock: socket.socket, prog: Sequence[tuple[int, int, int, int]]) -> None:
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *insn) for insn in prog))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies buf


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the block in network namespace ``/run/netns/<name>`` (this thread only).

    Sockets keep the namespace they were created in, so a socket opened inside the block stays
    in ``name`` afterwards.  ``None`` means "stay where we are".  Python 3.11 has no
    ``os.setns``, hence ctypes.
    """
    if name is None:
        yield
        return
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(orig)
        finally:
            os.close(target)
    finally:
        os.close(orig)


@dataclass
class LinkStats:
    """Counters of one link; ``errors`` is keyed by errno name (``"ENOBUFS"``, ``"ENETDOWN"``)."""

    rx_frames: int = 0
    rx_ignored: int = 0  # passed BPF but failed the user-space ifindex/pkttype check
    tx_frames: int = 0
    tx_errors: int = 0
    rx_errors: int = 0
    callback_errors: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class RawLink:
    """One AF_PACKET socket on ``ifname`` (optionally inside netns ``netns``).

    Lifecycle: ``open()`` (or the constructor's caller using ``with``), ``start(callback)`` to
    attach to the running loop, ``send(frame)``, ``stop()``, ``close()``.  After the interface
    was deleted and re-created (new ifindex), call ``reopen()``; the link monitor in
    :mod:`qbg.netlink` says when.
    """

    def __init__(
        self,
        ifname: str,
        *,
        netns: str | None = None,
        ethertypes: Sequence[int] = ETHERTYPES,
        groups: Iterable[bytes] = GROUP_MACS,
        rcvbuf: int | None = 1 << 20,
    ) -> None:
        self.ifname = ifname
        self.netns = netns
        self.ethertypes = tuple(ethertypes)
        self.groups = tuple(groups)
        self.rcvbuf = rcvbuf
        self.stats = LinkStats()
        self.ignore_outgoing = False  # whether PACKET_IGNORE_OUTGOING took effect
        self.ifindex = 0
        self.mac = b""
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callback: Callback | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> RawLink:
        """Create, filter, bind, configure the socket; ``OSError`` if ``ifname`` is gone."""
        if self._sock is not None:
            return self
        with in_netns(self.netns):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            try:
                _attach_filter(sock, bpf_program(self.ethertypes))
                try:
                    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                    self.ignore_outgoing = True
                except OSError:  # kernels before 4.20: the BPF and pkttype checks suffice
                    self.ignore_outgoing = False
                if self.rcvbuf:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
                sock.bind((self.ifname, ETH_P_ALL))
                self.ifindex = socket.if_nametoindex(self.ifname)
                for mac in self.groups:
                    mreq = struct.pack("iHH8s", self.ifindex, PACKET_MR_MULTICAST, 6, mac)
                    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
                self.mac = sock.getsockname()[4]
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        return self

    def start(self, callback: Callback, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Deliver frames to ``callback(frame, now)`` from ``loop`` (default: the running loop)."""
        self.open()
        assert self._sock is not None
        self.stop()
        self._loop = loop or asyncio.get_running_loop()
        self._callback = callback
        self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def stop(self) -> None:
        """Detach from the loop; the socket stays open (frames queue in the kernel)."""
        if self._loop is not None and self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._loop = None

    def close(self) -> None:
        """Detach and close; the kernel drops the multicast memberships with the socket."""
        self.stop()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def reopen(self) -> None:
        """Close and open again, keeping the callback (after the interface was re-created)."""
        loop, callback = self._loop, self._callback
        self.close()
        self.open()
        if loop is not None and callback is not None:
            self.start(callback, loop)

    def __enter__(self) -> RawLink:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    # -- I/O ---------------------------------------------------------------------------------

    def send(self, frame: bytes) -> bool:
        """Transmit one complete Ethernet frame.  Returns False (counted, logged) on failure.

        Never raises: ENOBUFS, ENETDOWN, ENXIO (interface deleted), EMSGSIZE (over MTU) and
        EINVAL (shorter than 14 octets) are all events the agent survives.  The kernel does not
        pad; pad to 60 octets before calling if byte-identical behaviour with hardware matters.
        """
        if self._sock is None:
            self._count_error("tx", errno.EBADF, "link closed")
            return False
        try:
            self._sock.send(frame)
        except OSError as exc:
            self._count_error("tx", exc.errno or 0, str(exc))
            return False
        self.stats.tx_frames += 1
        return True

    def recv_ready(self) -> list[bytes]:
        """Drain what is queued now, without a loop (tests and synchronous tools)."""
        out: list[bytes] = []
        self._drain(lambda frame, _now: out.append(frame), 0.0)
        return out

    def kernel_stats(self) -> tuple[int, int]:
        """``(packets, drops)`` since the last call (``PACKET_STATISTICS`` resets on read)."""
        if self._sock is None:
            return (0, 0)
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        packets, drops = struct.unpack("II", raw)
        return packets, drops

    def _on_readable(self) -> None:
        assert self._loop is not None and self._callback is not None
        self._drain(self._callback, None)

    def _drain(self, callback: Callback, now: float | None) -> None:
        """Deliver every queued frame.  ``now=None``: each frame gets the loop's time when it
        is handed over, not the time the drain began — handling one frame can take
        milliseconds, and a stale ``now`` would make the machines' timers (ECP minGap, ack
        timer) start in the past."""
        clock = self._loop.time if self._loop is not None else (lambda: 0.0)
        sock = self._sock
        while sock is not None:
            try:
                frame, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            except OSError as exc:  # ENETDOWN once after link down / delete, then EAGAIN
                self._count_error("rx", exc.errno or 0, str(exc))
                return
            # addr = (ifname, proto, pkttype, hatype, addr).  Recheck what BPF already did, drop
            # unicast for other hosts (a promiscuous bridge port sees them; ours are group- or
            # self-addressed) and copies a stacked VLAN device delivers under its own name.
            if addr[2] in (PACKET_OUTGOING, PACKET_OTHERHOST) or addr[0] != self.ifname:
                self.stats.rx_ignored += 1
                continue
            self.stats.rx_frames += 1
            try:
                callback(frame, clock() if now is None else now)
            except Exception:  # a bug above us must not kill the reader
                self.stats.callback_errors += 1
                log.exception("%s: frame callback failed", self.ifname)
            sock = self._sock  # the callback may have closed us

    def _count_error(self, direction: str, err: int, text: str) -> None:
        name = errno.errorcode.get(err, str(err))
        if direction == "tx":
            self.stats.tx_errors += 1
        else:
            self.stats.rx_errors += 1
        self.stats.errors[name] += 1
        # Log the first few of each kind loudly, then only every 1000th (a down port at a high
        # send rate must not flood the log).
        count = self.stats.errors[name]
        level = logging.WARNING if count <= 3 or count % 1000 == 0 else logging.DEBUG
        log.log(level, "%s: %s %s (#%d): %s", self.ifname, direction, name, count, text)
