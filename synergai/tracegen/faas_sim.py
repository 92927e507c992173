"""Convert edgerun/faas-sim's fitted function-execution times (Raith et al. 2021) into the trace CSV schema.

Input: ``<src>/faas_sim_fets/fitted_exec_times.csv`` (transcribed from ``ext/raith21/fet.py``; provenance and
caveats in ``<src>/README.md`` §1.2). Each source row is a lognormal ``scipy.stats.lognorm(s, loc, scale)`` in
**seconds** that faas-sim samples with rejection into ``[min, max]`` (``BoundRejectionSampler``). Output: one
``percentiles`` row (``source_kind=derived``) per (device, function image): the quantiles of that truncated
lognormal, in ms::

    Q(q) = loc + scale * exp(s * Phi^-1(F(min) + q * (F(max) - F(min)))),   F(x) = Phi(ln((x - loc) / scale) / s)

written at q = 0.5, 0.9, 0.95, 0.97, 0.99, 0.999, with ``min_ms``/``max_ms`` the source bounds x 1000. The
loader's piecewise-linear quantile function passes through these points exactly (between them it is a chord of
the source's quantile function). CPU and GPU images of the same function on the same device are two engines of
one model (``engine`` ``faas-cpu`` / ``faas-gpu``; ``tflite``; ``edgetpu`` on the Coral TPU), so a device offers
a real engine choice. Usage::

    python -m synergai.tracegen.faas_sim --src ../shared/data --out traces/faas_sim_fets.csv
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from statistics import NormalDist

from .mlperf import COLUMNS, InputError, _read_csv, convert_cli

SOURCE_COLUMNS = ("device", "device_label", "device_cpus", "image", "distribution", "shape_s", "loc", "scale",
                  "min", "max", "units", "derived_median", "notes", "source_repo", "source_path",
                  "source_commit_snapshot_head", "source_commit_file_last_changed", "license")
LEVELS = (("p50_ms", 0.5), ("p90_ms", 0.9), ("p95_ms", 0.95), ("p97_ms", 0.97), ("p99_ms", 0.99),
          ("p999_ms", 0.999))

# faas-sim device -> (device_type, tier-independent description). nx is the same board as MLPerf's Xavier NX
# rows (different models, so no key overlap); the others are new device types.
DEVICES = {
    "nx": "jetson-xavier-nx", "nano": "jetson-nano", "tx2": "jetson-tx2", "nuc": "intel-nuc-i5",
    "xeongpu": "x86-xeon-vm-4c-gpu", "xeoncpu": "x86-xeon-vm-4c", "rpi3": "raspberry-pi-3",
    "rpi4": "raspberry-pi-4", "rockpi": "rockpi-4", "coral": "coral-dev-board",
}
JETSONS = {"nx", "nano", "tx2"}
# CPU counts the source leaves blank (built by the external ether library): edgerun/ether's node factories.
ETHER_CPUS = {"rpi3": 4, "tx2": 4, "nuc": 4}
ETHER_SOURCE = "edgerun/ether ether/blocks/nodes.py@19e5ab48e7307c2d107325cc3e670bad18024c5c"
# image suffix -> (engine, resource)
ENGINES = {"cpu": ("faas-cpu", "cpu"), "gpu": ("faas-gpu", "accel"), "tflite": ("tflite", "cpu"),
           "tpu": ("edgetpu", "accel")}


def truncated_lognorm_quantile(q: float, s: float, loc: float, scale: float, lo: float, hi: float) -> float:
    """Quantile q of lognorm(s, loc, scale) conditioned on [lo, hi] (what rejection sampling draws)."""
    nd = NormalDist()

    def cdf(x):
        return 0.0 if x <= loc else nd.cdf(math.log((x - loc) / scale) / s)

    f_lo, f_hi = cdf(lo), cdf(hi)
    if not f_hi > f_lo:
        raise ValueError(f"no probability mass in [{lo}, {hi}]")
    p = f_lo + q * (f_hi - f_lo)
    if p <= 0.0:
        return lo
    if p >= 1.0:
        return hi
    return min(hi, max(lo, loc + scale * math.exp(s * nd.inv_cdf(p))))


def _float(row, col, where) -> float:
    try:
        v = float(row[col])
    except ValueError:
        raise InputError(f"{where}: column {col}: not a number: {row[col]!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{where}: column {col}: must be finite, got {row[col]!r}")
    return v


def _engine(image: str, where: str) -> tuple[str, str, str]:
    """faas-workloads/<function>[-<kind>] -> (model, engine, resource)."""
    name = image.split("/", 1)[-1]
    head, _, tail = name.rpartition("-")
    if head and tail in ENGINES:
        return f"faas-{head}", *ENGINES[tail]
    if not name:
        raise InputError(f"{where}: empty image name")
    return f"faas-{name}", "faas-cpu", "cpu"  # plain images (fio, python-pi, resnet-preprocessing) run on the CPU


def convert(src: Path) -> list[dict]:
    path = Path(src) / "faas_sim_fets" / "fitted_exec_times.csv"
    rows = []
    for line, r in _read_csv(path, SOURCE_COLUMNS):
        where = f"{path}:{line} ({r['device']} {r['image']})"
        if r["distribution"] != "lognorm" or r["units"] != "s":
            raise InputError(f"{where}: expected a lognorm in seconds, got {r['distribution']!r} in {r['units']!r}")
        if r["device"] not in DEVICES:
            raise InputError(f"{where}: unknown device {r['device']!r} (known: {', '.join(DEVICES)})")
        s, loc, scale, lo, hi = (_float(r, c, where) for c in ("shape_s", "loc", "scale", "min", "max"))
        if not (s > 0 and scale > 0 and 0 < lo < hi):
            raise InputError(f"{where}: needs shape_s > 0, scale > 0 and 0 < min < max")
        model, engine, resource = _engine(r["image"], where)
        cpus_raw = r["device_cpus"].strip()
        cpus = int(cpus_raw) if cpus_raw else ETHER_CPUS.get(r["device"])
        if cpus is None:
            raise InputError(f"{where}: no CPU count in the source or in ETHER_CPUS")
        cpu_src = "etherdevices.py" if cpus_raw else ETHER_SOURCE
        t = dict.fromkeys(COLUMNS)
        t.update(device_type=DEVICES[r["device"]], model=model, engine=engine, precision="unstated", batch=1,
                 threads=0, power_mode="unstated" if r["device"] in JETSONS else "default", resource=resource,
                 units=cpus if resource == "cpu" else 1, latency_kind="percentiles", source_kind="derived")
        t["min_ms"], t["max_ms"] = lo * 1000.0, hi * 1000.0
        for col, q in LEVELS:
            t[col] = truncated_lognorm_quantile(q, s, loc, scale, lo, hi) * 1000.0
        t["host"] = f"{r['device_label']} ({cpus} CPUs per {cpu_src})"
        t["source"] = (f"{r['source_repo']} {r['source_path']}@{r['source_commit_snapshot_head']} (file last changed "
                       f"{r['source_commit_file_last_changed']}); Raith et al. 2021; licence {r['license']}")
        untrunc = (loc + scale) * 1000.0
        notes = [f"derived: faas-sim fit lognorm(s={s!r}, loc={loc!r} s, scale={scale!r} s) sampled with rejection "
                 f"into [{lo!r}, {hi!r}] s; quantiles of that truncated lognormal, s -> ms (untruncated median "
                 f"loc + scale = {untrunc:.6g} ms)",
                 f"end-to-end function execution in a container, image {r['image']} (framework and runtime "
                 "overhead included; not comparable with the MLPerf TensorRT rows)",
                 "power mode, precision and threads not stated by the source",
                 f"{'holds every core of the device (' + str(cpus) + '): measured alone on it' if resource == 'cpu' else 'holds the accelerator'}"]
        if r["notes"].strip():
            notes.append(f"source notes: {r['notes'].strip()}")
        t["notes"] = "; ".join(notes)
        rows.append(t)
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; input errors print one line to stderr and exit with code 2."""
    ap = argparse.ArgumentParser(prog="python -m synergai.tracegen.faas_sim",
                                 description="Convert faas-sim fitted execution times into a trace CSV.")
    ap.add_argument("--src", type=Path, required=True, help="data folder holding faas_sim_fets/ (e.g. ../shared/data)")
    ap.add_argument("--out", type=Path, required=True, help="trace CSV to write")
    return convert_cli(ap, convert, argv)


if __name__ == "__main__":
    sys.exit(main())
