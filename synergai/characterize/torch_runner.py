"""Measure PyTorch eager CPU latency of the ``models`` architectures and write trace rows.

One measurement (``measure``) is one trace row: the model is built (random weights, eval mode) with
``torch.set_num_threads(threads)``, called once (build + first call = cold start), warmed up, then
called repeatedly under ``torch.inference_mode()``. Every call's wall-clock time
(``time.perf_counter_ns``) becomes one entry of ``samples_ms``; the process CPU time of the call
(``time.process_time_ns``, all threads of this process) is averaged into ``cpu_ms``. Sampling stops at
``n`` samples, or once ``max_seconds`` of sampling have elapsed, but the time limit never stops it
before ``min(n, MIN_SAMPLES)`` samples. Load on the host is recorded, not hidden: the load average
before and after, and, from ``/proc/stat``, the CPU time other processes used and the hypervisor
steal while sampling. "Load exceeded cores" compares the 1-minute load average (before or after)
with the vCPU count; that average lags by about a minute and counts this tool's own threads,
including those of a measurement that just finished, so the "other processes' CPU" figure is the
direct measure of interference.

Command line (appends to / replaces rows in the trace; the file is rewritten atomically after each
measurement, so an interrupted run keeps what it finished)::

    python -m synergai.characterize.torch_runner --models resnet50,bert-99 --threads 1,2 \\
        --batch 1 --warmup 5 --n 200 --max-seconds 60 --out traces/x86_vm_pytorch.csv

The host/CSV helpers here (``host_description``, ``source_string``, ``read_trace``,
``merge_rows``, ``write_trace``) do not depend on torch, so other engine runners can reuse them.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence

try:  # torch is optional for the package; the CLI exits 2 without it
    import torch
except ImportError:  # pragma: no cover - exercised only where torch is absent
    torch = None  # type: ignore[assignment]

#: Trace columns, in the order of the schema table in traces/README.md.
COLUMNS: list[str] = [
    "device_type", "model", "engine", "precision", "batch", "threads", "power_mode", "resource",
    "units", "latency_kind", "samples_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p97_ms",
    "p99_ms", "p999_ms", "max_ms", "mean_ms", "power_w", "idle_power_w", "cpu_ms", "source_kind",
    "source", "notes",
]  # fmt: skip

#: Columns that identify an execution configuration; a new row replaces an old one with the same key.
KEY_COLUMNS = ("device_type", "model", "engine", "precision", "batch", "threads", "power_mode")

DEFAULT_DEVICE_TYPE = "x86-vm-2c"
MIN_SAMPLES = 5
ISA_FLAGS = (("avx2", ("avx2",)), ("avx512f", ("avx512f",)), ("avx512_vnni", ("avx512_vnni",)),
             ("amx", ("amx_tile", "amx_bf16", "amx_int8")))  # fmt: skip

Progress = Callable[[str], None]

_MEASUREMENTS_IN_PROCESS = 0  # cold starts after the first one reuse warm libraries/thread pools


# --------------------------------------------------------------------------------------------------
# Host description (engine independent)
# --------------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def host_description() -> dict[str, object]:
    """CPU model, vCPU count, RAM and ISA flags of this host (Linux ``/proc``; blanks elsewhere)."""
    cpuinfo = _read("/proc/cpuinfo")
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields.setdefault(k.strip(), v.strip())
    flags = set(fields.get("flags", "").split())
    model = fields.get("model name", "") or "unknown CPU"
    if fields.get("cpu family") and fields.get("model"):
        model += f" (family {fields['cpu family']} model {fields['model']})"
    ram_gib = None
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            ram_gib = int(line.split()[1]) / (1024 * 1024)
    return {
        "cpu_model": model,
        "vcpus": os.cpu_count() or 1,
        "ram_gib": ram_gib,
        "flags": {name: any(f in flags for f in alts) for name, alts in ISA_FLAGS},
    }


def source_string(engine: str, host: dict[str, object], date: str | None = None) -> str:
    """The ``source`` column: tool + engine + host + date."""
    date = date or _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    flags = host["flags"]
    assert isinstance(flags, dict)
    flag_txt = "/".join(f"{k} {'present' if v else 'absent'}" for k, v in flags.items())
    ram = host["ram_gib"]
    ram_txt = f"{ram:.1f} GiB" if isinstance(ram, float) else "unknown RAM"
    return (
        f"synergai.characterize ({engine}) on {host['cpu_model']}, {host['vcpus']} vCPU, "
        f"{ram_txt}, flags: {flag_txt}; {date}"
    )


def _proc_stat() -> tuple | None:
    """(busy, steal, total) jiffies of all CPUs from /proc/stat, or None if unavailable."""
    line = _read("/proc/stat").split("\n", 1)[0].split()
    if not line or line[0] != "cpu":
        return None
    v = [int(x) for x in line[1:]]
    v += [0] * (8 - len(v))
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def _fmt_load(load: Sequence[float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of a non-empty sequence."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def row_samples(row: dict[str, str]) -> list[float]:
    return [float(x) for x in row["samples_ms"].split(";") if x]


# --------------------------------------------------------------------------------------------------
# PyTorch measurement
# --------------------------------------------------------------------------------------------------


def _require_torch() -> None:
    if torch is None:
        raise RuntimeError("PyTorch is not installed (pip install torch==2.13.0)")


def measure(
    model_name: str,
    batch: int = 1,
    threads: int = 1,
    warmup: int = 5,
    n: int = 200,
    max_seconds: float = 60.0,
    device_type: str = DEFAULT_DEVICE_TYPE,
    progress: Progress | None = None,
) -> dict[str, str]:
    """Measure one configuration and return its trace row (all values as strings, schema order).

    ``warmup`` counts every unmeasured call including the first (cold) one, so at least one call is
    always made before sampling. ``max_seconds`` bounds the sampling phase only (not build/warm-up);
    the time limit never stops sampling before ``min(n, MIN_SAMPLES)`` samples.
    """
    _require_torch()
    from . import models

    global _MEASUREMENTS_IN_PROCESS
    _MEASUREMENTS_IN_PROCESS += 1
    nth = _MEASUREMENTS_IN_PROCESS

    if batch < 1 or threads < 1 or n < 1:
        raise ValueError("need batch >= 1, threads >= 1, n >= 1")
    min_samples = min(n, MIN_SAMPLES)
    say = progress or (lambda _msg: None)
    tag = f"[{model_name} b{batch} t{threads}]"
    host = host_description()
    torch.set_num_threads(threads)
    load_before = os.getloadavg()

    # Cold start: build + first inference.
    t0 = time.perf_counter_ns()
    model, input_fn = models.build(model_name)
    inputs = input_fn(batch)
    t_built = time.perf_counter_ns()
    with torch.inference_mode():
        model(*inputs)
    t_first = time.perf_counter_ns()
    build_ms, first_ms = (t_built - t0) / 1e6, (t_first - t_built) / 1e6
    say(f"{tag} cold start {build_ms + first_ms:.1f} ms (build {build_ms:.1f} + first call {first_ms:.1f})")

    warmup = max(1, warmup)
    with torch.inference_mode():
        for _ in range(warmup - 1):
            model(*inputs)

        wall_ns: list[int] = []
        cpu_ns: list[int] = []
        stat0 = _proc_stat()
        own0 = time.process_time_ns()
        start = last_report = time.perf_counter_ns()
        stop_reason = f"reached n={n}"
        while len(wall_ns) < n:
            elapsed_s = (time.perf_counter_ns() - start) / 1e9
            if len(wall_ns) >= min_samples and elapsed_s >= max_seconds:
                stop_reason = f"time limit {max_seconds:g} s"
                break
            c0 = time.process_time_ns()
            w0 = time.perf_counter_ns()
            model(*inputs)
            w1 = time.perf_counter_ns()
            c1 = time.process_time_ns()
            wall_ns.append(w1 - w0)
            cpu_ns.append(c1 - c0)
            if (w1 - last_report) / 1e9 >= 5.0:
                last_report = w1
                say(f"{tag} {len(wall_ns)}/{n} samples, {(w1 - start) / 1e9:.1f} s, "
                    f"last {(w1 - w0) / 1e6:.1f} ms")  # fmt: skip
        sampling_s = (time.perf_counter_ns() - start) / 1e9
        own_cpu_s = (time.process_time_ns() - own0) / 1e9
        stat1 = _proc_stat()
    load_after = os.getloadavg()

    samples = [round(x / 1e6, 4) for x in wall_ns]
    cpu_ms = statistics.fmean(cpu_ns) / 1e6
    cores = os.cpu_count() or 1
    exceeded = max(load_before[0], load_after[0]) > cores

    interference = "not available (no /proc/stat)"
    if sampling_s < 2.0:
        interference = "not estimated (sampling < 2 s; /proc/stat ticks too coarse)"
    elif stat0 and stat1:
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        d_busy, d_steal, d_total = (b - a for a, b in zip(stat0, stat1, strict=True))
        others = max(0.0, d_busy / hz - own_cpu_s) / sampling_s if sampling_s > 0 else 0.0
        steal_pct = 100.0 * d_steal / d_total if d_total else 0.0
        interference = f"{others:.2f} cores, steal {steal_pct:.1f}%"

    capability = ""
    try:
        capability = f"; ATen CPU capability {torch.backends.cpu.get_cpu_capability()}"
    except Exception:  # pragma: no cover - older torch
        pass
    notes = (
        f"warm-up {warmup} calls (the first is the cold call); {len(samples)} samples in "
        f"{sampling_s:.1f} s (stopped: {stop_reason}); "
        f"load avg 1/5/15 min before {_fmt_load(load_before)}, after {_fmt_load(load_after)} "
        f"(after includes this run's own {threads} thread(s)); "
        f"load exceeded {cores} cores: {'yes' if exceeded else 'no'}; "
        f"other processes' CPU while sampling: {interference}; "
        f"input {models.input_shape_description(model_name, batch)}; "
        f"cold start {build_ms + first_ms:.1f} ms (build {build_ms:.1f} ms + first inference "
        f"{first_ms:.1f} ms; torch already imported; measurement {nth} of this process); random weights, eval(), inference_mode"
        f"{capability}"
    )
    if threads > cores:
        notes += f"; WARNING threads {threads} > {cores} cores"

    row = {c: "" for c in COLUMNS}
    row.update(
        device_type=device_type,
        model=model_name,
        engine="pytorch",
        precision="fp32",
        batch=str(batch),
        threads=str(threads),
        power_mode="default",
        resource="cpu",
        units=str(threads),
        latency_kind="samples",
        samples_ms=";".join(f"{x:.4f}" for x in samples),
        mean_ms=f"{statistics.fmean(samples):.4f}",
        cpu_ms=f"{cpu_ms:.4f}",
        source_kind="measured",
        source=source_string(f"pytorch {torch.__version__} eager, CPU", host),
        notes=notes,
    )
    say(f"{tag} done: {len(samples)} samples, p50 {quantile(samples, 0.5):.1f} ms, "
        f"p99 {quantile(samples, 0.99):.1f} ms, cpu {cpu_ms:.1f} ms/call, "
        f"load {_fmt_load(load_before)} -> {_fmt_load(load_after)}")  # fmt: skip
    return row


# --------------------------------------------------------------------------------------------------
# Trace file I/O (engine independent)
# --------------------------------------------------------------------------------------------------


def row_key(row: dict[str, str]) -> tuple:
    return tuple(str(row[c]).strip() for c in KEY_COLUMNS)


def read_trace(path: str) -> list[dict[str, str]]:
    """Rows of an existing trace file ([] if it does not exist); its header must be ``COLUMNS``."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise ValueError(f"{path}: header {reader.fieldnames} differs from the trace schema {COLUMNS}")
        return [dict(r) for r in reader]


def merge_rows(existing: Iterable[dict[str, str]], new: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Existing rows in their order, each replaced by a new row with the same key; others appended."""
    out = [dict(r) for r in existing]
    index = {row_key(r): i for i, r in enumerate(out)}
    for r in new:
        k = row_key(r)
        if k in index:
            out[index[k]] = dict(r)
        else:
            index[k] = len(out)
            out.append(dict(r))
    return out


def write_trace(path: str, rows: Iterable[dict[str, str]]) -> None:
    """Write the whole file to a temporary file beside ``path`` and ``os.replace`` it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow({c: r.get(c, "") for c in COLUMNS})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def append_rows(path: str, rows: Iterable[dict[str, str]]) -> None:
    """Merge ``rows`` into the trace at ``path`` (replacing same-key rows) and rewrite it atomically."""
    write_trace(path, merge_rows(read_trace(path), rows))


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m synergai.characterize.torch_runner",
        description="Measure PyTorch eager CPU latency and merge the rows into a trace CSV.",
    )
    p.add_argument("--models", required=True, help="comma-separated: resnet50,retinanet,bert-99,mobilenet-v2")
    p.add_argument("--threads", type=_int_list, default=[1], help="comma-separated torch thread counts")
    p.add_argument("--batch", type=_int_list, default=[1], help="comma-separated batch sizes")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured calls incl. the first (default 5)")
    p.add_argument("--n", type=int, default=200, help="max samples per configuration (default 200)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="stop sampling after this many seconds once >= 5 samples (default 60)",
    )
    p.add_argument("--out", required=True, help="trace CSV to create or update")
    p.add_argument("--device-type", default=DEFAULT_DEVICE_TYPE, help=f"default {DEFAULT_DEVICE_TYPE}")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prog = "synergai.characterize.torch_runner"
    if torch is None:
        print(f"{prog}: PyTorch is not installed (pip install torch==2.13.0)", file=sys.stderr)
        return 2
    from .models import MODELS

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        print(f"{prog}: unknown model(s) {unknown}; known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    if args.n < 1:
        print(f"{prog}: --n must be >= 1", file=sys.stderr)
        return 2
    try:
        read_trace(args.out)  # fail before measuring if the existing file is not a trace
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    for name in names:
        for batch in args.batch:
            for threads in args.threads:
                row = measure(name, batch, threads, args.warmup, args.n, args.max_seconds,
                              args.device_type, progress)  # fmt: skip
                append_rows(args.out, [row])
    progress(f"{prog}: wrote {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
