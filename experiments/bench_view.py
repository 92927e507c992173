"""Benchmark: how well the ClusterView predicts what the simulator does -- predicted vs realised wait per node.

    python -m experiments.bench_view                                 # default testbed, with and without throttling
    python -m experiments.bench_view --cluster configs/cluster/X.yaml --policy synergai --jobs 20000

For every job the chosen node's predicted start is read from the view at decision time (the policy's own
queue key included) and compared with the start the simulator realised; wait = start - (decision + transfer).
Per node: mean predicted and realised wait, mean absolute error, and that error as a share of the node's mean
service time (the issue's target: <= 10 % on every node). Runs are fault-free and, with ``--throttle``, with
the cluster's first accelerator node throttled 2x for the middle fifth of the arrival span (the view sees
only the longer service times its completions report). Not a test: it asserts nothing, it measures.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from experiments.runner import compose_config, prepare
from sim.engine import Simulation
from synergai.faults import faults_from_dict
from synergai.policy import make_policy
from synergai.workload import generate


def instrument(policy):
    """Wrap ``policy.schedule`` to record, per job, the view's predicted start on the chosen node."""
    predicted: dict[int, float] = {}
    inner = policy.schedule

    def schedule(jobs, view):
        out = inner(jobs, view)
        for job, pl in zip(jobs, out):
            if pl.node is None:
                continue
            i = view.index[pl.node]
            node = view.nodes[i]
            e = policy.profile.entry(job.model, node.device_type, pl.config)
            arrive = view.now_ms + policy.network.transfer_ms(job.origin_site, node.site, job.input_bytes)
            predicted[job.id] = view.start_at(i, e.resource, e.units, arrive, pl.priority)
        return out

    policy.schedule = schedule
    return predicted


def measure(cfg: dict, policy_name: str, throttle: bool, seed: int) -> pd.DataFrame:
    p = prepare(cfg)
    stream = generate(p.spec, p.profile, p.testbed.nodes, p.testbed.network,
                      np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,)))))
    faults = None
    if throttle:
        span = float(stream.arrival_ms[-1]) / 1000.0
        first = next((n for n in p.testbed.nodes if n.accel_slots > 0), p.testbed.nodes[0])
        events = [{"kind": "throttle", "node": first.name, "at_s": 0.4 * span, "for_s": 0.2 * span, "factor": 2.0}]
        faults = faults_from_dict({"events": events}, p.testbed.nodes, p.testbed.network)
    policy = make_policy(policy_name, **dict(p.policies[0][1]))
    sim = Simulation(p.testbed, p.profile, policy, stream, seed=seed, faults=faults)
    predicted = instrument(policy)
    jobs = sim.run().jobs
    jobs = jobs[jobs.status == "completed"].copy()
    jobs["pred_start_ms"] = jobs.job_id.map(predicted)
    base = jobs.decision_ms + jobs.transfer_ms
    jobs["pred_wait_ms"] = jobs.pred_start_ms - base
    jobs["abs_err_ms"] = (jobs.pred_wait_ms - jobs.wait_ms).abs()
    g = jobs.groupby("node")
    out = pd.DataFrame({
        "jobs": g.size(),
        "pred_wait_ms": g.pred_wait_ms.mean(),
        "real_wait_ms": g.wait_ms.mean(),
        "mae_ms": g.abs_err_ms.mean(),
        "mean_service_ms": g.service_ms.mean(),
    })
    out["mae_over_service"] = out.mae_ms / out.mean_service_ms
    return out.reset_index()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cluster", help="a cluster YAML (default: the default testbed)")
    ap.add_argument("--policy", default="greedy")
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--load", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write the per-node table (CSV) here")
    a = ap.parse_args(argv)
    cfg = compose_config([f"workload.n_jobs={a.jobs}", f"workload.load={a.load}", f"seed={a.seed}",
                          f"policy.names=[{a.policy}]"])
    if a.cluster:
        cfg["cluster"] = yaml.safe_load(Path(a.cluster).read_text())
    tables = []
    for throttle in (False, True):
        t = measure(cfg, a.policy, throttle, a.seed)
        t.insert(0, "throttled", throttle)
        tables.append(t)
        worst = t.loc[t.mae_over_service.idxmax()]
        print(f"\n{'one node throttled 2x for a fifth of the run' if throttle else 'no faults'} ({a.policy}, {a.jobs} jobs, "
              f"load {a.load}):")
        print(t.drop(columns="throttled").round(3).to_string(index=False))
        print(f"worst node: {worst.node}, MAE {worst.mae_ms:.2f} ms = {worst.mae_over_service:.1%} of its mean service")
    if a.out:
        pd.concat(tables).to_csv(a.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
