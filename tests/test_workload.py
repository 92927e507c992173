"""Arrival processes, QoS targets and capacity: the workload is what every result is relative to."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import two_site_profile, two_site_testbed

from synergai.errors import ConfigError
from synergai.workload import WorkloadSpec, best_isolated_ms, cluster_capacity_per_s, generate, read_arrival_csv

ROOT = Path(__file__).resolve().parent.parent


def gen(**kw):
    tb, prof = two_site_testbed(), two_site_profile()
    spec = WorkloadSpec(**{"mix": {"m": 1.0}, "n_jobs": 50_000, "rate_per_s": 100.0, "load": None, **kw})
    spec.validate(prof)
    return generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(11))


def cv(a):
    d = np.diff(a)
    return d.std() / d.mean()


def test_poisson_rate_and_cv():
    s = gen()
    rate = len(s) / (s.arrival_ms[-1] / 1000)
    assert rate == pytest.approx(100.0, rel=0.02)
    assert cv(s.arrival_ms) == pytest.approx(1.0, abs=0.03)


def test_bursty_keeps_mean_rate_but_is_burstier():
    s = gen(arrival="bursty", on_s=1.0, off_s=4.0)
    rate = len(s) / (s.arrival_ms[-1] / 1000)
    assert rate == pytest.approx(100.0, rel=0.08)
    assert cv(s.arrival_ms) > 1.5


def test_replay_scales_to_target_rate(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("arrived_at\n0\n0.5\n0.5\n2\n")
    s = gen(arrival="replay", replay_path=str(p), n_jobs=8, rate_per_s=4.0)
    # 4 arrivals per period of 2 s x 4/3 = 8/3 s; scaled to 4/s -> period 1 s -> scale 3/8
    assert np.allclose(s.arrival_ms, np.array([0, 0.5, 0.5, 2, 8 / 3, 8 / 3 + 0.5, 8 / 3 + 0.5, 8 / 3 + 2]) * 375)
    code = read_arrival_csv(ROOT / "traces/arrivals/azure_llm_2023_code.csv")
    assert len(code) == 8819 and cv(code) > 10  # the bundled trace is the very bursty one


def test_replay_bad_files(tmp_path):
    bad = tmp_path / "b.csv"
    bad.write_text("arrived_at\n0\n2\n1\n")
    with pytest.raises(ConfigError, match=r"b.csv:4 column 'arrived_at': timestamps must be .*non-decreasing"):
        read_arrival_csv(bad)
    bad.write_text("t\n0\n")
    with pytest.raises(ConfigError, match="no column 'arrived_at'"):
        read_arrival_csv(bad)
    with pytest.raises(ConfigError, match="file not found"):
        read_arrival_csv(tmp_path / "none.csv")


def test_zero_weight_drops_a_model():
    s = gen(mix={"m": 1.0, "big": 0})
    assert s.models == ["m"] and set(s.model_idx) == {0}


def test_qos_is_multiple_of_best_isolated_latency():
    tb, prof = two_site_testbed(), two_site_profile()
    # best isolated for m: fast board, LAN 0.5 ms + 2 ms service (no input bytes)
    assert best_isolated_ms(prof, tb.nodes, tb.network, "m", 0, ["e"]) == pytest.approx(2.5)
    s = gen(qos_multiplier={"m": 4.0})
    assert s.qos_ms["m"] == pytest.approx(10.0)


def test_capacity_sums_node_throughputs():
    tb, prof = two_site_testbed(), two_site_profile()
    # m: fast 1/2 ms = 500/s, slow 1/8 ms = 125/s, vm best of (1 core x 20 ms)/2 = 10 ms, (2 x 12)/2 = 12 -> 100/s
    assert cluster_capacity_per_s(prof, tb.nodes, {"m": 1.0}) == pytest.approx(725.0)
    s = gen(rate_per_s=None, load=0.5, n_jobs=20_000)
    assert len(s) / (s.arrival_ms[-1] / 1000) == pytest.approx(362.5, rel=0.03)


@pytest.mark.parametrize("kw, key", [
    (dict(rate_per_s=-1.0), "workload.rate_per_s"),
    (dict(rate_per_s=None, load=0.0), "workload.load"),
    (dict(n_jobs=0), "workload.n_jobs"),
    (dict(mix={"nope": 1.0}), "workload.mix.nope"),
    (dict(mix={"m": -1}), "workload.mix.m"),
    (dict(mix={}), "workload.mix"),
    (dict(mix={"m": 0}), "workload.mix"),
    (dict(arrival="weibull"), "workload.arrival"),
    (dict(private_fraction=1.5), "workload.private_fraction"),
    (dict(qos_multiplier=0), "workload.qos_multiplier"),
    (dict(arrival="replay"), "workload.replay_path"),
    (dict(arrival="bursty", on_s=0), "workload.on_s"),
])
def test_validation_names_the_key(kw, key):
    spec = WorkloadSpec(**{"mix": {"m": 1.0}, "rate_per_s": 10.0, **kw})
    with pytest.raises(ConfigError) as ei:
        spec.validate(two_site_profile())
    assert str(ei.value).startswith(key + ":")
