"""Checks of the characterization tool that need no inference engine: schema, CSV merge and atomic
writes, the CLI's options, skipping and resuming, and the measurement loop, driven by a fake engine
whose "inference" is a short sleep. Runs in a few seconds."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest

from synergai import profile
from synergai.characterize import cli, host, measure, trace_io
from synergai.characterize.engines import ENGINES, ConfigSkipped, Engine, Loaded
from synergai.profile import PerformanceProfile

README = Path(__file__).resolve().parents[1] / "traces" / "README.md"


class FakeEngine(Engine):
    """Sleeps 1 ms per call; ``fail_on`` makes a model raise, ``interrupt_on`` raises Ctrl-C."""

    name = "fake"
    precisions = ("fp32", "int8")
    fail_on: set = set()
    interrupt_on: set = set()
    skip_on: set = set()
    loads: list = []

    def unavailable(self):
        return None

    def version(self):
        return "fake 1.0"

    def load(self, model, precision, batch, threads, cache_dir):
        FakeEngine.loads.append((model, precision, batch, threads))
        if model in self.interrupt_on:
            raise KeyboardInterrupt
        if model in self.fail_on:
            raise RuntimeError("boom\nsecond line")
        if model in self.skip_on:
            raise ConfigSkipped("not here")
        return Loaded(run=lambda: time.sleep(0.001 * batch), settings="fake settings", input_desc="nothing")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    monkeypatch.setitem(ENGINES, "fake", FakeEngine)
    monkeypatch.setattr(FakeEngine, "fail_on", set())
    monkeypatch.setattr(FakeEngine, "interrupt_on", set())
    monkeypatch.setattr(FakeEngine, "skip_on", set())
    monkeypatch.setattr(FakeEngine, "loads", [])
    monkeypatch.setenv("SYNERGAI_CACHE_DIR", str(tmp_path / "cache"))
    return FakeEngine


def _run(out, *extra):
    argv = ["--engines", "fake", "--models", "mobilenet-v2", "--precisions", "fp32", "--threads", "1",
            "--warmup", "1", "--requests", "6", "--max-seconds", "5", "--out", str(out), *extra]  # fmt: skip
    return cli.main(argv)


def _rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == trace_io.COLUMNS
        return list(reader)


def _schema_columns():
    """Column order of the schema table in traces/README.md."""
    cols, in_table = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| column |"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            cols += re.findall(r"`([a-z0-9_]+)`", line.split("|")[1])
    return cols


def test_columns_follow_readme_schema_and_loader():
    assert trace_io.COLUMNS == _schema_columns() == list(profile.COLUMNS)
    assert set(trace_io.KEY_COLUMNS) <= set(trace_io.COLUMNS)


def test_host_parsing_and_bf16_flag():
    cpuinfo = "model name\t: Test CPU\ncpu family\t: 25\nmodel\t\t: 17\nflags\t\t: fpu avx2 avx512f avx512_vnni\n"
    h = host.host_info(cpuinfo, "MemTotal:       24641536 kB\n")
    assert h.cpu_model == "Test CPU (family 25 model 17)" and round(h.ram_gib, 1) == 23.5
    assert h.isa == {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx512_bf16": False, "amx": False}
    assert not h.has_bf16
    s = host.host_string(h)
    assert "Test CPU" in s and "avx512_vnni" in s and "absent avx512_bf16 amx" in s and "GiB" in s
    assert host.host_info("flags : amx_bf16 amx_tile\n", "").has_bf16


def test_openvino_bf16_skipped_without_cpu_support():
    from synergai.characterize.engines import OpenVinoEngine

    no_bf16 = host.host_info("flags : avx2 avx512f\n", "")
    with_bf16 = host.host_info("flags : avx2 avx512f avx512_bf16\n", "")
    assert "bf16" in OpenVinoEngine().skip_reason("resnet50", "bf16", no_bf16)
    assert OpenVinoEngine().skip_reason("resnet50", "bf16", with_bf16) is None
    assert OpenVinoEngine().skip_reason("resnet50", "fp32", no_bf16) is None


def test_measure_row_is_valid_and_aligned(fake, tmp_path):
    row = measure.measure(FakeEngine(), "mobilenet-v2", "fp32", 2, 1, warmup=1, requests=7, max_seconds=10,
                          device_type="test-dev", cache_dir=tmp_path)  # fmt: skip
    assert list(row) == trace_io.COLUMNS
    wall = trace_io.floats(row["samples_ms"])
    cpu = trace_io.floats(row["cpu_samples_ms"])
    assert len(wall) == len(cpu) == 7 and all(w >= 1.0 for w in wall) and all(c >= 0 for c in cpu)
    assert float(row["mean_ms"]) == pytest.approx(sum(wall) / 7, abs=1e-3)
    assert float(row["cpu_ms"]) == pytest.approx(sum(cpu) / 7, abs=1e-3)
    assert float(row["cold_start_ms"]) > 0 and float(row["load_avg_1m"]) >= 0
    assert row["engine_version"] == "fake 1.0" and "vCPU" in row["host"] and "GiB" in row["host"]
    assert (row["source_kind"], row["resource"], row["units"], row["batch"]) == ("measured", "cpu", "1", "2")
    assert row["source"].startswith("synergai-characterize") and "test-dev" in row["source"]
    for word in ("timed requests", "warm-up", "load avg", "before", "after", "exceeded", "cold start", "fake settings"):
        assert word in row["notes"], word
    assert "\n" not in row["notes"]
    out = tmp_path / "t.csv"
    trace_io.write_trace(str(out), [row])
    prof = PerformanceProfile.from_csv([out])
    (entry,) = prof.entries
    assert entry.cpu_samples_ms is not None and len(entry.cpu_samples_ms) == 7


def test_time_budget_keeps_five_samples(fake, tmp_path):
    row = measure.measure(FakeEngine(), "m", warmup=0, requests=50, max_seconds=0, cache_dir=tmp_path)
    assert len(trace_io.floats(row["samples_ms"])) == measure.MIN_SAMPLES
    assert "time limit" in row["notes"]
    row = measure.measure(FakeEngine(), "m", warmup=0, requests=3, max_seconds=0, cache_dir=tmp_path)
    assert len(trace_io.floats(row["samples_ms"])) == 3


def test_cli_writes_replaces_by_key_and_keeps_others(fake, tmp_path):
    out = tmp_path / "trace.csv"
    assert _run(out) == 0
    (first,) = _rows(out)
    other = dict(first, model="resnet50", samples_ms="1.0;2.0", cpu_samples_ms="1.0;2.0", mean_ms="1.5")
    trace_io.write_trace(str(out), [other, first])
    assert _run(out) == 0
    rows = _rows(out)
    assert [r["model"] for r in rows] == ["resnet50", "mobilenet-v2"]
    assert rows[0] == other
    assert rows[1]["source"] != first["source"] or rows[1]["samples_ms"] != first["samples_ms"]
    assert len(PerformanceProfile.from_csv([out])) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_cli_skip_existing_resumes(fake, tmp_path):
    out = tmp_path / "trace.csv"
    assert _run(out, "--threads", "1") == 0
    fake.loads.clear()
    assert _run(out, "--threads", "1,2", "--skip-existing", "--precisions", "fp32,int8") == 0
    assert sorted(fake.loads) == [("mobilenet-v2", "fp32", 1, 2), ("mobilenet-v2", "int8", 1, 1),
                                  ("mobilenet-v2", "int8", 1, 2)]  # fmt: skip
    assert len(_rows(out)) == 4


def test_engine_placeholder_in_out(fake, tmp_path):
    assert _run(tmp_path / "x_{engine}.csv") == 0
    assert (tmp_path / "x_fake.csv").is_file()


def test_interrupt_keeps_finished_rows(fake, tmp_path, capsys):
    out = tmp_path / "trace.csv"
    fake.interrupt_on = {"resnet50"}
    rc = _run(out, "--models", "mobilenet-v2,resnet50,bert-99")
    assert rc == 130
    assert [r["model"] for r in _rows(out)] == ["mobilenet-v2"]
    assert "interrupted" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_failure_and_skip_are_reported_and_others_run(fake, tmp_path, capsys):
    out = tmp_path / "trace.csv"
    fake.fail_on, fake.skip_on = {"resnet50"}, {"bert-99"}
    rc = _run(out, "--models", "resnet50,bert-99,mobilenet-v2")
    assert rc == 1
    assert [r["model"] for r in _rows(out)] == ["mobilenet-v2"]
    err = capsys.readouterr().err
    assert "FAILED fake fp32 resnet50 b1 t1: RuntimeError: boom" in err and "second line" not in err
    assert "skipping fake fp32 bert-99: not here" in err


def test_write_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "trace.csv"
    row = {c: "x" for c in trace_io.COLUMNS}
    trace_io.write_trace(str(out), [row])
    before = out.read_bytes()

    def boom(self, r):
        raise OSError("disk full")

    monkeypatch.setattr(csv.DictWriter, "writerow", boom)
    with pytest.raises(OSError):
        trace_io.append_rows(str(out), [dict(row, model="other")])
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["trace.csv"]


def test_read_trace_accepts_older_schema_and_rejects_foreign(tmp_path):
    old = tmp_path / "old.csv"
    old_cols = [c for c in trace_io.COLUMNS if c not in ("cpu_samples_ms", "cold_start_ms", "host")]
    old.write_text(",".join(old_cols) + "\n" + ",".join("v" for _ in old_cols) + "\n")
    (row,) = trace_io.read_trace(str(old))
    assert list(row) == trace_io.COLUMNS and row["host"] == "" and row["model"] == "v"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError):
        trace_io.read_trace(str(bad))


def test_merge_rows_replaces_by_key():
    base = {c: "" for c in trace_io.COLUMNS}
    a = dict(base, device_type="d", model="m", engine="e", precision="fp32", batch="1", threads="1",
             power_mode="default", notes="old")  # fmt: skip
    b = dict(a, threads="2", notes="b")
    merged = trace_io.merge_rows([a, b], [dict(a, notes="new"), dict(a, batch="2", notes="c")])
    assert [r["notes"] for r in merged] == ["new", "b", "c"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--engines", "tensorrt"], "--engines: unknown tensorrt"),
        (["--models", "gpt"], "--models: unknown gpt"),
        (["--precisions", "fp8"], "--precisions: unknown fp8"),
        (["--threads", "0"], "--threads"),
        (["--threads", "999"], "--threads"),
        (["--batch", "two"], "--batch"),
        (["--requests", "0"], "--requests"),
        (["--warmup", "-1"], "--warmup"),
        (["--max-seconds", "-1"], "--max-seconds"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv, fragment, tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert cli.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("synergai-characterize: error:") and fragment in err
    assert not out.exists()


def test_foreign_out_file_exit_2_untouched(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert cli.main(["--engines", "pytorch", "--models", "mobilenet-v2", "--out", str(bad)]) == 2
    assert bad.read_text() == "a,b\n1,2\n"
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_missing_engine_is_skipped_with_one_line(fake, monkeypatch, tmp_path, capsys):
    from synergai.characterize.engines import base

    def missing(self):
        return base.import_reason("synergai_no_such_module_xyz", "openvino")

    monkeypatch.setattr(ENGINES["openvino"], "unavailable", missing)
    out = tmp_path / "t_{engine}.csv"
    assert _run(out, "--engines", "openvino,fake") == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "skipping engine openvino" in ln]
    assert len(lines) == 1 and "not installed" in lines[0] and "synergai[openvino]" in lines[0]
    assert not (tmp_path / "t_openvino.csv").exists() and (tmp_path / "t_fake.csv").exists()


def test_only_missing_engines_is_clean(monkeypatch, tmp_path, capsys):
    for name in ENGINES:
        monkeypatch.setattr(ENGINES[name], "unavailable", lambda self: "not installed (test)")
    assert cli.main(["--models", "mobilenet-v2", "--out", str(tmp_path / "x.csv")]) == 0
    err = capsys.readouterr().err
    assert err.count("skipping engine") == len(ENGINES) and "nothing to measure" in err
    assert not (tmp_path / "x.csv").exists()


def test_committed_x86_traces_have_measurement_columns():
    """Every x86 VM trace row carries the columns the characterization tool writes."""
    files = sorted((README.parent).glob("x86_vm_*.csv"))
    assert files
    for f in files:
        rows = trace_io.read_trace(str(f))
        assert rows, f
        for r in rows:
            assert r["source_kind"] == "measured" and r["source"].startswith("synergai-characterize"), f
            assert len(trace_io.floats(r["cpu_samples_ms"])) == len(trace_io.floats(r["samples_ms"])), f
            for col in ("cold_start_ms", "load_avg_1m", "engine_version", "host"):
                assert r[col], (f, col)
    assert len(PerformanceProfile.from_csv(files)) == sum(len(trace_io.read_trace(str(f))) for f in files)


def test_torch_runner_forwards_old_options(monkeypatch):
    from synergai.characterize import torch_runner

    seen = {}
    monkeypatch.setattr(cli, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    torch_runner.main(["--models", "resnet50", "--n", "30", "--warmup", "5", "--out", "x.csv"])
    assert seen["argv"] == ["--engines", "pytorch", "--precisions", "fp32", "--models", "resnet50",
                            "--requests", "30", "--warmup", "4", "--out", "x.csv"]  # fmt: skip
