"""Host description and load probes for characterization rows (Linux ``/proc``; no engine imports).

``host_info()`` reads the CPU model, vCPU count, RAM and the ISA flags that decide which engine
kernels run (AVX2, AVX-512F, AVX-512 VNNI for int8, AVX-512 BF16 / AMX for bf16).
``host_string()`` is the trace's ``host`` column. ``cpu_stat()`` and ``interference()`` turn two
``/proc/stat`` snapshots into "CPU used by other processes, in cores" and the hypervisor steal, the
direct measure of a neighbour's interference; the 1-minute load average (``os.getloadavg``) lags and
counts this process's own threads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: (name shown in the host string, /proc/cpuinfo flags any of which means "present")
ISA_FLAGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("avx2", ("avx2",)),
    ("avx512f", ("avx512f",)),
    ("avx512_vnni", ("avx512_vnni",)),
    ("avx512_bf16", ("avx512_bf16",)),
    ("amx", ("amx_tile", "amx_bf16", "amx_int8")),
)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


@dataclass(frozen=True)
class HostInfo:
    cpu_model: str
    vcpus: int
    ram_gib: float | None
    cpu_flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def isa(self) -> dict[str, bool]:
        return {name: any(f in self.cpu_flags for f in alts) for name, alts in ISA_FLAGS}

    @property
    def has_bf16(self) -> bool:
        """Native bf16 arithmetic (AVX-512 BF16 or AMX-BF16) reported in /proc/cpuinfo flags."""
        return any(f in self.cpu_flags for f in BF16_FLAGS)


def host_info(cpuinfo: str | None = None, meminfo: str | None = None) -> HostInfo:
    """Describe this host (or the given /proc/cpuinfo and /proc/meminfo texts, for tests)."""
    cpuinfo = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    meminfo = _read("/proc/meminfo") if meminfo is None else meminfo
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields.setdefault(k.strip(), v.strip())
    model = fields.get("model name", "") or "unknown CPU"
    if fields.get("cpu family") and fields.get("model"):
        model += f" (family {fields['cpu family']} model {fields['model']})"
    ram_gib = None
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            ram_gib = int(line.split()[1]) / (1024 * 1024)
    return HostInfo(model, os.cpu_count() or 1, ram_gib, frozenset(fields.get("flags", "").split()))


def host_string(h: HostInfo) -> str:
    """The ``host`` column: CPU model, vCPUs, RAM, relevant ISA flags present/absent."""
    present = [k for k, v in h.isa.items() if v]
    absent = [k for k, v in h.isa.items() if not v]
    ram = f"{h.ram_gib:.1f} GiB RAM" if h.ram_gib is not None else "unknown RAM"
    return (f"{h.cpu_model}; {h.vcpus} vCPU; {ram}; flags {' '.join(present) or 'none'}"
            f"{'; absent ' + ' '.join(absent) if absent else ''}")  # fmt: skip


def cpu_stat() -> tuple[int, int, int] | None:
    """(busy, steal, total) jiffies of all CPUs from /proc/stat, or None where unavailable."""
    line = _read("/proc/stat").split("\n", 1)[0].split()
    if not line or line[0] != "cpu":
        return None
    v = [int(x) for x in line[1:]]
    v += [0] * (8 - len(v))
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def interference(stat0, stat1, own_cpu_s: float, seconds: float) -> str:
    """Other processes' CPU use (cores) and steal (%) between two ``cpu_stat()`` snapshots."""
    if seconds < 0.5:
        return "not estimated (sampling < 0.5 s; /proc/stat ticks too coarse)"
    if not (stat0 and stat1):
        return "not available (no /proc/stat)"
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    d_busy, d_steal, d_total = (b - a for a, b in zip(stat0, stat1))
    others = max(0.0, d_busy / hz - own_cpu_s) / seconds
    steal = 100.0 * d_steal / d_total if d_total else 0.0
    return f"{others:.2f} cores, steal {steal:.1f}%"


def loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux
        return (0.0, 0.0, 0.0)


def fmt_load(load) -> str:
    return "/".join(f"{x:.2f}" for x in load)
