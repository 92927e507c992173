"""CI gate on policy quality (see experiments/gate.py): SynergAI no worse than any baseline, metrics in band."""
from __future__ import annotations

import json

import pytest

from experiments import gate


@pytest.fixture(scope="module")
def measured():
    return gate.run()


def test_synergai_violates_no_more_than_any_baseline(measured):
    mine = measured["synergai"]["violation_rate"]
    baselines = {p: v["violation_rate"] for p, v in measured.items() if not p.startswith("synergai")}
    assert {"slo_mael", "mael", "greedy", "k8s_default", "random"} <= baselines.keys()
    worse_than = {p: v for p, v in baselines.items() if v < mine}
    assert not worse_than, f"SynergAI {mine:.4f} > {worse_than}"


def test_every_policy_within_golden_band(measured):
    golden = json.loads(gate.GOLDEN.read_text())
    assert golden["scenario"] == gate.OVERRIDES, "scenario changed: rerun python -m experiments.gate --update"
    assert gate.outside_band(golden, measured) == []


def test_band_catches_a_change():
    golden = {"metrics": {"p": {"violation_rate": 0.10, "p99_latency_ms": 100.0}}}
    assert gate.outside_band(golden, {"p": {"violation_rate": 0.104, "p99_latency_ms": 101.9}}) == []
    bad = gate.outside_band(golden, {"p": {"violation_rate": 0.12, "p99_latency_ms": 103.0}})
    assert len(bad) == 2 and "violation_rate" in bad[0]
