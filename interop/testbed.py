"""A switch and hypervisors in network namespaces, running the real qbg daemons.

Used by the integration tests, the benchmarks and the reliability runs: a switch namespace holds
a Linux bridge (STP off, the kernel default) run by ``qbg bridge``; each hypervisor namespace has
an uplink that is a port of that bridge and runs ``qbg station``.  Configurations, state files,
control sockets and logs live in a private temporary directory.  Everything is torn down on
exit, also after failures (namespaces through :class:`~qbg.interop.netns.Topology`, daemons by
PID).

Example::

    with Testbed(hypervisors=1) as tb:
        tb.start_bridge()
        tb.start_station(0, vsis=[tb.vsi(1)])
        tb.wait_for(lambda: tb.fdb_macs() == {"02:aa:00:00:00:01"})
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .netns import Netns, Topology

__all__ = ["DaemonProcess", "Testbed", "TestbedError"]


class TestbedError(RuntimeError):
    """A daemon did not start, a condition was not reached, or ``qbg ctl`` failed."""


@dataclass
class DaemonProcess:
    role: str
    ns: Netns
    config: Path
    socket: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Testbed:
    """``hypervisors`` stations, each on its own bridge port ``swpN`` (uplink ``uplink``)."""

    __test__ = False  # not a pytest test class despite its name

    hypervisors: int = 1
    rte: int = 8
    rka: int = 20
    bridge_extra: str = ""
    station_extra: str = ""
    vlan_filtering: bool = False
    log_level: str = "debug"
    topo: Topology = field(default_factory=Topology)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="qbgtb-")))
    daemons: dict[str, DaemonProcess] = field(default_factory=dict)

    def __enter__(self) -> Testbed:
        try:
            self.switch = self.topo.netns("sw")
            self.hosts: list[Netns] = []
            for i in range(self.hypervisors):
                hv = self.topo.netns(f"hv{i}")
                self.topo.veth(
                    self.switch,
                    self.port(i),
                    hv,
                    "uplink",
                    mac_a=f"02:00:00:00:b0:{i + 1:02x}",
                    mac_b=f"02:00:00:00:5a:{i + 1:02x}",
                )
                self.hosts.append(hv)
            self.topo.bridge(
                self.switch,
                "br0",
                ports=[self.port(i) for i in range(self.hypervisors)],
                vlan_filtering=self.vlan_filtering,
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for d in self.daemons.values():
            self.stop(d, kill=True)
        self.topo.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def port(i: int) -> str:
        return f"swp{i + 1}"

    # --- configuration --------------------------------------------------------------------------

    @staticmethod
    def vsi(n: int, vid: int = 100, mode: str = "assoc") -> str:
        """A YAML VSI entry for VSI number ``n`` (MAC 02:aa:00:00:00:n)."""
        return (
            f"      - name: vm{n}\n"
            f"        manager_id: pkmgr\n"
            f"        type_id: 5\n"
            f"        type_version: 4\n"
            f"        vsiid: 00000000-0000-4000-8000-{n:012d}\n"
            f"        mode: {mode}\n"
            f'        filters: [{{vid: {vid}, mac: "02:aa:00:00:{n >> 8:02x}:{n & 0xFF:02x}"}}]\n'
        )

    def _daemon_yaml(self, role: str, name: str) -> str:
        return (
            f"role: {role}\n"
            f"daemon:\n"
            f"  state_file: {self.dir / (name + '.state.json')}\n"
            f"  control_socket: {self.dir / (name + '.sock')}\n"
            f"  log: {{level: {self.log_level}}}\n"
        )

    def bridge_config(self) -> str:
        ports = "".join(
            f"  - name: {self.port(i)}\n    evb: {{rte: {self.rte}, rka: {self.rka}}}\n"
            for i in range(self.hypervisors)
        )
        return (
            self._daemon_yaml("bridge", "bridge")
            + "linux_bridge: br0\ninterfaces:\n"
            + ports
            + (self.bridge_extra)
        )

    def station_config(self, i: int, vsis: Sequence[str] = ()) -> str:
        text = self._daemon_yaml("station", f"station{i}") + (
            "interfaces:\n  - name: uplink\n"
            f"    evb: {{rte: {self.rte}, rka: {self.rka}}}\n" + self.station_extra
        )
        if vsis:
            text += "    vsis:\n" + "".join(vsis)
        return text

    # --- daemons --------------------------------------------------------------------------------

    def _start(self, key: str, role: str, ns: Netns, text: str, wait: float) -> DaemonProcess:
        cfg = self.dir / f"{key}.yaml"
        cfg.write_text(text)
        d = self.daemons.get(key) or DaemonProcess(
            role, ns, cfg, self.dir / f"{key}.sock", self.dir / f"{key}.log"
        )
        d.config = cfg
        log = d.log.open("ab")
        cmd = [
            "ip",
            "netns",
            "exec",
            ns.name,
            sys.executable,
            "-m",
            "qbg.cli",
            role,
            "-c",
            str(cfg),
        ]
        d.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.daemons[key] = d
        self.wait_for(
            lambda: (not d.alive()) or self._pingable(d),
            timeout=wait,
            what=f"{key} control socket",
        )
        if not d.alive():
            raise TestbedError(f"{key} exited with {d.proc.returncode}:\n{d.log_text()[-3000:]}")
        return d

    def _pingable(self, d: DaemonProcess) -> bool:
        if not d.socket.exists():
            return False
        try:
            self.ctl_daemon(d, "status")
        except TestbedError:
            return False
        return True

    def start_bridge(self, config: str | None = None, wait: float = 20.0) -> DaemonProcess:
        return self._start("bridge", "bridge", self.switch, config or self.bridge_config(), wait)

    def start_station(
        self, i: int = 0, vsis: Sequence[str] = (), config: str | None = None, wait: float = 20.0
    ) -> DaemonProcess:
        text = config or self.station_config(i, vsis)
        return self._start(f"station{i}", "station", self.hosts[i], text, wait)

    def stop(self, d: DaemonProcess, *, kill: bool = False, timeout: float = 10.0) -> int | None:
        """SIGTERM (or SIGKILL with ``kill``) the daemon we started; returns its exit code."""
        proc = d.proc
        if proc is None:
            return None
        if proc.poll() is None:
            # ``ip netns exec`` execs the interpreter, so the PID is the daemon's own.
            os.kill(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        d.proc = None
        return proc.returncode

    # --- queries --------------------------------------------------------------------------------

    def ctl_daemon(self, d: DaemonProcess, *args: str, ok: bool = True) -> Any:
        cmd = [sys.executable, "-m", "qbg.cli", "ctl", "--socket", str(d.socket), "--json", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if ok and p.returncode != 0:
            raise TestbedError(f"qbg ctl {' '.join(args)}: rc {p.returncode}: {p.stdout}{p.stderr}")
        try:
            return json.loads(p.stdout) if p.stdout.strip() else None
        except ValueError as err:
            raise TestbedError(f"qbg ctl {' '.join(args)}: not JSON: {p.stdout!r}") from err

    def ctl(self, key: str, *args: str, ok: bool = True) -> Any:
        return self.ctl_daemon(self.daemons[key], *args, ok=ok)

    def fdb(self) -> list[dict[str, Any]]:
        out = self.switch.run("bridge", "-j", "fdb", "show", "br", "br0").stdout
        return [e for e in json.loads(out or "[]") if "static" in e.get("state", "")]

    def fdb_macs(self) -> set[str]:
        return {e["mac"] for e in self.fdb()}

    def hairpin(self, i: int = 0) -> bool:
        out = self.switch.run("bridge", "-d", "-j", "link", "show", "dev", self.port(i)).stdout
        links = json.loads(out or "[]")
        return bool(links and links[0].get("hairpin"))

    @staticmethod
    def wait_for(
        cond: Callable[[], object],
        timeout: float = 20.0,
        what: str = "condition",
        step: float = 0.1,
    ) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(step)
        raise TestbedError(f"timed out after {timeout:.0f} s waiting for {what}")
