"""Figure 5: scheduling overhead per decision vs number of nodes, per policy and window size.

    python -m experiments.bench_overhead --out experiments/figures/overhead.csv   # measure (minutes)
    python -m experiments.fig_overhead experiments/figures/overhead.csv           # draw overhead.png beside it
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

from experiments.plots import series_styles  # noqa: E402


def overhead_figure(t: pd.DataFrame, out: Path) -> Path:
    t = t[t["status"] == "measured"].copy()
    t["series"] = t["policy"] + " (" + t["window"].astype(str) + ")"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    order = sorted(t["series"].unique())
    st = series_styles(order)
    sns.lineplot(data=t, x="nodes", y="p50_job_us", hue="series", hue_order=order, style="series", style_order=order,
                 palette={k: v["color"] for k, v in st.items()}, markers={k: v["marker"] for k, v in st.items()},
                 dashes=True, ax=axes[0])
    axes[0].set(xscale="log", yscale="log", xlabel="nodes", ylabel="p50 decision time per job (µs)",
                title="Overhead per job vs cluster size")
    win = t[t["policy"].isin(["slo_mael", "mael"])]
    if not win.empty:
        sns.lineplot(data=win, x="jobs_per_call", y="p50_call_us", hue="policy", style="nodes", markers=True,
                     palette="colorblind", ax=axes[1])
        axes[1].set(xscale="log", yscale="log", xlabel="jobs per window", ylabel="p50 time per window (µs)",
                    title="SLO-MAEL / MAEL: cost of a window")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "overhead.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    a = ap.parse_args(argv)
    if not a.csv.is_file():
        print(f"fig_overhead: error: {a.csv}: file not found", file=sys.stderr)
        return 2
    print(f"wrote {overhead_figure(pd.read_csv(a.csv), a.csv.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
