"""faas-sim fitted execution times -> trace rows: the converted distributions reproduce the source's.

The fidelity checks read only the committed traces/faas_sim_fets.csv (its notes carry the fitted parameters);
the converter is exercised on a tiny synthetic copy with the real header, and against the shared data folder
only where it is present.
"""
import csv
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from synergai.profile import PerformanceProfile
from synergai.tracegen import faas_sim

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "traces" / "faas_sim_fets.csv"
SHARED = Path("/work/shared/data")
PARAMS = re.compile(r"lognorm\(s=([^,]+), loc=([^ ]+) s, scale=([^ ]+) s\) sampled with rejection into "
                    r"\[([^,]+), ([^\]]+)\] s")
HEADER = ["device", "device_label", "device_arch", "device_cpus", "device_mem", "device_gpu", "device_spec_source",
          "image", "distribution", "shape_s", "loc", "scale", "min", "max", "units", "derived_median",
          "derived_mean_unbounded", "reported_mean", "param_convention", "notes", "source_repo", "source_path",
          "source_commit_snapshot_head", "source_commit_file_last_changed", "source_file_date", "license"]


def rows():
    with TRACE.open(newline="") as fh:
        return list(csv.DictReader(fh))


def params(row):
    m = PARAMS.search(row["notes"])
    assert m, row["notes"]
    return tuple(float(x) for x in m.groups())


def test_every_row_loads_with_provenance():
    prof = PerformanceProfile.from_csv([TRACE])
    assert len(prof) == len(rows()) == 77
    for e in prof.entries:
        assert e.source_kind == "derived" and "edgerun/faas-sim ext/raith21/fet.py@" in e.source
        assert "MIT" in e.source and e.notes.startswith("derived: faas-sim fit")
    # CPU and GPU images of one function on one device: an engine choice
    nx = {e.config.engine for e in prof.configs("faas-resnet-inference", "jetson-xavier-nx")}
    assert nx == {"faas-cpu", "faas-gpu"}


def test_converted_distributions_reproduce_the_source():
    """Bounds exact (s -> ms); median and percentiles equal to scipy's truncated lognormal, and within 2 % of a
    rejection sampler like faas-sim's (200,000 draws)."""
    prof = PerformanceProfile.from_csv([TRACE])
    rng = np.random.default_rng(5)
    for r, e in zip(rows(), prof.entries):
        s, loc, scale, lo, hi = params(r)
        assert float(r["min_ms"]) == lo * 1000 and float(r["max_ms"]) == hi * 1000
        d = stats.lognorm(s, loc, scale)
        f_lo, f_hi = d.cdf(lo), d.cdf(hi)
        for col, q in faas_sim.LEVELS:
            exact = d.ppf(f_lo + q * (f_hi - f_lo)) * 1000
            assert float(r[col]) == pytest.approx(exact, rel=1e-6), (r["device_type"], r["model"], col)
            assert e.dist.quantile(q) == pytest.approx(exact, rel=1e-6)
        draws = []
        while sum(map(len, draws)) < 200_000:  # BoundRejectionSampler: redraw until inside [min, max]
            x = d.rvs(size=100_000, random_state=rng)
            draws.append(x[(x >= lo) & (x <= hi)])
        x = np.concatenate(draws)[:200_000] * 1000
        for q in (0.5, 0.9, 0.99):
            assert e.dist.quantile(q) == pytest.approx(np.quantile(x, q), rel=0.02), (r["device_type"], r["model"], q)
        assert x.min() >= e.dist.quantile(0) and x.max() <= e.dist.quantile(1)


def write_src(tmp_path, **over):
    d = tmp_path / "faas_sim_fets"
    d.mkdir()
    base = dict.fromkeys(HEADER, "")
    base.update(device="nx", device_label="Jetson Xavier NX", device_cpus="6", image="faas-workloads/resnet-inference-cpu",
                distribution="lognorm", shape_s="0.5", loc="0.1", scale="0.2", min="0.2", max="0.9", units="s",
                source_repo="edgerun/faas-sim", source_path="ext/raith21/fet.py", source_commit_snapshot_head="abc",
                source_commit_file_last_changed="def", license="MIT")
    gpu = {**base, "image": "faas-workloads/resnet-inference-gpu"}
    tx2 = {**base, "device": "tx2", "device_cpus": "", "image": "faas-workloads/fio"}
    with (d / "fitted_exec_times.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, HEADER)
        w.writeheader()
        for r in (base, gpu, tx2):
            w.writerow({**r, **over})
    return tmp_path


def test_converter_maps_engines_units_and_modes(tmp_path):
    out = faas_sim.convert(write_src(tmp_path))
    cpu, gpu, fio = out
    assert (cpu["model"], cpu["engine"], cpu["resource"], cpu["units"]) == ("faas-resnet-inference", "faas-cpu", "cpu", 6)
    assert (gpu["model"], gpu["engine"], gpu["resource"], gpu["units"]) == ("faas-resnet-inference", "faas-gpu", "accel", 1)
    assert (fio["device_type"], fio["units"], fio["power_mode"]) == ("jetson-tx2", 4, "unstated")
    assert "edgerun/ether" in fio["host"]  # the CPU count the source leaves blank, with its own source
    assert cpu["p50_ms"] == pytest.approx(faas_sim.truncated_lognorm_quantile(0.5, 0.5, 0.1, 0.2, 0.2, 0.9) * 1000)


@pytest.mark.parametrize("over, msg", [({"units": "ms"}, "expected a lognorm in seconds"),
                                       ({"shape_s": "x"}, "shape_s: not a number"),
                                       ({"min": "2"}, "0 < min < max"), ({"device": "pdp11"}, "unknown device")])
def test_bad_source_rows_exit_2_with_one_line(tmp_path, capsys, over, msg):
    src = write_src(tmp_path, **over)
    with pytest.raises(SystemExit) as ei:
        faas_sim.main(["--src", str(src), "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err.strip()
    assert ei.value.code == 2 and msg in err and "\n" not in err and "fitted_exec_times.csv:2" in err


@pytest.mark.skipif(not (SHARED / "faas_sim_fets").is_dir(), reason="shared data folder not present")
def test_committed_file_is_what_the_converter_writes(tmp_path):
    out = tmp_path / "f.csv"
    assert faas_sim.main(["--src", str(SHARED), "--out", str(out)]) == 0
    assert out.read_text() == TRACE.read_text()
