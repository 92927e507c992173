"""Benchmark: what late binding costs per decision, against immediate placement by the same policy.

    python -m experiments.bench_late_binding                       # 10, 100, 1000 nodes, load 0.4 and 0.8
    python -m experiments.bench_late_binding --nodes 1000 --loads 0.8 --reps 5

Clusters: the default testbed scaled to N nodes exactly as ``experiments.bench_overhead`` scales it. Workload:
the default one at each ``--loads`` value (x the scaled cluster's capacity), ``--jobs-per-node`` x N jobs.
Each pair runs the simulator twice on the same stream and seed, once with late binding and once without:

- ``clockwork`` (``bind="jit"``: holds every job until a node can take it just in time) vs ``clockwork``
  ``bind="immediate"`` (the same earliest-finish choice, bound at arrival);
- ``synergai`` (default: holds the jobs only load makes late) vs ``synergai_run_late`` (runs them late);
- ``synergai_late`` (also holds jobs that would queue) vs ``synergai``;
- ``clockwork_batching`` and ``synergai_batching``: the policy with cross-job batching (its default) vs
  ``batching=False`` (the "late" column is the batching run).

Per-decision overhead here is *all* the policy's wall time in a run -- every ``schedule`` call at arrival and
every ``dispatch`` call the central queue triggers (completions, recall times, deadlines) -- divided by the jobs
in the run (the simulator times each call with ``perf_counter_ns``; the backend's own work is not counted).
Repeats alternate the order of the two runs of a pair; printed are the medians over ``--reps`` of the per-job
µs, of the ratio late / immediate (measured within each repeat), the dispatch calls per job and the share of
jobs held, with the load average before and after. Not a test: it asserts nothing, it measures.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from experiments.bench_overhead import scaled_testbed
from experiments.runner import PROJECT_ROOT, workload_spec
from sim import simulate
from synergai.policy import make_policy
from synergai.profile import PerformanceProfile
from synergai.testbed import testbed_from_dict
from synergai.workload import generate

PAIRS = {  # name: (late-binding policy and params, immediate policy and params)
    "clockwork": (("clockwork", {}), ("clockwork", {"bind": "immediate"})),
    "synergai_hold": (("synergai", {}), ("synergai_run_late", {})),
    "synergai_late": (("synergai_late", {}), ("synergai", {})),
    # cross-job batching's own cost (joins into bound executions, held riders) against the same policy without
    "clockwork_batching": (("clockwork", {}), ("clockwork", {"batching": False})),
    "synergai_batching": (("synergai", {}), ("synergai", {"batching": False})),
}
COLUMNS = ("nodes", "load", "pair", "jobs", "late_us_per_job", "immediate_us_per_job", "ratio",
           "late_dispatch_calls_per_job", "late_held_share", "late_violation_rate", "immediate_violation_rate",
           "reps", "load1_before", "load1_after")
DEFAULT_OUT = "experiments/figures/late_binding_overhead.csv"


def one_run(tb, profile, stream, seed, name, params) -> tuple[float, float, float, float]:
    """(µs of policy time per job, dispatch calls per job, share held, violation rate)."""
    r = simulate(tb, profile, make_policy(name, **params), stream, seed=seed)
    n = len(stream)
    calls = len(r.decisions)
    arrivals = n  # per-job policies: one schedule call per arrival; the rest are dispatch calls
    return (float(r.decisions["overhead_us"].sum()) / n, (calls - arrivals) / n,
            float((r.jobs["hold_ms"] > 0).mean()), float(r.jobs["violated"].mean()))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--loads", type=float, nargs="+", default=[0.4, 0.8])
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    ap.add_argument("--jobs-per-node", type=int, default=5)
    ap.add_argument("--min-jobs", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cluster", default="configs/cluster/default.yaml")
    ap.add_argument("--workload", default="configs/workload/default.yaml")
    ap.add_argument("--traces", default="traces")
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args(argv)
    root = PROJECT_ROOT
    profile = PerformanceProfile.from_dir(root / a.traces, basis="cpu")
    with open(root / a.cluster) as fh:
        base = testbed_from_dict(yaml.safe_load(fh))
    with open(root / a.workload) as fh:
        spec0 = workload_spec(yaml.safe_load(fh))
    rows = []
    print(f"late binding vs immediate placement; {a.reps} repeats; load avg {os.getloadavg()[0]:.2f}", flush=True)
    for n in a.nodes:
        tb = scaled_testbed(base, n)
        for load in a.loads:
            spec = replace(spec0, load=load, n_jobs=max(a.min_jobs, a.jobs_per_node * n))
            spec.validate(profile)
            stream = generate(spec, profile, tb.nodes, tb.network, np.random.default_rng(a.seed))
            for pair in a.pairs:
                late, imm = PAIRS[pair]
                la, im, ratio, disp, held, vl, vi = [], [], [], [], [], [], []
                l0 = os.getloadavg()[0]
                t0 = time.time()
                for rep in range(a.reps):
                    order = (late, imm) if rep % 2 == 0 else (imm, late)
                    got = {}
                    for name, params in order:
                        got[(name, tuple(params.items()))] = one_run(tb, profile, stream, a.seed, name, params)
                    x, y = got[(late[0], tuple(late[1].items()))], got[(imm[0], tuple(imm[1].items()))]
                    la.append(x[0])
                    im.append(y[0])
                    ratio.append(x[0] / y[0])
                    disp.append(x[1])
                    held.append(x[2])
                    vl.append(x[3])
                    vi.append(y[3])
                row = {"nodes": n, "load": load, "pair": pair, "jobs": len(stream),
                       "late_us_per_job": statistics.median(la), "immediate_us_per_job": statistics.median(im),
                       "ratio": statistics.median(ratio), "late_dispatch_calls_per_job": statistics.median(disp),
                       "late_held_share": statistics.median(held), "late_violation_rate": statistics.median(vl),
                       "immediate_violation_rate": statistics.median(vi), "reps": a.reps,
                       "load1_before": l0, "load1_after": os.getloadavg()[0]}
                rows.append(row)
                print(f"{n:>5} nodes  load {load:<4} {pair:<14} {len(stream):>6} jobs  late {row['late_us_per_job']:8.1f}"
                      f" µs/job  immediate {row['immediate_us_per_job']:8.1f} µs/job  ratio {row['ratio']:5.2f} "
                      f"(per rep {', '.join(f'{r:.2f}' for r in ratio)})  dispatch {row['late_dispatch_calls_per_job']:.2f}"
                      f"/job  held {row['late_held_share']:.1%}  violations {row['late_violation_rate']:.2%} vs "
                      f"{row['immediate_violation_rate']:.2%}  ({time.time() - t0:.0f} s, load {l0:.2f}->"
                      f"{row['load1_after']:.2f})", flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
