"""CI gate on policy quality (see experiments/gate.py), per suite scenario: SynergAI not behind any baseline,
every policy's metrics inside the golden band.

``test_GATE_synergai_not_behind_any_baseline[<scenario>]`` is the policy-quality assertion: it fails, naming the
scenario, the baselines and the gap, whenever SynergAI's violation rate is higher than a baseline's by more than
``gate.BEHIND_TOL[scenario]`` (twice the seed-to-seed spread measured with ``python -m experiments.gate
--spread 5``). It is deliberately not marked xfail: a failure here is a finding about the policy.
"""
from __future__ import annotations

import json

import pytest

from experiments import gate


@pytest.fixture(scope="module", params=list(gate.SCENARIOS))
def scenario(request):
    return request.param, gate.run(request.param)


def test_GATE_synergai_not_behind_any_baseline(scenario):
    name, measured = scenario
    baselines = {p for p in measured if not p.startswith("synergai")}
    assert {"slo_mael", "mael", "greedy", "k8s_default", "random"} <= baselines
    tol = gate.BEHIND_TOL[name]
    behind = gate.behind(measured, tol)
    mine = measured["synergai"]["violation_rate"]
    assert not behind, (f"GATE {name}: SynergAI violation rate {mine:.4f} is behind "
                        + ", ".join(f"{p} ({measured[p]['violation_rate']:.4f}, {d * 100:+.1f} pt)"
                                    for p, d in sorted(behind.items(), key=lambda kv: -kv[1]))
                        + f" by more than the tolerance {tol}")


def test_every_policy_within_golden_band(scenario):
    name, measured = scenario
    path = gate.golden_path(name)
    assert path.is_file(), f"no golden file for {name}: run python -m experiments.gate --update"
    golden = json.loads(path.read_text())
    assert golden["scenario"] == gate.SCENARIOS[name], "scenario changed: rerun python -m experiments.gate --update"
    assert gate.outside_band(golden, measured) == []


def test_every_scenario_has_a_tolerance_and_a_distinct_cluster_or_arrival():
    assert gate.BEHIND_TOL.keys() == gate.SCENARIOS.keys()
    assert all(0 < t < 0.05 for t in gate.BEHIND_TOL.values())
    kinds = {tuple(o for o in ov if o.startswith(("cluster=", "workload="))) for ov in gate.SCENARIOS.values()}
    assert len(kinds) == len(gate.SCENARIOS)


def test_band_catches_a_change():
    golden = {"metrics": {"p": {"violation_rate": 0.10, "p99_latency_ms": 100.0}}}
    assert gate.outside_band(golden, {"p": {"violation_rate": 0.104, "p99_latency_ms": 101.9}}) == []
    bad = gate.outside_band(golden, {"p": {"violation_rate": 0.12, "p99_latency_ms": 103.0}})
    assert len(bad) == 2 and "violation_rate" in bad[0]
    assert gate.outside_band(golden, {}) == ["p: missing from the run"]


def test_behind_counts_only_gaps_beyond_the_tolerance():
    m = {"synergai": {"violation_rate": 0.30}, "synergai_online": {"violation_rate": 0.10},
         "greedy": {"violation_rate": 0.295}, "slo_mael": {"violation_rate": 0.25}, "random": {"violation_rate": 0.6}}
    b = gate.behind(m, 0.01)
    assert b.keys() == {"slo_mael"} and b["slo_mael"] == pytest.approx(0.05)  # variants of SynergAI are not baselines
    assert gate.behind(m, 0.06) == {}
