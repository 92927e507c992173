"""The filter extension point (synergai/filters.py): typed statuses, caching, and that no backend executes a
placement that fails a filter, whatever the policy returned."""
from __future__ import annotations

import numpy as np
from conftest import two_site_profile, two_site_testbed

from sim.engine import simulate
from synergai.domain import Job, Placement
from synergai.filters import Code, FilterChain, Status, summary
from synergai.policy import Policy, make_policy
from synergai.workload import WorkloadSpec, generate


class CloudAlways(Policy):
    """Test-only: ignores privacy and every other constraint, sends every job to the cloud VM."""

    name = "cloud_always"

    def schedule(self, jobs, view):
        e = self.profile.default_entry("m", "vmdev")
        return [Placement(j.id, "vm", e.config, reason="ignores privacy") for j in jobs]


def test_simulator_refuses_private_jobs_a_policy_places_off_the_edge():
    tb, prof = two_site_testbed(), two_site_profile()
    spec = WorkloadSpec(mix={"m": 1.0}, n_jobs=300, load=0.3, private_fraction=0.3)
    stream = generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(5))
    j = simulate(tb, prof, CloudAlways(), stream, seed=1).jobs
    priv = j[j["private"]]
    assert len(priv) > 50
    assert (priv["status"] == "failed").all()  # refused, never executed
    assert priv["start_ms"].isna().all() and priv["service_ms"].isna().all()
    assert priv["reason"].str.startswith("private job: only edge nodes may run it").all()
    public = j[~j["private"]]
    assert (public["status"] == "completed").all() and (public["node"] == "vm").all()


def test_candidates_pass_every_core_filter_and_allowed_agrees():
    tb, prof = two_site_testbed(), two_site_profile()
    pol = make_policy("greedy")
    pol.prepare(prof, tb.nodes, tb.network, np.random.default_rng(0))
    priv = Job(0, "m", 100.0, "e", 0.0, private=True)
    pub = Job(1, "m", 100.0, "e", 0.0)
    assert {c.node.name for c in pol.candidates(priv)} == {"fast", "slow"}
    assert {c.node.name for c in pol.candidates(pub)} == {"fast", "slow", "vm"}
    vm = tb.nodes[2]
    two = next(e for e in prof.configs("m", "vmdev") if e.units == 2)
    assert pol.allowed(pub, vm, two) and not pol.allowed(priv, vm, two) and not pol.allowed(priv, vm)
    small = type(vm)("vm1", "vmdev", "cloud", "amd64", "c", cpu_cores=1)
    assert not pol.allowed(pub, small, two)  # 2 threads never fit a 1-core pool
    wrong = prof.default_entry("m", "fastdev")
    assert not pol.allowed(pub, vm, wrong)  # an entry of another device type


def test_statuses_are_typed_and_static_answers_cached():
    tb = two_site_testbed()
    calls = []

    class Counting:
        name, static = "Counting", True

        def check(self, job, node, entry=None):
            calls.append(node.name)
            return Status(Code.UNRESOLVABLE, "nope", self.name) if node.name == "vm" else Status()

    class Busy:
        name, static = "Busy", False

        def check(self, job, node, entry=None):
            calls.append("dyn")
            return Status(Code.UNSCHEDULABLE, "busy now", self.name)

    fc = FilterChain([Counting(), Busy()])
    job = Job(0, "m", 1.0, "e", 0.0)
    for _ in range(3):
        st = fc.check(job, tb.nodes[2])
        assert st.code is Code.UNRESOLVABLE and st.filter == "Counting" and not st.ok
    assert calls == ["vm"]  # static: once per kind of job; the dynamic filter never ran after a static failure
    st = fc.check(job, tb.nodes[0])
    assert st.code is Code.UNSCHEDULABLE and st.reason == "busy now"
    fc.check(job, tb.nodes[0])
    assert calls == ["vm", "fast", "dyn", "dyn"]  # dynamic: every time
    msg = summary([("a", Status(Code.UNSCHEDULABLE, "Insufficient cpu")), ("b", Status()),
                   ("c", Status(Code.UNSCHEDULABLE, "Insufficient cpu"))], 3)
    assert msg == "1/3 nodes are available: a, c: Insufficient cpu"
