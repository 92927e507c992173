"""The policy-quality gate: a few fixed-seed suite scenarios, every policy, metrics compared with golden bands.

    python -m experiments.gate                   # run every scenario, print tables, compare with the golden files
    python -m experiments.gate --scenario NAME   # one scenario (repeatable)
    python -m experiments.gate --update          # rewrite tests/golden/gate_<scenario>.json (the diff shows in review)
    python -m experiments.gate --spread 5        # seeds 1..5 of each scenario: seed-to-seed spread of
                                                 # (SynergAI - baseline) violation rate, which sets BEHIND_TOL

Scenarios (one per suite cluster, each a different arrival process and QoS multiplier; each < 30 s here):
the default testbed as before, and three clusters of the evaluation suite (experiments/suite.py). They were fixed
before SynergAI's results on them were looked at: a load in the middle of the suite's grid for the cluster, not a
load where SynergAI happens to win. tests/test_gate.py asserts, per scenario, that SynergAI is not behind any
baseline (violation rate higher by more than BEHIND_TOL) and that every policy stays inside the band.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from experiments.runner import compose_config, run_experiment

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "golden"
SCENARIOS = {  # name -> config overrides (seed 1; the gate is deterministic)
    "default": ["workload.n_jobs=4000", "workload.load=0.4", "seed=1", "policy=all"],
    "wan_boards_bursty": ["cluster=wan_boards", "workload=bursty", "workload.qos_multiplier=2",
                          "workload.n_jobs=3000", "workload.load=0.1", "seed=1", "policy=all"],
    "cloud_gpu_replay": ["cluster=cloud_gpu", "workload=azure_code", "workload.qos_multiplier=3",
                         "workload.n_jobs=3000", "workload.load=0.1", "seed=1", "policy=all"],
    "scarce_fast_poisson": ["cluster=scarce_fast", "workload.qos_multiplier=3", "workload.n_jobs=3000",
                            "workload.load=0.4", "seed=1", "policy=all"],
}
# "Behind" = SynergAI's violation rate exceeds a baseline's by more than this (absolute, per scenario): twice the
# seed-to-seed standard deviation of the paired difference (SynergAI - closest baseline) over seeds 1-5
# (`--spread 5`), at least the band's 0.005, rounded up to 0.005. Measured (closest baseline, sd): default greedy
# 0.0073; wan_boards_bursty greedy 0.0068; cloud_gpu_replay greedy 0.0019; scarce_fast_poisson greedy 0.0010.
BEHIND_TOL = {"default": 0.015, "wan_boards_bursty": 0.015, "cloud_gpu_replay": 0.005, "scarce_fast_poisson": 0.005}
METRICS = {  # metric -> (absolute tolerance, relative tolerance): a value passes within the larger of the two
    "violation_rate": (0.005, 0.0),
    "mean_excess_ms": (0.05, 0.02),
    "p50_latency_ms": (0.05, 0.02),
    "p99_latency_ms": (0.5, 0.02),
    "throughput_jobs_per_s": (0.5, 0.01),
    "edge_share": (0.005, 0.0),
}


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"gate_{name}.json"


def run(name: str = "default", seed: int | None = None) -> dict[str, dict[str, float]]:
    overrides = SCENARIOS[name] + ([f"seed={seed}"] if seed is not None else [])
    cfg = compose_config(overrides)
    cfg["experiment"].update(progress=False, figure=False)
    res = run_experiment(cfg, out_dir=None, log=lambda *_: None)
    steady = res.summary[res.summary["window"] == "steady"].set_index("policy")
    return {p: {m: float(steady.loc[p, m]) for m in METRICS} for p in steady.index}


def behind(measured: dict, tol: float) -> dict[str, float]:
    """Baselines SynergAI trails by more than ``tol`` in violation rate: {baseline: SynergAI - baseline}."""
    mine = measured["synergai"]["violation_rate"]
    return {p: mine - v["violation_rate"] for p, v in measured.items()
            if not p.startswith("synergai") and mine - v["violation_rate"] > tol}


def outside_band(golden: dict, measured: dict) -> list[str]:
    bad = []
    for policy, want in golden["metrics"].items():
        got = measured.get(policy)
        if got is None:
            bad.append(f"{policy}: missing from the run")
            continue
        for m, w in want.items():
            a, r = METRICS[m]
            tol = max(a, r * abs(w))
            g = got[m]
            if not (math.isclose(g, w, abs_tol=tol) or (math.isnan(g) and math.isnan(w))):
                bad.append(f"{policy}.{m}: {g:.6g} outside {w:.6g} ± {tol:.3g}")
    for policy in measured.keys() - golden["metrics"].keys():
        bad.append(f"{policy}: not in the golden file (run --update)")
    return bad


def print_table(name: str, measured: dict) -> None:
    width = max(map(len, measured))
    print(f"\n== {name}: {' '.join(SCENARIOS[name])}")
    print(f"{'policy':<{width}}  " + "  ".join(f"{m:>22}" for m in METRICS))
    for p, vals in sorted(measured.items(), key=lambda kv: kv[1]["violation_rate"]):
        print(f"{p:<{width}}  " + "  ".join(f"{vals[m]:>22.4f}" for m in METRICS))
    s, m = measured["synergai"]["violation_rate"], measured["slo_mael"]["violation_rate"]
    print(f"SLO-MAEL / SynergAI violation ratio: {m / s:.2f}x" if s > 0 else "SynergAI: no violations")
    b = behind(measured, BEHIND_TOL[name])
    print(f"SynergAI behind (beyond {BEHIND_TOL[name]:.3f}): "
          + (", ".join(f"{p} by {d * 100:.1f} pt" for p, d in sorted(b.items(), key=lambda kv: -kv[1])) or "none"))


def spread(names: list[str], seeds: int) -> None:
    """Seed-to-seed sd of (SynergAI - baseline) violation rate per scenario; 2 x the closest baseline's sets the
    tolerance (the closest: the baseline with the smallest mean |difference|, where chance decides "behind")."""
    for name in names:
        per = [run(name, seed=s) for s in range(1, seeds + 1)]
        diffs = {p: [r["synergai"]["violation_rate"] - r[p]["violation_rate"] for r in per]
                 for p in per[0] if not p.startswith("synergai")}
        print(f"\n== {name}: SynergAI - baseline violation rate over seeds 1..{seeds} (mean, sd, min, max)")
        for p, d in sorted(diffs.items(), key=lambda kv: abs(statistics.mean(kv[1]))):
            print(f"  {p:<18} {statistics.mean(d):+.4f}  sd {statistics.stdev(d):.4f}  [{min(d):+.4f}, {max(d):+.4f}]")
        close = min(diffs, key=lambda p: abs(statistics.mean(diffs[p])))
        tol = max(0.005, math.ceil(2 * statistics.stdev(diffs[close]) / 0.005) * 0.005)
        print(f"  closest baseline {close}: sd {statistics.stdev(diffs[close]):.4f} -> tolerance {tol:.3f} "
              f"(BEHIND_TOL now {BEHIND_TOL.get(name)})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the golden files with this run's metrics")
    ap.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="default: all")
    ap.add_argument("--spread", type=int, default=0, metavar="SEEDS", help="measure the seed-to-seed spread")
    a = ap.parse_args(argv)
    names = a.scenario or list(SCENARIOS)
    if a.spread:
        if a.spread < 2:
            ap.error("--spread needs at least 2 seeds")
        spread(names, a.spread)
        return 0
    failed = 0
    for name in names:
        measured = run(name)
        print_table(name, measured)
        path = golden_path(name)
        if a.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"scenario": SCENARIOS[name], "tolerances": METRICS, "metrics": measured},
                                       indent=1, sort_keys=True) + "\n")
            print(f"wrote {path}")
            continue
        if not path.is_file():
            print(f"{name}: no golden file {path} (run --update)")
            failed += 1
            continue
        bad = outside_band(json.loads(path.read_text()), measured)
        for line in bad:
            print("outside band:", line)
        failed += bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
