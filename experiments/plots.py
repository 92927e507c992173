"""The per-run comparison figure: QoS violations, excess time and latency distribution per policy."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402


def comparison_figure(summary, jobs, path: Path) -> Path:
    s = summary[summary["window"] == "steady"].sort_values("violation_rate")
    order = list(s["policy"])
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    sns.barplot(data=s, x="policy", y="violation_rate", order=order, ax=axes[0], color="#4C72B0")
    axes[0].set(ylabel="QoS violation rate (steady state)", xlabel="")
    sns.barplot(data=s, x="policy", y="mean_excess_ms", order=order, ax=axes[1], color="#DD8452")
    axes[1].set(ylabel="mean excess time (ms)", xlabel="")
    done = jobs[jobs["status"] == "completed"]
    sns.ecdfplot(data=done, x="latency_ms", hue="policy", hue_order=order, ax=axes[2], log_scale=True)
    axes[2].set(xlabel="job latency (ms, log)", ylabel="fraction of jobs")
    for ax in axes[:2]:
        ax.tick_params(axis="x", rotation=35)
        for lab in ax.get_xticklabels():
            lab.set_ha("right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
