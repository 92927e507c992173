"""Benchmark: simulator throughput (jobs/s of wall time) against a bare SimPy loop on the same stream.

    python -m experiments.bench_sim --jobs 1000000 --reps 3

Both run in this process on the same job stream (default testbed and workload, greedy policy). The bare
loop is the floor cost of SimPy itself: one process per job that requests a ``simpy.Resource`` of the node
the simulator chose and holds it for the service time the simulator sampled, nothing else. Runs alternate
(ours, bare, ours, bare, ...) so machine load hits both alike; medians and per-pair ratios are printed,
together with the load average. Each rep also writes the per-job table as the CLI does (``jobs.parquet``,
experiments.outputs) and reports that CPU time against the simulation's; the peak RSS is printed at the end.
Not a test: it asserts nothing, it measures.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import simpy

from experiments.outputs import write_parquet
from experiments.runner import compose_config, make_stream, prepare
from sim.engine import Simulation
from synergai.policy import make_policy


def run_ours(p, stream, policy_name):
    sim = Simulation(p.testbed, p.profile, make_policy(policy_name), stream, seed=p.seed)
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    sim.env.process(sim._arrivals())
    sim.env.run()
    t_loop, c_loop = time.perf_counter() - t0, time.process_time() - c0
    res = sim._result()
    t_all, c_all = time.perf_counter() - t0, time.process_time() - c0
    with tempfile.TemporaryDirectory() as d:
        c1 = time.process_time()
        write_parquet(Path(d) / "jobs.parquet", [res.jobs])
        c_write = time.process_time() - c1
    return t_loop, t_all, res, c_loop, c_all, c_write


def run_bare(arrivals, nodes, services, capacities):
    env = simpy.Environment()
    res = [simpy.Resource(env, capacity=max(1, c)) for c in capacities]

    def job(r, svc):
        with r.request() as req:
            yield req
            yield env.timeout(svc)

    def source():
        for t, n, s in zip(arrivals, nodes, services):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(job(res[n], s))

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    env.process(source())
    env.run()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--policy", default="greedy")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. workload.load=0.6")
    a = ap.parse_args(argv)
    cfg = compose_config([f"workload.n_jobs={a.jobs}", f"policy={a.policy}", *a.overrides])
    p = prepare(cfg)
    stream = make_stream(p)
    print(f"{a.jobs} jobs, policy {a.policy}, testbed {p.testbed.name} ({len(p.testbed.nodes)} nodes), "
          f"load avg before {os.getloadavg()}, {os.cpu_count()} CPUs")
    ours, ours_all, bare, write_share, cpu_ratio, cpu_ratio_all = [], [], [], [], [], []
    for rep in range(a.reps):
        t_loop, t_all, res, c_loop, c_all, c_write = run_ours(p, stream, a.policy)
        write_share.append(c_write / c_all)
        done = res.jobs[res.jobs["status"] == "completed"]
        index = {n.name: i for i, n in enumerate(p.testbed.nodes)}
        caps = []
        for n in p.testbed.nodes:  # one resource per node, sized by the pool the jobs used
            caps.append(n.accel_slots if n.accel_slots else n.cpu_cores)
        t_bare, c_bare = run_bare(done["start_ms"].tolist(), [index[x] for x in done["node"]],
                          done["service_ms"].tolist(), caps)
        del res, done
        ours.append(a.jobs / t_loop)
        ours_all.append(a.jobs / t_all)
        bare.append(a.jobs / t_bare)
        cpu_ratio.append(c_bare / c_loop)
        cpu_ratio_all.append(c_bare / c_all)
        print(f"rep {rep + 1}: simulator {ours[-1]:,.0f} jobs/s (loop), {ours_all[-1]:,.0f} jobs/s (incl. results "
              f"table); bare SimPy {bare[-1]:,.0f} jobs/s; ratio {ours[-1] / bare[-1]:.2f} "
              f"(incl. table {ours_all[-1] / bare[-1]:.2f}); by CPU time {cpu_ratio[-1]:.2f} (incl. table {cpu_ratio_all[-1]:.2f}); "
              f"writing jobs.parquet {c_write:.2f} s CPU = {write_share[-1]:.0%} of the "
              f"simulation's {c_all:.2f} s CPU; load avg {os.getloadavg()[0]:.2f}")
    ratios = [o / b for o, b in zip(ours, bare)]
    ratios_all = [o / b for o, b in zip(ours_all, bare)]
    print(f"median: simulator {statistics.median(ours):,.0f} jobs/s, incl. table {statistics.median(ours_all):,.0f}"
          f" jobs/s, bare SimPy {statistics.median(bare):,.0f} jobs/s; ratio {statistics.median(ratios):.2f} "
          f"(incl. table {statistics.median(ratios_all):.2f}); by CPU time {statistics.median(cpu_ratio):.2f} (incl. table "
          f"{statistics.median(cpu_ratio_all):.2f}); writing {statistics.median(write_share):.0%} of simulation CPU; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB; load avg after {os.getloadavg()}")


if __name__ == "__main__":
    main()
