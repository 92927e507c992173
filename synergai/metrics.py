"""Per-job results -> per-policy summary, shared by every backend (same columns for sim and Kubernetes).

Failed jobs count as QoS violations (a job that never finished missed its target); excess time and
latency percentiles are over completed jobs. ``steady`` excludes jobs that arrived in the first
``warmup_fraction`` of the arrival span (queues still filling) and the last ``cooldown_fraction`` (queues
draining without new arrivals).

Fault columns (zero / empty / NaN when a run had no faults):

- ``retries``: re-submissions after a job lost its node; ``jobs_retried``: jobs re-submitted at least once.
- ``failed_by_reason``: JSON object ``{"reason": count, ...}``, most frequent first (one CSV cell, parseable).
- ``faults``: fault events injected. A job is *exposed* to a fault when the interval in which it had to be served,
  [arrival, arrival + QoS target], overlaps a fault period; ``violation_rate_fault`` is the violation rate of
  exposed jobs, ``violation_rate_no_fault`` of the others.
- ``time_to_recover_ms``: per fault window (overlapping faults merged) that ends before the last arrival, the
  time from its end to the start of the first ``RECOVER_BIN_MS`` bin of arrivals (bins aligned at the end)
  whose violation rate is back within ``RECOVER_TOL`` of ``violation_rate_no_fault``; the mean over windows.
  ``faults_unrecovered``: windows that did not recover before the next fault or the last arrival.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .faults import merged_windows

SUMMARY_COLUMNS = (
    "policy", "window", "jobs", "completed", "failed", "violation_rate", "mean_excess_ms", "total_excess_s",
    "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "throughput_jobs_per_s", "edge_share",
    "edge_energy_j", "energy_known_share", "overhead_p50_us", "overhead_p99_us",
    "retries", "jobs_retried", "failed_by_reason", "faults", "violation_rate_fault", "violation_rate_no_fault",
    "time_to_recover_ms", "faults_unrecovered",
)
RECOVER_BIN_MS = 1000.0
RECOVER_TOL = 0.02


class _Columns:
    """The rows of a per-job table selected by a mask, one column at a time (``cols["x"]`` is a Series).

    A 10^7-job table is ~2 GB: filtering whole frames for the steady window and for completed jobs would copy it
    twice over; selecting only the columns a metric reads keeps the summary's extra memory to a few columns."""

    def __init__(self, jobs: pd.DataFrame, mask: np.ndarray | None = None):
        self.jobs, self.mask = jobs, mask
        self.columns = jobs.columns
        self._n = len(jobs) if mask is None else int(mask.sum())

    def __len__(self):
        return self._n

    def __contains__(self, name):
        return name in self.jobs.columns

    def __getitem__(self, name) -> pd.Series:
        col = self.jobs[name]
        if self.mask is None:
            return col.reset_index(drop=True)
        return pd.Series(col.array[self.mask], name=name)


def steady_window(arrival_ms: np.ndarray, warmup_fraction: float = 0.1, cooldown_fraction: float = 0.1):
    """(mask, lo, hi): the jobs arriving in the steady state -- the arrival span less its first ``warmup_fraction``
    (queues still filling) and last ``cooldown_fraction`` (queues draining)."""
    t0, t1 = arrival_ms.min(), arrival_ms.max()
    lo, hi = t0 + warmup_fraction * (t1 - t0), t1 - cooldown_fraction * (t1 - t0)
    return (arrival_ms >= lo) & (arrival_ms <= hi), lo, hi


def summarize(policy: str, jobs: pd.DataFrame, decisions: pd.DataFrame | None = None,
              warmup_fraction: float = 0.1, cooldown_fraction: float = 0.1,
              faults: pd.DataFrame | None = None) -> list[dict]:
    """Two rows per policy: window='all' and window='steady'. ``faults``: the backend's injected-fault table."""
    windows = _merged(faults)
    rows = [_summary(policy, "all", jobs, None, decisions) | fault_metrics(_Columns(jobs), windows, _count(faults))]
    if len(jobs):
        a = jobs["arrival_ms"].to_numpy(dtype=float)
        sel, lo, hi = steady_window(a, warmup_fraction, cooldown_fraction)
        dsel = None
        if decisions is not None:
            t = decisions["sim_ms"].to_numpy(dtype=float)
            dsel = (t >= lo) & (t <= hi)
        rows.append(_summary(policy, "steady", jobs, sel, decisions, dsel) | fault_metrics(_Columns(jobs, sel), windows,
                                                                                 _count(faults)))
    return rows


def _summary(policy, window, jobs, sel, decisions, dsel=None) -> dict:
    """``sel`` / ``dsel``: the rows of ``jobs`` / ``decisions`` in the window (None: all). Masks are combined before any column is copied,
    and one column copy lives at a time, so a 10^7-job table stays within its memory budget."""
    def col(name, dtype=float):
        return jobs[name].to_numpy(dtype=dtype)

    every = np.ones(len(jobs), dtype=bool) if sel is None else sel
    n = int(every.sum())
    ok = every & (jobs["status"] == "completed").to_numpy(dtype=bool)
    n_done = int(ok.sum())
    pcts = np.percentile(col("latency_ms")[ok], [50, 95, 99], overwrite_input=True) if n_done else [np.nan] * 3
    span_ms = np.nan
    if n_done:
        span_ms = np.max(col("finish_ms"), where=ok, initial=-np.inf) - np.min(col("arrival_ms"), where=every,
                                                                                initial=np.inf)
    edge = ok & (jobs["tier"] == "edge").to_numpy(dtype=bool)
    n_edge = int(edge.sum())
    e = col("energy_mj")[edge]
    excess_sum = float(np.sum(col("excess_ms"), where=ok)) if n_done else 0.0  # finite for every completed job
    row = {
        "policy": policy, "window": window, "jobs": n, "completed": n_done, "failed": n - n_done,
        "violation_rate": np.count_nonzero(col("violated", bool) & every) / n if n else np.nan,
        "mean_excess_ms": excess_sum / n_done if n_done else np.nan,
        "total_excess_s": excess_sum / 1000.0,
        "p50_latency_ms": float(pcts[0]), "p95_latency_ms": float(pcts[1]), "p99_latency_ms": float(pcts[2]),
        "throughput_jobs_per_s": n_done / span_ms * 1000.0 if span_ms and span_ms > 0 else np.nan,
        "edge_share": n_edge / n_done if n_done else np.nan,
        "edge_energy_j": float(np.nansum(e)) / 1000.0,
        "energy_known_share": float(np.isfinite(e).mean()) if n_edge else np.nan,
        "overhead_p50_us": np.nan, "overhead_p99_us": np.nan,
    }
    if decisions is not None and len(decisions):
        ov = decisions["overhead_us"].to_numpy()
        ov = (ov if dsel is None else ov[dsel]).astype(float)  # one copy, partitioned in place below
        if len(ov):
            row["overhead_p50_us"], row["overhead_p99_us"] = (float(v) for v in np.percentile(
                ov, [50, 99], overwrite_input=True))
    return row


def _pct(a, q):
    return float(np.percentile(a, q)) if len(a) else np.nan


def node_utilization(nodes: pd.DataFrame, horizon_ms: float) -> pd.DataFrame:
    """Busy fraction of each node's pools over the run (unit-ms busy / (units x horizon))."""
    out = nodes.copy()
    h = max(horizon_ms, 1e-9)
    out["util_cpu"] = np.where(out["cpu_cores"] > 0, out["busy_cpu_unit_ms"] / (out["cpu_cores"] * h), np.nan)
    out["util_accel"] = np.where(out["accel_slots"] > 0, out["busy_accel_unit_ms"] / (out["accel_slots"] * h), np.nan)
    return out


# ----------------------------------------------------------------------------- faults
def _count(faults) -> int:
    return 0 if faults is None else len(faults)


def _merged(faults) -> list[tuple[float, float]]:
    return [] if faults is None or not len(faults) else merged_windows(faults)


def failed_by_reason(jobs: pd.DataFrame) -> str:
    """``{"reason": count}`` as compact JSON, most frequent first (ties: alphabetical)."""
    failed = (jobs["status"] != "completed").to_numpy(dtype=bool)
    r = jobs["reason"][failed].value_counts()
    r = r[r > 0]  # a categorical column counts every category
    items = sorted(r.items(), key=lambda kv: (-kv[1], kv[0]))
    return json.dumps({k: int(v) for k, v in items}, separators=(",", ":"))


def exposed_to_faults(jobs: pd.DataFrame, windows: list[tuple[float, float]]) -> np.ndarray:
    """Per job: does [arrival, arrival + QoS target] overlap a (merged, sorted) fault window?"""
    if not windows:
        return np.zeros(len(jobs), dtype=bool)
    a = jobs["arrival_ms"].to_numpy(dtype=float)
    starts = np.array([w[0] for w in windows])
    ends = np.array([w[1] for w in windows])
    k = np.searchsorted(ends, a, side="right")  # first window ending after the arrival
    hit = k < len(windows)
    out = np.zeros(len(a), dtype=bool)
    out[hit] = starts[k[hit]] <= a[hit] + jobs["qos_ms"].to_numpy(dtype=float)[hit]
    return out


def recovery_ms(jobs: pd.DataFrame, windows: list[tuple[float, float]], baseline: float,
                bin_ms: float = RECOVER_BIN_MS, tol: float = RECOVER_TOL) -> list[float]:
    """Per window ending before the last arrival: time to recover (see module doc), NaN if it never did."""
    if not windows:
        return []
    order = np.argsort(jobs["arrival_ms"].to_numpy(dtype=float), kind="stable")
    a = jobs["arrival_ms"].to_numpy(dtype=float)[order]
    cum = np.concatenate([[0], np.cumsum(jobs["violated"].to_numpy(dtype=bool)[order])])
    if not len(a) or not np.isfinite(baseline):
        return []
    out = []
    for k, (_, end) in enumerate(windows):
        if end > a[-1]:
            continue
        limit = min(windows[k + 1][0] if k + 1 < len(windows) else np.inf, a[-1])
        got, t = np.nan, end
        while t < limit:
            lo, hi = np.searchsorted(a, t, "left"), np.searchsorted(a, min(t + bin_ms, limit), "left")
            if hi > lo and (cum[hi] - cum[lo]) / (hi - lo) <= baseline + tol:
                got = t - end
                break
            t += bin_ms
        out.append(got)
    return out


def fault_metrics(jobs: pd.DataFrame, windows: list[tuple[float, float]], n_faults: int) -> dict:
    retries = jobs["retries"].to_numpy() if "retries" in jobs else np.zeros(len(jobs), dtype=np.int64)
    row = {"retries": int(retries.sum()), "jobs_retried": int((retries > 0).sum()),
           "failed_by_reason": failed_by_reason(jobs), "faults": n_faults,
           "violation_rate_fault": np.nan, "violation_rate_no_fault": np.nan,
           "time_to_recover_ms": np.nan, "faults_unrecovered": 0}
    if not len(jobs):
        return row
    exp = exposed_to_faults(jobs, windows)
    v = jobs["violated"].to_numpy(dtype=bool)
    if exp.any():
        row["violation_rate_fault"] = float(v[exp].mean())
    if (~exp).any():
        row["violation_rate_no_fault"] = float(v[~exp].mean())
    rec = recovery_ms(jobs, windows, row["violation_rate_no_fault"])
    done = [r for r in rec if np.isfinite(r)]
    row["time_to_recover_ms"] = float(np.mean(done)) if done else np.nan
    row["faults_unrecovered"] = len(rec) - len(done)
    return row
