"""The research workflow: own configs (--config-dir, hydra.searchpath), outputs (parquet, atomic, manifest,
identical bytes), sweeps on any launcher into one table, and the bad inputs of issue 13 as one-line errors."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import outputs
from experiments.runner import compose_config, prepare, run_experiment, write_outputs
from synergai.errors import ConfigError, SynergAIError

ROOT = Path(__file__).resolve().parent.parent
FAST = ["experiment.progress=false", "experiment.figure=false"]
FASTEST_SERVICE = '''
from synergai import Placement, Policy, register


@register("fastest_service_t")
class FastestService(Policy):
    def schedule(self, jobs, view):
        out = []
        for job in jobs:
            options = [c for c in self.candidates(job) if view.ready_at(c.i)]
            if not options:
                out.append(self.no_node(job))
                continue
            best = min(options, key=lambda c: c.transfer_ms + c.service_ms)
            out.append(self.place(job, best.node, best.entry, view, reason="fastest service"))
        return out
'''


def cli(*args, cwd=ROOT, pythonpath=None):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), pythonpath]))}
    return subprocess.run([sys.executable, "-m", "experiments.app", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def one_line_error(r, key: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"synergai: error: {key}"), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def user_configs(tmp_path_factory):
    """A folder of a user's own configs, one per group, and a policy module of their own."""
    d = tmp_path_factory.mktemp("user_configs")
    for g in ("cluster", "workload", "policy", "faults", "experiment", "mods"):
        (d / g).mkdir()
    cl = yaml.safe_load((ROOT / "configs/cluster/default.yaml").read_text())
    cl["name"] = "mine"
    cl["nodes"] = cl["nodes"][:3]
    (d / "cluster/mine.yaml").write_text(yaml.safe_dump(cl))
    wl = yaml.safe_load((ROOT / "configs/workload/default.yaml").read_text())
    wl.update(n_jobs=250, mix={"resnet50": 1.0})
    (d / "workload/tiny.yaml").write_text(yaml.safe_dump(wl))
    (d / "policy/fastest.yaml").write_text("names: [fastest_service_t]\nparams: {}\nmodules: [mods.fastest_t]\n")
    (d / "mods/__init__.py").write_text("")
    (d / "mods/fastest_t.py").write_text(FASTEST_SERVICE)
    (d / "faults/early_crash.yaml").write_text(
        "name: early_crash\nmax_retries: 2\npartition_policy: wait\nevents:\n"
        "  - {kind: crash, node: orin-a, at_s: 0.05, for_s: 0.2}\n")
    (d / "experiment/quick.yaml").write_text(
        "# @package _global_\ndefaults:\n  - default@experiment\n  - _self_\n"
        "experiment:\n  name: quick\n  figure: false\n  progress: false\n")
    return d


# ----------------------------------------------------------------------------- own configs
def test_config_dir_serves_every_group(user_configs, tmp_path):
    out = tmp_path / "run"
    r = cli("--config-dir", str(user_configs), "cluster=mine", "workload=tiny", "policy=fastest", "faults=early_crash",
            "experiment=quick", f"hydra.run.dir={out}", pythonpath=str(user_configs))
    assert r.returncode == 0, r.stderr[-2000:]
    s = outputs.read_run(out, "summary")
    mine = yaml.safe_load((user_configs / "cluster/mine.yaml").read_text())
    n_nodes = sum(n.get("count", 1) for n in mine["nodes"])
    assert set(s["policy"]) == {"fastest_service_t"} and (s["cluster"] == "mine").all()
    assert (s["nodes"] == n_nodes).all()
    assert (s.loc[s["window"] == "all", "jobs"] == 250).all() and (s["fault_schedule"] == "early_crash").all()
    jobs = outputs.read_run(out, "jobs")
    assert set(jobs["model"]) == {"resnet50"} and len(jobs) == 250


def test_searchpath_and_unknown_options_list_the_users_configs(user_configs):
    cfg = compose_config(["cluster=mine", "workload=tiny"], config_dirs=[str(user_configs)])
    assert cfg["cluster"]["name"] == "mine" and cfg["workload"]["n_jobs"] == 250
    cfg = compose_config([f"hydra.searchpath=[file://{user_configs}]", "cluster=mine"])
    assert cfg["cluster"]["name"] == "mine"
    msg = one_line_error(cli(f"hydra.searchpath=[file://{user_configs}]", "cluster=nope"), "cluster")
    assert "mine" in msg and "default" in msg
    msg = one_line_error(cli("cluster=mine"), "cluster")  # without the search path: not known
    assert "'mine'" in msg and "single_node" in msg
    one_line_error(cli("--config-dir", "/nonexistent/configs", "cluster=mine"), "--config-dir")


def test_dict_replacement_and_merge():
    """Hydra merges a dict value into the default; ``~key`` then ``+key=...`` replaces it (README)."""
    merged = compose_config(["workload.mix={resnet50: 1}"])["workload"]["mix"]
    assert merged == {"resnet50": 1, "bert-99": 0.3, "retinanet": 0.2}
    assert compose_config(["~workload.mix", "+workload.mix={resnet50: 1}"])["workload"]["mix"] == {"resnet50": 1}


# ----------------------------------------------------------------------------- outputs
def small_cfg(*extra):
    return compose_config(["workload.n_jobs=600", "policy=compare", *FAST, *extra])


def test_outputs_parquet_manifest_and_identical_bytes(tmp_path):
    cfg = small_cfg()
    a, b = tmp_path / "a", tmp_path / "b"
    ra = run_experiment(cfg, a, log=lambda *_: None)
    run_experiment(cfg, b, log=lambda *_: None)
    assert (a / "jobs.parquet").read_bytes() == (b / "jobs.parquet").read_bytes()
    assert (a / "nodes.csv").read_bytes() == (b / "nodes.csv").read_bytes()
    man = json.loads((a / "manifest.json").read_text())
    assert man["completed"] is True and man["files"]["jobs.parquet"]["rows"] == 9 * 600
    assert man["config_sha256"] == json.loads((b / "manifest.json").read_text())["config_sha256"]
    assert "traces/mlperf_published.csv" in man["inputs"] and man["package_version"]
    assert not list(a.glob(".*.tmp"))
    back = pd.read_parquet(a / "jobs.parquet")
    pd.testing.assert_frame_equal(back.astype(str), ra.jobs.astype(str), check_dtype=False)


def test_csv_on_request_is_deterministic_gzip(tmp_path):
    cfg = small_cfg("experiment.jobs_format=csv", "policy=greedy")
    for d in ("a", "b"):
        run_experiment(cfg, tmp_path / d, log=lambda *_: None)
    raw = (tmp_path / "a/jobs.csv.gz").read_bytes()
    assert raw == (tmp_path / "b/jobs.csv.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    assert len(pd.read_csv(gzip.open(tmp_path / "a/jobs.csv.gz"))) == 600
    assert outputs.read_run(tmp_path / "a", "jobs")["status"].isin(["completed", "failed"]).all()


def test_readers_refuse_incomplete_runs(tmp_path):
    cfg = small_cfg("policy=greedy")
    res = run_experiment(cfg, tmp_path / "ok", log=lambda *_: None)
    with pytest.raises(outputs.IncompleteRun):
        outputs.read_run(tmp_path / "nothing")
    # a run killed after its summary, before its manifest
    (tmp_path / "killed").mkdir()
    res.summary.to_csv(tmp_path / "killed/summary.csv", index=False)
    with pytest.raises(outputs.IncompleteRun, match="not a completed run"):
        outputs.read_run(tmp_path / "killed")
    # a table truncated after the manifest was written
    (tmp_path / "ok/jobs.parquet").write_bytes((tmp_path / "ok/jobs.parquet").read_bytes()[:100])
    with pytest.raises(outputs.IncompleteRun, match="size"):
        outputs.read_run(tmp_path / "ok")
    from experiments.callbacks import aggregate

    table, skipped = aggregate(tmp_path)
    assert table is None and len(skipped) == 2


def test_rewriting_a_folder_drops_the_old_manifest_first(tmp_path, monkeypatch):
    cfg = small_cfg("policy=greedy")
    res = run_experiment(cfg, tmp_path, log=lambda *_: None)
    assert (tmp_path / "manifest.json").exists()

    def boom(*a, **k):
        raise outputs.OutputError(tmp_path / "jobs.parquet", "No space left on device")

    monkeypatch.setattr("experiments.runner.write_table", boom)
    with pytest.raises(SynergAIError, match="No space left"):
        write_outputs(res, tmp_path, cfg["experiment"], cfg)
    assert not (tmp_path / "manifest.json").exists()  # readers now refuse the half-rewritten folder


def test_disk_full_is_one_line(tmp_path, monkeypatch):
    real = os.replace

    def full(src, dst):
        if str(dst).endswith("jobs.parquet"):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(outputs.OutputError) as ei:
        run_experiment(small_cfg("policy=greedy"), tmp_path, log=lambda *_: None)
    assert str(ei.value) == f"hydra.run.dir: cannot write {tmp_path / 'jobs.parquet'}: No space left on device"
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "manifest.json").exists()


# ----------------------------------------------------------------------------- bad input (issue 13's list)
@pytest.mark.parametrize("args, key", [
    (["policy.names=[greedy,greedy]"], "policy.names"),
    (["+cluster.nodes.0.gpu=8"], "cluster.nodes[0].gpu"),
    (["+cluster.device_types.gpu-l4.gpus=8"], "cluster.device_types.gpu-l4.gpus"),
    (["+cluster.sites.0.zone=x"], "cluster.sites[0].zone"),
    (["+frobnicate=1"], "frobnicate"),
    (["+sed=3"], "sed"),
    (["+experiment.frobnicate=1"], "experiment.frobnicate"),
    (["+policy.frobnicate=1"], "policy.frobnicate"),
    (["experiment.write_jobs=maybe"], "experiment.write_jobs"),
    (["experiment.jobs_format=xlsx"], "experiment.jobs_format"),
    (["workload.origins=[]"], "workload.origins"),
    (["workload.load=1e-300"], "workload.load"),
    (["workload.load=1e-15"], "workload.load"),
    (["workload.rate_per_s=1e-12"], "workload.rate_per_s"),
    (["faults=throttle", "faults.events.0.factor=1e300"], "faults.events[0].factor"),
    (["faults=random", "faults.events.0.mtbf_s=1e-9", "faults.events.0.mttr_s=1e-9"], "faults.events[0].mtbf_s"),
    (["hydra.run.dir=/proc/synergai-test"], "hydra.run.dir"),
    (["hydra/launcher=nope"], "In 'hydra/config'"),
])
def test_issue_13_bad_inputs_one_line_exit_2(args, key, tmp_path):
    run_dir = [] if any(a.startswith("hydra.run.dir") for a in args) else [f"hydra.run.dir={tmp_path}"]
    one_line_error(cli(*args, "workload.n_jobs=200", *FAST, *run_dir), key)


def test_run_dir_under_a_file_or_taken_by_a_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    one_line_error(cli(f"hydra.run.dir={tmp_path / 'f' / 'run'}", *FAST), "hydra.run.dir")
    (tmp_path / "run" / "summary.csv").mkdir(parents=True)  # an output name taken by a folder: before the runs
    msg = one_line_error(cli(f"hydra.run.dir={tmp_path / 'run'}", "workload.n_jobs=200", *FAST), "hydra.run.dir")
    assert "summary.csv" in msg and "folder" in msg


def test_trace_with_an_upper_case_suffix_is_not_ignored(tmp_path):
    for f in (ROOT / "traces").glob("*.csv"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "ZZ.CSV").write_bytes((ROOT / "traces/mlperf_published.csv").read_bytes())
    with pytest.raises(ConfigError, match=r"^experiment.traces_dir: .*ZZ.CSV: trace files are read by the suffix"):
        prepare(compose_config([f"experiment.traces_dir={tmp_path}"]))


def test_mtbf_guard_and_throttle_cap_in_the_library():
    from synergai.faults import faults_from_dict

    fs = faults_from_dict({"events": [{"kind": "random_crashes", "nodes": ["a"], "mtbf_s": 1e-9, "mttr_s": 1e-9}]})
    with pytest.raises(ConfigError, match=r"faults.events\[0\].mtbf_s"):
        fs.expand(1e6, 0)  # refused before drawing: no hang, no memory growth
    with pytest.raises(ConfigError, match="<= 1000"):
        faults_from_dict({"events": [{"kind": "throttle", "node": "x", "at_s": 0, "for_s": 1, "factor": 1e300}]})


def test_backend_without_its_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # as if the extra were not installed
    for m in [m for m in sys.modules if m.startswith("backends.kubernetes.")]:
        monkeypatch.delitem(sys.modules, m)
    with pytest.raises(ConfigError) as ei:
        prepare(compose_config(["backend=kubernetes"]))
    assert str(ei.value).startswith("backend.name: backend kubernetes needs the Python package 'kubernetes'")
    assert "synergai[kubernetes]" in str(ei.value)


def test_runs_that_cannot_fit_in_memory_are_refused_up_front(monkeypatch):
    monkeypatch.setattr("experiments.runner.available_memory_bytes", lambda: 2 * 2**30)
    with pytest.raises(ConfigError) as ei:
        prepare(compose_config(["workload.n_jobs=10000000", "policy=compare"]))
    assert str(ei.value).startswith("workload.n_jobs: 10,000,000 jobs x 9 policies need ~")
    prepare(compose_config(["workload.n_jobs=100000", "policy=greedy"]))  # small enough


def test_unknown_keys_in_every_group_library_level():
    base = compose_config([])
    for path, key in ((("cluster",), "gpu"), (("policy",), "extra"), (("experiment",), "extra"),
                      (("faults",), "extra"), (("workload",), "extra"), ((), "extra")):
        cfg = json.loads(json.dumps(base))
        d = cfg
        for p in path:
            d = d[p]
        d[key] = 1
        with pytest.raises(ConfigError, match=r"unknown key"):
            prepare(cfg)


# ----------------------------------------------------------------------------- sweeps on any launcher
@pytest.mark.skipif(not __import__("importlib").util.find_spec("hydra_plugins.hydra_ray_launcher"),
                    reason="hydra-ray-launcher not installed (pip install 'synergai[ray]')")
def test_ray_sweep_gives_the_same_table_as_joblib(tmp_path):
    args = ["-m", "experiment=qos_grid", "workload.load=0.3", "workload.qos_multiplier=3", "seed=1,2",
            "workload.n_jobs=300", "policy=greedy"]
    for launcher in ("local", "ray_local"):
        r = cli(*args, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / launcher}")
        assert r.returncode == 0, r.stderr[-3000:]
    cols = ["policy", "window", "seed", "jobs", "violation_rate", "p99_latency_ms"]
    a, b = (pd.read_csv(tmp_path / x / "results.csv")[cols].sort_values(cols[:3]).reset_index(drop=True)
            for x in ("local", "ray_local"))
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 2 * 2


def test_grids_carry_no_launcher_keys():
    for f in (ROOT / "configs/experiment").glob("*.yaml"):
        text = yaml.safe_load(f.read_text()) or {}
        assert "launcher" not in (text.get("hydra") or {}), f
        assert not any("hydra/launcher" in str(d) for d in text.get("defaults", [])), f


def test_jobs_table_columns_are_compact():
    from experiments.runner import make_stream
    from sim import simulate
    from synergai.policy import make_policy

    p = prepare(compose_config(["workload.n_jobs=2000", "policy=greedy"]))
    jobs = simulate(p.testbed, p.profile, make_policy("greedy"), make_stream(p), seed=1).jobs
    assert not [c for c in jobs.columns if jobs[c].dtype == object]  # text columns are categoricals
    assert jobs.memory_usage(deep=True).sum() / len(jobs) < 250
    assert np.isfinite(jobs.loc[jobs["status"] == "completed", "latency_ms"]).all()
