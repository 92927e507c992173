"""Violations over time around a node crash, a partition and thermal throttling, per policy (simulator).

    python -m experiments.fig_faults                                   # -> experiments/figures/faults/
    python -m experiments.fig_faults --out /tmp/f --jobs 5000 --scenarios crash

One run per fault schedule (``configs/faults/<scenario>.yaml``) on the default testbed and workload (seed 1),
every policy on the same job stream. Writes ``faults_over_time.png`` (QoS violation rate of the jobs arriving
in each ``--bin-s`` bin, fault periods shaded), ``faults_over_time.csv`` (the binned series) and
``faults_summary.csv`` (the summary rows with the fault metrics: violations during / outside faults, retries,
time to recover).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.runner import PROJECT_ROOT, compose_config, run_experiment  # noqa: E402

POLICIES = ("synergai", "slo_mael", "greedy", "k8s_default")
SCENARIOS = ("crash", "partition", "throttle")
TITLES = {"crash": "orin-a crashes (15-25 s)", "partition": "cloud cut off from both edge sites (15-25 s)",
          "throttle": "orin-a x3 (15-25 s), orin-b x2 (10-30 s)"}


def binned(jobs: pd.DataFrame, bin_s: float) -> pd.DataFrame:
    """Per policy and arrival bin: jobs and their violation rate (failed jobs count as violations)."""
    j = jobs.assign(t_s=np.floor(jobs["arrival_ms"] / 1000.0 / bin_s) * bin_s)
    g = j.groupby(["policy", "t_s"])["violated"]
    return pd.DataFrame({"jobs": g.size(), "violation_rate": g.mean()}).reset_index()


def run_scenario(name: str, policies, jobs: int, seed: int, bin_s: float):
    cfg = compose_config([f"faults={name}", f"workload.n_jobs={jobs}", f"seed={seed}",
                          "policy.names=[" + ",".join(policies) + "]", "experiment.progress=false"])
    res = run_experiment(cfg, None, log=lambda *_: None)
    series = binned(res.jobs, bin_s).assign(scenario=name)
    faults = res.faults[res.faults["policy"] == policies[0]] if res.faults is not None else pd.DataFrame()
    return series, res.summary.assign(scenario=name), faults


def figure(series: pd.DataFrame, faults: dict, policies, out: Path) -> Path:
    scen = list(dict.fromkeys(series["scenario"]))
    fig, axes = plt.subplots(len(scen), 1, figsize=(10, 2.9 * len(scen)), sharex=True, squeeze=False)
    colors = dict(zip(policies, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, s in zip(axes[:, 0], scen):
        for _, f in faults[s].iterrows():
            ax.axvspan(f["start_ms"] / 1000.0, f["end_ms"] / 1000.0, color="#d62728", alpha=0.08, lw=0)
        d = series[series["scenario"] == s]
        for pol in policies:
            p = d[d["policy"] == pol]
            ax.plot(p["t_s"], p["violation_rate"], label=pol, color=colors.get(pol), lw=1.3)
        ax.set(ylabel="QoS violation rate", ylim=(-0.02, 1.02), title=TITLES.get(s, s))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(ncol=len(policies), fontsize=8, loc="upper left")
    axes[-1, 0].set_xlabel("arrival time (s); shaded: fault period")
    fig.tight_layout()
    path = out / "faults_over_time.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "experiments" / "figures" / "faults")
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bin-s", type=float, default=1.0)
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    a = ap.parse_args(argv)
    policies = [p for p in a.policies.split(",") if p]
    a.out.mkdir(parents=True, exist_ok=True)
    series, summaries, faults = [], [], {}
    for s in [s for s in a.scenarios.split(",") if s]:
        ser, summ, f = run_scenario(s, policies, a.jobs, a.seed, a.bin_s)
        series.append(ser)
        summaries.append(summ)
        faults[s] = f
        print(f"{s}: done")
    series = pd.concat(series, ignore_index=True)
    series.to_csv(a.out / "faults_over_time.csv", index=False)
    summary = pd.concat(summaries, ignore_index=True)
    summary.to_csv(a.out / "faults_summary.csv", index=False)
    cols = ["scenario", "policy", "violation_rate", "violation_rate_fault", "violation_rate_no_fault", "retries",
            "failed", "time_to_recover_ms", "faults_unrecovered"]
    print(summary[summary["window"] == "all"][cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {figure(series, faults, policies, a.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
