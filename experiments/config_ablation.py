"""Does configuration selection matter? SynergAI with and without it, and with one knob at a time, on every
shipped testbed (issue 11 item 4): violations, excess time and edge energy, one table and one figure.

    python -m experiments.config_ablation                     # every testbed x loads 0.4, 0.8 x seeds 1-3, 4,000 jobs
    python -m experiments.config_ablation --jobs 20000 --seeds 1 2 3 4 5 --loads 0.4 0.6 0.8

All policies of one (testbed, load, seed) run on the identical job stream. Policies not registered (the
one-knob variants ``synergai_only_*`` where this checkout lacks them) are skipped with a message. Writes
``<out>/results.csv`` (steady-state window, one row per run), ``<out>/summary.csv`` (mean and 95 % t-interval
over seeds, and each policy's ratio to ``synergai`` of the seed-mean violations and excess) and ``<out>/ablation.png``.
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

from experiments.runner import compose_config, run_experiment  # noqa: E402
from synergai.errors import SynergAIError  # noqa: E402
from synergai.policy import available_policies  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# scenario -> (cluster config, workload config, extra overrides); the paper-like testbed runs its own mix, and
# default_mq is the default testbed with multi-query jobs (where batch size becomes a choice)
MQ = "workload.queries={1:0.6,8:0.3,32:0.1}"
TESTBEDS = {"default": ("default", "default", ()), "default_mq": ("default", "default", (MQ,)),
            "single_node": ("single_node", "default", ()), "local_x86": ("local_x86", "default", ()),
            "paper_like": ("paper_like", "paper_like", ())}
POLICIES = ("synergai", "synergai_no_config", "synergai_only_engine", "synergai_only_precision",
            "synergai_only_batch", "synergai_only_threads", "synergai_only_power_mode")
METRICS = ("violation_rate", "mean_excess_ms", "total_excess_s", "edge_energy_j", "energy_known_share")


def run(testbeds, loads, seeds, n_jobs, policies, log=print) -> pd.DataFrame:
    rows = []
    for tb in testbeds:
        for load in loads:
            for seed in seeds:
                cluster, workload, extra = TESTBEDS[tb]
                cfg = compose_config([f"cluster={cluster}", f"workload={workload}", *extra, f"workload.n_jobs={n_jobs}",
                                      f"workload.load={load}", f"seed={seed}", "experiment.progress=false",
                                      f"policy.names=[{','.join(policies)}]"])
                s = run_experiment(cfg, None, log=lambda *a: None).summary
                s = s[s["window"] == "steady"]
                for _, r in s.iterrows():
                    rows.append({"testbed": tb, "load": load, "load_basis": cfg["workload"]["load_basis"],
                                 "seed": seed, "policy": r["policy"], **{m: r[m] for m in METRICS}})
                log(f"{tb} load {load} seed {seed}: " + ", ".join(
                    f"{r['policy']} {r['violation_rate']:.1%}" for _, r in s.iterrows()))
    return pd.DataFrame(rows)


def summarize(res: pd.DataFrame) -> pd.DataFrame:
    from scipy import stats

    g = res.groupby(["testbed", "load", "load_basis", "policy"], sort=False)
    out = g[list(METRICS)].mean()
    n = g.size()
    for m in ("violation_rate", "total_excess_s", "edge_energy_j"):
        sd = g[m].std(ddof=1)
        out[f"{m}_ci95"] = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n), np.nan)
    out["seeds"] = n
    out = out.reset_index()
    base = out[out["policy"] == "synergai"].set_index(["testbed", "load"])
    for m, name in (("violation_rate", "violations_vs_synergai"), ("total_excess_s", "excess_vs_synergai")):
        ref = base[m].reindex(pd.MultiIndex.from_frame(out[["testbed", "load"]])).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = out[m].to_numpy() / ref
    return out


def figure(summary: pd.DataFrame, path: Path) -> None:
    tbs = list(dict.fromkeys(summary["testbed"]))
    pols = list(dict.fromkeys(summary["policy"]))
    loads = sorted(summary["load"].unique())
    fig, axes = plt.subplots(2, len(tbs), figsize=(3.6 * len(tbs), 6.5), squeeze=False)
    w = 0.8 / len(pols)
    for j, tb in enumerate(tbs):
        for i, (m, label) in enumerate((("violation_rate", "violation rate"), ("total_excess_s", "total excess (s)"))):
            ax = axes[i, j]
            for k, p in enumerate(pols):
                d = summary[(summary["testbed"] == tb) & (summary["policy"] == p)].set_index("load").reindex(loads)
                ax.bar(np.arange(len(loads)) + (k - (len(pols) - 1) / 2) * w, d[m], w, yerr=d[f"{m}_ci95"],
                       label=p, capsize=2)
            ax.set_xticks(range(len(loads)), [f"load {x:g}" for x in loads])
            ax.set(title=f"{tb}" if i == 0 else "", ylabel=label if j == 0 else "")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Configuration selection: SynergAI vs without it (steady state, mean and 95% CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--testbeds", nargs="+", default=list(TESTBEDS), choices=list(TESTBEDS))
    ap.add_argument("--loads", nargs="+", type=float, default=[0.4, 0.8])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--jobs", type=int, default=4000)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "figures" / "config_ablation")
    a = ap.parse_args(argv)
    known = set(available_policies())
    pols = [p for p in POLICIES if p in known]
    for p in POLICIES:
        if p not in known:
            print(f"config_ablation: policy {p} is not registered here; skipped", file=sys.stderr)
    try:
        res = run(a.testbeds, a.loads, a.seeds, a.jobs, pols)
    except SynergAIError as exc:
        print(f"config_ablation: error: {exc}", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    res.to_csv(a.out / "results.csv", index=False)
    s = summarize(res)
    s.to_csv(a.out / "summary.csv", index=False)
    figure(s, a.out / "ablation.png")
    cols = ["testbed", "load", "policy", "violation_rate", "total_excess_s", "edge_energy_j",
            "violations_vs_synergai", "excess_vs_synergai"]
    print(s[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {a.out}/results.csv, summary.csv, ablation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
