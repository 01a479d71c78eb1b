"""Debian's lldpad as an 802.1Qbg test peer inside one of our network namespaces.

:class:`Lldpad` starts ``lldpad`` in a given :class:`~qbg.interop.netns.Netns` inside a private
IPC + mount namespace with its own tmpfs on ``/dev/shm`` (lldpad >= 1.1 keeps its "already
running" record in POSIX shm, interop-lldpad.md Q-C2), without a pid file (``-p``), with its own
copy of the configuration (lldpad rewrites it, Q-C3) and a ``-V 7`` log.  lldptool and vdptool
talk to it through the per-namespace abstract socket (Q-C1), so they simply run in that netns.

Only the process we started is ever signalled, by PID (``ip netns exec``, ``unshare``, ``sh``
and ``stdbuf`` all exec, so the PID of the Popen object is lldpad's).  :class:`Capture` records
a link with ``dumpcap``; :func:`tshark_malformed` lists frames tshark flags as malformed.

Parsers turn the tools' text into values: :func:`parse_evb` (``lldptool -V evb``),
:func:`parse_neighbor` (``lldptool -t -n``), :func:`parse_vdp_reply` (``vdptool``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .netns import Netns

__all__ = [
    "Capture",
    "Lldpad",
    "LldpadError",
    "VdpReply",
    "lldpad_conf",
    "parse_evb",
    "parse_neighbor",
    "parse_vdp_reply",
    "require_tools",
    "tshark_malformed",
]

LLDPAD = os.environ.get("LLDPAD", "/usr/sbin/lldpad")
LLDPTOOL = os.environ.get("LLDPTOOL", "/usr/sbin/lldptool")
VDPTOOL = os.environ.get("VDPTOOL", "/usr/sbin/vdptool")

STD_KEYS = ("evbrrreq", "evbrrcap", "evbgpid", "ecpretries", "ecprte", "vdprwd", "vdprka")
DRAFT_KEYS = ("fmode", "capabilities", "rte", "vsis")


class LldpadError(RuntimeError):
    """lldpad did not start, a tool failed, or a condition was not reached."""


def require_tools() -> None:
    """Raise :class:`LldpadError` naming what is missing (lldpad, lldptool, vdptool, ...)."""
    missing = [p for p in (LLDPAD, LLDPTOOL, VDPTOOL) if not os.access(p, os.X_OK)]
    missing += [t for t in ("dumpcap", "tshark", "unshare", "nft") if shutil.which(t) is None]
    if missing:
        raise LldpadError(
            "missing for the lldpad interop suite: "
            + ", ".join(missing)
            + " (Debian: apt-get install lldpad tshark nftables util-linux)"
        )


def _yn(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lldpad_conf(ifname: str, role: str, variant: str = "std", **keys: object) -> str:
    """An lldpad.conf (libconfig) for one interface on the nearest-customer-bridge agent."""
    if role not in ("station", "bridge"):
        raise ValueError(f"role must be station or bridge, not {role!r}")
    admin = keys.pop("adminStatus", 3)
    body = f"    adminStatus = {admin};\n"
    if variant == "std":
        std: dict[str, object] = {
            "evbrrreq": True,
            "evbrrcap": role == "bridge",
            "evbgpid": False,
            "ecpretries": 3,
            "ecprte": 8,
            "vdprwd": 20,
            "vdprka": 20,
        }
        for k, v in keys.items():
            if k not in STD_KEYS:
                raise ValueError(f"unknown std key {k}")
            std[k] = v
        body += "    tlvid0080c20d :\n    {\n      enableTx = true;\n"
        body += f'      evbmode = "{role}";\n'
        body += "".join(f"      {k} = {_yn(v)};\n" for k, v in std.items())
        body += "    };\n"
    elif variant == "draft":
        draft: dict[str, object] = {
            "fmode": "reflectiverelay",
            "capabilities": "rte ecp vdp",
            "rte": "15",
            "vsis": "3000",
        }
        for k, v in keys.items():
            if k not in DRAFT_KEYS:
                raise ValueError(f"unknown draft key {k}")
            draft[k] = v
        # lldpad reads rte/vsis only as strings (interop-lldpad.md §3)
        body += "    tlvid001b3f00 :\n    {\n      enableTx = true;\n"
        body += "".join(f'      {k} = "{v}";\n' for k, v in draft.items())
        body += "    };\n"
        body += f'    vdp :\n    {{\n      enableTx = true;\n      role = "{role}";\n    }};\n'
    else:
        raise ValueError(f"variant must be std or draft, not {variant!r}")
    return (
        'dcbx :\n{\n  version = "1.0";\n  dcbx_version = 2;\n};\n'
        f"nearest_customer_bridge :\n{{\n  {ifname} :\n  {{\n{body}  }};\n}};\n"
    )


# --- parsers ------------------------------------------------------------------------------------


def parse_evb(text: str) -> dict[str, Any] | None:
    """``lldptool -t [-n] -i IF -g ncb -V evb`` output as values (None if there is no EVB TLV).

    Example input (station after negotiation)::

        EVB Configuration TLV
            bridge:rrcap,rrctr(0x3)
            station:rrreq,rrstat(0x5)
            retries:3 rte:14
            mode:station r/l:1 rwd:20
            r/l:1 rka:20
    """
    if "EVB Configuration TLV" not in text:
        return None
    out: dict[str, Any] = {}
    if m := re.search(r"bridge:([\w,]*)\(0x([0-9a-fA-F]+)\)", text):
        out["bridge_flags"] = [f for f in m.group(1).split(",") if f]
        out["bridge_status"] = int(m.group(2), 16)
    if m := re.search(r"station:([\w,]*)\(0x([0-9a-fA-F]+)\)", text):
        out["station_flags"] = [f for f in m.group(1).split(",") if f]
        out["station_status"] = int(m.group(2), 16)
    for key in ("retries", "rte", "rwd", "rka"):
        if m := re.search(rf"\b{key}:(\d+)", text):
            out[key] = int(m.group(1))
    if m := re.search(r"mode:(\w+)", text):
        out["mode"] = m.group(1)
    rol = re.findall(r"r/l:(\d)", text)
    if len(rol) == 2:
        out["rol_rwd"], out["rol_rka"] = int(rol[0]), int(rol[1])
    return out


def parse_neighbor(text: str) -> dict[str, Any] | None:
    """``lldptool -t -n -i IF -g ncb``: chassis/port MAC, TTL, and whether an EVB TLV is there."""
    if "Chassis ID TLV" not in text:
        return None
    out: dict[str, Any] = {"evb": "EVB Configuration TLV" in text or "EVB" in text}
    lines = [ln.strip() for ln in text.splitlines()]
    for i, ln in enumerate(lines[:-1]):
        nxt = lines[i + 1]
        if ln.startswith("Chassis ID TLV"):
            out["chassis_id"] = nxt.split(":", 1)[-1].strip().lower()
        elif ln.startswith("Port ID TLV"):
            out["port_id"] = nxt.split(":", 1)[-1].strip().lower()
        elif ln.startswith("Time to Live TLV"):
            with contextlib.suppress(ValueError):
                out["ttl"] = int(nxt.split()[0])
    return out


@dataclass
class VdpReply:
    """What one vdptool command printed and returned."""

    rc: int
    stdout: str
    stderr: str
    answered: bool = False  # "Response from VDP" was printed (Q-T6: the exit status lies)
    failed: str | None = None  # text after "FAILED:" if any
    fields: dict[str, Any] = field(default_factory=dict)
    filters: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return (self.stdout + self.stderr).strip()

    def summary(self) -> str:
        """One line for the evidence column."""
        if self.failed:
            return f"vdptool: FAILED: {self.failed}"
        if not self.answered:
            return f"vdptool: no response (rc {self.rc})"
        f = self.fields
        return (
            f"vdptool: Response mode={f.get('mode')} hints/status={f.get('hints', '-')}"
            f" filters={','.join(self.filters)}"
        )


def parse_vdp_reply(rc: int, stdout: str, stderr: str = "") -> VdpReply:
    """Parse vdptool's reply block (``Response from VDP`` + ``key = value`` lines)."""
    r = VdpReply(rc, stdout, stderr)
    text = stdout + "\n" + stderr
    if m := re.search(r"FAILED:\s*(.*)", text):
        r.failed = m.group(1).strip()
    r.answered = "Response from VDP" in text
    for ln in stdout.splitlines():
        m = re.match(r"\s*(\w+)\s*=\s*(.*?)\s*$", ln)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key == "filter":
            r.filters.append(value)
        else:
            r.fields[key] = value
    return r


def parse_vdp_list(text: str) -> list[dict[str, Any]]:
    """``vdptool -t`` listing: one dict per ``Response``/VSI block (key = value lines)."""
    blocks: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for ln in text.splitlines():
        m = re.match(r"\s*(\w+)\s*=\s*(.*?)\s*$", ln)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key == "mode" or cur is None:
            cur = {"filters": []}
            blocks.append(cur)
        if key == "filter":
            cur["filters"].append(value)
        else:
            cur[key] = value
    return blocks


# --- the peer -------------------------------------------------------------------------------------


@dataclass
class Lldpad:
    """One lldpad instance in ``ns`` on ``ifname``; ``workdir`` holds its config and log."""

    ns: Netns
    ifname: str
    role: str
    variant: str
    workdir: Path
    keys: dict[str, object] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / f"lldpad-{self.ns.name}.conf"

    @property
    def log(self) -> Path:
        return self.workdir / f"lldpad-{self.ns.name}.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, timeout: float = 10.0) -> None:
        """Start lldpad and wait until ``lldptool -p`` answers."""
        if self.alive():
            raise LldpadError(f"lldpad already running in {self.ns.name} (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(lldpad_conf(self.ifname, self.role, self.variant, **self.keys))
        logf = self.log.open("ab")
        # /dev/shm may be missing (the QEMU guest's bare devtmpfs, interop/vm.py): create it
        script = (
            "{ [ -d /dev/shm ] || mkdir -p /dev/shm; } && "
            'mount -t tmpfs -o size=1m,mode=1777 qbg-lldpad-shm /dev/shm && exec "$@"'
        )
        self.proc = self.ns.spawn(
            "unshare",
            "--ipc",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "qbg-lldpad",
            "stdbuf",
            "-oL",
            "-eL",
            LLDPAD,
            "-p",
            "-V",
            "7",
            "-f",
            str(self.conf),
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        logf.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                break
            if self.lldptool("-p", check=False).returncode == 0:
                return
            time.sleep(0.1)
        tail = self.log_text()[-1500:]
        self.kill()
        raise LldpadError(f"lldpad did not start in {self.ns.name}:\n{tail}")

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (lldpad sends its LLDP shutdown PDU), SIGKILL after ``timeout``."""
        return self._signal_end(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        """SIGKILL (no shutdown PDU)."""
        return self._signal_end(signal.SIGKILL, 3.0)

    def _signal_end(self, sig: signal.Signals, timeout: float) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # in case it is frozen
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.ns.stop(proc)  # deregisters it from the topology's cleanup list
        self.proc = None
        return proc.returncode

    def freeze(self) -> None:
        """SIGSTOP: the peer silently stops sending (keep-alives, LLDP, acks)."""
        if self.alive() and self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.alive() and self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    # --- tools ------------------------------------------------------------------------------

    def lldptool(
        self, *args: str, check: bool = True, timeout: float = 15.0
    ) -> subprocess.CompletedProcess[str]:
        p = self.ns.run(LLDPTOOL, *args, check=False, timeout=timeout)
        if check and p.returncode != 0:
            raise LldpadError(f"lldptool {' '.join(args)}: rc {p.returncode}: {p.stdout}{p.stderr}")
        return p

    def vdptool(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return self.ns.run(VDPTOOL, "-i", self.ifname, *args, check=False, timeout=timeout)

    def evb_local(self) -> dict[str, Any] | None:
        p = self.lldptool("-t", "-i", self.ifname, "-g", "ncb", "-V", "evb", check=False)
        return parse_evb(p.stdout)

    def evb_neighbor(self) -> dict[str, Any] | None:
        p = self.lldptool("-t", "-n", "-i", self.ifname, "-g", "ncb", "-V", "evb", check=False)
        return parse_evb(p.stdout)

    def neighbor(self) -> dict[str, Any] | None:
        """The NCB neighbour as lldpad sees it (None: no neighbour)."""
        p = self.lldptool("-t", "-n", "-i", self.ifname, "-g", "ncb", check=False)
        return parse_neighbor(p.stdout)

    def neighbor_text(self) -> str:
        p = self.lldptool("-t", "-n", "-i", self.ifname, "-g", "ncb", check=False)
        return (p.stdout + p.stderr).strip()

    def set_evb(self, **values: object) -> None:
        """``lldptool -T -i IF -g ncb -V evb -c key=value`` for each item (bools as yes/no)."""
        for k, v in values.items():
            val = ("yes" if v else "no") if isinstance(v, bool) else str(v)
            self.lldptool("-T", "-i", self.ifname, "-g", "ncb", "-V", "evb", "-c", f"{k}={val}")

    def wait_vdp_ready(self, timeout: float = 20.0) -> float:
        """Wait for the peer's EVB TLV and (std) lldpad's ``data_from_evb:IF ... evb:1``."""
        t0 = time.monotonic()
        end = t0 + timeout
        pat = re.compile(rf"data_from_evb:{re.escape(self.ifname)} .*evb:1")
        tlv = "evb" if self.variant == "std" else "evbCfg"
        while time.monotonic() < end:
            p = self.lldptool("-t", "-n", "-i", self.ifname, "-g", "ncb", "-V", tlv, check=False)
            if "EVB" in p.stdout and (self.variant != "std" or pat.search(self.log_text())):
                return time.monotonic() - t0
            time.sleep(0.1)
        raise LldpadError(f"{self.ns.name}: no EVB exchange with the peer within {timeout:.0f} s")

    def vsi(
        self,
        mode: str,
        uuid: str,
        filters: list[str],
        *,
        mgrid: str = "pkmgr",
        typeid: int = 5,
        typeidver: int = 4,
        hints: str = "none",
        oui: list[str] | None = None,
        wait: bool = True,
    ) -> VdpReply:
        """One ratified VDP request with vdptool's keyword form (interop-lldpad.md §5)."""
        args = ["-T"] + (["-W"] if wait else [])
        args += ["-V", mode, "-c", f"mode={mode}", "-c", f"mgrid2={mgrid}"]
        args += ["-c", f"typeid={typeid}", "-c", f"uuid={uuid}", "-c", f"typeidver={typeidver}"]
        args += ["-c", f"hints={hints}"]
        for f in filters:
            args += ["-c", f"filter={f}"]
        for o in oui or ():
            args += ["-c", f"oui={o}"]
        p = self.vdptool(*args)
        return parse_vdp_reply(p.returncode, p.stdout, p.stderr)

    def vsi_list(self, mode: str = "assoc") -> tuple[list[dict[str, Any]], str]:
        """``vdptool -t -V MODE`` parsed, and the raw text."""
        p = self.vdptool("-t", "-V", mode)
        text = (p.stdout + p.stderr).strip()
        return parse_vdp_list(p.stdout), text

    # --- draft 0.2 ---------------------------------------------------------------------------

    def draft_vsi(
        self,
        mode: int,
        uuid: str,
        mac: str,
        vlan: int,
        *,
        mgrid: int = 1,
        typeid: int = 1193046,
        typeidver: int = 1,
    ) -> subprocess.CompletedProcess[str]:
        """``lldptool -T -g ncb -V vdp -c mode=M,MGR,TID,VER,UUID,2,MAC,VLAN`` (draft VDP)."""
        spec = f"mode={mode},{mgrid},{typeid},{typeidver},{uuid},2,{mac},{vlan}"
        return self.lldptool(
            "-T", "-g", "ncb", "-i", self.ifname, "-V", "vdp", "-c", spec, check=False
        )

    def draft_list(self) -> str:
        p = self.lldptool("-t", "-g", "ncb", "-i", self.ifname, "-V", "vdp", "-c", "mode")
        return (p.stdout + p.stderr).strip()

    # --- ECP blocking (stop lldpad's keep-alives without stopping LLDP) ----------------------

    def block_ecp(self) -> None:
        """Drop ECP (0x8940, 0x88b7) leaving ``ifname`` (nftables netdev egress hook)."""
        block_ecp(self.ns, self.ifname)

    def unblock_ecp(self) -> None:
        unblock_ecp(self.ns, self.ifname)


def block_ecp(ns: Netns, ifname: str, hook: str = "egress") -> None:
    """Drop ECP frames leaving (``hook="egress"``) or arriving on (``"ingress"``) ``ifname`` in
    ``ns``; LLDP keeps flowing.  Egress drops happen before packet sockets on that device see
    the frames (a capture there misses them); ingress drops after them (a capture there still
    has them) but before lldpad's per-Ethertype sockets."""
    if hook not in ("egress", "ingress"):
        raise ValueError(f"hook must be egress or ingress, not {hook!r}")
    rules = (
        "table netdev qbg_block_ecp {\n"
        f"  chain {hook} {{\n"
        f'    type filter hook {hook} device "{ifname}" priority 0; policy accept;\n'
        "    ether type 0x8940 counter drop\n"
        "    ether type 0x88b7 counter drop\n"
        "  }\n}\n"
    )
    p = subprocess.run(
        ["ip", "netns", "exec", ns.name, "nft", "-f", "-"],
        input=rules,
        capture_output=True,
        text=True,
        timeout=10,
    )
    if p.returncode != 0:
        raise LldpadError(f"nft (block ECP on {ifname}): {p.stderr.strip()}")


def unblock_ecp(ns: Netns, ifname: str) -> None:
    ns.run("nft", "delete", "table", "netdev", "qbg_block_ecp", check=False)


# --- captures -----------------------------------------------------------------------------------


@dataclass
class Capture:
    """``dumpcap`` on ``ifname`` in ``ns`` into ``path`` (pcap, every Ethertype)."""

    ns: Netns
    ifname: str
    path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Capture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        err = self.path.with_suffix(".dumpcap.log")
        with err.open("wb") as logf:
            self.proc = self.ns.spawn(
                "dumpcap",
                "-q",
                "-P",
                "-i",
                self.ifname,
                "-w",
                str(self.path),
                stdout=subprocess.DEVNULL,
                stderr=logf,
                stdin=subprocess.DEVNULL,
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.path.exists() and self.path.stat().st_size >= 24:
                time.sleep(0.2)
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise LldpadError(f"dumpcap did not start: {err.read_text(errors='replace')}")

    def stop(self) -> Path:
        """SIGINT dumpcap (it flushes and closes the file)."""
        proc = self.proc
        if proc is not None:
            time.sleep(0.3)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGINT)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.ns.stop(proc)
            self.ns.stop(proc)
            self.proc = None
        return self.path


def tshark_malformed(path: Path) -> list[str]:
    """Frames of ``path`` tshark marks malformed or reports expert errors for (empty: clean)."""
    exe = shutil.which("tshark")
    if exe is None:
        raise LldpadError("tshark is not installed")
    p = subprocess.run(
        [exe, "-r", str(path), "-Y", "_ws.malformed || _ws.expert.severity >= error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if p.returncode != 0:
        raise LldpadError(f"tshark -r {path}: {p.stderr.strip()}")
    return [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
