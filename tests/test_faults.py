"""Fault injection in the simulator: each fault kind worked out by hand, then invariants under every example schedule.

Hand-built scenarios use the conftest testbed: edge site `e` (LAN 0.5 ms) with one-slot boards `fast` and
`slow`, cloud site `c` with VM `vm`, link e<->c 10 ms / 100 Mbps; deterministic service times (below), so every
expected time is exact.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import entry, single_node_testbed, two_site_testbed

from experiments.runner import compose_config, make_stream, prepare
from sim import simulate
from sim.shared import JOB_COLUMNS
from synergai.domain import Config, Node, Placement, Site
from synergai.errors import ConfigError
from synergai.faults import SEED_SPAWN_KEY, FaultSchedule, faults_from_dict
from synergai.network import Link, Network
from synergai.policies.greedy import GreedyPolicy
from synergai.policy import Policy, available_policies, make_policy
from synergai.profile import DeterministicDist, PerformanceProfile
from synergai.testbed import Testbed as _Testbed
from synergai.workload import JobStream

CPU1 = Config("onnxruntime", "fp32", 1, 1, "default")


def profile(fast=100.0, slow=300.0, vm=None):
    """Model `m` on fast and slow (and on the cloud VM, 1 core, when ``vm`` is given)."""
    es = [entry("fastdev", "m", DeterministicDist(fast)), entry("slowdev", "m", DeterministicDist(slow))]
    if vm is not None:
        es.append(entry("vmdev", "m", DeterministicDist(vm), config=CPU1, resource="cpu"))
    return PerformanceProfile(es)


def stream(arrivals_ms, origins=("e",), origin_idx=None, input_bytes=0, qos_ms=1000.0):
    n = len(arrivals_ms)
    return JobStream(np.asarray(arrivals_ms, dtype=float), np.zeros(n, dtype=np.int64),
                     np.asarray(origin_idx if origin_idx is not None else [0] * n, dtype=np.int64),
                     np.zeros(n, dtype=bool), ["m"], list(origins), {"m": qos_ms}, {"m": input_bytes}, 1)


def faults(*events, **top) -> FaultSchedule:
    tb = two_site_testbed()
    return faults_from_dict({**top, "events": list(events)}, tb.nodes, tb.network)


def run(policy, arrivals, fs, tb=None, prof=None, **kw):
    tb = tb or two_site_testbed()
    pol = make_policy(policy) if isinstance(policy, str) else policy
    return simulate(tb, prof or profile(), pol, stream(arrivals, **kw), seed=1, faults=fs)


# ----------------------------------------------------------------------------- parsing
def test_schedule_parsed_in_ms():
    fs = faults({"kind": "crash", "node": "fast", "at_s": 1.5, "for_s": 2},
                {"kind": "throttle", "node": "slow", "at_s": 0, "for_s": 1, "factor": 2},
                {"kind": "degrade", "a": "e", "b": "c", "at_s": 3, "for_s": 1, "bandwidth_mbps": 5},
                {"kind": "random_crashes", "device_type": "fastdev", "mtbf_s": 10, "mttr_s": 1},
                max_retries=4, partition_policy="fail")
    crash, thr, deg = fs.events
    assert (crash.kind, crash.node, crash.start_ms, crash.end_ms) == ("crash", "fast", 1500.0, 3500.0)
    assert thr.factor == 2.0 and deg.bandwidth_mbps == 5.0 and deg.latency_ms is None
    assert fs.random[0].nodes == ("fast",) and fs.random[0].mtbf_ms == 10_000.0
    assert fs.max_retries == 4 and fs.partition_policy == "fail" and fs
    assert not faults_from_dict(None) and not faults_from_dict({"events": []})


@pytest.mark.parametrize("cfg, key, problem", [
    ({"events": [{"kind": "boom"}]}, "faults.events[0].kind", "must be one of"),
    ({"events": [{"kind": "crash", "at_s": 1, "for_s": 1}]}, "faults.events[0].node", "must be a node name"),
    ({"events": [{"kind": "crash", "node": "nope", "at_s": 1, "for_s": 1}]}, "faults.events[0].node", "unknown node"),
    ({"events": [{}, {"kind": "crash", "node": "fast", "at_s": -1, "for_s": 1}]}, "faults.events[0].kind", ""),
    ({"events": [{"kind": "crash", "node": "fast", "at_s": -1, "for_s": 1}]}, "faults.events[0].at_s", ">= 0"),
    ({"events": [{"kind": "crash", "node": "fast", "at_s": 1, "for_s": 0}]}, "faults.events[0].for_s", "> 0"),
    ({"events": [{"kind": "crash", "node": "fast", "at_s": 1}]}, "faults.events[0].for_s", "missing"),
    ({"events": [{"kind": "crash", "node": "fast", "at_s": "1", "for_s": 1}]}, "faults.events[0].at_s", "number"),
    ({"events": [{"kind": "crash", "node": "fast", "at_s": 1, "for_s": float("inf")}]}, "faults.events[0].for_s",
     "finite"),
    ({"events": [{"kind": "crash", "node": "fast", "at_s": 1, "for_s": 1, "factor": 2}]},
     "faults.events[0].factor", "unknown key"),
    ({"events": [{"kind": "throttle", "node": "fast", "at_s": 1, "for_s": 1, "factor": 0.5}]},
     "faults.events[0].factor", ">= 1"),
    ({"events": [{"kind": "partition", "a": "e", "b": "mars", "at_s": 1, "for_s": 1}]}, "faults.events[0].b",
     "unknown site"),
    ({"events": [{"kind": "partition", "a": "e", "b": "e", "at_s": 1, "for_s": 1}]}, "faults.events[0].b", "two"),
    ({"events": [{"kind": "degrade", "a": "e", "b": "c", "at_s": 1, "for_s": 1}]}, "faults.events[0]",
     "latency_ms and/or bandwidth_mbps"),
    ({"events": [{"kind": "degrade", "a": "e", "b": "c", "at_s": 1, "for_s": 1, "bandwidth_mbps": 0}]},
     "faults.events[0].bandwidth_mbps", "> 0"),
    ({"events": [{"kind": "random_crashes", "mtbf_s": 0, "mttr_s": 1}]}, "faults.events[0].mtbf_s", "> 0"),
    ({"events": [{"kind": "random_crashes", "mtbf_s": 1, "mttr_s": 1, "device_type": "gpu"}]},
     "faults.events[0].device_type", "no node of device type"),
    ({"events": [{"kind": "random_crashes", "mtbf_s": 1, "mttr_s": 1, "nodes": ["fast", "x"]}]},
     "faults.events[0].nodes[1]", "unknown node"),
    ({"events": [{"kind": "random_crashes", "mtbf_s": 1, "mttr_s": 1, "from_s": 5, "until_s": 5}]},
     "faults.events[0].until_s", "> from_s"),
    ({"events": "crash"}, "faults.events", "must be a list"),
    ({"events": [3]}, "faults.events[0]", "must be a mapping"),
    ({"max_retries": -1}, "faults.max_retries", "integer >= 0"),
    ({"max_retries": True}, "faults.max_retries", "integer >= 0"),
    ({"partition_policy": "reroute"}, "faults.partition_policy", "wait, fail"),
    ({"evnts": []}, "faults.evnts", "unknown key"),
])
def test_bad_schedule_one_line_error_naming_the_key(cfg, key, problem):
    tb = two_site_testbed()
    with pytest.raises(ConfigError) as exc:
        faults_from_dict(cfg, tb.nodes, tb.network)
    msg = str(exc.value)
    assert msg.startswith(f"{key}: ") and problem in msg and "\n" not in msg, msg


def test_random_crashes_deterministic_from_their_own_stream():
    fs = faults({"kind": "random_crashes", "mtbf_s": 2, "mttr_s": 0.5, "from_s": 1, "until_s": 30})
    a, b, c = fs.expand(0.0, seed=7), fs.expand(0.0, seed=7), fs.expand(0.0, seed=8)
    assert a == b and a != c and len(a) > 10
    assert all(1000.0 <= e.start_ms < 30_000.0 and e.end_ms > e.start_ms for e in a)
    assert [e.start_ms for e in a] == sorted(e.start_ms for e in a)
    # the documented stream: per node in cluster order, alternating Exp(MTBF) up and Exp(MTTR) down
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7, spawn_key=(SEED_SPAWN_KEY,))))
    first_fast = 1000.0 + rng.exponential(2000.0)
    assert min(e.start_ms for e in a if e.node == "fast") == pytest.approx(first_fast)


# ----------------------------------------------------------------------------- crashes, by hand
def test_running_job_retried_on_other_node_at_crash_time():
    """Job at 0 -> fast (0.5 ms LAN + 100 ms). fast crashes at 50: retried at 50 on slow, 50.5 + 300 = 350.5."""
    r = run("greedy", [0.0], faults({"kind": "crash", "node": "fast", "at_s": 0.05, "for_s": 1}))
    j = r.jobs.iloc[0]
    assert (j["status"], j["node"], j["retries"]) == ("completed", "slow", 1)
    assert (j["decision_ms"], j["start_ms"], j["finish_ms"]) == (50.0, 50.5, 350.5)
    assert j["latency_ms"] == 350.5 and r.horizon_ms == 350.5  # the pending repair does not stretch the run
    assert list(r.faults["start_ms"]) == [50.0] and list(r.faults["end_ms"]) == [1050.0]
    fast = r.nodes.set_index("node").loc["fast"]
    assert fast["busy_accel_unit_ms"] == pytest.approx(49.5)  # the lost partial service is booked as busy


def test_queued_jobs_retried_in_job_order():
    """Two jobs at 0 both go to fast (second one queued: 200.5 < slow's 300.5). Crash at 50: both to slow."""
    r = run("greedy", [0.0, 0.0], faults({"kind": "crash", "node": "fast", "at_s": 0.05, "for_s": 1}))
    j = r.jobs
    assert list(j["node"]) == ["slow", "slow"] and list(j["retries"]) == [1, 1]
    assert list(j["finish_ms"]) == [350.5, 650.5]


def test_retries_exhausted_fail_with_reason():
    r = run("greedy", [0.0], faults({"kind": "crash", "node": "fast", "at_s": 0.05, "for_s": 1}, max_retries=0))
    j = r.jobs.iloc[0]
    assert (j["status"], j["reason"], j["retries"]) == ("failed", "node fast crashed (retries exhausted)", 0)
    assert j["node"] == "fast" and np.isnan(j["finish_ms"]) and j["violated"]
    # one retry, then the second node crashes too
    r = run("greedy", [0.0], faults({"kind": "crash", "node": "fast", "at_s": 0.05, "for_s": 1},
                                    {"kind": "crash", "node": "slow", "at_s": 0.1, "for_s": 1}, max_retries=1))
    j = r.jobs.iloc[0]
    assert (j["status"], j["reason"], j["retries"]) == ("failed", "node slow crashed (retries exhausted)", 1)


def test_no_ready_node_fails_with_reason():
    """Every node down when the job arrives: the policy rejects it (its reason names readiness)."""
    down = [{"kind": "crash", "node": n, "at_s": 0.01, "for_s": 1} for n in ("fast", "slow", "vm")]
    j = run("greedy", [20.0], faults(*down)).jobs.iloc[0]
    assert j["status"] == "failed" and "no ready node" in j["reason"]


def test_policy_sees_ready_condition_and_recovered_node_is_used_again():
    seen = []

    class Recorder(GreedyPolicy):
        name = "test_ready_recorder"  # not registered: the registry is global to the test session

        def schedule(self, jobs, view):
            seen.append((view.now_ms, view.ready("fast"), view.outstanding("fast")))
            return super().schedule(jobs, view)

    r = run(Recorder(), [0.0, 60.0, 200.0], faults({"kind": "crash", "node": "fast", "at_s": 0.05, "for_s": 0.1}))
    # decisions: t=0 (fast up), t=50 (retry: fast down, its job forgotten), t=60 (down), t=200 (up again)
    assert seen == [(0.0, True, 0), (50.0, False, 0), (60.0, False, 0), (200.0, True, 0)]
    assert list(r.jobs["node"]) == ["slow", "slow", "fast"]


def test_placement_on_a_down_node_fails_with_reason():
    class Stubborn(Policy):  # ignores readiness: always `fast`
        name = "test_stubborn"  # not registered: the registry is global to the test session

        def schedule(self, jobs, view):
            e = self.profile.default_entry("m", "fastdev")
            return [Placement(j.id, "fast", e.config) for j in jobs]

    r = run(Stubborn(), [0.0, 60.0, 200.0], faults({"kind": "crash", "node": "fast", "at_s": 0.05, "for_s": 0.1},
                                                    max_retries=0))
    j = r.jobs
    assert list(j["status"]) == ["failed", "failed", "completed"]
    assert j["reason"][0] == "node fast crashed (retries exhausted)"
    assert j["reason"][1] == "policy placed the job on node fast, which is down (NotReady)"


# ----------------------------------------------------------------------------- links, by hand
def test_partition_wait_holds_the_transfer_until_the_link_heals():
    """cloud_only at 20 ms -> vm; e<->c cut in [10, 1010): held, then 0.5 + 10 ms, then 20 ms service."""
    cut = {"kind": "partition", "a": "e", "b": "c", "at_s": 0.01, "for_s": 1}
    j = run("cloud_only", [20.0], faults(cut), prof=profile(vm=20.0)).jobs.iloc[0]
    assert (j["status"], j["node"], j["start_ms"], j["finish_ms"]) == ("completed", "vm", 1020.5, 1040.5)
    assert j["transfer_ms"] == 1000.5 and j["wait_ms"] == 0.0  # the hold counts as transfer (input stuck)
    j = run("cloud_only", [20.0], faults(cut, partition_policy="fail"), prof=profile(vm=20.0)).jobs.iloc[0]
    assert (j["status"], j["reason"]) == ("failed", "no route from e to c: link partitioned")


def test_job_held_by_a_partition_is_retried_when_its_node_crashes():
    """greedy (blind to links) sends the job at 20 to vm (predicted 10.5 + 20); held by the cut; vm crashes at 50:
    retried at 50 on fast, 50.5 + 100."""
    fs = faults({"kind": "partition", "a": "e", "b": "c", "at_s": 0.01, "for_s": 1},
                {"kind": "crash", "node": "vm", "at_s": 0.05, "for_s": 1})
    j = run("greedy", [20.0], fs, prof=profile(vm=20.0)).jobs.iloc[0]
    assert (j["node"], j["retries"], j["decision_ms"], j["finish_ms"]) == ("fast", 1, 50.0, 150.5)


def test_partition_reroutes_over_the_path_left():
    """Sites e, f, c: e-c 10 ms, e-f 3 ms, f-c 9 ms. Cutting e-c sends e's input via f: 0.5 + 12 ms."""
    sites = [Site("e", "edge", 0.5, 1000.0), Site("f", "edge", 0.0, 1000.0), Site("c", "cloud", 0.0, 1000.0)]
    tb = _Testbed("tri", [Node("vm", "vmdev", "cloud", "amd64", "c", 2, 0)],
                 Network(sites, [Link("e", "c", 10.0, 1000.0), Link("e", "f", 3.0, 1000.0), Link("f", "c", 9.0, 1000.0)]))
    fs = faults_from_dict({"events": [{"kind": "partition", "a": "e", "b": "c", "at_s": 0.01, "for_s": 1}]},
                          tb.nodes, tb.network)
    j = run("cloud_only", [0.0, 20.0], fs, tb=tb, prof=profile(vm=20.0)).jobs
    assert list(j["transfer_ms"]) == [10.5, 12.5]


def test_degraded_link_changes_transfer_only_inside_the_period():
    """125 kB input: normal 0.5 + 10 + 10 ms (100 Mbps); degraded to 50 ms / 10 Mbps: 0.5 + 50 + 100 ms."""
    deg = {"kind": "degrade", "a": "e", "b": "c", "at_s": 0.01, "for_s": 0.1, "latency_ms": 50, "bandwidth_mbps": 10}
    j = run("cloud_only", [0.0, 20.0, 200.0], faults(deg), prof=profile(vm=20.0), input_bytes=125_000).jobs
    assert list(j["transfer_ms"]) == pytest.approx([20.5, 150.5, 20.5])


# ----------------------------------------------------------------------------- throttling, by hand
def test_throttle_multiplies_service_of_jobs_starting_inside_the_period():
    tb = single_node_testbed()
    prof = PerformanceProfile([entry("dev", "m", DeterministicDist(10.0))])
    fs = faults_from_dict({"events": [{"kind": "throttle", "node": "n0", "at_s": 0.05, "for_s": 0.1, "factor": 2.5},
                                      {"kind": "throttle", "node": "n0", "at_s": 0.12, "for_s": 0.1, "factor": 2}]},
                          tb.nodes, tb.network)
    j = simulate(tb, prof, make_policy("greedy"), stream([0.0, 100.0, 130.0, 160.0, 300.0], origins=("s",)),
                 seed=1, faults=fs).jobs
    # 0: before; 100: x2.5; 130: both (x5); 160: only the second (x2); 300: after
    assert list(j["service_ms"]) == [10.0, 25.0, 50.0, 20.0, 10.0]


# ----------------------------------------------------------------------------- invariants
EXAMPLES = ["crash", "partition", "throttle", "random", "mixed"]
_TIME_KEYS = ("at_s", "for_s", "mtbf_s", "mttr_s", "from_s", "until_s")


def scaled(cfg: dict, k: float) -> dict:
    """The example schedule with every time multiplied by k (the examples are sized for the 46 s default run)."""
    cfg = copy.deepcopy(cfg)
    for ev in cfg["faults"]["events"]:
        for t in _TIME_KEYS:
            if ev.get(t) is not None:
                ev[t] = ev[t] * k
    return cfg


@pytest.fixture(scope="module")
def example_runs():
    """Per example schedule: the prepared run (default testbed, 800 jobs ~ 1.85 s, fault times x 0.04)."""
    out = {}
    for name in EXAMPLES:
        p = prepare(scaled(compose_config([f"faults={name}", "workload.n_jobs=800"]), 0.04))
        out[name] = (p, make_stream(p))
    return out


def _check_invariants(p, stream, r):
    j = r.jobs
    assert list(j.columns) == list(JOB_COLUMNS) and len(j) == len(stream) and j["job_id"].is_unique
    assert set(j["status"]) <= {"completed", "failed"}
    failed, done = j[j["status"] == "failed"], j[j["status"] == "completed"]
    assert (failed["reason"].str.len() > 0).all() and (done["reason"] == "").all()
    assert len(done) + len(failed) == len(stream)  # conservation; a double end raises inside the simulator
    assert j["retries"].between(0, p.faults.max_retries).all()
    assert (done["decision_ms"] >= done["arrival_ms"]).all()
    assert (done["start_ms"] >= done["decision_ms"] + done["transfer_ms"] - 1e-9).all()
    assert np.allclose(done["latency_ms"], done["decision_ms"] - done["arrival_ms"] + done["transfer_ms"]
                       + done["wait_ms"] + done["service_ms"])
    assert (done.loc[done["private"], "tier"] == "edge").all()
    # late binding: time held is never negative and lies between arrival and the (last) decision
    assert (j["hold_ms"] >= 0).all() and (failed.loc[failed["reason"].str.startswith("held past"), "hold_ms"] > 0).all()
    assert (done["hold_ms"] <= done["decision_ms"] - done["arrival_ms"] + 1e-9).all()
    # no completed job was decided onto a node while it was down, or ran through a crash of its node
    crashes = r.faults[r.faults["kind"] == "crash"]
    for node, s, e in zip(crashes["target"], crashes["start_ms"], crashes["end_ms"]):
        on = done[done["node"] == node]
        assert not ((on["decision_ms"] >= s) & (on["decision_ms"] < e)).any(), (node, s, e)
        assert not ((on["decision_ms"] < s) & (on["finish_ms"] > s)).any(), (node, s, e)


@pytest.mark.parametrize("schedule", EXAMPLES)
def test_conservation_every_policy_every_example_schedule(example_runs, schedule):
    p, st = example_runs[schedule]
    injected, retries, held, central = set(), 0, 0, 0
    for name in available_policies():
        if name.startswith("test_"):
            continue
        r = p.backend.run(p.testbed, p.profile, make_policy(name), st, p.seed, faults=p.faults)
        _check_invariants(p, st, r)
        injected.add(len(r.faults))
        retries += r.jobs["retries"].sum()
        held += (r.jobs["transfer_ms"] > 100).sum()  # normal transfers take < 30 ms
        central += (r.jobs["hold_ms"] > 0).sum()
    assert min(injected) > 0  # the scaled schedule did fire within the run, and did something
    assert retries > 0 if schedule in ("crash", "random", "mixed") else retries == 0
    assert held > 0 if schedule in ("partition", "mixed") else held == 0
    assert central > 0  # the late-binding policies held jobs under every schedule


@pytest.mark.parametrize("schedule, policy", [("mixed", "synergai"), ("random", "slo_mael"), ("crash", "greedy"),
                                              ("mixed", "clockwork"), ("crash", "synergai_late")])
def test_determinism_with_faults(example_runs, schedule, policy):
    p, st = example_runs[schedule]
    a = p.backend.run(p.testbed, p.profile, make_policy(policy), st, p.seed, faults=p.faults)
    b = p.backend.run(p.testbed, p.profile, make_policy(policy), st, p.seed, faults=p.faults)
    pd.testing.assert_frame_equal(a.jobs, b.jobs)
    pd.testing.assert_frame_equal(a.faults, b.faults)
    if schedule == "random":  # another seed: other crashes
        c = p.backend.run(p.testbed, p.profile, make_policy(policy), st, p.seed + 1, faults=p.faults)
        assert not a.faults.equals(c.faults)


def test_empty_schedule_is_the_fault_free_path(example_runs):
    p, st = example_runs["crash"]
    a = p.backend.run(p.testbed, p.profile, make_policy("greedy"), st, p.seed)
    b = p.backend.run(p.testbed, p.profile, make_policy("greedy"), st, p.seed, faults=faults_from_dict({}))
    pd.testing.assert_frame_equal(a.jobs, b.jobs)
    assert a.faults is None and (a.jobs["retries"] == 0).all()


def test_windowed_policy_gets_retried_jobs_in_its_next_window():
    class W(Policy):
        name = "test_windowed_fast_first"  # not registered: the registry is global to the test session
        window_ms = 10.0


        def schedule(self, jobs, view):
            name = "fast" if view.ready("fast") else "slow"
            e = self.profile.default_entry("m", name + "dev")
            return [Placement(j.id, name, e.config) for j in jobs]

    j = run(W(), [1.0], faults({"kind": "crash", "node": "fast", "at_s": 0.055, "for_s": 1})).jobs.iloc[0]
    # decided at 10 (window end) on fast; crash at 55; re-decided at 60 on slow: 60.5 + 300
    assert (j["decision_ms"], j["node"], j["finish_ms"], j["retries"]) == (60.0, "slow", 360.5, 1)


# ----------------------------------------------------------------------------- metrics
def _jobs(arrival, violated, status=None, reason=None, retries=None, qos=10.0):
    n = len(arrival)
    status = status or ["completed"] * n
    return pd.DataFrame({"arrival_ms": np.asarray(arrival, dtype=float), "qos_ms": qos, "violated": violated,
                         "status": status, "reason": reason or [""] * n, "retries": retries or [0] * n})


def test_fault_metrics_by_hand():
    from synergai.metrics import exposed_to_faults, fault_metrics

    # one fault window [1000, 2000); jobs every 250 ms from 0 to 4750, QoS 10 ms
    t = np.arange(0, 5000, 250.0)
    exposed = exposed_to_faults(_jobs(t, False), [(1000.0, 2000.0)])
    assert list(t[exposed]) == [1000.0, 1250.0, 1500.0, 1750.0]
    assert exposed_to_faults(_jobs([995.0, 989.0], False), [(1000.0, 2000.0)]).tolist() == [True, False]
    # violated: the 4 exposed jobs, and 3 of the 4 in the first second after the fault; baseline 3/16
    v = [bool(x) for x in (0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    status = ["completed"] * 19 + ["failed"]
    reason = [""] * 19 + ["node x crashed (retries exhausted)"]
    m = fault_metrics(_jobs(t, v, status, reason, [0] * 18 + [1, 2]), [(1000.0, 2000.0)], 1)
    assert m["violation_rate_fault"] == 1.0 and m["violation_rate_no_fault"] == pytest.approx(4 / 16)
    assert m["time_to_recover_ms"] == 1000.0 and m["faults_unrecovered"] == 0  # [2000, 3000) at 3/4; [3000, ..) 0
    assert (m["retries"], m["jobs_retried"], m["faults"]) == (3, 2, 1)
    assert m["failed_by_reason"] == '{"node x crashed (retries exhausted)":1}'


def test_summary_has_fault_columns_and_keeps_the_old_ones(example_runs):
    from synergai.metrics import SUMMARY_COLUMNS, summarize

    p, st = example_runs["random"]
    r = p.backend.run(p.testbed, p.profile, make_policy("greedy"), st, p.seed, faults=p.faults)
    rows = summarize("greedy", r.jobs, r.decisions, faults=r.faults)
    assert set(SUMMARY_COLUMNS) <= set(rows[0]) and rows[0]["faults"] == len(r.faults) > 0
    assert rows[0]["retries"] == r.jobs["retries"].sum() > 0
    plain = summarize("greedy", r.jobs, r.decisions)[0]
    assert plain["faults"] == 0 and np.isnan(plain["violation_rate_fault"])
    assert plain["violation_rate_no_fault"] == pytest.approx(plain["violation_rate"])


def test_cli_rejects_a_bad_schedule_in_one_line():
    import subprocess
    import sys
    from pathlib import Path

    r = subprocess.run([sys.executable, "-m", "experiments.app", "faults=crash", "faults.events.0.kind=boom",
                        "workload.n_jobs=100"], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "synergai: error: faults.events[0].kind: must be one of crash, random_crashes, partition, degrade, throttle, "
        "got 'boom'"]


# ----------------------------------------------------------------------------- the soak and the figure, CI-sized
def test_soak_small_loses_nothing(capsys):
    import json

    from experiments.soak_sim import main

    assert main(["--jobs", "4000", "--policy", "greedy", "--mtbf-s", "3", "--mttr-s", "1", "--every-s", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jobs_lost"] == 0 and out["duplicate_rows"] == 0 and out["failed_without_reason"] == 0
    assert out["completed"] + out["failed"] == 4000 and out["retries"] > 0
    assert set(out["faults_injected"]) == {"crash", "partition", "degrade", "throttle"}


def test_fault_figure_small(tmp_path):
    from experiments.fig_faults import main

    assert main(["--out", str(tmp_path), "--jobs", "1500", "--policies", "greedy,k8s_default",
                 "--scenarios", "crash,partition"]) == 0
    assert (tmp_path / "faults_over_time.png").stat().st_size > 10_000
    series = pd.read_csv(tmp_path / "faults_over_time.csv")
    assert set(series["scenario"]) == {"crash", "partition"} and set(series["policy"]) == {"greedy", "k8s_default"}
