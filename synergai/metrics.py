"""Per-job results -> per-policy summary, shared by every backend (same columns for sim and Kubernetes).

Failed jobs count as QoS violations (a job that never finished missed its target); excess time and
latency percentiles are over completed jobs. ``steady`` excludes jobs that arrived in the first
``warmup_fraction`` of the arrival span (queues still filling) and the last ``cooldown_fraction`` (queues
draining without new arrivals).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = (
    "policy", "window", "jobs", "completed", "failed", "violation_rate", "mean_excess_ms", "total_excess_s",
    "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "throughput_jobs_per_s", "edge_share",
    "edge_energy_j", "energy_known_share", "overhead_p50_us", "overhead_p99_us",
)


def summarize(policy: str, jobs: pd.DataFrame, decisions: pd.DataFrame | None = None,
              warmup_fraction: float = 0.1, cooldown_fraction: float = 0.1) -> list[dict]:
    """Two rows per policy: window='all' and window='steady'."""
    rows = [_summary(policy, "all", jobs, decisions)]
    if len(jobs):
        t0, t1 = jobs["arrival_ms"].min(), jobs["arrival_ms"].max()
        lo, hi = t0 + warmup_fraction * (t1 - t0), t1 - cooldown_fraction * (t1 - t0)
        sel = jobs[(jobs["arrival_ms"] >= lo) & (jobs["arrival_ms"] <= hi)]
        dsel = None
        if decisions is not None:
            dsel = decisions[(decisions["sim_ms"] >= lo) & (decisions["sim_ms"] <= hi)]
        rows.append(_summary(policy, "steady", sel, dsel))
    return rows


def _summary(policy, window, jobs, decisions) -> dict:
    n = len(jobs)
    done = jobs[jobs["status"] == "completed"]
    lat = done["latency_ms"].to_numpy()
    span_ms = (done["finish_ms"].max() - jobs["arrival_ms"].min()) if len(done) else np.nan
    edge = done[done["tier"] == "edge"]
    e = edge["energy_mj"]
    row = {
        "policy": policy, "window": window, "jobs": n, "completed": len(done), "failed": n - len(done),
        "violation_rate": float(jobs["violated"].mean()) if n else np.nan,
        "mean_excess_ms": float(done["excess_ms"].mean()) if len(done) else np.nan,
        "total_excess_s": float(done["excess_ms"].sum()) / 1000.0,
        "p50_latency_ms": _pct(lat, 50), "p95_latency_ms": _pct(lat, 95), "p99_latency_ms": _pct(lat, 99),
        "throughput_jobs_per_s": len(done) / span_ms * 1000.0 if span_ms and span_ms > 0 else np.nan,
        "edge_share": len(edge) / len(done) if len(done) else np.nan,
        "edge_energy_j": float(e.sum(skipna=True)) / 1000.0,
        "energy_known_share": float(e.notna().mean()) if len(edge) else np.nan,
        "overhead_p50_us": np.nan, "overhead_p99_us": np.nan,
    }
    if decisions is not None and len(decisions):
        ov = decisions["overhead_us"].to_numpy()
        row["overhead_p50_us"], row["overhead_p99_us"] = _pct(ov, 50), _pct(ov, 99)
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
