"""Run commands on a VLAN-capable Debian kernel under QEMU, sharing this machine's root.

The development and CI machines run a kernel without bridge VLAN filtering and without 802.1Q
VLAN interfaces (../shared/spec/linux.md §0).  This harness boots Debian's own ``linux-image``
(fetched with ``apt-get download`` at run time, nothing installed by hand) under QEMU software
emulation (TCG; KVM hangs here, linux.md §7), with a tiny initramfs that mounts the host's root
read-only over 9p, loads the VLAN/bridge/veth/macvlan modules from the downloaded package, and
chroots into the host root to run one shell command.  The same Python, venv and checkout are
therefore used inside the guest; writable scratch (``/tmp``, ``/run``) is tmpfs, results come
back through a read-write 9p share.  The read-only root is mounted with ``cache=loose``:
without a page/dentry cache every stat and read is a 9p round trip under TCG, and the
imports alone took minutes (``import pyroute2`` 46 s, 3.5 s with the cache).

Usage::

    vm = GuestKernel.prepare(Path("build/vm"))      # idempotent: downloads and builds once
    result = vm.run("cd /path/to/qbg && .venv/bin/python -m pytest -m vlan", timeout=900)
    result.rc, result.output
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["GuestKernel", "GuestResult", "VmError", "available"]

# Modules the initramfs loads to reach the host root over virtio 9p (in dependency order).
_BOOT_MODULES = (
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio_pci_modern_dev",
    "drivers/virtio/virtio_pci_legacy_dev",
    "drivers/virtio/virtio_pci",
    "net/9p/9pnet",
    "net/9p/9pnet_virtio",
    "fs/fscache/fscache",
    "fs/netfs/netfs",
    "fs/9p/9p",
)
# Modules loaded from the full module tree once the host root is mounted.  The kernel's own
# on-demand loading (nft expressions such as bridge ``meta``, the crc32c algorithm libcrc32c
# asks for) is pointed at the initramfs's busybox modprobe, since the initramfs has no
# /sbin/modprobe; crc32c_generic is still loaded before nf_tables to be sure.
_NET_MODULES = (
    "8021q", "bridge", "veth", "macvlan", "macvtap", "tun", "af_packet",
    "crc32c_generic", "nf_tables",
)  # fmt: skip

_MARK = "QBG_GUEST_RC="


class VmError(RuntimeError):
    """The guest could not be prepared or booted."""


@dataclass(frozen=True, slots=True)
class GuestResult:
    rc: int
    output: str


def available() -> str | None:
    """``None`` if the harness can run here, else the reason it cannot."""
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
    if shutil.which("apt-get") is None:
        return "apt-get not available to fetch the guest kernel"
    if os.uname().machine != "x86_64":
        return f"host architecture {os.uname().machine} is not x86_64"
    return None


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise VmError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return p.stdout


def _kernel_package() -> str:
    """The versioned linux-image package that ``linux-image-amd64`` currently depends on."""
    out = _run(["apt-cache", "depends", "linux-image-amd64"])
    m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", out)
    if not m:
        raise VmError("cannot resolve linux-image-amd64 (run apt-get update)")
    return m.group(1)


def _newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the "newc" format the kernel unpacks as an initramfs."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        nb = name.encode() + b"\x00"
        hdr = "070701" + "".join(
            f"{v:08x}" for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        )
        out += hdr.encode() + nb
        out += b"\x00" * (-len(out) % 4)
        out += data
        out += b"\x00" * (-len(out) % 4)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class GuestKernel:
    workdir: Path
    kernel: Path
    initrd: Path
    release: str

    @classmethod
    def prepare(cls, workdir: Path) -> GuestKernel:
        """Download the kernel and busybox packages (once) and build the initramfs."""
        reason = available()
        if reason:
            raise VmError(reason)
        workdir = workdir.resolve()
        debs, root = workdir / "debs", workdir / "root"
        debs.mkdir(parents=True, exist_ok=True)
        if not list(debs.glob("linux-image-*.deb")):
            _run(["apt-get", "download", _kernel_package()], cwd=debs)
        if not list(debs.glob("busybox-static_*.deb")):
            _run(["apt-get", "download", "busybox-static"], cwd=debs)
        if not (root / "boot").is_dir():
            root.mkdir(exist_ok=True)
            for deb in debs.glob("*.deb"):
                _run(["dpkg-deb", "-x", str(deb), str(root)])
        vmlinuz = sorted((root / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise VmError("no vmlinuz in the kernel package")
        release = vmlinuz[-1].name.removeprefix("vmlinuz-")
        moddir = root / "lib" / "modules" / release
        busybox = root / "bin" / "busybox"
        if not (moddir / "modules.dep").exists():
            _run([str(busybox), "depmod", "-b", str(root), release])
        # named by content, so a changed init script or module list takes effect by itself
        image = cls._initramfs(busybox, moddir, release)
        initrd = workdir / f"initrd-{hashlib.sha256(image).hexdigest()[:12]}.gz"
        if not initrd.exists():
            tmp = initrd.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(gzip.compress(image, 1))
            tmp.replace(initrd)  # atomic: concurrent sessions may prepare at the same time
        return cls(workdir, vmlinuz[-1], initrd, release)

    @staticmethod
    def _initramfs(busybox: Path, moddir: Path, release: str) -> bytes:
        d, f = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755
        entries: list[tuple[str, int, bytes]] = [
            (p, d, b"") for p in ("bin", "proc", "sys", "dev", "host", "lib", "lib/modules")
        ]
        entries.append(("bin/busybox", f, busybox.read_bytes()))
        kdir = f"lib/modules/{release}"
        seen = {"lib", "lib/modules"}
        for mod in _BOOT_MODULES:
            rel = Path("kernel") / f"{mod}.ko"
            src = moddir / rel
            if not src.exists():
                raise VmError(f"module {rel} missing from the kernel package")
            parts = (Path(kdir) / rel).parent.parts
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in seen:
                    seen.add(sub)
                    entries.append((sub, d, b""))
            entries.append((f"{kdir}/{rel}", f & ~0o111 | 0o644, src.read_bytes()))
        for name in ("modules.dep", "modules.alias", "modules.symbols", "modules.builtin"):
            if (moddir / name).exists():
                entries.append(
                    (f"{kdir}/{name}", stat.S_IFREG | 0o644, (moddir / name).read_bytes())
                )
        init = textwrap.dedent(
            f"""\
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
            for m in virtio_pci 9pnet_virtio 9p; do modprobe $m; done
            mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host
            OUT=$(sed -n 's/.*qbg_out=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
            mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /host$OUT
            MODS=$(sed -n 's/.*qbg_mods=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
            rm -rf /lib/modules/{release}; ln -s /host$MODS /lib/modules/{release}
            echo /bin/modprobe > /proc/sys/kernel/modprobe
            for m in {" ".join(_NET_MODULES)}; do modprobe $m 2>/dev/null; done
            mount -t proc proc /host/proc; mount -t sysfs sys /host/sys
            mount -t devtmpfs dev /host/dev; mount -t tmpfs run /host/run
            mount -t tmpfs tmp /host/tmp
            chroot /host /bin/bash $OUT/run.sh > /host$OUT/run.log 2>&1
            sync; poweroff -f
            """
        ).encode()
        entries.append(("init", f, init))
        return _newc(entries)

    @contextlib.contextmanager
    def private(self, prefix: str = "run-") -> Iterator[GuestKernel]:
        """This guest with a work directory of its own (its own ``out/`` result share), so
        concurrent runs from one checkout do not clobber each other; removed afterwards."""
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=self.workdir))
        (work / "root").symlink_to(os.path.relpath(self.workdir / "root", work))
        try:
            yield dataclasses.replace(self, workdir=work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def run_streaming(
        self, command: str, stream: IO[str], timeout: float = 900, memory_mb: int = 2048
    ) -> GuestResult:
        """:meth:`run`, copying the guest's output to ``stream`` while it runs."""
        done = threading.Event()
        log = self.workdir / "out" / "run.log"
        with contextlib.suppress(OSError):  # a previous run's log must not be replayed
            log.unlink()
        tail = threading.Thread(target=_follow, args=(log, stream, done), daemon=True)
        tail.start()
        try:
            return self.run(command, timeout=timeout, memory_mb=memory_mb)
        finally:
            done.set()
            tail.join(timeout=5)

    def run(self, command: str, timeout: float = 900, memory_mb: int = 2048) -> GuestResult:
        """Boot the guest, run ``command`` with bash in the host root, return its status."""
        out = self.workdir / "out"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        script = textwrap.dedent(
            f"""\
            export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
            export PYTHONDONTWRITEBYTECODE=1 QBG_IN_GUEST=1 HOME=/tmp
            mkdir -p /run/netns
            ip link set lo up
            ( {command} )
            echo "{_MARK}$?"
            """
        )
        (out / "run.sh").write_text(script)
        mods = self.workdir / "root" / "lib" / "modules" / self.release
        append = f"console=ttyS0 panic=-1 quiet qbg_out={out} qbg_mods={mods}"
        cmd = [
            "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max",
            "-m", str(memory_mb), "-smp", "2", "-nographic", "-no-reboot",
            "-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", append,
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={out},mount_tag=out,security_model=none",
            "-nic", "none",
        ]  # fmt: skip
        try:
            boot = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            log = (
                (out / "run.log").read_text(errors="replace") if (out / "run.log").exists() else ""
            )
            raise VmError(f"guest did not finish within {timeout:.0f} s\n{log[-2000:]}") from e
        log_path = out / "run.log"
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        m = re.search(rf"{_MARK}(\d+)", log)
        if not m:
            raise VmError(
                f"guest ended without a result (qemu rc {boot.returncode})\n"
                f"{boot.stdout[-1500:]}\n{log[-1500:]}"
            )
        return GuestResult(int(m.group(1)), log[: m.start()])


def _follow(path: Path, out: IO[str], done: threading.Event) -> None:
    """Copy what is appended to ``path`` (the guest's log over 9p) to ``out`` until ``done``."""
    pos = 0
    while True:
        finished = done.is_set()
        with contextlib.suppress(OSError):
            with open(path, errors="replace") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            if chunk:
                out.write(chunk.split(_MARK)[0])
                out.flush()
        if finished:
            return
        time.sleep(0.5)
