"""The README's promises: its test command is what CI runs, and its policy example works as written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    m = re.search(r"^(pip install .*pytest.*?)\s+#", README, re.M)
    assert m, "README lacks a test command"
    assert m.group(1) in (ROOT / ".ci/run").read_text()


def test_policy_example_runs(tmp_path):
    section = README.split("## Adding a policy", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = re.match(r"# (\S+)", code).group(1)
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(code)
    module = path.removesuffix(".py").replace("/", ".")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run([sys.executable, "-m", "experiments.app", f"policy.modules=[{module}]",
                        "policy.names=[fastest_service,greedy]", "workload.n_jobs=2000", "experiment.progress=false",
                        "experiment.figure=false", f"hydra.run.dir={out}"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = pd.read_csv(out / "summary.csv").set_index(["policy", "window"])
    assert s.loc[("fastest_service", "all"), "jobs"] == 2000
    jobs = pd.read_parquet(out / "jobs.parquet")
    mine = jobs[jobs["policy"] == "fastest_service"]
    # queue-blind: every job of a kind goes to the same node, and queueing makes it worse than greedy
    assert (mine.groupby(["model", "origin_site", "private"])["node"].nunique() == 1).all()
    assert s.loc[("fastest_service", "all"), "p99_latency_ms"] > s.loc[("greedy", "all"), "p99_latency_ms"]
