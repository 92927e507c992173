"""Soak: 10^6 jobs through the simulator under random faults of every kind; nothing may be lost.

    python -m experiments.soak_sim                       # 10^6 jobs, synergai, default testbed, seed 1
    python -m experiments.soak_sim --jobs 20000 --policy greedy

Faults: random crashes of every node (MTBF ``--mtbf-s``, MTTR ``--mttr-s``), plus partitions, link degradations
and throttling at random times (one of each kind per ``--every-s`` seconds of arrivals on average), all drawn
from the seed. Prints the faults injected per kind, jobs retried, jobs failed by reason, jobs lost (arrived but
neither completed nor failed with a reason; must be 0) and the wall time; exits 1 if anything was lost.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from experiments.runner import compose_config, make_stream, prepare
from sim.faults import FaultSimulation as Simulation
from synergai.faults import faults_from_dict
from synergai.policy import make_policy


def random_schedule(testbed, horizon_s: float, seed: int, mtbf_s: float, mttr_s: float, every_s: float) -> dict:
    """A fault config: random crashes of every node plus link and throttle events at Poisson times."""
    rng = np.random.default_rng([seed, 99])
    links = [(a, b) for a, b in testbed.network.graph.edges()]
    nodes = [n.name for n in testbed.nodes]
    events = [{"kind": "random_crashes", "mtbf_s": mtbf_s, "mttr_s": mttr_s}]
    for kind in ("partition", "degrade", "throttle"):
        t = float(rng.exponential(every_s))
        while t < horizon_s:
            ev = {"kind": kind, "at_s": t, "for_s": float(rng.uniform(1.0, 10.0))}
            if kind == "throttle":
                ev |= {"node": nodes[int(rng.integers(len(nodes)))], "factor": float(rng.uniform(1.5, 4.0))}
            else:
                a, b = links[int(rng.integers(len(links)))]
                ev |= {"a": a, "b": b}
                if kind == "degrade":
                    ev |= {"latency_ms": float(rng.uniform(20, 100)), "bandwidth_mbps": float(rng.uniform(5, 50))}
            events.append(ev)
            t += float(rng.exponential(every_s))
    return {"name": "soak", "max_retries": 2, "partition_policy": "wait", "events": events}


def soak(jobs: int, policy: str, seed: int, mtbf_s: float, mttr_s: float, every_s: float, overrides=()) -> dict:
    p = prepare(compose_config([f"workload.n_jobs={jobs}", f"seed={seed}", *overrides]))
    stream = make_stream(p)
    horizon_s = float(stream.arrival_ms[-1]) / 1000.0
    fs = faults_from_dict(random_schedule(p.testbed, horizon_s, seed, mtbf_s, mttr_s, every_s),
                          p.testbed.nodes, p.testbed.network)
    t0 = time.perf_counter()
    try:
        r = Simulation(p.testbed, p.profile, make_policy(policy), stream, seed=p.seed, faults=fs).run()
    except RuntimeError as exc:  # the simulator's own conservation / double-end checks
        return {"error": str(exc), "jobs": len(stream)}
    wall_s = time.perf_counter() - t0
    j = r.jobs
    done, failed = int((j["status"] == "completed").sum()), int((j["status"] == "failed").sum())
    reasons = j.loc[j["status"] == "failed", "reason"]
    generic = reasons.str.replace(r"node \S+ crashed", "node <n> crashed", regex=True)
    return {
        "jobs": len(stream), "policy": policy, "seed": seed, "simulated_s": round(r.horizon_ms / 1000.0, 1),
        "faults_injected": {k: int(v) for k, v in r.faults["kind"].value_counts().sort_index().items()},
        "jobs_retried": int((j["retries"] > 0).sum()), "retries": int(j["retries"].sum()),
        "completed": done, "failed": failed,
        "failed_by_reason": {k: int(v) for k, v in generic.value_counts().items()},
        "failed_without_reason": int((reasons == "").sum()),
        "jobs_lost": len(stream) - done - failed + int((~j["job_id"].isin(range(len(stream)))).sum()),
        "duplicate_rows": int(j["job_id"].duplicated().sum()),
        "violation_rate": round(float(j["violated"].mean()), 4),
        "wall_s": round(wall_s, 1), "jobs_per_s_wall": round(len(stream) / wall_s),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--policy", default="synergai")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mtbf-s", type=float, default=120.0, help="mean up time of each node")
    ap.add_argument("--mttr-s", type=float, default=10.0, help="mean repair time")
    ap.add_argument("--every-s", type=float, default=60.0, help="mean gap between link/throttle faults per kind")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. workload.load=0.6")
    a = ap.parse_args(argv)
    out = soak(a.jobs, a.policy, a.seed, a.mtbf_s, a.mttr_s, a.every_s, a.overrides)
    print(json.dumps(out, indent=1))
    bad = "error" in out or out["jobs_lost"] or out["duplicate_rows"] or out["failed_without_reason"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
