"""Figures from a sweep's tidy table (``results.csv``, written by experiments.callbacks.AggregateSweep).

Each figure is drawn automatically at the end of ``synergai -m experiment=<grid>`` when listed in
``experiment.sweep_figures``, or by hand: ``python -m experiments.fig_sweep violations multirun/.../results.csv``.
Lines are means over seeds with 95 % confidence intervals (seaborn's bootstrap; a band needs >= 2 seeds); the
steady-state window. Facets share their y axis; values that span decades get a log axis (symlog from 0 where zeros
occur); each policy has its own colour, line style and marker (``experiments.plots.series_styles``).
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

from .plots import series_styles  # noqa: E402

ORDER = ["synergai", "synergai_no_config", "synergai_no_tail", "synergai_online", "slo_mael", "slo_mael_plain",
         "mael", "greedy", "k8s_default", "least_outstanding", "edge_first", "cloud_only", "round_robin", "random"]


def _steady(t: pd.DataFrame) -> pd.DataFrame:
    return t[t["window"] == "steady"]


def _order(t):
    present = set(t["policy"])
    return [p for p in ORDER if p in present] + sorted(present - set(ORDER))


def _styles(order):
    st = series_styles(order)
    return ({p: st[p]["color"] for p in order}, {p: st[p]["marker"] for p in order},
            {p: "" if st[p]["linestyle"] == "-" else st[p]["linestyle"] for p in order})


def _log_axis(g, values, positive_only=False):
    """Log y when the values span more than two decades: symlog from 0 (zeros are common), never below 0."""
    v = pd.to_numeric(values, errors="coerce")
    pos = v[(v > 0) & v.notna()]
    if len(pos) and pos.max() / pos.min() > 100:
        if positive_only or (v.dropna() > 0).all():
            g.set(yscale="log")
        else:
            g.set(yscale="symlog")
            for ax in g.axes.flat:
                ax.set_yscale("symlog", linthresh=float(pos.min()))
                ax.set_ylim(bottom=0)
        return True
    return False


def _grid(t, y, ylabel, out, name, logy=False):
    t = _steady(t)
    order = _order(t)
    palette, markers, dashes = _styles(order)
    g = sns.relplot(data=t, x="load", y=y, hue="policy", hue_order=order, style="policy", style_order=order,
                    markers=markers, dashes=_dash_specs(dashes), palette=palette, col="qos_multiplier", kind="line",
                    errorbar=("ci", 95), height=3.2, aspect=1.0, facet_kws={"sharey": True})
    g.set_axis_labels("offered load (fraction of capacity)", ylabel)
    g.set_titles("QoS = {col_name} x best isolated")
    if logy and _log_axis(g, t[y]):
        g.set_axis_labels("offered load (fraction of capacity)", ylabel + " (log)")
    else:
        for ax in g.axes.flat:
            ax.set_ylim(bottom=0)
    return _save(g.figure, out, name, t)


def _dash_specs(dashes):
    """seaborn wants dash tuples ('' = solid): map matplotlib names and (offset, seq) tuples to sequences."""
    named = {"--": (4, 2), "-.": (4, 1.5, 1, 1.5), ":": (1, 1.5)}
    out = {}
    for k, d in dashes.items():
        out[k] = "" if d == "" else named.get(d, d[1] if isinstance(d, tuple) and len(d) == 2 else (3, 1))
    return out


def violations(t, out):
    return _grid(t, "violation_rate", "QoS violation rate", out, "violations_vs_load")


def excess(t, out):
    return _grid(t, "mean_excess_ms", "mean excess time (ms)", out, "excess_vs_load", logy=True)


def tail(t, out):
    s = _steady(t).melt(id_vars=["policy", "load", "qos_multiplier", "seed"],
                        value_vars=["p95_latency_ms", "p99_latency_ms"], var_name="percentile", value_name="ms")
    order = _order(s)
    palette, _, _ = _styles(order)
    g = sns.relplot(data=s, x="load", y="ms", hue="policy", hue_order=order, palette=palette, style="percentile",
                    markers=True, col="qos_multiplier", kind="line", errorbar=("ci", 95), height=3.2,
                    facet_kws={"sharey": True})
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
    order = _order(s)
    palette, _, _ = _styles(order)
    g = sns.catplot(data=s, x="policy", y="violation_rate", order=order, hue="policy", hue_order=order,
                    palette=palette, col="load", kind="bar", errorbar=("ci", 95), height=3.2, aspect=1.2,
                    sharey=True, legend=False)
    g.set_axis_labels("", "QoS violation rate")
    g.set_xticklabels(rotation=35, ha="right")
    return _save(g.figure, out, "ablation", s)


def _save(fig, out: Path, name: str, data: pd.DataFrame):
    from .outputs import write_csv

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{name}.png.tmp"
    fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png", metadata={"Software": None})
    plt.close(fig)
    tmp.replace(out / f"{name}.png")
    write_csv(out / f"{name}.csv", [data])
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
