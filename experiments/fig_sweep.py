"""Figures from a sweep's tidy table (``results.csv``, written by experiments.callbacks.AggregateSweep).

Each figure is drawn automatically at the end of ``synergai -m experiment=<grid>`` when listed in
``experiment.sweep_figures``, or by hand: ``python -m experiments.fig_sweep violations multirun/.../results.csv``.
Lines are means over seeds with 95 % confidence intervals (seaborn's bootstrap); the steady-state window.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

ORDER = ["synergai", "synergai_no_config", "synergai_no_tail", "synergai_online", "slo_mael", "slo_mael_plain",
         "mael", "greedy", "k8s_default", "least_outstanding", "edge_first", "cloud_only", "round_robin", "random"]


def _steady(t: pd.DataFrame) -> pd.DataFrame:
    return t[t["window"] == "steady"]


def _order(t):
    present = set(t["policy"])
    return [p for p in ORDER if p in present] + sorted(present - set(ORDER))


def _grid(t, y, ylabel, out, name, logy=False):
    t = _steady(t)
    g = sns.relplot(data=t, x="load", y=y, hue="policy", hue_order=_order(t), col="qos_multiplier", kind="line",
                    marker="o", errorbar=("ci", 95), height=3.2, aspect=1.0, facet_kws={"sharey": False})
    g.set_axis_labels("offered load (fraction of capacity)", ylabel)
    g.set_titles("QoS = {col_name} x best isolated")
    if logy:
        g.set(yscale="symlog")
    return _save(g.figure, out, name, t)


def violations(t, out):
    return _grid(t, "violation_rate", "QoS violation rate", out, "violations_vs_load")


def excess(t, out):
    return _grid(t, "mean_excess_ms", "mean excess time (ms)", out, "excess_vs_load", logy=True)


def tail(t, out):
    s = _steady(t).melt(id_vars=["policy", "load", "qos_multiplier", "seed"],
                        value_vars=["p95_latency_ms", "p99_latency_ms"], var_name="percentile", value_name="ms")
    g = sns.relplot(data=s, x="load", y="ms", hue="policy", hue_order=_order(s), style="percentile",
                    col="qos_multiplier", kind="line", errorbar=("ci", 95), height=3.2, facet_kws={"sharey": False})
    g.set(yscale="log")
    g.set_axis_labels("offered load (fraction of capacity)", "latency (ms, log)")
    g.set_titles("QoS = {col_name} x best isolated")
    return _save(g.figure, out, "tail_latency", s)


def energy(t, out):
    s = _steady(t).copy()
    s["edge_energy_mj_per_job"] = s["edge_energy_j"] * 1000 / (s["completed"] * s["edge_share"])
    base = s[s["policy"] == "greedy"].set_index(["load", "qos_multiplier", "seed"])["edge_energy_mj_per_job"]
    s["normalised_edge_energy"] = s["edge_energy_mj_per_job"] / base.reindex(
        pd.MultiIndex.from_frame(s[["load", "qos_multiplier", "seed"]])).to_numpy()
    return _grid(s.assign(window="steady"), "normalised_edge_energy", "edge energy per edge job / greedy's", out,
                 "edge_energy")


def ablation(t, out):
    s = _steady(t)
    g = sns.catplot(data=s, x="policy", y="violation_rate", order=_order(s), col="load", kind="bar",
                    errorbar=("ci", 95), height=3.2, aspect=1.2, color="#4C72B0")
    g.set_axis_labels("", "QoS violation rate")
    g.set_xticklabels(rotation=35, ha="right")
    return _save(g.figure, out, "ablation", s)


def _save(fig, out: Path, name: str, data: pd.DataFrame):
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    data.to_csv(out / f"{name}.csv", index=False)
    print(f"wrote {out / name}.png and .csv")
    return data


FIGURES = {"violations": violations, "excess": excess, "tail": tail, "energy": energy, "ablation": ablation}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Figures from a sweep's results.csv")
    ap.add_argument("figure", choices=list(FIGURES))
    ap.add_argument("results", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="default: the results file's folder")
    a = ap.parse_args(argv)
    if not a.results.is_file():
        print(f"fig_sweep: error: {a.results}: file not found", file=sys.stderr)
        return 2
    FIGURES[a.figure](pd.read_csv(a.results), a.out or a.results.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
