"""Sim vs live: the same workload and seed through the simulator and through the Kubernetes backend.

    python -m experiments.parity_k8s                      # emulated nodes, default testbed, 5 policies
    python -m experiments.parity_k8s --local-hardware     # one x86 node that really runs ONNX Runtime here

Reports per policy: the share of jobs with an identical decision (node and full config), violation rate and
p95 latency side by side, the share of jobs held centrally (late binding: ``hold_ms > 0``; clockwork holds) and
their median hold, the share that ran in cross-job batches (``batch_jobs > 1``), and the live run's
control-plane lags. Writes parity.csv (+ per-job tables) to --out.
The live run uses the loopback control plane (started if needed; see backends/kubernetes/controlplane/).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DECISION = ["node", "engine", "precision", "batch", "threads", "power_mode"]


LAG_SHARE = 0.10  # decision lag beyond this share of the tightest QoS target moves decisions: say so


def lag_verdict(lag_p50_ms: float, lag_p95_ms: float, tightest_qos_ms: float) -> str:
    """One line on the live run's decision lag against the tightest QoS target of the workload."""
    share = lag_p95_ms / tightest_qos_ms
    line = (f"decision lag p50 {lag_p50_ms:.2f} / p95 {lag_p95_ms:.2f} emulated ms = {share:.1%} of the tightest "
            f"QoS target ({tightest_qos_ms:.1f} ms)")
    if share > LAG_SHARE:
        return (line + f": ABOVE {LAG_SHARE:.0%}, the live run is not comparable with the simulator (the control "
                "plane's lag decides; raise --time-scale or run on a quieter machine)")
    return line + f": within {LAG_SHARE:.0%}"


def compare(name: str, sim: pd.DataFrame, live: pd.DataFrame) -> dict:
    same = np.ones(len(sim), dtype=bool)
    for c in DECISION:
        a, b = sim[c].to_numpy(object), live[c].to_numpy(object)
        same &= np.array([x == y or (x is None and y is None) for x, y in zip(a, b)])
    sd, ld = sim[sim.status == "completed"], live[live.status == "completed"]
    lag = live.decision_ms - live.arrival_ms - live.hold_ms.fillna(0.0)  # a held job's wait is the policy's
    return {
        "policy": name, "jobs": len(sim), "identical_decisions": float(same.mean()),
        "sim_violation_rate": float(sim.violated.mean()), "live_violation_rate": float(live.violated.mean()),
        "sim_p95_latency_ms": float(np.percentile(sd.latency_ms, 95)) if len(sd) else np.nan,
        "live_p95_latency_ms": float(np.percentile(ld.latency_ms, 95)) if len(ld) else np.nan,
        "sim_failed": int((sim.status == "failed").sum()), "live_failed": int((live.status == "failed").sum()),
        "live_decision_lag_p50_ms": float(np.nanmedian(lag)),
        "live_decision_lag_p95_ms": float(np.nanpercentile(lag, 95)),
        "sim_p50_service_ms": float(sd.service_ms.median()) if len(sd) else np.nan,
        "live_p50_service_ms": float(ld.service_ms.median()) if len(ld) else np.nan,
        **{f"{k}_held_share": float((t.hold_ms > 0).mean()) for k, t in (("sim", sim), ("live", live))},
        **{f"{k}_batched_share": float((t.batch_jobs > 1).mean()) if "batch_jobs" in t else 0.0
           for k, t in (("sim", sim), ("live", live))},  # jobs that ran in a cross-job batch
        **{f"{k}_hold_p50_ms": float(t.hold_ms[t.hold_ms > 0].median()) if (t.hold_ms > 0).any() else np.nan
           for k, t in (("sim", sim), ("live", live))},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", default="synergai,greedy,least_outstanding,slo_mael,clockwork")
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--load", type=float, default=0.4)
    ap.add_argument("--time-scale", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--local-hardware", action="store_true")
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--out", default="outputs/parity")
    a = ap.parse_args(argv)

    from backends.kubernetes.driver import KubernetesBackend
    from backends.sim_backend import SimBackend
    from experiments.runner import compose_config, make_stream, prepare
    from synergai.policy import make_policy
    from synergai.profile import PerformanceProfile

    over = [f"workload.n_jobs={a.jobs}", f"workload.load={a.load}", f"seed={a.seed}"]
    scale = a.time_scale
    if a.local_hardware:
        over += ["cluster=local_x86", "workload.mix.bert-99=0", "workload.mix.retinanet=0", "workload.qos_multiplier=3.0",
                 "workload.private_fraction=0.0", "experiment.latency_basis=wall"]
        scale = 1.0
    p = prepare(compose_config(over))
    profile = p.profile
    if a.local_hardware:  # the worker runs ONNX Runtime: the policy chooses among what it can execute
        profile = PerformanceProfile([e for e in profile.entries if e.config.engine == "onnxruntime"])
    stream = make_stream(p)
    out = Path(a.out) / ("local_hardware" if a.local_hardware else "emulated")
    out.mkdir(parents=True, exist_ok=True)
    be = KubernetesBackend(state_dir=a.state_dir, time_scale=scale, timeout_s=300.0,
                           agent="local_hardware" if a.local_hardware else "emulated")
    if a.local_hardware:  # export and load the model before the clock starts (cold start is not service)
        from backends.kubernetes.worker import prepare_models

        prepare_models(["resnet50"], sorted({e.config.precision for e in profile.entries
                                              if e.model == "resnet50"}))
    rows = []
    load = os.getloadavg()
    for name in a.policies.split(","):
        sim = SimBackend().run(p.testbed, profile, make_policy(name), stream, p.seed)
        t0 = time.time()
        live = be.run(p.testbed, profile, make_policy(name), stream, p.seed)
        wall = time.time() - t0
        r = compare(name, sim.jobs, live.jobs)
        st = be.last_run
        r.update(live_wall_s=wall, time_scale=scale, retried=st["driver"]["retried"],
                 timed_out=st["driver"]["timed_out"], conflicts=st["scheduler"].conflicts,
                 pod_create_late_p95_ms=float(np.percentile(st["driver"]["late_ms"], 95)),
                 load_avg_1m_before=load[0], load_avg_1m_after=os.getloadavg()[0])
        rows.append(r)
        sim.jobs.to_csv(out / f"{name}_sim_jobs.csv", index=False)
        live.jobs.to_csv(out / f"{name}_live_jobs.csv", index=False)
        print(f"{name:<18} identical {r['identical_decisions']:6.1%}  violations sim {r['sim_violation_rate']:6.1%} "
              f"live {r['live_violation_rate']:6.1%}  p95 sim {r['sim_p95_latency_ms']:8.2f} live "
              f"{r['live_p95_latency_ms']:8.2f} ms  ({wall:.0f} s wall)", flush=True)
        print(f"    held centrally (late binding): sim {r['sim_held_share']:.1%} of jobs, p50 {r['sim_hold_p50_ms']:.2f} "
              f"ms; live {r['live_held_share']:.1%}, p50 {r['live_hold_p50_ms']:.2f} ms; in batches: sim "
              f"{r['sim_batched_share']:.1%}, live {r['live_batched_share']:.1%}", flush=True)
        tight = float(min(stream.qos_ms[m] for m in set(np.asarray(stream.models, dtype=object)[stream.model_idx])))
        r["lag_p95_share_of_tightest_qos"] = r["live_decision_lag_p95_ms"] / tight
        print("    " + lag_verdict(r["live_decision_lag_p50_ms"], r["live_decision_lag_p95_ms"], tight), flush=True)
        load = os.getloadavg()
    df = pd.DataFrame(rows)
    df.to_csv(out / "parity.csv", index=False)
    print(f"\nwrote {out / 'parity.csv'}")


if __name__ == "__main__":
    sys.exit(main())
