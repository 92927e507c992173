"""The multi-cluster evaluation suite: clusters x arrivals x QoS x loads x seeds, every policy, one command.

    python -m experiments.suite                  # the full grid (prints its estimated cost first)
    python -m experiments.suite --quick          # a few minutes on 2 cores: every cluster and arrival, fewer cells
    python -m experiments.suite --estimate       # print the grid and its estimated cost, run nothing
    python -m experiments.suite --from DIR/results.csv   # redo tables and figures from an earlier run

Every run is one (cluster, arrival, QoS, load, seed): one job stream, every policy on it (identical jobs for all
policies, per seed), steady-state window (experiment.warmup_fraction / cooldown_fraction). Runs go in parallel
(``--workers``, default 2). Outputs under ``--out``:

- ``results.csv``: the tidy table, one row per cluster x arrival x qos x load x seed x policy (steady window).
- ``aggregate.csv``: per cell (cluster x arrival x qos x load) and policy: mean, sd, n and 95 % CI half-width
  (Student t over seeds) of every metric.
- ``paired.csv``: per cell and baseline, SynergAI minus baseline violation rate, paired by seed (same streams),
  mean and 95 % CI; ``behind`` when the whole CI is above 0 (SynergAI worse beyond the CI).
- ``cells.csv``: per cell, SLO-MAEL / SynergAI violation ratio, excess time of both and their ratio, the
  baselines SynergAI is behind beyond the CI, the best baseline.
- ``strongest.csv``: per cluster, SynergAI's grid-mean violation rate against each of clockwork, infaas, edf,
  greedy and slo_mael, the best of them, and the cells where SynergAI is behind / ahead of each beyond the CI;
- ``clusters.csv``: per cluster, the ratio's median over cells, geometric mean, ratio of grid means, worst
  and best cell; cells behind; cells where SynergAI's excess time exceeds SLO-MAEL's.
- ``violations_<cluster>.png`` / ``excess_<cluster>.png``: metric vs load per arrival x QoS, mean +- 95 % CI.
- ``suite.json``: the grid, the software conventions used, wall time and the load average.

Ratio convention: r = (v_slo + eps) / (v_syn + eps) with eps = half a job of the cell's steady window
(0.5 / steady jobs), so a cell where SynergAI has no violation gives a large finite ratio instead of infinity,
and a cell where neither violates gives 1. ``cells_syn_zero`` counts the cells where this matters.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.runner import CONFIG_DIR, PROJECT_ROOT, compose_config, run_experiment

OUT = PROJECT_ROOT / "experiments" / "figures" / "suite"
CLUSTERS = ["default", "wan_boards", "cloud_gpu", "scarce_fast"]
ARRIVALS = ["poisson", "bursty", "azure_code"]  # names of configs/workload/*.yaml ("poisson" = default)
ARRIVAL_CONFIG = {"poisson": "default"}
QOS = [1.5, 2.0, 3.0, 5.0]
LOADS = [0.1, 0.2, 0.4, 0.6]
SEEDS = [1, 2, 3]
JOBS = 2000
POLICIES = ["synergai", "greedy", "slo_mael", "mael", "k8s_default", "least_outstanding", "edge_first",
            "cloud_only", "round_robin", "random"]
OPTIONAL_POLICIES = ["edf", "infaas", "clockwork"]  # added when registered
QUICK = dict(qos=[3.0], loads=[0.1, 0.4], seeds=[1, 2, 3], jobs=500)
CELL = ["cluster", "arrival", "qos_multiplier", "load", "load_basis", "qos_reference"]
METRICS = ["violation_rate", "mean_excess_ms", "total_excess_s", "p50_latency_ms", "p95_latency_ms",
           "p99_latency_ms", "throughput_jobs_per_s", "edge_share", "edge_energy_j", "energy_known_share",
           "failed", "jobs", "overhead_p50_us"]
# Rough CPU cost per job and policy (s), from the --quick grid on the shared 2-vCPU dev machine (poisson, load
# ~0.25): the windowed policies (SLO-MAEL, MAEL) dominate; their windows hold more jobs under bursts and replay
# (ARRIVAL_COST) and at higher load. Wall time is CPU time / workers, stretched when the machine is loaded.
COST_S_PER_JOB = {"slo_mael": 1.0e-3, "slo_mael_plain": 1.0e-3, "mael": 0.9e-3}
COST_S_PER_JOB_OTHER = 3e-5
ARRIVAL_COST = {"poisson": 1.0, "bursty": 2.2}  # anything else (trace replays): 2.5
COST_S_PER_RUN = 0.3  # config, profile, stream, summaries


class SuiteError(Exception):
    """A bad option: one line, exit 2."""


# ----------------------------------------------------------------------------- options and grid
def _floats(s: str) -> list[float]:
    try:
        v = [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {s!r}") from None
    if not v or not all(math.isfinite(x) and x > 0 for x in v):
        raise argparse.ArgumentTypeError(f"need numbers > 0, got {s!r}")
    return v


def _ints(s: str) -> list[int]:
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {s!r}") from None
    if not v or min(v) < 0:
        raise argparse.ArgumentTypeError(f"need integers >= 0, got {s!r}")
    return v


def _names(s: str) -> list[str]:
    v = [x.strip() for x in s.split(",") if x.strip()]
    if not v:
        raise argparse.ArgumentTypeError("empty list")
    return v


def workload_keys() -> set[str]:
    from synergai.workload import WorkloadSpec

    return {f.name for f in fields(WorkloadSpec)}


def conventions(load_basis: list[str], qos_reference: list[str], log=print) -> tuple[list, list]:
    """The load / QoS conventions to sweep. Values other than today's need the WorkloadSpec keys
    ``load_basis`` / ``qos_reference``; without them those values are skipped with a message."""
    keys = workload_keys()
    out = []
    for key, vals, default in (("load_basis", load_basis, "nominal"), ("qos_reference", qos_reference, "cluster")):
        if key in keys:
            out.append(list(vals))
            continue
        other = [v for v in vals if v != default]
        if other:
            log(f"suite: workload.{key} is not supported by this version of synergai.workload; skipping "
                f"{key}={','.join(other)} (today's convention is {default})")
        out.append([None] if default in vals or not other else [])
    if not out[0] or not out[1]:
        raise SuiteError("no load basis / QoS reference left to run (see the messages above)")
    return out[0], out[1]


def select_policies(names: list[str], log=print) -> list[str]:
    from synergai.policy import available_policies

    known = set(available_policies())
    keep = [n for n in names if n in known]
    for n in names:
        if n not in known:
            log(f"suite: policy {n!r} is not registered; skipped")
    if "synergai" not in keep:
        raise SuiteError("the suite compares against synergai: it must be among --policies")
    return keep


def base_configs(clusters: list[str], arrivals: list[str]) -> dict[tuple[str, str], dict]:
    """One composed config per (cluster, arrival); unknown names fail here, before anything runs."""
    for c in clusters:
        if not (CONFIG_DIR / "cluster" / f"{c}.yaml").is_file():
            have = sorted(p.stem for p in (CONFIG_DIR / "cluster").glob("*.yaml"))
            raise SuiteError(f"--clusters: no configs/cluster/{c}.yaml (have: {', '.join(have)})")
    for a in arrivals:
        if not (CONFIG_DIR / "workload" / f"{ARRIVAL_CONFIG.get(a, a)}.yaml").is_file():
            have = sorted({"poisson"} | {p.stem for p in (CONFIG_DIR / "workload").glob("*.yaml")} - {"default"})
            raise SuiteError(f"--arrivals: unknown arrival {a!r} (have: {', '.join(have)})")
    return {(c, a): compose_config([f"cluster={c}", f"workload={ARRIVAL_CONFIG.get(a, a)}"])
            for c in clusters for a in arrivals}


def grid(a: argparse.Namespace, log=print) -> tuple[list[dict], list[str]]:
    """Every run as a task (cell keys + its config)."""
    policies = select_policies(a.policies, log)
    bases, refs = conventions(a.load_basis, a.qos_reference, log)
    cfgs = base_configs(a.clusters, a.arrivals)
    tasks = []
    for (c, arr), base in cfgs.items():
        for q in a.qos:
            for load in a.loads:
                for lb in bases:
                    for ref in refs:
                        for seed in a.seeds:
                            cfg = copy.deepcopy(base)
                            cfg["seed"] = seed
                            w = cfg["workload"]
                            w.update(n_jobs=a.jobs, load=load, rate_per_s=None, qos_multiplier=q)
                            if lb is not None:
                                w["load_basis"] = lb
                            if ref is not None:
                                w["qos_reference"] = ref
                            cfg["policy"].update(names=list(policies), params={}, modules=[])
                            cfg["experiment"].update(progress=False, figure=False, write_jobs=False)
                            tasks.append({"key": {"cluster": c, "arrival": arr, "qos_multiplier": q, "load": load,
                                                  "load_basis": lb or "nominal", "qos_reference": ref or "cluster",
                                                  "seed": seed}, "cfg": cfg})
    from experiments.runner import prepare

    seen = set()
    for t in tasks:  # validate each (cluster, arrival) once, before anything runs
        k = (t["key"]["cluster"], t["key"]["arrival"])
        if k not in seen:
            seen.add(k)
            prepare(t["cfg"])
    return tasks, policies


def estimate_s(tasks: list[dict], policies: list[str]) -> float:
    """Rough single-core seconds (COST_S_PER_JOB x arrival factor x load factor)."""
    per_job = sum(COST_S_PER_JOB.get(p, COST_S_PER_JOB_OTHER) for p in policies)
    return sum(COST_S_PER_RUN + t["cfg"]["workload"]["n_jobs"] * per_job * ARRIVAL_COST.get(t["key"]["arrival"], 2.5)
               * (0.75 + min(t["key"]["load"], 1.0)) for t in tasks)


def wall_estimate_s(cpu_s: float, workers: int) -> float:
    """CPU seconds spread over the workers, stretched by the current load average beyond the cores."""
    cores = os.cpu_count() or 1
    busy = max(1.0, os.getloadavg()[0] / cores) if hasattr(os, "getloadavg") else 1.0
    return cpu_s / min(workers, cores) * busy


# ----------------------------------------------------------------------------- running
def run_one(task: dict) -> list[dict]:
    """One run: every policy on one stream; the steady-window summary rows with the cell keys."""
    t0 = time.perf_counter()
    res = run_experiment(task["cfg"], out_dir=None, log=lambda *_: None)
    wall = time.perf_counter() - t0
    s = res.summary[res.summary["window"] == "steady"]
    rows = []
    for r in s.to_dict("records"):
        row = {**task["key"], "policy": r["policy"], "n_jobs": task["cfg"]["workload"]["n_jobs"],
               "nodes": r["nodes"], "rate_per_s": r["rate_per_s"], "run_wall_s": wall}
        row.update({m: r[m] for m in METRICS})
        rows.append(row)
    return rows


def run_all(tasks: list[dict], workers: int, log=print) -> pd.DataFrame:
    t0 = time.perf_counter()
    rows: list[dict] = []
    if workers <= 1:
        it = map(run_one, tasks)
    else:
        from joblib import Parallel, delayed

        it = Parallel(n_jobs=workers, return_as="generator_unordered", batch_size=1)(
            delayed(run_one)(t) for t in tasks)
    step = max(1, len(tasks) // 20)
    for k, r in enumerate(it, 1):
        rows += r
        if k % step == 0 or k == len(tasks):
            el = time.perf_counter() - t0
            log(f"suite: {k}/{len(tasks)} runs, {el:.0f} s elapsed, ~{el / k * (len(tasks) - k):.0f} s left",
                flush=True)
    return pd.DataFrame(rows).sort_values(CELL + ["seed", "policy"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- analysis
def _ci95(sd: pd.Series, n: pd.Series) -> pd.Series:
    from scipy import stats

    t = pd.Series([stats.t.ppf(0.975, k - 1) if k > 1 else np.nan for k in n], index=n.index)
    return t * sd / np.sqrt(n)


def aggregate(t: pd.DataFrame) -> pd.DataFrame:
    g = t.groupby(CELL + ["policy"], sort=False)
    parts = []
    for m in METRICS:
        a = g[m].agg(["mean", "std", "count"])
        a.columns = [f"{m}_mean", f"{m}_sd", f"{m}_n"]
        a[f"{m}_ci95"] = _ci95(a[f"{m}_sd"], a[f"{m}_n"])
        parts.append(a)
    out = pd.concat(parts, axis=1).reset_index()
    n = out.pop("violation_rate_n")
    out = out.drop(columns=[c for c in out.columns if c.endswith("_n")])
    out.insert(len(CELL) + 1, "seeds", n)
    return out


def paired(t: pd.DataFrame) -> pd.DataFrame:
    """SynergAI minus each baseline, violation rate and mean excess, paired by seed (same job streams)."""
    idx = CELL + ["seed"]
    syn = t[t["policy"] == "synergai"].set_index(idx)
    rows = []
    for b, bt in t[t["policy"] != "synergai"].groupby("policy"):
        bt = bt.set_index(idx)
        common = syn.index.intersection(bt.index)
        d = pd.DataFrame({"d_viol": syn.loc[common, "violation_rate"] - bt.loc[common, "violation_rate"],
                          "d_excess": syn.loc[common, "mean_excess_ms"] - bt.loc[common, "mean_excess_ms"]})
        for cell, dc in d.groupby(level=CELL, sort=False):
            n = len(dc)
            row = dict(zip(CELL, cell), baseline=b, seeds=n)
            for k in ("d_viol", "d_excess"):
                mean, sd = dc[k].mean(), dc[k].std()
                ci = float(_ci95(pd.Series([sd]), pd.Series([n])).iloc[0])
                row[f"{k}_mean"], row[f"{k}_ci95"] = mean, ci
            # behind beyond the CI: the paired 95 % CI of (SynergAI - baseline) lies above 0. One seed: no CI,
            # so never "beyond the CI" (behind_mean still says whether the mean is worse).
            row["behind"] = bool(n > 1 and row["d_viol_mean"] - row["d_viol_ci95"] > 0)
            row["behind_mean"] = bool(row["d_viol_mean"] > 0)
            rows.append(row)
    return pd.DataFrame(rows)


def ratio(v_num: float, v_den: float, eps: float) -> float:
    """(v_num + eps) / (v_den + eps): finite when the denominator is 0; 1 when both are 0."""
    return (v_num + eps) / (v_den + eps)


def cells(agg: pd.DataFrame, pair: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for cell, c in agg.groupby(CELL, sort=False):
        c = c.set_index("policy")
        row = dict(zip(CELL, cell))
        syn = c.loc["synergai"]
        steady_jobs = syn["jobs_mean"]
        eps = 0.5 / steady_jobs if steady_jobs > 0 else np.nan
        row.update(steady_jobs=steady_jobs, eps=eps, synergai_viol=syn["violation_rate_mean"],
                   synergai_viol_ci95=syn["violation_rate_ci95"], synergai_excess_ms=syn["mean_excess_ms_mean"])
        base = c.drop(index="synergai")
        best = base["violation_rate_mean"].idxmin() if len(base) else None
        row.update(best_baseline=best, best_baseline_viol=base["violation_rate_mean"].min() if best else np.nan)
        if "slo_mael" in c.index:
            s = c.loc["slo_mael"]
            row.update(slo_mael_viol=s["violation_rate_mean"], slo_mael_excess_ms=s["mean_excess_ms_mean"],
                       ratio_slo_syn=ratio(s["violation_rate_mean"], syn["violation_rate_mean"], eps),
                       excess_ratio_slo_syn=(s["mean_excess_ms_mean"] / syn["mean_excess_ms_mean"]
                                             if syn["mean_excess_ms_mean"] > 0 else np.nan),
                       excess_syn_le_slo=bool(syn["mean_excess_ms_mean"] <= s["mean_excess_ms_mean"]))
        p = pair[np.logical_and.reduce([pair[k] == v for k, v in zip(CELL, cell)])] if len(pair) else pair
        beh = p[p["behind"]] if len(p) else p
        row["behind"] = ";".join(f"{b}:{d * 100:+.1f}pt" for b, d in zip(beh.get("baseline", []),
                                                                           beh.get("d_viol_mean", [])))
        row["n_behind"] = len(beh)
        row["n_behind_mean"] = int(p["behind_mean"].sum()) if len(p) else 0
        rows.append(row)
    return pd.DataFrame(rows)


def _label(r) -> str:
    return f"{r['arrival']} qos={r['qos_multiplier']:g} load={r['load']:g}" + (
        "" if (r["load_basis"], r["qos_reference"]) == ("nominal", "cluster")
        else f" {r['load_basis']}/{r['qos_reference']}")


def clusters(cl: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, c in cl.groupby("cluster", sort=False):
        row = {"cluster": name, "cells": len(c)}
        if "ratio_slo_syn" in c:
            r = c["ratio_slo_syn"]
            worst, best = c.loc[r.idxmin()], c.loc[r.idxmax()]
            row.update(ratio_median=float(r.median()), ratio_geomean=float(np.exp(np.log(r).mean())),
                       ratio_of_means=float(c["slo_mael_viol"].mean() / c["synergai_viol"].mean())
                       if c["synergai_viol"].mean() > 0 else np.inf,
                       ratio_worst=float(r.min()), worst_cell=_label(worst), ratio_best=float(r.max()),
                       best_cell=_label(best), cells_syn_zero=int((c["synergai_viol"] == 0).sum()),
                       cells_excess_above_slo=int((~c["excess_syn_le_slo"].astype(bool)).sum()),
                       excess_ratio_geomean=_geomean(c["excess_ratio_slo_syn"]))
        row.update(cells_behind=int((c["n_behind"] > 0).sum()), cells_behind_mean=int((c["n_behind_mean"] > 0).sum()),
                   max_behind_pt=_max_behind(c), synergai_viol_mean=float(c["synergai_viol"].mean()))
        rows.append(row)
    return pd.DataFrame(rows)


STRONGEST = ("clockwork", "infaas", "edf", "greedy", "slo_mael")  # the baselines issue 14 compares against


def strongest(agg: pd.DataFrame, pair: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: SynergAI's grid-mean violation rate against each of ``STRONGEST`` (grid means over the same
    cells), the best of them per cluster and per cell, and the cells where SynergAI is behind / ahead of each
    beyond the paired 95 % CI."""
    rows = []
    have = [b for b in STRONGEST if b in set(agg["policy"])]
    for name, c in agg.groupby("cluster", sort=False):
        v = c.pivot_table(index=[k for k in CELL if k != "cluster"], columns="policy", values="violation_rate_mean")
        row = {"cluster": name, "cells": len(v), "synergai": float(v["synergai"].mean())}
        for b in have:
            row[b] = float(v[b].mean())
        if have:
            best = min(have, key=lambda b: row[b])
            row["best_baseline"], row["best_baseline_viol"] = best, row[best]
            row["per_cell_best_mean"] = float(v[have].min(axis=1).mean())
            row["cells_synergai_lowest"] = int((v["synergai"] <= v[have].min(axis=1) + 1e-12).sum())
        pc = pair[(pair["cluster"] == name) & pair["baseline"].isin(have)] if len(pair) else pair
        for b in have:
            pb = pc[pc["baseline"] == b]
            row[f"behind_{b}"] = int(pb["behind"].sum())
            row[f"ahead_{b}"] = int((pb["seeds"] > 1).mul(pb["d_viol_mean"] + pb["d_viol_ci95"] < 0).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _geomean(x: pd.Series) -> float:
    """Geometric mean of the finite positive values (a 0 or undefined excess ratio says nothing about scale)."""
    x = x[np.isfinite(x) & (x > 0)]
    return float(np.exp(np.log(x).mean())) if len(x) else np.nan


def _max_behind(c: pd.DataFrame) -> float:
    ds = [float(x.split(":")[1].rstrip("pt")) for s in c["behind"] if s for x in s.split(";")]
    return max(ds) if ds else 0.0


# ----------------------------------------------------------------------------- figures
def figures(agg: pd.DataFrame, out: Path, log=print) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.fig_sweep import ORDER

    present = set(agg["policy"])
    order = [p for p in ORDER if p in present] + sorted(present - set(ORDER))
    colors = plt.get_cmap("tab20").colors
    markers = "osD^vP*Xh<>p"
    styles = ["-", "--", "-.", ":"]
    paths = []
    for metric, ylabel, fname in (("violation_rate", "QoS violation rate", "violations"),
                                  ("mean_excess_ms", "mean excess time (ms)", "excess")):
        for (cluster, lb, ref), c in agg.groupby(["cluster", "load_basis", "qos_reference"], sort=False):
            arrs, qs = list(dict.fromkeys(c["arrival"])), sorted(set(c["qos_multiplier"]))
            fig, axes = plt.subplots(len(arrs), len(qs), figsize=(3.3 * len(qs) + 2.2, 2.7 * len(arrs)),
                                     squeeze=False, sharex=True)
            pos = c[f"{metric}_mean"][c[f"{metric}_mean"] > 0]
            span = pos.max() / pos.min() if len(pos) else 1.0
            for i, arr in enumerate(arrs):
                for j, q in enumerate(qs):
                    ax = axes[i][j]
                    for k, p in enumerate(order):
                        s = c[(c["arrival"] == arr) & (c["qos_multiplier"] == q) & (c["policy"] == p)]
                        if s.empty:
                            continue
                        s = s.sort_values("load")
                        m, ci = s[f"{metric}_mean"].to_numpy(), s[f"{metric}_ci95"].fillna(0).to_numpy()
                        hi = 1.0 if metric == "violation_rate" else np.inf  # a CI is drawn inside [0, 1] / [0, inf)
                        yerr = np.vstack([np.minimum(ci, m), np.minimum(ci, hi - m)])
                        ax.errorbar(s["load"], m, yerr=yerr,
                                    label=p, color=colors[(2 * k) % 20 if k < 10 else (2 * k + 1) % 20],
                                    marker=markers[k % len(markers)], ls=styles[k % len(styles)],
                                    lw=3.5 if p == "synergai" else 1.1, ms=4, capsize=2,
                                    alpha=0.55 if p == "synergai" else 1.0,  # wide and under: ties stay visible
                                    zorder=1 if p == "synergai" else 2)
                    if span >= 100:  # values span >= 2 decades: log axis, linear near 0 so zeros still show
                        floor = pos.min()
                        ax.set_yscale("symlog", linthresh=floor)
                    ax.set_title(f"{arr}, QoS {q:g}x", fontsize=9)
                    if j == 0:
                        ax.set_ylabel(ylabel + (" (symlog)" if span >= 100 else ""), fontsize=8)
                    if i == len(arrs) - 1:
                        ax.set_xlabel("offered load" + (" (nominal)" if lb == "nominal" else f" ({lb})"), fontsize=8)
                    ax.grid(alpha=0.3)
            h, lab = axes[0][0].get_legend_handles_labels()
            fig.legend(h, lab, loc="center right", fontsize=8, frameon=False)
            fig.suptitle(f"{cluster}: {ylabel}, mean +- 95 % CI over seeds (QoS reference: {ref})", fontsize=10)
            fig.tight_layout(rect=(0, 0, 1 - 2.0 / (3.3 * len(qs) + 2.2), 0.96))
            suffix = "" if (lb, ref) == ("nominal", "cluster") else f"_{lb}_{ref}"
            path = out / f"{fname}_{cluster}{suffix}.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            paths.append(path)
    log(f"suite: wrote {len(paths)} figures in {out}")
    return paths


# ----------------------------------------------------------------------------- report
def analyse(t: pd.DataFrame, out: Path, log=print, draw=True) -> pd.DataFrame:
    out.mkdir(parents=True, exist_ok=True)
    agg = aggregate(t)
    pair = paired(t)
    cl = cells(agg, pair)
    per = clusters(cl)
    agg.to_csv(out / "aggregate.csv", index=False)
    pair.to_csv(out / "paired.csv", index=False)
    cl.to_csv(out / "cells.csv", index=False)
    per.to_csv(out / "clusters.csv", index=False)
    strong = strongest(agg, pair)
    strong.to_csv(out / "strongest.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 60):
        cols = [c for c in ("cluster", "cells", "ratio_median", "ratio_geomean", "ratio_of_means", "ratio_worst",
                            "worst_cell", "cells_behind", "cells_behind_mean", "max_behind_pt",
                            "cells_excess_above_slo", "cells_syn_zero") if c in per]
        log("\nSLO-MAEL / SynergAI violation ratio per cluster (cells = arrival x QoS x load; seeds averaged first):")
        log(per[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        beh = cl[cl["n_behind"] > 0]
        log(f"\ncells where SynergAI is behind a baseline beyond the 95 % CI: {len(beh)} of {len(cl)}")
        if len(beh):
            log(beh[["cluster", "arrival", "qos_multiplier", "load", "synergai_viol", "behind"]].to_string(
                index=False, float_format=lambda v: f"{v:.3f}"))
        log("\nSynergAI vs the strongest baselines (grid-mean violation rate; behind/ahead: cells beyond the CI):")
        log(strong.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if draw:
        figures(agg, out, log)
    return per


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"loadavg {os.getloadavg()}"


def parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m experiments.suite", description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=_names, default=None, help=f"default: {','.join(CLUSTERS)}")
    ap.add_argument("--arrivals", type=_names, default=None,
                    help=f"configs/workload names, poisson = default (default: {','.join(ARRIVALS)})")
    ap.add_argument("--qos", type=_floats, default=None, help=f"QoS multipliers (default: {','.join(map(str, QOS))})")
    ap.add_argument("--loads", type=_floats, default=None, help=f"default: {','.join(map(str, LOADS))}")
    ap.add_argument("--seeds", type=_ints, default=None, help=f"default: {','.join(map(str, SEEDS))}")
    ap.add_argument("--jobs", type=int, default=None, help=f"jobs per run (default {JOBS})")
    ap.add_argument("--policies", type=_names, default=None,
                    help=f"default: {','.join(POLICIES)} (+ {','.join(OPTIONAL_POLICIES)} when registered)")
    ap.add_argument("--load-basis", type=_names, default=["nominal"], help="workload.load_basis values (nominal)")
    ap.add_argument("--qos-reference", type=_names, default=["cluster"], help="workload.qos_reference values (cluster)")
    ap.add_argument("--workers", type=int, default=2, help="parallel runs (default 2)")
    ap.add_argument("--quick", action="store_true", help="every cluster and arrival, QoS 3, loads 0.1/0.4, "
                    "3 seeds, 500 jobs (explicit options still win)")
    ap.add_argument("--estimate", action="store_true", help="print the grid and its estimated cost, run nothing")
    ap.add_argument("--from", dest="from_csv", type=Path, default=None, help="analyse an earlier results.csv")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="default experiments/figures/suite (--quick: "
                    "outputs/suite_quick)")
    a = ap.parse_args(argv)
    quick = QUICK if a.quick else {}
    a.clusters = a.clusters or CLUSTERS
    a.arrivals = a.arrivals or ARRIVALS
    a.qos = a.qos or quick.get("qos", QOS)
    a.loads = a.loads or quick.get("loads", LOADS)
    a.seeds = a.seeds or quick.get("seeds", SEEDS)
    a.jobs = a.jobs or quick.get("jobs", JOBS)
    a.out = a.out or (PROJECT_ROOT / "outputs" / "suite_quick" if a.quick else OUT)
    if a.policies is None:
        from synergai.policy import available_policies

        a.policies = POLICIES + [p for p in OPTIONAL_POLICIES if p in available_policies()]
    if a.jobs < 10:
        ap.error(f"--jobs must be >= 10, got {a.jobs}")
    if a.workers < 1:
        ap.error(f"--workers must be >= 1, got {a.workers}")
    return a


def main(argv=None) -> int:
    a = parse(argv)
    from synergai.errors import SynergAIError

    try:
        if a.from_csv is not None:
            if not a.from_csv.is_file():
                raise SuiteError(f"--from: {a.from_csv}: file not found")
            t = pd.read_csv(a.from_csv)
            missing = set(CELL + ["seed", "policy", "violation_rate"]) - set(t.columns)
            if missing:
                raise SuiteError(f"--from: {a.from_csv}: not a suite results table (missing {sorted(missing)})")
            analyse(t, a.out, draw=not a.no_figures)
            return 0
        tasks, policies = grid(a)
        est = estimate_s(tasks, policies)
        print(f"suite: {len(a.clusters)} clusters x {len(a.arrivals)} arrivals x {len(a.qos)} QoS x {len(a.loads)} "
              f"loads x {len(a.seeds)} seeds = {len(tasks)} runs of {a.jobs} jobs, {len(policies)} policies "
              f"({', '.join(policies)})")
        print(f"suite: estimated {est / 60:.1f} CPU-min, ~{wall_estimate_s(est, a.workers) / 60:.1f} min on "
              f"{a.workers} workers at the current load ({uptime()}; rough, from costs measured on a 2-vCPU machine)",
              flush=True)
        if a.estimate:
            return 0
        t0 = time.time()
        t = run_all(tasks, a.workers)
        wall = time.time() - t0
        a.out.mkdir(parents=True, exist_ok=True)
        t.to_csv(a.out / "results.csv", index=False)
        print(f"suite: {len(tasks)} runs in {wall:.0f} s ({uptime()}); wrote {a.out / 'results.csv'}")
        (a.out / "suite.json").write_text(json.dumps({
            "clusters": a.clusters, "arrivals": a.arrivals, "qos": a.qos, "loads": a.loads, "seeds": a.seeds,
            "jobs": a.jobs, "policies": policies, "load_basis": sorted(set(t["load_basis"])),
            "qos_reference": sorted(set(t["qos_reference"])), "workers": a.workers, "wall_s": round(wall, 1),
            "estimated_cpu_s": round(est, 1), "uptime_end": uptime(),
            "ratio_epsilon": "0.5 / steady-window jobs of the cell"}, indent=1) + "\n")
        analyse(t, a.out, draw=not a.no_figures)
    except (SuiteError, SynergAIError) as exc:
        print(f"suite: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
