"""backend=kubernetes end to end: the Hydra runner drives a live run (emulated nodes) and gets the same table."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("kubernetes")

from experiments.runner import compose_config, make_stream, prepare, run_experiment  # noqa: E402
from sim.shared import JOB_COLUMNS  # noqa: E402
from synergai.policy import make_policy  # noqa: E402


def live_cfg(k8s, *extra):
    return compose_config(["backend=kubernetes", f"backend.state_dir={k8s.state_dir}", "policy=greedy",
                           "workload.n_jobs=40", "experiment.progress=false", "experiment.figure=false",
                           "backend.timeout_s=60", *extra])


def test_small_live_experiment_accounts_for_every_job(k8s, tmp_path):
    cfg = live_cfg(k8s)
    res = run_experiment(cfg, tmp_path, log=lambda *_: None)
    jobs = res.jobs
    assert list(jobs.columns[:len(JOB_COLUMNS)]) == list(JOB_COLUMNS)
    assert len(jobs) == 40 and sorted(jobs["job_id"]) == list(range(40))
    assert set(jobs["status"]) <= {"completed", "failed"}
    failed = jobs[jobs["status"] == "failed"]
    assert (failed["reason"].str.len() > 0).all()
    done = jobs[jobs["status"] == "completed"]
    assert len(done) >= 38  # a quiet emulated cluster completes (nearly) everything
    # times are consistent: arrival <= decision <= start <= finish, latency = finish - arrival
    assert (done["decision_ms"] >= done["arrival_ms"] - 1e-6).all()
    assert (done["start_ms"] >= done["decision_ms"] + done["transfer_ms"] - 1e-6).all()
    assert np.allclose(done["finish_ms"] - done["start_ms"], done["service_ms"])
    assert np.allclose(done["latency_ms"], done["finish_ms"] - done["arrival_ms"])
    assert (tmp_path / "summary.csv").exists() and (tmp_path / "jobs.parquet").exists()
    s = res.summary[res.summary["window"] == "all"].iloc[0]
    assert s["jobs"] == 40 and s["completed"] + s["failed"] == 40

    # the simulator on the same workload and seed makes (nearly) the same decisions
    p = prepare(cfg)
    from backends.sim_backend import SimBackend

    sim = SimBackend().run(p.testbed, p.profile, make_policy("greedy"), make_stream(p), p.seed)
    same = (sim.jobs["node"].to_numpy() == jobs["node"].to_numpy()).mean()
    assert same >= 0.8, f"only {same:.0%} identical decisions"


def test_external_control_plane_and_scheduler_share_the_pods_clock(k8s):
    """control_plane=external (the fixture's apiserver by kubeconfig) and scheduler=external (a scheduler the
    driver did not start, on its own unix-time clock): the pods carry the clock, so predictions are right; a
    scheduler on another clock refuses the pods with a message that says how to start it."""
    import dataclasses
    import secrets

    from backends.kubernetes.controlplane import api_client
    from backends.kubernetes.convert import Clock
    from backends.kubernetes.driver import KubernetesBackend, ensure_scheduler_rbac
    from backends.kubernetes.scheduler import Scheduler
    from backends.sim_backend import SimBackend

    ensure_scheduler_rbac(api_client(k8s.admin_kubeconfig))
    p = prepare(compose_config(["workload.n_jobs=30", "experiment.progress=false"]))
    stream = make_stream(p)

    def run(sched_scale, n=None):
        ns = f"ext-{secrets.token_hex(3)}"
        sched = Scheduler(api_client(k8s.scheduler_kubeconfig), make_policy("greedy"), p.profile, p.testbed.network,
                          clock=Clock(0.0, sched_scale), namespace=ns, node_selector=f"synergai.io/run={ns}",
                          node_order=[x.name for x in p.testbed.nodes])
        sched.start()
        try:
            be = KubernetesBackend(control_plane="external", kubeconfig=str(k8s.admin_kubeconfig),
                                   scheduler="external", namespace=ns, time_scale=50.0, timeout_s=60.0)
            st = stream if n is None else dataclasses.replace(
                stream, **{k: getattr(stream, k)[:n] for k in ("arrival_ms", "model_idx", "origin_idx", "private",
                                                               "queries", "job_qos_ms")})
            return be.run(p.testbed, p.profile, make_policy("greedy"), st, p.seed).jobs
        finally:
            sched.stop()

    jobs = run(50.0)
    assert (jobs["status"] == "completed").sum() >= 28
    sim = SimBackend().run(p.testbed, p.profile, make_policy("greedy"), stream, p.seed).jobs
    assert jobs["violated"].mean() <= sim["violated"].mean() + 0.2  # not the 100 % of a wrong time base
    assert (jobs.loc[jobs["status"] == "completed", "decision_ms"] < 60_000).all()  # stream-relative times
    wrong = run(1.0, 3)
    assert (wrong["status"] == "failed").all()
    assert wrong["reason"].str.contains("synergai.io/clock").all()
    assert wrong["reason"].str.contains("--time-scale 50.0").all()
