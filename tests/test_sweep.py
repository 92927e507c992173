"""A sweep through the shipped experiment config: parallel runs (joblib), one tidy table, the figures."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def test_qos_grid_sweep_lands_in_one_table(tmp_path):
    r = subprocess.run([sys.executable, "-m", "experiments.app", "-m", "experiment=qos_grid", "workload.load=0.3,0.6",
                        "workload.qos_multiplier=3", "seed=1,2", "workload.n_jobs=400", f"hydra.sweep.dir={tmp_path}"],
                       cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    t = pd.read_csv(tmp_path / "results.csv")
    assert t["run"].nunique() == 4
    assert set(t["load"]) == {0.3, 0.6} and set(t["seed"]) == {1, 2} and set(t["qos_multiplier"]) == {3.0}
    assert {"synergai", "slo_mael", "greedy"} <= set(t["policy"])
    # 4 runs x 9 policies (policy=compare) x 2 windows
    assert len(t) == 4 * 9 * 2
    for name in ("violations_vs_load", "excess_vs_load", "tail_latency", "edge_energy"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
