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
