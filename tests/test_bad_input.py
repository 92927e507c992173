"""Edge cases of the inputs with one documented handling each (README "Bad input"), library and CLI.

- a node whose device type is not defined in the cluster config: error at ``cluster.nodes[i].device_type``;
- a device type with no trace rows at all (or none in the node's power modes, or none that fits its cores and
  slots): error at the key to fix, never a node that silently gets no job;
- an empty cluster, a device type with zero capacity (``cpu_cores=0`` and ``accel_slots=0``): errors;
- a model of the workload mix that no node can run: error at ``workload.mix.<model>``;
- zero jobs: error at ``workload.n_jobs``.
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import entry, two_site_profile, two_site_testbed

from synergai.errors import ConfigError
from synergai.profile import DeterministicDist, PerformanceProfile
from synergai.testbed import testbed_from_dict as build_testbed  # (a name pytest does not collect)
from synergai.workload import WorkloadSpec, generate

ROOT = Path(__file__).resolve().parent.parent


def default_cluster() -> dict:
    with (ROOT / "configs/cluster/default.yaml").open() as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def traces():
    return PerformanceProfile.from_dir(ROOT / "traces")


def error(fn) -> str:
    with pytest.raises(ConfigError) as ei:
        fn()
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


# ----------------------------------------------------------------------------- cluster
def test_unknown_device_type_in_config():
    cfg = default_cluster()
    cfg["nodes"][1]["device_type"] = "tpu-v5"
    assert error(lambda: build_testbed(cfg)).startswith(
        "cluster.nodes[1].device_type: unknown device type 'tpu-v5' (define it in cluster.device_types)")


def test_device_type_without_trace_rows_is_an_error(traces):
    """Defined in the config but absent from the traces: the node could never run a job, so it is rejected."""
    cfg = default_cluster()
    cfg["device_types"]["jetson-orin-nano"] = {"tier": "edge", "arch": "arm64", "cpu_cores": 6, "accel_slots": 1}
    cfg["nodes"].append({"name": "nano", "device_type": "jetson-orin-nano", "site": "edge-b"})
    build_testbed(cfg)  # without a profile only the config itself is checked
    msg = error(lambda: build_testbed(cfg, profile=traces))
    assert msg.startswith("cluster.nodes[6].device_type: no trace rows for device type 'jetson-orin-nano', so its "
                          "nodes could never run a job (device types in the traces: "), msg
    assert "gpu-a100, " in msg and "jetson-xavier-nx" in msg


def test_power_modes_without_trace_rows(traces):
    cfg = default_cluster()
    cfg["nodes"][0]["power_modes"] = ["MAXQ"]  # the traces spell it MaxQ
    assert error(lambda: build_testbed(cfg, profile=traces)) == (
        "cluster.nodes[0].power_modes: no trace rows for jetson-agx-orin in power modes MAXQ "
        "(the traces have MAXN, MaxQ)")


def test_capacity_that_fits_no_trace_configuration(traces):
    cfg = default_cluster()
    cfg["device_types"]["gpu-l4"]["accel_slots"] = 0  # every L4 row runs on the accelerator
    assert error(lambda: build_testbed(cfg, profile=traces)) == (
        "cluster.device_types.gpu-l4: no trace configuration of gpu-l4 fits cpu_cores=8, accel_slots=0 "
        "(the smallest needs 1 accel unit(s))")
    assert build_testbed(default_cluster(), profile=traces).nodes  # the default testbed passes


def test_zero_capacity_and_empty_cluster():
    cfg = default_cluster()
    cfg["device_types"]["x86-vm-2c"]["cpu_cores"] = 0
    assert error(lambda: build_testbed(cfg)) == (
        "cluster.device_types.x86-vm-2c: a device type needs cpu_cores or accel_slots > 0")
    for nodes in ([], None):
        cfg = default_cluster()
        cfg["nodes"] = nodes
        assert error(lambda c=cfg: build_testbed(c)).startswith("cluster.nodes: ")


# ----------------------------------------------------------------------------- workload
def test_model_no_node_can_run():
    tb = two_site_testbed()
    prof = PerformanceProfile([*two_site_profile().entries[:4], entry("otherdev", "orphan", DeterministicDist(1.0))])
    spec = WorkloadSpec(mix={"m": 0.5, "orphan": 0.5}, n_jobs=10, rate_per_s=10.0, load=None)
    spec.validate(prof)  # the model is in the traces...
    assert error(lambda: generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))) == (
        "workload.mix.orphan: no node in the cluster can run this model")  # ...but on no node of this cluster
    spec = WorkloadSpec(mix={"orphan": 1.0}, n_jobs=10, load=0.5)
    assert error(lambda: generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))) == (
        "workload.mix: no node in the cluster can run any model of the mix")


def test_zero_jobs():
    for n in (0, -1, True, 2.5, None):
        spec = WorkloadSpec(mix={"m": 1.0}, n_jobs=n, rate_per_s=1.0)
        assert error(lambda s=spec: s.validate(two_site_profile())).startswith("workload.n_jobs: must be an integer")


def test_cluster_without_edge_site_needs_origins():
    cfg = default_cluster()
    cfg["sites"] = [s for s in cfg["sites"] if s["tier"] == "cloud"]
    cfg["links"] = []
    cfg["nodes"] = [n for n in cfg["nodes"] if n["site"] == "cloud"]
    tb = build_testbed(cfg)
    prof = PerformanceProfile.from_dir(ROOT / "traces")
    spec = WorkloadSpec(mix={"resnet50": 1.0}, n_jobs=10, rate_per_s=10.0, load=None)
    assert error(lambda: generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))).startswith(
        "workload.origins: the cluster has no edge site")
    spec.origins = ["cloud"]
    assert len(generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))) == 10


def test_bursty_periods_far_shorter_than_gaps():
    """A rate so low that millions of on/off periods pass between arrivals: an error, not a hang."""
    tb, prof = two_site_testbed(), two_site_profile()
    spec = WorkloadSpec(mix={"m": 1.0}, n_jobs=1000, arrival="bursty", rate_per_s=1e-6, load=None)
    assert error(lambda: generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))).startswith(
        "workload.on_s: on/off periods (1 s + 4 s) hold only 5e-06 arrivals")
    spec.rate_per_s = 1e13  # and one so high that an on period would hold 10^13 arrivals
    assert error(lambda: generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))) == (
        "workload.rate_per_s: 1e+13 jobs/s over on/off periods of 1 s + 4 s puts 5e+13 arrivals in one cycle "
        "(at most 1e12)")
    spec.rate_per_s = 1e9  # 10^9 points in an on period: only the first 1000 are drawn, no huge allocation
    s = generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))
    assert len(s) == 1000 and np.isfinite(s.arrival_ms).all() and (np.diff(s.arrival_ms) >= 0).all()


# ----------------------------------------------------------------------------- the CLI, end to end
def cli(tmp_path, *args):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "experiments.app", "workload.n_jobs=100", "experiment.progress=false",
                           "experiment.figure=false", "experiment.write_jobs=false", f"hydra.run.dir={tmp_path}/run",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def assert_cli_error(r, expected: str):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"synergai: error: {expected}"), lines[0]


@pytest.mark.parametrize("args, expected", [
    (["cluster.nodes=[]"], "cluster.nodes: the cluster has no nodes"),
    (["cluster.device_types.gpu-l4.cpu_cores=0", "cluster.device_types.gpu-l4.accel_slots=0"],
     "cluster.device_types.gpu-l4: a device type needs cpu_cores or accel_slots > 0"),
    (["cluster.nodes.0.device_type=tpu"], "cluster.nodes[0].device_type: unknown device type 'tpu'"),
    (["workload.n_jobs=0"], "workload.n_jobs: must be an integer >= 1, got 0"),
    (["cluster=single_node", "+workload.mix.mobilenet-v2=0.1"],
     "workload.mix.mobilenet-v2: no node in the cluster can run this model"),
])
def test_cli_edge_cases_one_line_exit_2(tmp_path, args, expected):
    assert_cli_error(cli(tmp_path, *args), expected)


def test_cli_bad_traces_dir(tmp_path):
    good = (ROOT / "traces/mlperf_published.csv").read_bytes()
    (tmp_path / "t.csv").write_bytes(good[:2000] + b"\xff" + good[2000:])
    line = good[:2000].count(b"\n") + 1
    assert_cli_error(cli(tmp_path, f"experiment.traces_dir={tmp_path}"), f"{tmp_path / 't.csv'}:{line}: not UTF-8 text")
    (tmp_path / "t.csv").write_text("")
    assert_cli_error(cli(tmp_path, f"experiment.traces_dir={tmp_path}"), f"{tmp_path / 't.csv'}:1: empty file")


# ----------------------------------------------------------------------------- runner.prepare
def test_prepare_rejects_nodes_without_trace_rows():
    """prepare() must pass its profile to build_testbed(..., profile=profile)."""
    from experiments.runner import compose_config, prepare

    cfg = compose_config(["experiment.latency_basis=wall"])
    cfg["cluster"]["device_types"]["jetson-orin-nano"] = {"tier": "edge", "arch": "arm64", "cpu_cores": 6,
                                                          "accel_slots": 1}
    cfg["cluster"]["nodes"].append({"name": "nano", "device_type": "jetson-orin-nano", "site": "edge-b"})
    with pytest.raises(ConfigError, match=r"^cluster\.nodes\[6\]\.device_type: no trace rows"):
        prepare(cfg)


@pytest.mark.parametrize("edit, key", [
    (lambda c: c.pop("cluster"), "cluster"),
    (lambda c: c.pop("workload"), "workload"),
    (lambda c: c.update(experiment=[1]), "experiment"),
    (lambda c: c["experiment"].update(traces_dir=5), "experiment.traces_dir"),
    (lambda c: c.update(policy=None), "policy.names"),
    (lambda c: c["policy"].update(names="greedy"), "policy.names"),
    (lambda c: c["policy"].update(params={"greedy": [1]}), "policy.params.greedy"),
    (lambda c: c.update(backend="sim"), "backend"),
])
def test_prepare_config_shapes(edit, key):
    from experiments.runner import compose_config, prepare

    cfg = copy.deepcopy(compose_config([]))
    edit(cfg)
    with pytest.raises(ConfigError) as ei:
        prepare(cfg)
    assert str(ei.value).startswith(f"{key}: "), str(ei.value)
