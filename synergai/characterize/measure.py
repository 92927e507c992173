"""Measure one configuration with any engine and build its trace row.

``measure()`` = ``engine.prepare`` (untimed: export/quantize/convert, cached) -> cold start
(``engine.load`` + first call, timed together as ``cold_start_ms``) -> ``warmup`` further unmeasured
calls -> timed calls until ``requests`` samples or, once at least ``min(requests, MIN_SAMPLES)``
samples exist, until ``max_seconds`` of sampling have passed. Each timed call records its wall time
(``time.perf_counter_ns``, ``samples_ms``) and the CPU time of the whole process during it
(``time.process_time_ns``, all threads, ``cpu_samples_ms``, aligned one-to-one).

Load is recorded, not hidden: the 1-minute load average at the end of sampling is ``load_avg_1m``;
the notes give the 1/5/15-minute averages before and after, the CPU time other processes used while
sampling (``/proc/stat`` minus this process, in cores) and the hypervisor steal. Rows where other
processes used >= ``NOISY_CORES`` cores start their notes with ``NOISY``.
"""

from __future__ import annotations

import datetime as _dt
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from .engines.base import Engine
from .host import HostInfo, cpu_stat, fmt_load, host_info, host_string, interference, loadavg
from .trace_io import COLUMNS, quantile

MIN_SAMPLES = 5
NOISY_CORES = 0.2
TOOL = "synergai-characterize"

Say = Callable[[str], None]

_MEASUREMENTS_IN_PROCESS = 0


def tool_version() -> str:
    try:
        from importlib.metadata import version

        return f"{TOOL} {version('synergai')}"
    except Exception:  # pragma: no cover - not installed
        return f"{TOOL} (uninstalled)"


def measure(
    engine: Engine,
    model: str,
    precision: str = "fp32",
    batch: int = 1,
    threads: int = 1,
    *,
    warmup: int = 3,
    requests: int = 50,
    max_seconds: float = 60.0,
    device_type: str = "x86-vm-2c",
    cache_dir: Path | None = None,
    say: Say | None = None,
    warn: Say | None = None,
    host: HostInfo | None = None,
) -> dict[str, str]:
    """Measure one configuration and return its trace row (strings, all ``COLUMNS``)."""
    from .export import default_cache_dir

    global _MEASUREMENTS_IN_PROCESS
    if batch < 1 or threads < 1 or requests < 1 or warmup < 0 or max_seconds < 0:
        raise ValueError("need batch >= 1, threads >= 1, requests >= 1, warmup >= 0, max_seconds >= 0")
    say = say or (lambda _m: None)
    warn = warn or say
    host = host or host_info()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tag = f"[{engine.name} {precision} {model} b{batch} t{threads}]"
    cores = host.vcpus

    prep_note = engine.prepare(model, precision, cache_dir, say)
    _MEASUREMENTS_IN_PROCESS += 1
    nth = _MEASUREMENTS_IN_PROCESS
    gc.collect()

    load_before = loadavg()
    if load_before[0] > cores:
        warn(f"warning: 1-min load average {load_before[0]:.2f} exceeds the {cores} cores before {tag}")

    t0 = time.perf_counter_ns()
    loaded = engine.load(model, precision, batch, threads, cache_dir)
    t1 = time.perf_counter_ns()
    loaded.run()
    t2 = time.perf_counter_ns()
    load_ms, first_ms = (t1 - t0) / 1e6, (t2 - t1) / 1e6
    settings, input_desc = loaded.settings, loaded.input_desc
    say(f"{tag} cold start {load_ms + first_ms:.0f} ms (load {load_ms:.0f} + first call {first_ms:.0f})")
    try:
        for _ in range(warmup):
            loaded.run()

        min_samples = min(requests, MIN_SAMPLES)
        wall_ns: list[int] = []
        cpu_ns: list[int] = []
        stat0 = cpu_stat()
        own0 = time.process_time_ns()
        start = last_report = time.perf_counter_ns()
        stop = f"reached {requests} requests"
        while len(wall_ns) < requests:
            if len(wall_ns) >= min_samples and (time.perf_counter_ns() - start) / 1e9 >= max_seconds:
                stop = f"time limit {max_seconds:g} s"
                break
            c0 = time.process_time_ns()
            w0 = time.perf_counter_ns()
            loaded.run()
            w1 = time.perf_counter_ns()
            c1 = time.process_time_ns()
            wall_ns.append(w1 - w0)
            cpu_ns.append(c1 - c0)
            if (w1 - last_report) / 1e9 >= 10.0:
                last_report = w1
                say(f"{tag} {len(wall_ns)}/{requests} requests, {(w1 - start) / 1e9:.0f} s")
        sampling_s = (time.perf_counter_ns() - start) / 1e9
        own_cpu_s = (time.process_time_ns() - own0) / 1e9
        stat1 = cpu_stat()
    finally:
        loaded.close()
        del loaded
        gc.collect()
    load_after = loadavg()
    if load_after[0] > cores:
        warn(f"warning: 1-min load average {load_after[0]:.2f} exceeds the {cores} cores after {tag}")

    samples = [x / 1e6 for x in wall_ns]
    cpu = [x / 1e6 for x in cpu_ns]
    inter = interference(stat0, stat1, own_cpu_s, sampling_s)
    others = None
    if inter.endswith("%") and "cores" in inter:
        others = float(inter.split()[0])
    noisy = others is not None and others >= NOISY_CORES
    exceeded = max(load_before[0], load_after[0]) > cores
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")

    notes = []
    if noisy:
        notes.append(f"NOISY: other processes used {others:.2f} cores while sampling")
    notes += [
        f"{len(samples)} timed requests in {sampling_s:.1f} s (stopped: {stop}) after the cold call + {warmup} warm-up calls",
        f"p50 {quantile(samples, 0.5):.2f} ms, p99 {quantile(samples, 0.99):.2f} ms (wall); "
        f"CPU time p50 {quantile(cpu, 0.5):.2f} ms",
        f"load avg 1/5/15 min before {fmt_load(load_before)}, after {fmt_load(load_after)} "
        f"(includes this run's own {threads} thread(s)); load exceeded {cores} cores: {'yes' if exceeded else 'no'}",
        f"other processes' CPU while sampling: {inter}",
        f"inputs {input_desc}" if input_desc else "",
        f"cold start {load_ms + first_ms:.1f} ms = load {load_ms:.1f} ms + first call {first_ms:.1f} ms "
        f"(measurement {nth} in this process; Python and engine imports excluded)",
        settings,
    ]
    if prep_note:
        notes.append(prep_note)
    if threads > cores:
        notes.append(f"WARNING threads {threads} > {cores} cores")

    row = {c: "" for c in COLUMNS}
    row.update(
        device_type=device_type, model=model, engine=engine.name, precision=precision, batch=str(batch),
        threads=str(threads if engine.resource == "cpu" else 0), power_mode="default", resource=engine.resource,
        units=str(threads if engine.resource == "cpu" else 1), latency_kind="samples",
        samples_ms=";".join(f"{x:.4f}" for x in samples), mean_ms=f"{statistics.fmean(samples):.4f}",
        cpu_ms=f"{statistics.fmean(cpu):.4f}", cpu_samples_ms=";".join(f"{x:.4f}" for x in cpu),
        cold_start_ms=f"{load_ms + first_ms:.1f}", load_avg_1m=f"{load_after[0]:.2f}",
        engine_version=engine.version(), host=host_string(host), source_kind="measured",
        source=f"{tool_version()} on {device_type} ({host.cpu_model}, {host.vcpus} vCPU), {when}",
        notes="; ".join(n for n in notes if n),
    )  # fmt: skip
    say(f"{tag} done: {len(samples)} requests, p50 {quantile(samples, 0.5):.1f} ms, p99 "
        f"{quantile(samples, 0.99):.1f} ms, CPU {statistics.fmean(cpu):.1f} ms/request, load {fmt_load(load_after)}"
        f"{', NOISY' if noisy else ''}")  # fmt: skip
    return row
