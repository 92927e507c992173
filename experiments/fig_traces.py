"""Characterization figures from the bundled traces, one command each (PNG + the CSV behind it):

    python -m experiments.fig_traces heatmap   # p50 latency by model x (device, engine, precision), batch 1
    python -m experiments.fig_traces scaling   # x86: latency vs threads, throughput vs batch
    python -m experiments.fig_traces tiers     # per model: best batch-1 p50 on each device type

Reads ``traces/`` through the same ``PerformanceProfile`` the simulator uses (``--basis`` as there).
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
import seaborn as sns  # noqa: E402

from synergai.errors import SynergAIError  # noqa: E402
from synergai.profile import BASES, PerformanceProfile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TIER_ORDER = ("jetson-xavier-nx", "jetson-agx-xavier", "jetson-orin-nx", "jetson-agx-orin", "x86-vm-2c",
              "gpu-l4", "gpu-a100")


def profile_table(profile: PerformanceProfile) -> pd.DataFrame:
    rows = []
    for e in profile.entries:
        c = e.config
        rows.append({"device_type": e.device_type, "model": e.model, "engine": c.engine, "precision": c.precision,
                     "batch": c.batch, "threads": c.threads, "power_mode": c.power_mode, "units": e.units,
                     "resource": e.resource, "p50_ms": e.p50_ms, "p99_ms": e.dist.quantile(0.99),
                     "mean_ms": e.mean_ms, "power_w": e.power_w, "source_kind": e.source_kind})
    t = pd.DataFrame(rows)
    t["per_sample_ms"] = t["p50_ms"] / t["batch"]
    t["throughput_per_s"] = 1000.0 / t["per_sample_ms"]
    return t


def heatmap(t: pd.DataFrame, out: Path) -> pd.DataFrame:
    b1 = t[t["batch"] == 1]
    # best threads per (device, engine, precision, power mode, model): the configuration a user would pick; power
    # modes are node-wide, so each mode of a board is its own column (named where the board has several)
    best = b1.loc[b1.groupby(["device_type", "engine", "precision", "power_mode", "model"])["p50_ms"].idxmin()]
    modes = best.groupby("device_type")["power_mode"].nunique()
    mode = np.where(best["device_type"].map(modes) > 1, " [" + best["power_mode"] + "]", "")
    best = best.assign(setting=best["device_type"] + " | " + best["engine"] + " " + best["precision"] + mode)
    grid = best.pivot(index="model", columns="setting", values="p50_ms")
    # settings as rows (long labels read horizontally), models as columns; cells wide enough for "1.23e+03"
    grid = grid.T
    fig, ax = plt.subplots(figsize=(1.3 * grid.shape[1] + 5, 0.32 * grid.shape[0] + 1.8))
    sns.heatmap(np.log10(grid), annot=grid.map(lambda v: "" if np.isnan(v) else f"{v:.3g}"), fmt="", ax=ax,
                cmap="viridis_r", annot_kws={"fontsize": 7}, cbar_kws={"label": "log10 p50 latency (ms), batch 1"})
    ax.set(xlabel="", ylabel="", title="Batch-1 median latency (ms): device | engine precision × model")
    ax.tick_params(axis="y", labelsize=7, rotation=0)
    ax.tick_params(axis="x", labelsize=8, rotation=0)
    return _save(fig, out, "characterization_heatmap", best)


def scaling(t: pd.DataFrame, out: Path) -> pd.DataFrame:
    x86 = t[t["device_type"].str.startswith("x86") & (t["threads"] > 0)]  # rows measured at a thread count
    if x86.empty:
        raise SynergAIError("no x86 rows in the traces")
    x86 = x86.assign(setting=x86["engine"] + " " + x86["precision"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    th = x86[x86["batch"] == 1]
    sns.lineplot(data=th, x="threads", y="p50_ms", hue="model", style="setting", markers=True, ax=axes[0])
    axes[0].set(yscale="log", ylabel="p50 latency per call (ms)", title="x86: latency vs threads (batch 1)")
    axes[0].set_xticks(sorted(th["threads"].unique()))
    mt = x86[x86["threads"] == x86["threads"].max()]
    sns.lineplot(data=mt, x="batch", y="throughput_per_s", hue="model", style="setting", markers=True, ax=axes[1])
    axes[1].set(xscale="log", yscale="log", ylabel="samples/s (batch / p50)",
                title=f"x86: throughput vs batch ({int(mt['threads'].max())} threads)")
    for ax in axes:
        ax.legend(fontsize=7)
    return _save(fig, out, "x86_scaling", x86)


def tiers(t: pd.DataFrame, out: Path) -> pd.DataFrame:
    b1 = t[t["batch"] == 1]
    best = b1.loc[b1.groupby(["device_type", "model"])["p50_ms"].idxmin()]
    common = best.groupby("model")["device_type"].nunique()
    best = best[best["model"].isin(common[common >= 3].index)]
    order = [d for d in TIER_ORDER if d in set(best["device_type"])] + sorted(
        set(best["device_type"]) - set(TIER_ORDER))
    fig, ax = plt.subplots(figsize=(11, 4.2))
    sns.barplot(data=best, x="model", y="p50_ms", hue="device_type", hue_order=order, ax=ax)
    ax.set(yscale="log", ylabel="best batch-1 p50 latency (ms, log)", xlabel="",
           title="Jetson vs x86 vs GPU: fastest measured configuration per model")
    ax.legend(fontsize=8, ncol=2)
    return _save(fig, out, "tiers_per_model", best)


def _save(fig, out: Path, name: str, data: pd.DataFrame) -> pd.DataFrame:
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    data.to_csv(out / f"{name}.csv", index=False)
    print(f"wrote {out / name}.png and .csv")
    return data


FIGURES = {"heatmap": heatmap, "scaling": scaling, "tiers": tiers}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Characterization figures from traces/")
    ap.add_argument("figure", choices=[*FIGURES, "all"])
    ap.add_argument("--traces", type=Path, default=ROOT / "traces")
    ap.add_argument("--basis", choices=BASES, default="cpu")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "figures")
    a = ap.parse_args(argv)
    try:
        t = profile_table(PerformanceProfile.from_dir(a.traces, basis=a.basis))
        for name in FIGURES if a.figure == "all" else [a.figure]:
            FIGURES[name](t, a.out)
    except SynergAIError as exc:
        print(f"fig_traces: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
