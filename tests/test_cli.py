"""The `synergai` command: runs, writes outputs, and rejects bad input with one line and exit code 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "experiments.app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_default_experiment_smoke(tmp_path):
    out = tmp_path / "run"
    r = run("workload.n_jobs=1500", "experiment.progress=false", f"hydra.run.dir={out}")
    assert r.returncode == 0, r.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["policy"]) == {"random", "round_robin", "least_outstanding", "k8s_default", "edge_first",
                                      "cloud_only", "greedy", "edf", "infaas", "clockwork", "mael", "slo_mael", "slo_mael_plain",
                                      "synergai"}
    assert set(summary["window"]) == {"all", "steady"}
    assert (summary.loc[summary["window"] == "all", "jobs"] == 1500).all()
    jobs = pd.read_parquet(out / "jobs.parquet")
    assert len(jobs) == 14 * 1500
    assert set(jobs["status"]) <= {"completed", "failed"} and set(jobs["policy"]) == set(summary["policy"])
    assert (out / "comparison.png").stat().st_size > 10_000
    assert "viol %" in r.stdout and "greedy" in r.stdout


def test_multirun_sweep(tmp_path):
    r = run("-m", "workload.n_jobs=300", "workload.load=0.3,0.6", "policy=greedy,random",
            "experiment.progress=false", "experiment.figure=false", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert len(list(tmp_path.glob("*/summary.csv"))) == 4
    t = pd.read_csv(tmp_path / "results.csv")  # the aggregation callback is on for every multirun
    assert t["run"].nunique() == 4 and set(t["policy"]) == {"greedy", "random"}


@pytest.mark.parametrize("args, key", [
    (["workload.rate_per_s=-5"], "workload.rate_per_s"),
    (["workload.load=-0.5"], "workload.load"),
    (["policy=nope"], "policy"),
    (["policy.names=[greedy,nope]"], "policy"),
    (["experiment.traces_dir=/nonexistent/traces"], "experiment.traces_dir"),
    (["workload=azure_code", "workload.replay_path=/missing.csv"], "workload.replay_path"),
    (["+workload.mix.unknown_model=1.0"], "workload.mix.unknown_model"),
    (["workload.mix.resnet50=-1"], "workload.mix.resnet50"),
    (["workload.lod=0.5"], "workload"),
    (["-m", "workload.load=0.5,-1"], "workload.load"),
    (["cluster.nodes.0.site=mars"], "cluster.nodes[0].site"),
    (["seed=-1"], "seed"),
])
def test_invalid_values_one_line_exit_2(args, key):
    r = run(*args, "workload.n_jobs=100")
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("synergai: error:") and key in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_bad_trace_file_names_file_line_column(tmp_path):
    (tmp_path / "bad.csv").write_text((ROOT / "traces/mlperf_published.csv").read_text().replace(
        "percentiles", "percentile", 1))
    r = run(f"experiment.traces_dir={tmp_path}")
    assert r.returncode == 2
    assert r.stderr.strip().endswith("column 'latency_kind': must be samples|percentiles, got 'percentile'")
    assert "bad.csv:2" in r.stderr
