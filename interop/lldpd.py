"""Run a real lldpd inside a test namespace, confined to its test interfaces.

What: :func:`start_lldpd` starts Debian's ``lldpd`` in one of our namespaces
(:class:`~qbg.interop.netns.Netns`) for the ``qbg ... lldp: {transport: lldpd}`` tests and the
demo.  Each lldpd gets

* its own **mount namespace** (``unshare --mount --propagation private``) with a private tmpfs on
  ``/run``: its privilege-separation chroot (``/run/lldpd``) and anything else it writes under
  ``/run`` stay out of the machine's ``/run`` and away from other lldpds;
* its own **control socket** in the caller's work directory (``-u``), so the daemons (and
  ``lldpcli -u``) reach it from outside the mount namespace (the directory is made searchable
  by others: Debian's ``lldpcli`` is setuid ``_lldpd``, so it opens the socket as that user);
* ``-I IFNAMES``: it only ever touches the listed interfaces of that namespace — never the
  machine's own interfaces (which it cannot see from the network namespace anyway);
* an empty configuration (``-O``), so the machine's ``/etc/lldpd.conf`` and ``/etc/lldpd.d``
  are not read; foreground (``-dd``), logging to a file.

The process is registered with the namespace's topology (killed by PID on cleanup, also on
errors and SIGTERM); :meth:`LldpdProcess.stop` ends it early (SIGTERM: lldpd sends its
shutdown LLDPDU), :meth:`LldpdProcess.restart` starts it again on the same socket.

Example::

    with Topology() as topo:
        a, b = topo.netns("a"), topo.netns("b")
        topo.veth(a, "va", b, "vb")
        la = start_lldpd(a, ["va"], workdir)
        subprocess.run(["lldpcli", "-u", str(la.socket), "show", "neighbors"])
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .netns import Netns

__all__ = ["LldpdMissing", "LldpdProcess", "lldpd_available", "start_lldpd"]


class LldpdMissing(RuntimeError):
    """lldpd/lldpcli are not installed, or lldpd did not come up."""


def lldpd_available() -> str | None:
    """``None`` if lldpd and lldpcli are installed, else what is missing (for a clear error)."""
    missing = [p for p in ("lldpd", "lldpcli", "unshare") if shutil.which(p) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: apt-get install lldpd util-linux)"
    return None


@dataclass
class LldpdProcess:
    """One lldpd we started in ``ns``."""

    ns: Netns
    ifnames: tuple[str, ...]
    socket: Path
    log: Path
    conf: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cli(self, *args: str, check: bool = True, timeout: float = 10.0) -> str:
        """``lldpcli -u SOCKET args...`` (from outside: the socket is a plain path)."""
        p = subprocess.run(
            ["lldpcli", "-u", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and p.returncode != 0:
            raise subprocess.CalledProcessError(p.returncode, p.args, p.stdout, p.stderr)
        return p.stdout

    def _launch(self) -> None:
        script = (
            "mount -t tmpfs -o mode=0755 qbg-lldpd /run && exec lldpd -dd"
            f" -u {shlex.quote(str(self.socket))}"
            f" -I {shlex.quote(','.join(self.ifnames))}"
            f" -O {shlex.quote(str(self.conf))}"
        )
        log = self.log.open("ab")
        try:
            # ip netns exec → unshare → sh → lldpd all exec: the PID is lldpd's own.
            self.proc = self.ns.spawn(
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        self.starts += 1

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Until lldpd answers on its socket and manages every one of our interfaces."""
        end = time.monotonic() + timeout
        last = ""
        while time.monotonic() < end:
            if not self.alive():
                raise LldpdMissing(f"lldpd exited:\n{self.log_text()[-2000:]}")
            p = subprocess.run(
                ["lldpcli", "-u", str(self.socket), "show", "interfaces"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            last = p.stderr.strip()
            if p.returncode == 0 and all(f"Interface:    {i}" in p.stdout for i in self.ifnames):
                return
            time.sleep(0.05)
        raise LldpdMissing(f"lldpd not ready after {timeout:.0f} s: {last}\n{self.log_text()}")

    def stop(self) -> int | None:
        """SIGTERM (then SIGKILL) the lldpd we started, by PID; returns its exit code."""
        proc = self.proc
        if proc is None:
            return None
        self.ns.stop(proc)
        self.proc = None
        return proc.returncode

    def restart(self, *, wait: bool = True) -> None:
        self.stop()
        self._launch()
        if wait:
            self.wait_ready()


def start_lldpd(
    ns: Netns,
    ifnames: Sequence[str],
    workdir: Path,
    *,
    name: str | None = None,
    wait: bool = True,
) -> LldpdProcess:
    """Start lldpd in ``ns`` for ``ifnames`` only; socket and log under ``workdir``.

    Raises :class:`LldpdMissing` with a clear message if lldpd is not installed or does not
    come up."""
    missing = lldpd_available()
    if missing:
        raise LldpdMissing(missing)
    if not ifnames:
        raise ValueError("lldpd must be restricted to at least one interface (-I)")
    tag = name or f"lldpd-{ns.name}"
    workdir.mkdir(parents=True, exist_ok=True)
    # Debian's lldpcli is setuid _lldpd: even run by root it must traverse the socket's
    # directory as _lldpd (a 0700 mkdtemp gives "Permission denied").  Search, not read.
    workdir.chmod(workdir.stat().st_mode | 0o011)
    conf = workdir / f"{tag}.conf"
    conf.write_text("# qbg test lldpd: no configuration\n")
    lp = LldpdProcess(
        ns=ns,
        ifnames=tuple(ifnames),
        socket=workdir / f"{tag}.socket",
        log=workdir / f"{tag}.log",
        conf=conf,
    )
    lp._launch()
    if wait:
        try:
            lp.wait_ready()
        except BaseException:
            lp.stop()
            raise
    return lp


def measure_negotiation(rounds: int = 20, workdir: Path | None = None) -> dict[str, float]:
    """Latency the lldpd path adds: two external-mode EVB ports (station, bridge) joined by two
    real lldpds over a veth pair in namespaces, driven by :class:`~qbg.lldpd.LldpdClient`.

    Per round the station comes up (publishes its "nothing heard" TLV) and the time until both
    sides hold each other's final TLV is taken (three lldpd hops: station → bridge → station →
    bridge).  Returns milliseconds: ``hop_*`` (publish → the other side's client reports it)
    and ``negotiation_*`` (station up → converged)."""
    import asyncio
    import statistics
    import tempfile

    from ..evb.negotiation import EvbConfig, EvbRole
    from ..evb.port import EvbAdvertise, EvbPort
    from ..lldp.events import Output
    from ..lldpd import LldpdClient
    from .netns import Topology

    key = (0x0080C2, 0x0D)
    work = workdir or Path(tempfile.mkdtemp(prefix="qbg-lldpd-lat-"))
    with Topology() as topo:
        a, b = topo.netns("lat-s"), topo.netns("lat-b")
        topo.veth(a, "sta0", b, "brp0")
        la = start_lldpd(a, ["sta0"], work, name="lldpd-sta")
        lb = start_lldpd(b, ["brp0"], work, name="lldpd-bri")

        async def run() -> dict[str, float]:
            loop = asyncio.get_running_loop()
            hops: list[float] = []
            totals: list[float] = []
            sent_at: dict[str, float] = {}
            done = asyncio.Event()
            ports: dict[str, EvbPort] = {}
            clients: dict[str, LldpdClient] = {}

            def emit(side: str, out: Output) -> None:
                for ev in out.events:
                    if isinstance(ev, EvbAdvertise):
                        sent_at[side] = loop.time()
                        info = None if ev.tlv is None else ev.tlv.encode_info()
                        clients[side].publish(key, info)

            def on_peer(side: str) -> Any:
                other = "b" if side == "s" else "s"

                def cb(k: tuple[int, int], info: bytes | None, reason: str) -> None:
                    if info is not None and other in sent_at:
                        hops.append(loop.time() - sent_at[other])
                    emit(side, ports[side].peer_tlv(info, loop.time(), reason=reason))
                    s, br = ports["s"], ports["b"]
                    if s.peer == br.advertised and br.peer == s.advertised and s.peer:
                        done.set()

                return cb

            clients["s"] = LldpdClient(str(la.socket), "sta0", on_peer("s"))
            clients["b"] = LldpdClient(str(lb.socket), "brp0", on_peer("b"))
            for c in clients.values():
                c.start()
            for _ in range(rounds):
                ports["s"] = EvbPort(
                    b"\x02\0\0\0\x5a\x01", EvbConfig(role=EvbRole.STATION), lldp_external=True
                )
                ports["b"] = EvbPort(
                    b"\x02\0\0\0\xb0\x01", EvbConfig(role=EvbRole.BRIDGE), lldp_external=True
                )
                emit("b", ports["b"].link_up(loop.time()))
                await asyncio.sleep(0.3)
                done.clear()
                t0 = loop.time()
                emit("s", ports["s"].link_up(t0))
                await asyncio.wait_for(done.wait(), 10)
                totals.append(loop.time() - t0)
                for side in ("s", "b"):
                    emit(side, ports[side].shutdown(loop.time()))
                await asyncio.sleep(0.3)
            for c in clients.values():
                await c.close()
            ms = [h * 1000 for h in hops]
            tot = [t * 1000 for t in totals]
            return {
                "rounds": rounds,
                "hop_median_ms": statistics.median(ms),
                "hop_max_ms": max(ms),
                "negotiation_median_ms": statistics.median(tot),
                "negotiation_p90_ms": sorted(tot)[int(0.9 * (len(tot) - 1))],
                "negotiation_max_ms": max(tot),
            }

        try:
            return asyncio.run(run())
        finally:
            la.stop()
            lb.stop()
