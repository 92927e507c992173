"""The policy-quality gate: one fixed-seed scenario, every policy, metrics compared with a golden band.

    python -m experiments.gate            # run, print the table and the ratio to SLO-MAEL, compare with golden
    python -m experiments.gate --update   # rewrite tests/golden/gate.json (the diff shows in review)

The scenario is the default testbed and workload at load 0.4 (where baselines start to violate), 4,000 jobs,
seed 1. It is not tuned for SynergAI: it is the default experiment, shorter. tests/test_gate.py asserts that
SynergAI's violation rate is no higher than any baseline's and that every policy stays inside the band; the
ratio to SLO-MAEL is reported, not asserted.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from experiments.runner import compose_config, run_experiment

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "gate.json"
OVERRIDES = ["workload.n_jobs=4000", "workload.load=0.4", "seed=1", "policy=all"]
METRICS = {  # metric -> (absolute tolerance, relative tolerance): a value passes within the larger of the two
    "violation_rate": (0.005, 0.0),
    "mean_excess_ms": (0.05, 0.02),
    "p50_latency_ms": (0.05, 0.02),
    "p99_latency_ms": (0.5, 0.02),
    "throughput_jobs_per_s": (0.5, 0.01),
    "edge_share": (0.005, 0.0),
}


def run() -> dict[str, dict[str, float]]:
    cfg = compose_config(OVERRIDES)
    cfg["experiment"].update(progress=False, figure=False)
    res = run_experiment(cfg, out_dir=None, log=lambda *_: None)
    steady = res.summary[res.summary["window"] == "steady"].set_index("policy")
    return {p: {m: float(steady.loc[p, m]) for m in METRICS} for p in steady.index}


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the golden file with this run's metrics")
    a = ap.parse_args(argv)
    measured = run()
    width = max(map(len, measured))
    print(f"{'policy':<{width}}  " + "  ".join(f"{m:>22}" for m in METRICS))
    for p, vals in sorted(measured.items(), key=lambda kv: kv[1]["violation_rate"]):
        print(f"{p:<{width}}  " + "  ".join(f"{vals[m]:>22.4f}" for m in METRICS))
    s, m = measured["synergai"]["violation_rate"], measured["slo_mael"]["violation_rate"]
    print(f"SLO-MAEL / SynergAI violation ratio: {m / s:.2f}x" if s > 0 else "SynergAI: no violations")
    if a.update:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps({"scenario": OVERRIDES, "tolerances": METRICS, "metrics": measured},
                                     indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN}")
        return 0
    bad = outside_band(json.loads(GOLDEN.read_text()), measured)
    for line in bad:
        print("outside band:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
