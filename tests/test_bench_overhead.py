"""Smoke run of the decision-overhead benchmark: tiny clusters, few calls, the CSV it writes."""
import csv
import math

from experiments import bench_overhead


def test_bench_overhead_smoke(tmp_path, capsys):
    out = tmp_path / "overhead.csv"
    bench_overhead.main(["--nodes", "3", "10", "--policies", "synergai", "slo_mael", "--calls", "20",
                         "--min-calls", "20", "--reps", "1", "--budget-s", "0.2", "--pool", "2000",
                         "--out", str(out)])
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == bench_overhead.COLUMNS
        rows = list(reader)
    # synergai: one per-job cell per N; slo_mael: windows 1, 2, 4 and the default, per N
    cells = {(r["nodes"], r["policy"], r["window"]) for r in rows}
    assert cells == {(n, p, w) for n in ("3", "10")
                     for p, ws in (("synergai", ("per-job",)), ("slo_mael", ("1", "2", "4", "default")))
                     for w in ws}
    for r in rows:
        assert r["status"] == "measured"
        assert int(r["calls"]) == 20
        assert int(r["jobs"]) >= 20
        for col in ("jobs_per_call", "p50_call_us", "p99_call_us", "mean_call_us", "p50_job_us", "p99_job_us",
                    "mean_job_us", "rate_per_s", "cores_needed"):
            v = float(r[col])
            assert math.isfinite(v) and v > 0, (col, r)
        assert float(r["p99_call_us"]) >= float(r["p50_call_us"])
        if r["window"] in ("1", "2", "4"):
            assert float(r["jobs_per_call"]) == float(r["window"])
    printed = capsys.readouterr().out
    assert "SynergAI vs SLO-MAEL" in printed and "load avg before" in printed
