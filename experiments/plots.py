"""The per-run comparison figure: QoS violations, excess time and latency distribution per policy.

Shared styling for every figure: ``series_styles`` gives each series a colour *and* a line style / marker, so
eleven policies stay apart in print and for colour-blind readers; values that span decades get a log axis.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import cycle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

_DASHES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1))]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h"]
ECDF_POINTS = 400  # quantiles per policy: the curve of a 10^7-job run without drawing 10^7 points


def series_styles(names: Sequence[str]) -> dict[str, dict]:
    """Per name: colour (tab10, then tab20), line style and marker; stable for a given order of names."""
    colors = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2])
    dashes, markers = cycle(_DASHES), cycle(_MARKERS)
    return {n: {"color": colors[k % len(colors)], "linestyle": next(dashes), "marker": next(markers)}
            for k, n in enumerate(names)}


def save(fig, path: Path) -> Path:
    """savefig to a temporary name, then rename: a killed run never leaves half a PNG."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=130, format=path.suffix.lstrip(".") or "png", metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, path)
    return path


def latency_quantiles(jobs: pd.DataFrame, policy: str | None = None, points: int = ECDF_POINTS):
    """(latency_ms quantiles, fractions) of completed jobs: an ECDF sampled at ``points`` fractions."""
    ok = (jobs["status"] == "completed").to_numpy(dtype=bool)
    if policy is not None and "policy" in jobs:
        ok = ok & (jobs["policy"] == policy).to_numpy(dtype=bool)
    lat = jobs["latency_ms"].to_numpy(dtype=float)[ok]
    if not len(lat):
        return np.array([]), np.array([])
    q = np.linspace(0.0, 1.0, points)
    return np.quantile(lat, q, overwrite_input=True), q  # lat is our copy


def _short(v: float) -> str:
    """A bar label that stays narrow: 0.524, 47.8, 368, 16k, 1.6M."""
    if not np.isfinite(v):
        return "-"
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= 10 * div:
            return f"{v / div:.0f}{unit}"
        if abs(v) >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:.3g}"


def comparison_figure(summary, jobs, path: Path) -> Path:
    """``jobs``: one frame, or a list of per-policy frames (each with a ``policy`` column)."""
    s = summary[summary["window"] == "steady"].sort_values("violation_rate")
    order = list(s["policy"])
    styles = series_styles(order)
    tables = jobs if isinstance(jobs, (list, tuple)) else [jobs]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    x = np.arange(len(order))
    colors = [styles[p]["color"] for p in order]
    bars = axes[0].bar(x, s["violation_rate"].to_numpy() * 100, color=colors)
    axes[0].bar_label(bars, fmt="%.1f", fontsize=7)
    axes[0].set(ylabel="QoS violations, steady state (%)", ylim=(0, 100))
    excess = s["mean_excess_ms"].to_numpy(dtype=float)
    bars = axes[1].bar(x, excess, color=colors)
    axes[1].bar_label(bars, labels=[_short(v) for v in excess], fontsize=7)
    pos = excess[np.isfinite(excess) & (excess > 0)]
    if len(pos) and pos.max() / max(pos.min(), 1e-12) > 10:  # spans decades: log above the smallest value
        axes[1].set_yscale("symlog", linthresh=max(pos.min(), 1e-3))
        axes[1].set_ylim(0, pos.max() * 6)  # room for the labels above the tallest bar
        axes[1].set_ylabel("mean excess time (ms, symlog)")
    else:
        axes[1].set_ylabel("mean excess time (ms)")
    for ax in axes[:2]:
        ax.set_xticks(x, order, rotation=40, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for p in order:
        lat, frac = np.array([]), np.array([])
        for t in tables:
            if "policy" not in t or (t["policy"] == p).any():
                lat, frac = latency_quantiles(t, p)
                if len(lat):
                    break
        if len(lat):
            st = styles[p]
            axes[2].plot(lat, frac, color=st["color"], linestyle=st["linestyle"], marker=st["marker"],
                         markevery=max(1, len(lat) // 6), markersize=4, linewidth=1.3, label=p)
    axes[2].set_xscale("log")
    axes[2].set(xlabel="job latency (ms, log)", ylabel="fraction of completed jobs", ylim=(0, 1))
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    return save(fig, path)
