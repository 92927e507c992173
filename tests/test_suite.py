"""The evaluation suite (experiments/suite.py): grid, paired comparisons, ratio conventions, CLI errors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments import suite

KEY = dict(cluster="c", arrival="poisson", qos_multiplier=2.0, load=0.2, load_basis="nominal", qos_reference="cluster")


def table(rows):
    """A results table from (policy, seed, violation_rate) with the other metrics filled in."""
    out = []
    for p, seed, v in rows:
        r = {**KEY, "policy": p, "seed": seed, "violation_rate": v, "mean_excess_ms": 10 * v, "jobs": 800}
        r.update({m: 1.0 for m in suite.METRICS if m not in r})
        out.append(r)
    return pd.DataFrame(out)


def test_ratio_convention_handles_zero_violations():
    eps = 0.5 / 800
    assert suite.ratio(0.0, 0.0, eps) == 1.0
    assert suite.ratio(0.2, 0.0, eps) == pytest.approx(0.2 / eps + 1)  # finite, large
    assert suite.ratio(0.2, 0.1, 0.0) == pytest.approx(2.0)


def test_behind_needs_the_paired_ci_above_zero():
    # SynergAI worse than greedy by exactly 2 points on every seed: zero spread, behind beyond the CI.
    # Worse than slo_mael by 1 point on average but with a sign change between seeds: not beyond the CI.
    t = table([("synergai", s, 0.30) for s in (1, 2, 3)] + [("greedy", s, 0.28) for s in (1, 2, 3)]
              + [("slo_mael", 1, 0.25), ("slo_mael", 2, 0.33), ("slo_mael", 3, 0.29)])
    p = suite.paired(t).set_index("baseline")
    assert bool(p.loc["greedy", "behind"]) and p.loc["greedy", "d_viol_mean"] == pytest.approx(0.02)
    assert not bool(p.loc["slo_mael", "behind"]) and bool(p.loc["slo_mael", "behind_mean"])
    c = suite.cells(suite.aggregate(t), suite.paired(t)).iloc[0]
    assert c["n_behind"] == 1 and c["behind"].startswith("greedy:+2.0pt")
    assert c["ratio_slo_syn"] == pytest.approx((0.29 + 0.5 / 800) / (0.30 + 0.5 / 800))


def test_single_seed_is_never_behind_beyond_a_ci():
    p = suite.paired(table([("synergai", 1, 0.5), ("greedy", 1, 0.1)])).iloc[0]
    assert not p["behind"] and p["behind_mean"] and math.isnan(p["d_viol_ci95"])


def test_aggregate_ci_is_student_t():
    a = suite.aggregate(table([("synergai", s, v) for s, v in ((1, 0.1), (2, 0.2), (3, 0.3))])).iloc[0]
    assert a["violation_rate_mean"] == pytest.approx(0.2) and a["seeds"] == 3
    assert a["violation_rate_ci95"] == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)


def test_cluster_summary_geomean_and_worst_cell():
    t = pd.concat([table([("synergai", s, 0.1), ("slo_mael", s, 0.4)]).assign(load=0.1) for s in (1, 2)]
                  + [table([("synergai", s, 0.4), ("slo_mael", s, 0.4)]).assign(load=0.4) for s in (1, 2)])
    per = suite.clusters(suite.cells(suite.aggregate(t), suite.paired(t))).iloc[0]
    assert per["cells"] == 2
    assert per["ratio_worst"] == pytest.approx(1.0) and "load=0.4" in per["worst_cell"]
    assert per["ratio_of_means"] == pytest.approx(0.8 / 0.5)
    assert per["ratio_geomean"] == pytest.approx(math.sqrt(per["ratio_worst"] * per["ratio_best"]))


def test_strongest_baselines_table_by_hand():
    # two cells; clockwork ties SynergAI in one and beats it in the other on every seed (behind there), EDF is
    # worse everywhere (ahead of it in both)
    parts = []
    for load, syn, cw, edf in ((0.1, 0.10, 0.10, 0.30), (0.4, 0.40, 0.20, 0.50)):
        rows = []
        for s, jit in ((1, 0.0), (2, 0.01), (3, -0.01)):
            rows += [("synergai", s, syn + jit), ("clockwork", s, cw + jit), ("edf", s, edf + jit)]
        parts.append(table(rows).assign(load=load))
    t = pd.concat(parts, ignore_index=True)
    agg, pair = suite.aggregate(t), suite.paired(t)
    st = suite.strongest(agg, pair).iloc[0]
    assert st["cells"] == 2 and st["synergai"] == pytest.approx(0.25) and st["clockwork"] == pytest.approx(0.15)
    assert st["best_baseline"] == "clockwork" and st["per_cell_best_mean"] == pytest.approx(0.15)
    assert st["cells_synergai_lowest"] == 1  # the tie at load 0.1
    assert (st["behind_clockwork"], st["ahead_clockwork"], st["behind_edf"], st["ahead_edf"]) == (1, 0, 0, 2)
    assert "infaas" not in st.index  # baselines not in the run are left out


def test_small_grid_end_to_end(tmp_path):
    rc = suite.main(["--clusters", "scarce_fast", "--arrivals", "poisson", "--qos", "3", "--loads", "0.2",
                     "--seeds", "1,2", "--jobs", "200", "--policies", "synergai,greedy,slo_mael,no_such_policy",
                     "--workers", "1", "--no-figures", "--out", str(tmp_path)])
    assert rc == 0
    t = pd.read_csv(tmp_path / "results.csv")
    assert len(t) == 2 * 3 and set(t["policy"]) == {"synergai", "greedy", "slo_mael"}
    assert (t.groupby("seed")["jobs"].nunique() == 1).all()  # every policy saw the same steady window
    per = pd.read_csv(tmp_path / "clusters.csv")
    assert list(per["cluster"]) == ["scarce_fast"] and per["cells"].iloc[0] == 1
    again = suite.main(["--from", str(tmp_path / "results.csv"), "--no-figures", "--out", str(tmp_path / "b")])
    assert again == 0 and pd.read_csv(tmp_path / "b" / "cells.csv").equals(pd.read_csv(tmp_path / "cells.csv"))


@pytest.mark.parametrize("args, msg", [
    (["--clusters", "nope"], "no configs/cluster/nope.yaml"),
    (["--arrivals", "uniform"], "unknown arrival 'uniform'"),
    (["--policies", "greedy"], "must be among --policies"),
    (["--from", "/nonexistent/results.csv"], "file not found"),
])
def test_bad_options_exit_2_with_one_line(args, msg, capsys):
    assert suite.main(args + ["--estimate"]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_conventions_pass_through_when_the_workload_has_them():
    assert "load_basis" in suite.workload_keys() and "qos_reference" in suite.workload_keys()
    said = []
    assert suite.conventions(["nominal", "usable"], ["cluster", "origin"], log=said.append) == (
        ["nominal", "usable"], ["cluster", "origin"])
    assert not said
