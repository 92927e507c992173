"""Convert published MLPerf Inference edge results into the trace CSV schema.

Input: the transcribed MLCommons results in ``<src>/mlperf_edge/`` (``latency_summary.csv``,
``systems.csv``, ``power_summary.csv``; provenance and caveats in ``<src>/README.md``).
Output: ``percentiles`` trace rows, see ``traces/README.md``:

* ``source_kind=published``, batch 1: one row per (device type, benchmark, power mode) from
  MLPerf's SingleStream scenario, the only one that measures the service time of one call on
  an otherwise idle device (one sample per query, one query in flight).
* ``source_kind=derived``, batch b in ``DERIVED_BATCHES`` (2..32, never 1): from the Offline
  scenario's throughput only, ``latency(b) = b / samples_per_second``, written as a
  deterministic time (``min_ms = p50_ms = max_ms``, no tail invented). Offline latency columns
  are completion times inside one huge query and are never used. The derived time is
  optimistic: the Offline run keeps many batches in flight (on Jetson on the GPU and both
  DLAs for the vision benchmarks), so it is a throughput-bound time, not a measured latency
  of one batch-b call.

Server latencies include queueing under Poisson load and MultiStream latencies cover a whole
8-sample query, so those rows are skipped.

The values are published NVIDIA TensorRT numbers converted by us (ns -> ms, throughput ->
time); they are not official MLPerf results as converted. Usage::

    python -m synergai.tracegen.mlperf --src ../shared/data --out traces/mlperf_published.csv
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import re
import sys
import tempfile
from pathlib import Path

# Column order exactly as in the schema table of traces/README.md.
COLUMNS = (
    "device_type", "model", "engine", "precision", "batch", "threads", "power_mode",
    "resource", "units", "latency_kind", "samples_ms",
    "min_ms", "p50_ms", "p90_ms", "p95_ms", "p97_ms", "p99_ms", "p999_ms", "max_ms",
    "mean_ms", "power_w", "idle_power_w", "cpu_ms", "cpu_samples_ms", "cold_start_ms",
    "load_avg_1m", "engine_version", "host", "source_kind", "source", "notes",
)

# Quantile columns in the order they must be non-decreasing: (source ns column, trace column).
QUANTILES = (
    ("min_ns", "min_ms"), ("p50_ns", "p50_ms"), ("p90_ns", "p90_ms"), ("p95_ns", "p95_ms"),
    ("p97_ns", "p97_ms"), ("p99_ns", "p99_ms"), ("p999_ns", "p999_ms"), ("max_ns", "max_ms"),
)

# Rows that identify one trace configuration; the loader treats a repeat as ambiguous.
KEY = ("device_type", "model", "engine", "precision", "batch", "threads", "power_mode")

# (round, system_id) -> (device_type, power_mode). Explicit per round because the same
# system_id names different boards in different rounds (v3.0 Orin_TRT = AGX Orin 32GB,
# v3.1/v4.0 Orin_TRT = AGX Orin 64G dev kit). power_mode must equal the normalised
# power-mode string of the data; a mismatch is an input error, not silently overridden.
SYSTEMS: dict[tuple[str, str], tuple[str, str]] = {
    ("v1.1", "AGX_Xavier_TRT"): ("jetson-agx-xavier", "MaxP"),
    ("v1.1", "AGX_Xavier_TRT_MaxQ"): ("jetson-agx-xavier", "MaxQ"),
    ("v1.1", "Xavier_NX_TRT"): ("jetson-xavier-nx", "MaxP"),
    ("v1.1", "Xavier_NX_TRT_MaxQ"): ("jetson-xavier-nx", "MaxQ"),
    ("v3.0", "Orin_TRT"): ("jetson-agx-orin", "MAXN"),
    ("v3.0", "Orin_TRT_MaxQ"): ("jetson-agx-orin", "MaxQ"),
    ("v3.0", "Orin_NX_TRT"): ("jetson-orin-nx", "MAXN"),
    ("v3.1", "Orin_NX_TRT_MaxQ"): ("jetson-orin-nx", "MaxQ"),
    ("v3.0", "L4x1_TRT"): ("gpu-l4", "default"),
    ("v3.0", "A100-PCIe-80GBx1_TRT"): ("gpu-a100", "default"),
}

# Systems in the data that are deliberately not converted, with the reason. Any system in
# neither table is an input error, so new data cannot be dropped silently.
SKIPPED_SYSTEMS: dict[tuple[str, str], str] = {
    ("v3.1", "Orin_TRT"): "AGX Orin 64G dev kit; would duplicate the v3.0 Orin_TRT (32GB) key",
    ("v3.1", "Orin_TRT_MaxQ"): "AGX Orin 64G dev kit; would duplicate the v3.0 Orin_TRT_MaxQ "
                               "(32GB) key",
    ("v3.1", "Orin_NX_TRT"): "Orin NX 16G on Orin Nano carrier, MaxP with nvpmodel not stated; "
                             "v3.0 Orin_NX_TRT (MAXN) is used for jetson-orin-nx",
    ("v4.0", "Orin_TRT"): "only gptj-99 / stable-diffusion-xl, out of scope",
    ("v3.1", "1-node-2S-SPR-PyTorch-INT8"): "Intel CPU, Server/Offline only",
}

# (round, benchmark) -> caveat added to notes. Benchmark names are kept as-is, but the same
# name does not always mean the same network: MLPerf used the BraTS 2019 3D U-Net up to
# v1.1 and the KiTS19 3D U-Net from v2.0 on; ssd-* were retired in favour of retinanet.
MODEL_NOTES: dict[tuple[str, str], str] = {
    ("v1.1", "3d-unet-99"): "model caveat: v1.1 3d-unet-99 is the BraTS 2019 3D U-Net; from v2.0 "
                            "the same benchmark name is the KiTS19 3D U-Net (variable-size "
                            "inputs), so this row is not the same model as the v3.0 "
                            "3d-unet-99 rows",
    ("v3.0", "3d-unet-99"): "model caveat: KiTS19 3D U-Net (variable-size inputs, hence the wide "
                            "spread); not the same model as the v1.1 3d-unet-99 (BraTS 2019) rows",
    ("v1.1", "ssd-resnet34"): "model caveat: SSD-ResNet34 1200x1200 (COCO), retired and replaced "
                              "by retinanet 800x800 from v2.1; not interchangeable",
    ("v1.1", "ssd-mobilenet"): "model caveat: SSD-MobileNet v1 300x300 (COCO), retired from v2.1; "
                               "not interchangeable with retinanet",
}

ENGINE = "tensorrt"
PRECISION = "int8"
PRECISION_NOTE = ("precision per NVIDIA closed-division convention; not stated in the "
                  "transcribed summary")
OFFICIAL_NOTE = "not an official MLPerf result as converted"
POWER_NOTE = ("power_w = mean wall (AC) power of the whole board incl. carrier, fan and power "
              "adapter over the timed run (includes the idle draw), idle_power_w = post-run "
              "idle of the same meter (not module-rail power)")

# Offline-derived batch rows: batch sizes (batch 1 comes from SingleStream only, never derived).
DERIVED_BATCHES = (2, 4, 8, 16, 32)
OFFLINE_QPS_FIELD = "Samples per second"
# Offline: samples_per_query / max_ns must reproduce the logged samples/s within this fraction.
OFFLINE_QPS_TOLERANCE = 0.01
DERIVED_NOTE = ("deterministic derived time (min_ms = p50_ms = max_ms): the Offline log gives "
                "no per-batch latency distribution, so no tail is invented; the Offline latency "
                "columns (completion times inside one huge query) are not used")

_IDLE_RE = re.compile(r"post-run idle ~\s*([0-9]+(?:\.[0-9]+)?)\s*W")

LATENCY_COLUMNS = (
    "round", "submitter", "system_id", "power_mode_or_tdp", "software", "benchmark", "scenario",
    "samples_per_query", "min_ns", "mean_ns", "p50_ns", "p90_ns", "p95_ns", "p97_ns", "p99_ns",
    "p999_ns", "max_ns", "qps_or_samples_per_s", "qps_field", "result_valid", "source_repo",
    "source_path", "source_commit", "run", "division", "notes",
)
SYSTEM_COLUMNS = ("round", "system_id", "system_name", "accelerator", "cpu",
                  "cpu_cores_per_socket", "cpu_sockets", "memory", "power_mode_or_tdp",
                  "hw_notes")
POWER_COLUMNS = ("round", "system_id", "benchmark", "scenario", "power_file_path",
                 "source_commit", "mean_w", "notes")


class InputError(ValueError):
    """Bad or missing input; the message names the file (and line) so the CLI can print it."""


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Read a CSV as (line number, row) pairs; fail early on a missing file or column."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or ())]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = []
            for row in reader:
                if None in row:  # more cells than header columns: misaligned data
                    raise InputError(f"{path}:{reader.line_num}: more fields than the header")
                rows.append((reader.line_num, {k: v or "" for k, v in row.items()}))
            return rows
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def _where(path: Path, line: int, row: dict[str, str]) -> str:
    """Name a source row for error messages: file, line and its identifying fields."""
    return (f"{path}:{line} ({row.get('round')} {row.get('system_id')} "
            f"{row.get('benchmark')} {row.get('scenario')})")


def normalise_power_mode(text: str) -> str:
    """Map the data's free-text power mode to the schema's short token."""
    t = text.strip()
    for token in ("MAXN", "MaxQ", "MaxP"):
        if t.startswith(token):
            return token
    if t.lower().startswith("not stated"):
        return "default"  # data-centre GPUs: default power limit, no board modes
    raise ValueError(f"unrecognised power mode {text!r}")


def _ns_to_ms(value: str, column: str, where: str) -> float | None:
    """Integer nanoseconds -> float milliseconds; blank stays blank."""
    v = value.strip()
    if not v:
        return None
    try:
        ns = int(v)
    except ValueError:
        try:
            ns = float(v)
        except ValueError:
            raise InputError(f"{where}: {column} is not a number: {value!r}") from None
    if not ns > 0:
        raise InputError(f"{where}: {column} must be > 0, got {value!r}")
    return ns / 1e6


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _round_key(rnd: str) -> tuple[int, ...]:
    """'v3.0' -> (3, 0) so rounds sort numerically."""
    try:
        return tuple(int(p) for p in rnd.lstrip("vV").split("."))
    except ValueError:
        return (sys.maxsize,)


def _resolve_dir(src_dir: Path) -> Path:
    """Accept the data root (with mlperf_edge/) or the mlperf_edge folder itself."""
    sub = Path(src_dir) / "mlperf_edge"
    return sub if sub.is_dir() else Path(src_dir)


def _load_power(path: Path) -> dict[tuple[str, str, str, str], tuple[float, float, str]]:
    """(round, system_id, benchmark, scenario) -> (mean W, post-run idle W, spl.txt path)."""
    out: dict[tuple[str, str, str, str], tuple[float, float, str]] = {}
    for line, row in _read_csv(path, POWER_COLUMNS):
        where = _where(path, line, row)
        key = (row["round"], row["system_id"], row["benchmark"], row["scenario"])
        if key in out:
            raise InputError(f"{where}: duplicate power row")
        try:
            mean_w = float(row["mean_w"])
        except ValueError:
            raise InputError(f"{where}: mean_w is not a number: {row['mean_w']!r}") from None
        m = _IDLE_RE.search(row["notes"] or "")
        if not m:
            raise InputError(f"{where}: no 'post-run idle ~X W' in notes")
        idle_w = float(m.group(1))
        if not mean_w > 0 or idle_w < 0:
            raise InputError(f"{where}: power values out of range ({mean_w} W, idle {idle_w} W)")
        out[key] = (mean_w, idle_w, row["power_file_path"])
    return out


def host_description(system: dict[str, str]) -> str:
    """The ``host`` column: board/system name, accelerator, CPU and memory from systems.csv."""
    parts = [system["system_name"].strip()]
    if system["accelerator"].strip():
        parts.append(f"accelerator: {system['accelerator'].strip()}")
    cpu = system["cpu"].strip()
    if cpu:
        cores, sockets = system["cpu_cores_per_socket"].strip(), system["cpu_sockets"].strip()
        if cores and sockets:
            cpu += f" ({cores} cores/socket x {sockets} socket{'s' if sockets != '1' else ''})"
        parts.append(f"CPU: {cpu}")
    if system["memory"].strip():
        parts.append(f"memory: {system['memory'].strip()}")
    # The carrier board is part of the host (e.g. Orin NX on a Connecttech vs an Orin Nano
    # carrier); systems.csv only states it inside hw_notes.
    parts += [seg.strip() for seg in re.split(r"[;.]\s", system["hw_notes"])
              if "carrier" in seg.lower()]
    return _one_line("; ".join(parts))


def _source(row: dict[str, str]) -> str:
    return (f"MLPerf Inference {row['round']} {row['division']}, {row['submitter']}, "
            f"{row['system_id']}; {row['source_repo']}/{row['source_path']}"
            f"@{row['source_commit']}")


def _common_notes(row: dict[str, str], system: dict[str, str]) -> list[str]:
    """Notes shared by published and derived rows: system, software, mode, conventions."""
    notes = [
        f"system {system['system_name']}",
        f"software: {row['software']}",
        f"power mode: {system['power_mode_or_tdp'] or row['power_mode_or_tdp']}",
        PRECISION_NOTE,
        OFFICIAL_NOTE,
    ]
    if row["benchmark"].startswith("bert"):
        notes.append("BERT engines run mixed int8/fp16")
    if (row["round"], row["benchmark"]) in MODEL_NOTES:
        notes.append(MODEL_NOTES[(row["round"], row["benchmark"])])
    return notes


def _offline_engines_clause(benchmark: str, system: dict[str, str]) -> str:
    """Why the Offline throughput overstates one call's speed, per what hw_notes state."""
    hw = system["hw_notes"]
    if "DLA" in hw and benchmark.lower() in hw.lower():
        return ("Offline runs use the GPU and both DLAs on Jetson (hw_notes) so this is an "
                "optimistic throughput-bound latency, not a measured batch latency; the row "
                "holds 1 accelerator slot although the throughput came from all three engines")
    if "DLA" in hw:
        return (f"Offline runs keep many batches in flight (hw_notes name the DLAs only for "
                f"other benchmarks, so {benchmark} is taken to have run on the GPU alone) so "
                f"this is an optimistic throughput-bound latency, not a measured batch latency")
    return ("the Offline run keeps many batches in flight on the accelerator (copies and "
            "compute overlapped) so this is an optimistic throughput-bound latency, not a "
            "measured batch latency")


def _check_row(where: str, row: dict[str, str], power_mode: str) -> None:
    if row["result_valid"].strip().upper() != "VALID":
        raise InputError(f"{where}: result_valid is {row['result_valid']!r}, not VALID")
    try:
        data_mode = normalise_power_mode(row["power_mode_or_tdp"])
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    if data_mode != power_mode:
        raise InputError(f"{where}: power mode {row['power_mode_or_tdp']!r} normalises to "
                         f"{data_mode!r}, mapping says {power_mode!r}")


def _singlestream_row(where, row, system, device_type, power_mode, power) -> dict:
    """One published batch-1 row from a SingleStream summary."""
    if row["samples_per_query"].strip() != "1":
        raise InputError(f"{where}: SingleStream row with samples_per_query "
                         f"{row['samples_per_query']!r} (expected 1)")
    q = {col: _ns_to_ms(row[ns_col], ns_col, where) for ns_col, col in QUANTILES}
    if q["p50_ms"] is None:
        raise InputError(f"{where}: p50_ns is blank")
    present = [(c, v) for c, v in q.items() if v is not None]
    for (c1, v1), (c2, v2) in itertools.pairwise(present):
        if v2 < v1:
            raise InputError(f"{where}: percentiles not monotonic: {c1}={v1} > {c2}={v2}")
    mean = _ns_to_ms(row["mean_ns"], "mean_ns", where)
    lo, hi = q["min_ms"], q["max_ms"]
    if mean is not None and lo is not None and hi is not None and not lo <= mean <= hi:
        raise InputError(f"{where}: mean {mean} ms outside [min, max] = [{lo}, {hi}]")

    notes = ["scenario SingleStream (1 sample/query, one query in flight)",
             *_common_notes(row, system)]
    power_w = idle_w = None
    p = power.get((row["round"], row["system_id"], row["benchmark"], "SingleStream"))
    if p is not None:
        power_w, idle_w, spl = p
        notes.append(f"{POWER_NOTE}; from power_summary.csv ({spl}, same commit)")
    if row["notes"].strip():
        notes.append(f"data notes: {row['notes']}")

    trace = dict.fromkeys(COLUMNS)
    trace.update(
        device_type=device_type, model=row["benchmark"], engine=ENGINE, precision=PRECISION,
        batch=1, threads=0, power_mode=power_mode, resource="accel", units=1,
        latency_kind="percentiles", mean_ms=mean, power_w=power_w, idle_power_w=idle_w,
        engine_version=_one_line(row["software"]), host=host_description(system),
        source_kind="published", source=_source(row),
        notes=notes,  # list until de-duplication has added to it; joined in convert()
    )
    trace.update(q)
    return trace


def offline_throughput(where: str, row: dict[str, str]) -> tuple[float, str]:
    """Samples/s of an Offline row (value, text as logged), cross-checked against spq / max."""
    if row["qps_field"].strip() != OFFLINE_QPS_FIELD:
        raise InputError(f"{where}: Offline row with qps_field {row['qps_field']!r} "
                         f"(expected {OFFLINE_QPS_FIELD!r})")
    text = row["qps_or_samples_per_s"].strip()
    try:
        tput = float(text)
    except ValueError:
        raise InputError(f"{where}: qps_or_samples_per_s is not a number: {text!r}") from None
    if not (tput > 0 and tput < float("inf")):
        raise InputError(f"{where}: qps_or_samples_per_s must be > 0, got {text!r}")
    try:
        spq = int(row["samples_per_query"])
    except ValueError:
        raise InputError(f"{where}: samples_per_query is not an integer: "
                         f"{row['samples_per_query']!r}") from None
    if spq < 2:
        raise InputError(f"{where}: Offline row with samples_per_query {spq} (expected > 1)")
    max_ms = _ns_to_ms(row["max_ns"], "max_ns", where)
    if max_ms is not None:  # the whole Offline query completes at max: samples/s = spq / max
        implied = spq / (max_ms / 1e3)
        if abs(implied / tput - 1) > OFFLINE_QPS_TOLERANCE:
            raise InputError(f"{where}: samples_per_query / max_ns = {implied:.6g} samples/s "
                             f"disagrees with the logged {text} samples/s by more than "
                             f"{OFFLINE_QPS_TOLERANCE:.0%}")
    return tput, text


def _offline_rows(where, row, system, device_type, power_mode, power) -> list[dict]:
    """Derived rows for batch b in DERIVED_BATCHES from one Offline summary's throughput."""
    tput, tput_text = offline_throughput(where, row)
    p = power.get((row["round"], row["system_id"], row["benchmark"], "Offline"))
    rows = []
    for b in DERIVED_BATCHES:
        if b < 2:  # batch 1 comes from SingleStream only
            raise AssertionError("DERIVED_BATCHES must not contain batch 1")
        ms = b / tput * 1e3
        notes = [
            f"derived: batch {b} latency = {b} / Offline throughput ({tput_text} samples/s); "
            + _offline_engines_clause(row["benchmark"], system),
            DERIVED_NOTE,
            *_common_notes(row, system),
        ]
        power_w = idle_w = None
        if p is not None:
            power_w, idle_w, spl = p
            notes.append(f"{POWER_NOTE}; the timed run is the whole Offline run, not one "
                         f"batch-{b} call; from power_summary.csv ({spl}, same commit)")
        if row["notes"].strip():
            notes.append(f"data notes: {row['notes']}")
        trace = dict.fromkeys(COLUMNS)
        trace.update(
            device_type=device_type, model=row["benchmark"], engine=ENGINE, precision=PRECISION,
            batch=b, threads=0, power_mode=power_mode, resource="accel", units=1,
            latency_kind="percentiles", min_ms=ms, p50_ms=ms, max_ms=ms,
            power_w=power_w, idle_power_w=idle_w,
            engine_version=_one_line(row["software"]), host=host_description(system),
            source_kind="derived", source=_source(row), notes=notes,
        )
        rows.append(trace)
    return rows


def convert(src_dir: Path) -> list[dict]:
    """Return trace rows (schema columns, typed values, None = blank) from the MLPerf summary.

    Published batch-1 rows come from SingleStream, derived batch rows (DERIVED_BATCHES) from
    Offline throughput. Raises InputError naming the file/row for missing files, unknown
    systems, power modes that disagree with SYSTEMS, non-monotonic latency percentiles or an
    Offline throughput that disagrees with its own samples_per_query / max.
    """
    base = _resolve_dir(Path(src_dir))
    lat_path = base / "latency_summary.csv"
    sys_path = base / "systems.csv"
    pow_path = base / "power_summary.csv"
    latency = _read_csv(lat_path, LATENCY_COLUMNS)
    systems = {(r["round"], r["system_id"]): r for _, r in _read_csv(sys_path, SYSTEM_COLUMNS)}
    power = _load_power(pow_path)

    candidates: list[tuple[tuple, dict]] = []
    for line, row in latency:
        where = _where(lat_path, line, row)
        scenario = row["scenario"]
        if scenario not in ("SingleStream", "Offline"):
            continue  # not a per-inference service time, see module docstring
        sys_key = (row["round"], row["system_id"])
        if sys_key in SKIPPED_SYSTEMS:
            continue
        if sys_key not in SYSTEMS:
            raise InputError(f"{where}: system not in SYSTEMS or SKIPPED_SYSTEMS mapping")
        device_type, power_mode = SYSTEMS[sys_key]
        _check_row(where, row, power_mode)
        system = systems.get(sys_key)
        if system is None:
            raise InputError(f"{sys_path}: no row for {sys_key[0]} {sys_key[1]} "
                             f"(used by {lat_path}:{line})")
        make = _singlestream_row if scenario == "SingleStream" else _offline_rows
        made = make(where, row, system, device_type, power_mode, power)
        order = (_round_key(row["round"]), row["system_id"], row["run"], row["source_path"])
        candidates += [(order, t) for t in (made if isinstance(made, list) else [made])]

    # Duplicate keys: keep the row of the oldest round (then system_id, run, path) so the
    # choice does not depend on input row order; the dropped sources are named in notes.
    kept: dict[tuple, dict] = {}
    for _, trace in sorted(candidates, key=lambda c: c[0]):
        k = tuple(trace[c] for c in KEY)
        if k in kept:
            kept[k]["notes"].append(
                f"duplicate key also in {trace['source']}; kept this row "
                f"(rule: oldest round, then system_id, run, path)")
        else:
            kept[k] = trace

    # A derived batch time below the measured batch-1 latency of the same configuration is what the
    # throughput implies only with several calls in flight; one call of b inputs cannot finish sooner than
    # a call of one. Floor it at the batch-1 p50 so a policy choosing batch sizes is not misled.
    for t in kept.values():
        if t["source_kind"] != "derived":
            continue
        b1 = kept.get(tuple(1 if c == "batch" else t[c] for c in KEY))
        if b1 is None:
            t["notes"].append("no SingleStream (batch 1) row for this configuration")
        elif t["p50_ms"] < b1["p50_ms"]:
            t["notes"].append(
                f"floored: the throughput bound ({t['p50_ms']:.6g} ms) is below the SingleStream batch-1 p50 "
                f"({b1['p50_ms']:g} ms) of this configuration, reachable only as amortised throughput with "
                f"several calls in flight; the row holds the batch-1 p50")
            t["min_ms"] = t["p50_ms"] = t["max_ms"] = b1["p50_ms"]

    rows = sorted(kept.values(),
                  key=lambda t: (t["device_type"], t["power_mode"], t["model"], t["batch"]))
    for t in rows:
        t["notes"] = _one_line("; ".join(t["notes"]))
    return rows


def write_csv(rows: list[dict], out: Path) -> None:
    """Write rows atomically (temp file in the target folder, then os.replace)."""
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)  # None -> "" (blank cell)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; input errors print one line to stderr and exit with code 2."""
    ap = argparse.ArgumentParser(
        prog="python -m synergai.tracegen.mlperf",
        description="Convert MLPerf SingleStream summaries (and Offline throughput, as "
                    "derived batch rows) into a trace CSV.")
    ap.add_argument("--src", type=Path, required=True,
                    help="data folder holding mlperf_edge/ (e.g. ../shared/data)")
    ap.add_argument("--out", type=Path, required=True, help="trace CSV to write")
    return convert_cli(ap, convert, argv)


def convert_cli(ap: argparse.ArgumentParser, convert, argv: list[str] | None) -> int:
    """The converters' shared CLI body: parse --src/--out, convert, write; one-line errors (exit 2 on bad input,
    1 when the output cannot be written)."""
    args = ap.parse_args(argv)
    try:
        rows = convert(args.src)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        write_csv(rows, args.out)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
