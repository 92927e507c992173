"""Late binding measured both ways: each late-binding policy next to the same policy binding at once.

    python -m experiments.late_binding                    # the four suite clusters, loads 0.2/0.4/0.8, 3 seeds
    python -m experiments.late_binding --clusters default --loads 0.8 --seeds 1 2 3 4 5 --jobs 5000

Pairs (same stream and seed): ``synergai`` (holds the jobs only load makes late) vs ``synergai_run_late`` (runs
them late); ``synergai_late`` (also holds jobs that would queue) vs ``synergai``; ``clockwork`` (just-in-time) vs
``clockwork bind=immediate``; cross-job batching both ways (``batching=False``: held jobs never ride in another
job's execution) for ``synergai`` and ``clockwork``. Per (cluster, load) and policy: violation rate (failed jobs count as violations),
the share of jobs that failed, the share held and the p95 of ``hold_ms`` over held jobs, mean over seeds with a
95 % t-interval, steady-state window as everywhere (first and last 10 % of the arrival span excluded).
Writes ``summary.csv`` (and ``runs.csv``, one row per run) under ``--out``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.runner import compose_config, make_stream, prepare
from synergai.metrics import steady_window
from synergai.policy import make_policy

POLICIES = (("synergai", {}), ("synergai_run_late", {}), ("synergai_late", {}), ("synergai", {"batching": False}),
            ("clockwork", {}), ("clockwork", {"bind": "immediate"}), ("clockwork", {"batching": False}))
DEFAULT_OUT = "experiments/figures/late_binding"


def label(name: str, params: dict) -> str:
    return name + "".join(f" {k}={v}" for k, v in params.items())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", nargs="+", default=["default", "wan_boards", "cloud_gpu", "scarce_fast"])
    ap.add_argument("--loads", type=float, nargs="+", default=[0.2, 0.4, 0.8])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args(argv)
    rows = []
    load0 = os.getloadavg()[0]
    for cluster in a.clusters:
        for load in a.loads:
            for seed in a.seeds:
                p = prepare(compose_config([f"cluster={cluster}", f"workload.load={load}", f"seed={seed}",
                                            f"workload.n_jobs={a.jobs}"]))
                stream = make_stream(p)
                for name, params in POLICIES:
                    r = p.backend.run(p.testbed, p.profile, make_policy(name, **params), stream, p.seed)
                    j = r.jobs[steady_window(r.jobs["arrival_ms"].to_numpy(dtype=float))[0]]
                    held = j["hold_ms"] > 0
                    rows.append({"cluster": cluster, "load": load, "seed": seed, "policy": label(name, params),
                                 "jobs": len(j), "violation_rate": float(j["violated"].mean()),
                                 "failed_share": float((j["status"] == "failed").mean()),
                                 "held_share": float(held.mean()),
                                 "hold_p95_ms": float(j.loc[held, "hold_ms"].quantile(0.95)) if held.any() else 0.0})
            print(f"{cluster} load {load}: done", flush=True)
    runs = pd.DataFrame(rows)
    from scipy import stats

    g = runs.groupby(["cluster", "load", "policy"], sort=False)
    summ = g[["violation_rate", "failed_share", "held_share", "hold_p95_ms"]].mean()
    n = g["violation_rate"].count()
    sd = g["violation_rate"].std()
    summ["violation_ci95"] = [stats.t.ppf(0.975, k - 1) * s / np.sqrt(k) if k > 1 else np.nan
                              for k, s in zip(n, sd)]
    summ["seeds"] = n
    summ = summ.reset_index()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False)
    summ.to_csv(out / "summary.csv", index=False)
    wide = summ.pivot_table(index=["cluster", "load"], columns="policy", values="violation_rate", sort=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.to_string(float_format=lambda v: f"{v:.2%}"))
    print(f"wrote {out / 'summary.csv'}; load average {load0:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
