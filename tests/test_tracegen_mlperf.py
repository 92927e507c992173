"""Tests for the MLPerf -> trace CSV converter, on a tiny synthetic copy of the inputs.

Self-contained: the rows are built here with the real headers of /work/shared/data/mlperf_edge,
so the tests do not depend on the shared data folder being present.
"""

import csv
from pathlib import Path

import pytest

from synergai.tracegen import mlperf

LATENCY_HEADER = [
    "round", "submitter", "system_id", "system_name", "accelerator", "power_mode_or_tdp",
    "software", "benchmark", "scenario", "samples_per_query", "target_latency_ns", "min_ns",
    "mean_ns", "p50_ns", "p90_ns", "p95_ns", "p97_ns", "p99_ns", "p999_ns", "max_ns",
    "qps_or_samples_per_s", "result_valid", "source_repo", "source_path", "source_commit", "run",
    "division", "system_type", "qps_field", "qps_without_loadgen_overhead", "target_qps",
    "latency_semantics", "sut_name", "notes",
]
SYSTEMS_HEADER = [
    "round", "submitter", "system_id", "system_name", "system_type", "status", "accelerator",
    "accelerators_per_node", "accelerator_memory", "cpu", "cpu_cores_per_socket", "cpu_sockets",
    "memory", "storage", "power_mode_or_tdp", "power_supply", "software", "operating_system",
    "hw_notes", "source_repo", "source_path", "source_commit",
]
POWER_HEADER = [
    "round", "system_id", "benchmark", "scenario", "power_file_path", "source_commit", "samples",
    "mean_w", "median_w", "max_w", "window_note", "qps", "energy_per_query_mj", "notes",
]

COMMIT = "dad59af09e9e62eceec4bee48794e201d6cf9170"
SOFTWARE = "TensorRT 8.5.2, CUDA 11.4"
# min, mean, p50, p90, p95, p97, p99, p999, max (ns)
ORIN_RESNET_NS = (619046, 630410, 630245, 633000, 634000, 635000, 636517, 640999, 64876018)
MAXQ_RESNET_NS = (826431, 1498000, 1578304, 1900000, 1950000, 1980000, 2001000, 2019000, 147144000)


def lat_row(system_id, benchmark, scenario, ns, *, round_="v3.0", mode="MAXN", spq="1",
            run="run_1", notes=""):
    mn, mean, p50, p90, p95, p97, p99, p999, mx = ns
    return {
        "round": round_, "submitter": "NVIDIA", "system_id": system_id,
        "system_name": f"synthetic {system_id}", "accelerator": "NVIDIA Jetson AGX Orin",
        "power_mode_or_tdp": mode, "software": SOFTWARE, "benchmark": benchmark,
        "scenario": scenario, "samples_per_query": spq, "target_latency_ns": "",
        "min_ns": mn, "mean_ns": mean, "p50_ns": p50, "p90_ns": p90, "p95_ns": p95,
        "p97_ns": p97, "p99_ns": p99, "p999_ns": p999, "max_ns": mx,
        "qps_or_samples_per_s": "1000", "result_valid": "VALID",
        "source_repo": f"mlcommons/inference_results_{round_}",
        "source_path": f"closed/NVIDIA/results/{system_id}/{benchmark}/{scenario}/performance/"
                       f"{run}/mlperf_log_summary.txt",
        "source_commit": COMMIT, "run": run, "division": "closed", "system_type": "edge",
        "qps_field": "QPS w/ loadgen overhead", "qps_without_loadgen_overhead": "1000",
        "target_qps": "", "latency_semantics": "per-query latency", "sut_name": "LWIS_Server",
        "notes": notes,
    }


def sys_row(system_id, mode_text, round_="v3.0"):
    row = dict.fromkeys(SYSTEMS_HEADER, "")
    row.update(round=round_, submitter="NVIDIA", system_id=system_id,
               system_name=f"synthetic {system_id} board", power_mode_or_tdp=mode_text,
               software=SOFTWARE)
    return row


def power_row(system_id, benchmark, scenario, mean_w, idle_w, round_="v3.0"):
    row = dict.fromkeys(POWER_HEADER, "")
    row.update(round=round_, system_id=system_id, benchmark=benchmark, scenario=scenario,
               power_file_path=f"closed/NVIDIA/results/{system_id}/{benchmark}/{scenario}/"
                               "performance/run_1/spl.txt",
               source_commit=COMMIT, samples="600", mean_w=mean_w,
               notes=f"min in window 7.0 W; post-run idle ~{idle_w} W (median of last 8); "
                     "wall (AC) power")
    return row


def write(path: Path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        w.writerows(rows)


def default_latency_rows():
    return [
        lat_row("Orin_TRT", "resnet50", "SingleStream", ORIN_RESNET_NS),
        lat_row("Orin_TRT", "resnet50", "Offline", ORIN_RESNET_NS, spq="4026000"),
        lat_row("Orin_TRT", "resnet50", "MultiStream", ORIN_RESNET_NS, spq="8"),
        lat_row("Orin_TRT_MaxQ", "resnet50", "SingleStream", MAXQ_RESNET_NS,
                mode="MaxQ (nvpmodel cap, EMC 2133MHz)"),
        # skipped system (v3.1 Orin_TRT duplicates the v3.0 key)
        lat_row("Orin_TRT", "resnet50", "SingleStream", ORIN_RESNET_NS, round_="v3.1",
                mode="MaxP (nvpmodel not stated)"),
    ]


@pytest.fixture
def make_src(tmp_path):
    """Write the three input files under tmp_path/data/mlperf_edge and return tmp_path/data."""

    def _make(latency_rows=None):
        base = tmp_path / "data" / "mlperf_edge"
        base.mkdir(parents=True, exist_ok=True)
        write(base / "latency_summary.csv", LATENCY_HEADER,
              default_latency_rows() if latency_rows is None else latency_rows)
        write(base / "systems.csv", SYSTEMS_HEADER, [
            sys_row("Orin_TRT", "MAXN power profile (per README_Jetson.md)"),
            sys_row("Orin_TRT_MaxQ", "MaxQ: nvpmodel DVFS cap, EMC locked at 2133 MHz"),
        ])
        write(base / "power_summary.csv", POWER_HEADER, [
            power_row("Orin_TRT_MaxQ", "resnet50", "SingleStream", "14.8146", "6.29"),
            power_row("Orin_TRT_MaxQ", "resnet50", "Offline", "22.6594", "6.44"),
        ])
        return tmp_path / "data"

    return _make


def by_mode(rows):
    return {r["power_mode"]: r for r in rows}


def test_ns_to_ms_and_fixed_fields(make_src):
    rows = mlperf.convert(make_src())
    r = by_mode(rows)["MAXN"]
    assert r["device_type"] == "jetson-agx-orin" and r["model"] == "resnet50"
    assert r["min_ms"] == pytest.approx(0.619046, rel=0, abs=1e-12)
    assert r["p50_ms"] == 630245 / 1e6
    assert r["p999_ms"] == 640999 / 1e6
    assert r["max_ms"] == 64.876018
    assert r["mean_ms"] == 0.63041
    assert (r["engine"], r["precision"], r["batch"], r["threads"], r["resource"], r["units"]) == \
        ("tensorrt", "int8", 1, 0, "accel", 1)
    assert r["latency_kind"] == "percentiles" and r["source_kind"] == "published"
    assert r["source"] == (
        "MLPerf Inference v3.0 closed, NVIDIA, Orin_TRT; mlcommons/inference_results_v3.0/"
        f"closed/NVIDIA/results/Orin_TRT/resnet50/SingleStream/performance/run_1/"
        f"mlperf_log_summary.txt@{COMMIT}")
    assert "not an official MLPerf result as converted" in r["notes"]
    assert "precision per NVIDIA closed-division convention" in r["notes"]
    assert "\n" not in r["notes"]


def test_only_singlestream_of_mapped_systems(make_src):
    rows = mlperf.convert(make_src())
    assert len(rows) == 2  # Offline, MultiStream and the v3.1 duplicate system are dropped
    assert all(r["batch"] == 1 for r in rows)
    assert all(r["source"].split(", ")[0] == "MLPerf Inference v3.0 closed" for r in rows)
    assert all("/SingleStream/" in r["source"] for r in rows)


def test_maxq_power_attached_only_to_matching_row(make_src):
    rows = by_mode(mlperf.convert(make_src()))
    q = rows["MaxQ"]
    assert q["device_type"] == "jetson-agx-orin"
    assert q["power_w"] == 14.8146 and q["idle_power_w"] == 6.29
    assert "wall (AC) power" in q["notes"]
    # The MAXN row has no power measurement; the Offline power row must not leak into it.
    assert rows["MAXN"]["power_w"] is None and rows["MAXN"]["idle_power_w"] is None


def test_non_monotonic_row_rejected_naming_the_row(make_src):
    bad = list(MAXQ_RESNET_NS)
    bad[6] = 1_000_000  # p99 below p97
    lat = default_latency_rows()
    lat[3] = lat_row("Orin_TRT_MaxQ", "resnet50", "SingleStream", bad, mode="MaxQ")
    src = make_src(lat)
    with pytest.raises(mlperf.InputError) as exc:
        mlperf.convert(src)
    msg = str(exc.value)
    assert "latency_summary.csv:5" in msg  # header is line 1, so the 4th data row is line 5
    assert "Orin_TRT_MaxQ resnet50 SingleStream" in msg and "p99_ms" in msg


def test_power_mode_must_match_mapping(make_src):
    lat = default_latency_rows()
    lat[0] = lat_row("Orin_TRT", "resnet50", "SingleStream", ORIN_RESNET_NS, mode="MaxQ")
    with pytest.raises(mlperf.InputError, match="mapping says 'MAXN'"):
        mlperf.convert(make_src(lat))


def test_unmapped_system_is_an_error(make_src):
    lat = default_latency_rows() + [
        lat_row("Some_New_TRT", "resnet50", "SingleStream", ORIN_RESNET_NS)]
    with pytest.raises(mlperf.InputError, match="Some_New_TRT"):
        mlperf.convert(make_src(lat))


def test_duplicate_key_keeps_first_run_and_says_so(make_src):
    lat = default_latency_rows()
    lat.append(lat_row("Orin_TRT", "resnet50", "SingleStream", MAXQ_RESNET_NS, run="run_2"))
    rows = by_mode(mlperf.convert(make_src(lat)))
    r = rows["MAXN"]
    assert r["p50_ms"] == 630245 / 1e6  # run_1 kept regardless of input order
    assert "duplicate key also in" in r["notes"] and "run_2" in r["notes"]


def test_cli_writes_schema_columns(make_src, tmp_path):
    out = tmp_path / "out.csv"
    assert mlperf.main(["--src", str(make_src()), "--out", str(out)]) == 0
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames) == mlperf.COLUMNS
    assert len(rows) == 2
    assert rows[0]["samples_ms"] == "" and rows[0]["cpu_ms"] == ""
    assert list(tmp_path.glob(".out.csv.*")) == []  # no temp file left behind


def test_cli_missing_file_exits_2(make_src, tmp_path, capsys):
    src = make_src()
    (src / "mlperf_edge" / "power_summary.csv").unlink()
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as exc:
        mlperf.main(["--src", str(src), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "power_summary.csv" in err and "Traceback" not in err
    assert not out.exists()
