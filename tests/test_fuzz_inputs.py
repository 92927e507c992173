"""Fuzzing the simulator-side parsers: any input gives a valid object or a one-line SynergAIError.

Property, for the trace loader, the arrival-trace (replay) parser, the workload spec, the cluster config and
the whole-config check ``experiments.runner.prepare``: whatever the input, the result is either a valid object
or a ``SynergAIError`` (``TraceError`` / ``ConfigError``) whose message is one line naming the file (with line
and column where one is to blame) or the dotted config key. Never another exception type, never a hang.

Deterministic (``derandomize=True``, no example database) and small: about 15 s on a 2-core machine.
``SYNERGAI_FUZZ_SCALE=50 python -m pytest tests/test_fuzz_inputs.py`` runs a 50x longer, randomly seeded search.
"""
from __future__ import annotations

import copy
import math
import os
import signal
import tempfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import two_site_profile, two_site_testbed
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from synergai.domain import RESOURCES
from synergai.errors import ConfigError, SynergAIError, TraceError
from synergai.profile import COLUMNS, PERCENTILE_COLUMNS, PerformanceProfile
from synergai.testbed import testbed_from_dict as build_testbed  # (a name pytest does not collect)
from synergai.workload import JobStream, WorkloadSpec, generate, read_arrival_csv

ROOT = Path(__file__).resolve().parent.parent


SCALE = int(os.environ.get("SYNERGAI_FUZZ_SCALE", "1"))  # e.g. 50: a long, randomly seeded search (not in CI)


def fuzz(n: int):
    """Hypothesis settings for one fuzz test: ``n`` examples, reproducible, generous per-example deadline."""
    return settings(max_examples=n * SCALE, derandomize=SCALE == 1, database=None, deadline=timedelta(seconds=3),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much], print_blob=False)


@contextmanager
def no_hang(seconds: float = 10.0):
    """Fail (instead of hanging the suite) if the body runs longer than ``seconds``."""

    def _timeout(signum, frame):
        raise TimeoutError(f"input took more than {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, _timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def assert_one_line(exc: BaseException, *names: str) -> str:
    """``exc`` is a SynergAIError whose message is one non-empty line mentioning one of ``names``."""
    assert isinstance(exc, SynergAIError), f"{type(exc).__name__}: {exc}"
    msg = str(exc)
    assert msg.strip(), "empty error message"
    assert len(msg.splitlines()) == 1 and "\n" not in msg and "\r" not in msg, repr(msg)
    assert "Traceback" not in msg
    assert any(n in msg for n in names), (msg, names)
    return msg


def outcome(fn, *names: str):
    """Run ``fn``: its value, or None after checking the SynergAIError it raised (any other exception fails)."""
    with no_hang():
        try:
            value = fn()
        except SynergAIError as exc:
            msg = assert_one_line(exc, *names)
            event(f"error: {getattr(exc, 'key', None) or getattr(exc, 'column', None) or msg.split(': ')[-1][:30]}")
            return None
    event("valid")
    return value


# ----------------------------------------------------------------------------- strategies: cells and numbers
NASTY_NUMBERS = ["", " ", "0", "-0", "-1", "1", "2", "0.5", "nan", "NaN", "inf", "-inf", "Infinity", "1e308",
                 "1e309", "-1e308", "1e-320", "5e-324", "9" * 40, "1" + "0" * 5000, "0x10", "1_000", "1,5", "1.5.2",
                 "١٢", "true", "None", "abc", "1;2", ";", "1;;2", "1; 2", " 3 ", '"4"', "\t5", "\x00", "\u2028"]
nasty_number = st.sampled_from(NASTY_NUMBERS)
finite_float = st.floats(allow_nan=False, allow_infinity=False, width=64)
any_float = st.floats(width=64)
number_text = st.one_of(nasty_number, finite_float.map(repr), any_float.map(str),
                        st.integers(-10**6, 10**20).map(str))
free_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
cell = st.one_of(number_text, free_text, st.sampled_from(["samples", "percentiles", "cpu", "accel", "measured",
                                                          "published", "derived", "gpu", "dev", "m"]))


def samples_text():
    return st.one_of(
        st.lists(st.one_of(finite_float, any_float, st.sampled_from([1e308, 1e-320, 5e-324, 0.0, -1.0])),
                 min_size=1, max_size=6).map(lambda xs: ";".join(repr(x) for x in xs)),
        st.lists(number_text, min_size=1, max_size=4).map(";".join),
    )


# ----------------------------------------------------------------------------- trace loader
def base_row(i: int) -> dict[str, str]:
    return dict(device_type="dev", model=f"m{i % 3}", engine="onnxruntime", precision="fp32", batch="1",
                threads=str(i), power_mode="default", resource="cpu", units="1", latency_kind="samples",
                samples_ms="1;2;3", source_kind="measured", source="fuzz")


def percentile_row(i: int, values: list[float | None]) -> dict[str, str]:
    r = base_row(i)
    r.update(engine="tensorrt", resource="accel", latency_kind="percentiles", samples_ms="")
    for (col, _), v in zip(PERCENTILE_COLUMNS, values):
        r[col] = "" if v is None else repr(v)
    return r


few = st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3])  # how many things to break: often none, so valid files occur


@st.composite
def trace_table(draw):
    """A header and rows that start valid and get garbled: columns dropped, duplicated, added, reordered;
    cells replaced by nasty values; rows too short or too long; duplicate rows; blank lines. Most examples
    break only a few things, so that the loader's later checks (and valid profiles) are reached too."""
    header = list(COLUMNS)
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    bom = False
    for _ in range(draw(few)):
        hmut = draw(st.sampled_from(["drop", "dup", "unknown", "empty", "case", "space", "bom"]))
        if hmut == "drop":
            header.remove(draw(st.sampled_from(header)))
        elif hmut == "dup":
            header.insert(draw(st.integers(0, len(header))), draw(st.sampled_from(header)))
        elif hmut == "unknown":
            header.insert(draw(st.integers(0, len(header))), draw(free_text))
        elif hmut == "empty":
            header.append("")
        elif hmut == "case":
            k = draw(st.integers(0, len(header) - 1))
            header[k] = header[k].upper()
        elif hmut == "space":
            k = draw(st.integers(0, len(header) - 1))
            header[k] = f" {header[k]} "
        else:
            bom = True
    rows = []
    for i in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["samples", "percentiles"]))
        if kind == "samples":
            r = base_row(i)
            xs = draw(st.lists(st.floats(1e-3, 1e5), min_size=1, max_size=6))
            r["samples_ms"] = ";".join(map(repr, xs))
            if draw(st.booleans()):
                r["cpu_samples_ms"] = ";".join(repr(x * draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]))) for x in xs)
        else:
            vals = sorted(draw(st.lists(st.floats(1e-3, 1e6), min_size=8, max_size=8)))
            r = percentile_row(i, [v if draw(st.integers(0, 3)) else None for v in vals])
            r["p50_ms"] = repr(vals[1])
        for _ in range(draw(few)):
            col = draw(st.sampled_from(COLUMNS))
            r[col] = draw(st.one_of(cell, samples_text()) if col.endswith("samples_ms") else cell)
        cells = [r.get(h.strip(), "") for h in header]
        shape = draw(st.sampled_from(["ok"] * 12 + ["short", "long", "dup", "blank"]))
        if shape == "short" and cells:
            cells = cells[:-1]
        elif shape == "long":
            cells = cells + [draw(cell)]
        rows.append(cells)
        if shape == "dup":
            rows.append(list(cells))
        elif shape == "blank":
            rows.append([])
    return header, rows, bom


def csv_text(header, rows, bom=False) -> str:
    def q(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\n\r') else c

    text = "\n".join(",".join(q(c) for c in r) for r in [header, *rows]) + "\n"
    return ("\ufeff" + text) if bom else text


def assert_valid_profile(prof: PerformanceProfile):
    assert len(prof) >= 1
    keys = set()
    for e in prof.entries:
        assert e.key not in keys
        keys.add(e.key)
        assert e.resource in RESOURCES and e.units >= 1 and e.config.batch >= 1 and e.config.threads >= 0
        assert all(isinstance(s, str) and s.strip() for s in (e.device_type, e.model, e.config.engine,
                                                               e.config.precision, e.config.power_mode))
        qs = [e.dist.quantile(q) for q in (0.0, 0.5, 0.9, 0.99, 1.0)]
        assert all(math.isfinite(v) and v > 0 for v in qs), (e.key, qs)
        assert qs == sorted(qs)
        assert math.isfinite(e.mean_ms) and e.mean_ms > 0 and math.isfinite(e.p50_ms) and e.p50_ms > 0
        s = e.dist.sample(np.random.default_rng(0), 16)
        assert np.isfinite(s).all() and (s > 0).all()
        assert math.isfinite(e.service_ms(3)) and math.isfinite(e.service_ms(1, 0.99))


def load_dir(folder: Path, basis: str):
    return outcome(lambda: PerformanceProfile.from_dir(folder, basis=basis), str(folder))


@fuzz(600)
@given(tables=st.lists(trace_table(), min_size=1, max_size=2), basis=st.sampled_from(["wall", "cpu"]))
def test_trace_loader_garbled_tables(tables, basis):
    with tempfile.TemporaryDirectory() as d:
        for i, (header, rows, bom) in enumerate(tables):
            (Path(d) / f"t{i}.csv").write_text(csv_text(header, rows, bom), encoding="utf-8")
        prof = load_dir(Path(d), basis)
        if prof is not None:
            assert_valid_profile(prof)


@fuzz(300)
@given(data=st.one_of(
    st.binary(max_size=300),
    st.text(st.sampled_from(',;\n\r"\t 0123456789.-einfa\x00\xff\u2028'), max_size=300).map(str.encode),
    st.tuples(st.integers(0, 2000), st.binary(min_size=1, max_size=8)),  # bytes spliced into a valid file
), basis=st.sampled_from(["wall", "cpu"]))
def test_trace_loader_raw_bytes(data, basis):
    good = (",".join(COLUMNS) + "\n" + ",".join(base_row(0).get(c, "") for c in COLUMNS) + "\n").encode()
    if isinstance(data, tuple):
        pos, junk = data
        pos = min(pos, len(good))
        data = good[:pos] + junk + good[pos:]
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "raw.csv").write_bytes(data)
        prof = load_dir(Path(d), basis)
        if prof is not None:
            assert_valid_profile(prof)


def test_trace_loader_errors_name_file_line_column(tmp_path):
    """The fixed cases the fuzzer's property generalises, with the exact place named."""
    good = ",".join(base_row(0).get(c, "") for c in COLUMNS)
    cases = [
        ("", "t.csv:1: empty file"),
        (",".join(COLUMNS) + "\n", "t.csv: no trace rows"),  # fine next to other files, not alone
        (",".join(COLUMNS) + "," + "model\n" + good + ",m\n", "t.csv:1 column 'model': duplicate column"),
        (",".join(COLUMNS) + ",\n" + good + ",\n", "t.csv:1: empty column name"),
        (",".join(COLUMNS).replace("samples_ms", '"samples_ms\nx"') + "\n", "t.csv:1 column 'samples_ms\\nx'"),
        (",".join(COLUMNS) + "\n" + good.replace("1;2;3", "1e308;1e308"), "t.csv:2 column 'samples_ms'"),
        (",".join(COLUMNS) + "\n" + good.replace("1;2;3", '"1;2;3\x00"'), "t.csv:2 column 'samples_ms'"),
        ("\ufeff" + ",".join(COLUMNS) + "\n" + good + "\n", None),  # a UTF-8 byte-order mark is accepted
    ]
    for text, expected in cases:
        p = tmp_path / "t.csv"
        p.write_text(text, encoding="utf-8")
        if expected is None:
            PerformanceProfile.from_csv([p])
            continue
        with pytest.raises(TraceError) as ei:
            PerformanceProfile.from_csv([p])
        assert_one_line(ei.value, str(p))
        assert expected in str(ei.value), (str(ei.value), expected)
    p.write_bytes((",".join(COLUMNS) + "\n" + good + "\n").encode() + b"dev,\xff\xfe\n")
    with pytest.raises(TraceError, match=r"t\.csv:3: not UTF-8 text"):
        PerformanceProfile.from_csv([p])
    p.write_text(",".join(COLUMNS) + "\n" + good.replace("fuzz", '"' + "x" * 200_000 + '"') + "\n")
    with pytest.raises(TraceError, match=r"t\.csv:2: not a readable CSV file"):
        PerformanceProfile.from_csv([p])


def test_cpu_basis_overflow_is_a_trace_error(tmp_path):
    """CPU times 300 orders of magnitude apart: the CPU-basis rescaling would make a call last 1e299 ms."""
    p = tmp_path / "c.csv"
    r = base_row(0)
    r.update(samples_ms="1;1", cpu_samples_ms="1e-300;1")
    p.write_text(",".join(COLUMNS) + "\n" + ",".join(r.get(c, "") for c in COLUMNS) + "\n")
    PerformanceProfile.from_csv([p], basis="wall")
    with pytest.raises(TraceError, match=r"c\.csv:2 column 'cpu_samples_ms'"):
        PerformanceProfile.from_csv([p], basis="cpu")


# ----------------------------------------------------------------------------- arrival traces (replay)
@st.composite
def arrival_file(draw):
    column = draw(st.sampled_from(["arrived_at", "arrived_at", "t", ""]))
    header = draw(st.sampled_from([["arrived_at"], ["arrived_at", "tokens"], ["tokens", "arrived_at"], [column],
                                   []]))
    rows = []
    t = 0.0
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 3)) == 0:
            v = draw(number_text)
        else:
            t += draw(st.one_of(st.floats(0, 10), st.sampled_from([0.0, 1e-300, 1e300, 1e308, -1.0])))
            v = repr(t)
        cells = [v if h == "arrived_at" else draw(st.sampled_from(["1", "", "x"])) for h in header] or [v]
        if draw(st.integers(0, 6)) == 0:
            cells = cells + ["extra"] if draw(st.booleans()) else cells[:-1]
        rows.append(",".join(cells))
    text = "\n".join([",".join(header), *rows]) + "\n"
    data = text.encode()
    if draw(st.integers(0, 8)) == 0:
        data = draw(st.binary(max_size=64))
    elif draw(st.integers(0, 8)) == 0:
        k = draw(st.integers(0, len(data)))
        data = data[:k] + b"\xff\xfe" + data[k:]
    return data


def assert_valid_arrivals(a: np.ndarray, n: int | None = None):
    assert a.ndim == 1 and np.isfinite(a).all() and (np.diff(a) >= 0).all() and a[0] >= 0
    if n is not None:
        assert len(a) == n


@fuzz(300)
@given(data=arrival_file(), unit_s=st.one_of(st.just(1.0), st.sampled_from([0.001, 1e-300, 1e300])),
       rate=st.one_of(st.floats(1e-3, 1e6), st.sampled_from([1e-300, 1e300])), n_jobs=st.integers(1, 40))
def test_replay_parser_and_scaling(data, unit_s, rate, n_jobs):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "arrivals.csv"
        path.write_bytes(data)
        base = outcome(lambda: read_arrival_csv(path, "arrived_at", unit_s), str(path))
        if base is not None:
            assert_valid_arrivals(base)
            assert len(base) >= 2
        spec = WorkloadSpec(mix={"m": 1.0}, n_jobs=n_jobs, arrival="replay", load=None, rate_per_s=rate,
                            replay_path=str(path), replay_unit_s=unit_s)
        tb, prof = two_site_testbed(), two_site_profile()
        s = outcome(lambda: (spec.validate(prof), generate(spec, prof, tb.nodes, tb.network,
                                                           np.random.default_rng(0)))[1], str(path), "workload.")
        if s is not None:
            assert base is not None
            assert_valid_arrivals(s.arrival_ms, n_jobs)


def test_replay_errors_name_file_line_column(tmp_path):
    p = tmp_path / "a.csv"
    for text, expected in [
        (b"arrived_at\n0\n1\n\xff\n", "a.csv:4: not UTF-8 text"),
        (b"arrived_at\n0\n1e308\n", "a.csv:3 column 'arrived_at': timestamp too large"),
        (b"arrived_at\n0\n1\nnan\n", "a.csv:4 column 'arrived_at': timestamps must be finite"),
        (b"arrived_at\n0\n", "a.csv: needs at least 2 arrivals"),
        (b"", "a.csv: no column 'arrived_at'"),
        (b"arrived_at\n0\n0\n", "a.csv: all timestamps equal"),
    ]:
        p.write_bytes(text)
        spec = WorkloadSpec(mix={"m": 1.0}, n_jobs=5, arrival="replay", load=None, rate_per_s=10.0,
                            replay_path=str(p))
        tb, prof = two_site_testbed(), two_site_profile()
        with pytest.raises(ConfigError) as ei:
            generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))
        assert_one_line(ei.value, str(p))
        assert str(ei.value).startswith("workload.replay_"), str(ei.value)
        assert expected in str(ei.value), (str(ei.value), expected)


# ----------------------------------------------------------------------------- workload spec
NASTY_VALUES = [None, 0, -1, 1, 0.0, -0.5, 1.5, 1e308, -1e308, math.nan, math.inf, -math.inf, True, False, "",
                "x", "0.5", [], [1], {}, {"m": 1}, {"m": "x"}, {"m": None}, {"nope": 1.0}, 10**30, 2**63]
nasty_value = st.one_of(st.sampled_from(NASTY_VALUES), finite_float, st.integers(-5, 5), free_text)

WORKLOAD_VALUES = {  # per key: plausible values, so that fuzzing gets past the first check often
    "arrival": st.sampled_from(["poisson", "bursty", "replay", "weibull"]),
    "n_jobs": st.integers(0, 60),
    "load": st.one_of(st.none(), st.floats(0, 2), st.sampled_from([1e-300, 1e300])),
    "rate_per_s": st.one_of(st.none(), st.floats(0, 1e4), st.sampled_from([1e-300, 1e300])),
    "mix": st.dictionaries(st.sampled_from(["m", "big", "nope"]), st.one_of(st.floats(0, 3), nasty_value),
                           max_size=3),
    "qos_multiplier": st.one_of(st.floats(0, 10), st.dictionaries(st.sampled_from(["m", "big"]),
                                                                  st.floats(-1, 10), max_size=2)),
    "input_bytes": st.dictionaries(st.sampled_from(["m", "big"]), st.one_of(st.integers(-1, 10**7), nasty_value),
                                   max_size=2),
    "queries": st.integers(0, 4),
    "private_fraction": st.floats(-0.5, 1.5),
    "origins": st.one_of(st.none(), st.lists(st.sampled_from(["e", "c", "mars"]), max_size=2), st.just("e")),
    "on_s": st.floats(0, 5), "off_s": st.floats(0, 5), "off_rate_fraction": st.floats(0, 1),
    "replay_path": st.sampled_from([None, "traces/arrivals/azure_llm_2023_code.csv", "/missing.csv", "traces"]),
    "replay_column": st.sampled_from(["arrived_at", "num_decode_tokens", "nope"]),
    "replay_unit_s": st.sampled_from([1.0, 0.001, 0.0, -1.0, math.nan]),
}


@st.composite
def workload_dict(draw):
    w = {"mix": {"m": 1.0}, "n_jobs": 20, "rate_per_s": 50.0, "load": None}
    for k in draw(st.lists(st.sampled_from(sorted(WORKLOAD_VALUES)), max_size=5, unique=True)):
        w[k] = draw(WORKLOAD_VALUES[k])
    for k in draw(st.lists(st.sampled_from([*WORKLOAD_VALUES, "lod", 3]), max_size=2, unique=True)):
        if draw(st.integers(0, 2)) == 0:
            w.pop(k, None)
        else:
            w[k] = draw(nasty_value)
    return w


def assert_valid_stream(s: JobStream, spec: WorkloadSpec):
    assert len(s) == spec.n_jobs
    assert_valid_arrivals(s.arrival_ms)
    assert s.models and set(s.models) <= set(spec.mix) and s.origins
    assert all(math.isfinite(q) and q > 0 for q in s.qos_ms.values())
    assert (s.model_idx >= 0).all() and (s.model_idx < len(s.models)).all()


@fuzz(500)
@given(w=workload_dict())
def test_workload_spec_validate_generate(w):
    from experiments.runner import workload_spec

    tb, prof = two_site_testbed(), two_site_profile()

    def build():
        spec = workload_spec(w)
        spec.validate(prof)
        return spec, generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))

    res = outcome(build, "workload")
    if res is not None:
        assert_valid_stream(res[1], res[0])


@pytest.mark.parametrize("w, key", [
    ({"n_jobs": 10}, "workload.mix: missing"),
    ({"mix": ["m"]}, "workload.mix: must be a mapping"),
    ({"mix": {"m": 1.0}, "n_jobs": True}, "workload.n_jobs"),
    ({"mix": {"m": 1.0}, "origins": "e"}, "workload.origins: must be a list"),
    ({"mix": {"m": 1.0}, "origins": ["mars"]}, "workload.origins"),
    ({"mix": {"m": 1e308, "big": 1e308}}, "workload.mix"),
    ({"mix": {"m": 1.0}, "qos_multiplier": math.inf}, "workload.qos_multiplier"),
    ({"mix": {"m": 1.0}, "qos_multiplier": {"m": "3"}}, "workload.qos_multiplier.m"),
    ({"mix": {"m": 1.0}, "input_bytes": [1]}, "workload.input_bytes"),
    ({"mix": {"m": 1.0}, "arrival": "bursty", "off_s": math.inf}, "workload.off_s"),
    ({"mix": {"m": 1.0}, "arrival": "replay", "replay_path": "traces/arrivals/azure_llm_2023_code.csv",
      "replay_unit_s": 0}, "workload.replay_unit_s"),
    ({"mix": {"m": 1.0}, "replay_path": 5}, "workload.replay_path"),
    ({"mix": {"m": 1.0}, "replay_column": 5}, "workload.replay_column"),
    (None, "workload: must be a mapping"),
])
def test_workload_config_errors(w, key):
    from experiments.runner import workload_spec

    tb, prof = two_site_testbed(), two_site_profile()
    with pytest.raises(ConfigError) as ei:
        spec = workload_spec(w if w is None else {"n_jobs": 10, "rate_per_s": 5.0, "load": None, **w})
        spec.validate(prof)
        generate(spec, prof, tb.nodes, tb.network, np.random.default_rng(0))
    assert str(ei.value).startswith(key), str(ei.value)
    assert_one_line(ei.value, "workload")


# ----------------------------------------------------------------------------- cluster config
def default_cluster() -> dict:
    import yaml

    with (ROOT / "configs/cluster/default.yaml").open() as fh:
        return yaml.safe_load(fh)


DEFAULT_CLUSTER = default_cluster()


def paths(obj, prefix=()):
    """Every path (tuple of keys / indices) into a nested dict/list, the root included."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from paths(v, (*prefix, i))


def plausible(old):
    """A value of the same kind as ``old``: edits that often keep the config valid reach the deeper checks."""
    if isinstance(old, bool) or old is None:
        return st.booleans()
    if isinstance(old, int):
        return st.integers(0, 16)
    if isinstance(old, float):
        return st.floats(0, 1e4)
    if isinstance(old, str):
        return st.sampled_from(["edge", "cloud", "edge-a", "edge-b", "cloud", "jetson-agx-orin", "x86-vm-2c",
                                "gpu-l4", "MAXN", "MaxQ", "arm64", "orin-a", "resnet50", "bert-99", old])
    return st.just(old)


def mutated(base, draw, values):
    """``base`` with a few random edits: a value replaced (by a plausible or a nasty one), a key deleted, an
    item duplicated."""
    obj = copy.deepcopy(base)
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        all_paths = list(paths(obj))
        p = draw(st.sampled_from(all_paths[1:] or all_paths))
        if not p:
            return copy.deepcopy(draw(values))
        parent = obj
        for k in p[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["tweak", "tweak", "tweak", "set", "set", "delete", "dup"]))
        if op == "tweak":
            parent[p[-1]] = draw(plausible(parent[p[-1]]))
        elif op == "delete":
            del parent[p[-1]]
        elif op == "dup" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[p[-1]]))
        else:
            parent[p[-1]] = copy.deepcopy(draw(values))  # (sampled_from hands out shared objects)
    return obj


cluster_value = st.one_of(
    nasty_value,
    st.sampled_from(["edge", "cloud", "edge-a", "cloud", "jetson-agx-orin", "x86-vm-2c", "MAXN", "MaxQ", 10**9,
                     "multi\nline", ["MAXN"], "MAXN", [None], [{}], {"tier": "edge"}]),
    st.recursive(st.one_of(st.none(), st.integers(-2, 3), free_text),
                 lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(free_text, c, max_size=3)),
                 max_leaves=6),
)


def assert_valid_testbed(tb):
    assert tb.nodes and len({n.name for n in tb.nodes}) == len(tb.nodes)
    for n in tb.nodes:
        assert n.site in tb.network.sites and n.tier in ("edge", "cloud")
        assert isinstance(n.cpu_cores, int) and isinstance(n.accel_slots, int)
        assert n.cpu_cores >= 0 and n.accel_slots >= 0 and n.cpu_cores + n.accel_slots > 0
        assert all(isinstance(m, str) and m for m in n.power_modes)
    for a in tb.network.sites:
        for b in tb.network.sites:
            r = tb.network.route(a, b)
            if r is not None:
                assert math.isfinite(r.latency_ms) and r.latency_ms >= 0 and r.bandwidth_mbps > 0
                assert math.isfinite(r.transfer_ms(10**6))


@fuzz(800)
@given(data=st.data())
def test_cluster_config(data):
    cfg = mutated(DEFAULT_CLUSTER, data.draw, cluster_value)
    tb = outcome(lambda: build_testbed(cfg), "cluster")
    if tb is not None:
        assert_valid_testbed(tb)


@pytest.mark.parametrize("edit, key", [
    (lambda c: c.update(nodes=[]), "cluster.nodes: the cluster has no nodes"),
    (lambda c: c.update(nodes=None), "cluster.nodes: missing"),
    (lambda c: c.update(sites=[]), "cluster.sites: at least one site"),
    (lambda c: c.update(nodes={"a": 1}), "cluster.nodes: must be a list"),
    (lambda c: c.update(device_types=["jetson-agx-orin"]), "cluster.device_types: must be a mapping"),
    (lambda c: c["device_types"].update({"gpu-l4": None}), "cluster.device_types.gpu-l4: must be a mapping"),
    (lambda c: c["nodes"][0].update(device_type="tpu"), "cluster.nodes[0].device_type: unknown device type"),
    (lambda c: c["device_types"]["gpu-l4"].update(cpu_cores=0, accel_slots=0),
     "cluster.device_types.gpu-l4: a device type needs cpu_cores or accel_slots > 0"),
    (lambda c: c["nodes"][0].update(power_modes="MAXN"), "cluster.nodes[0].power_modes: must be a list"),
    (lambda c: c["nodes"][0].update(count=10**9), "cluster.nodes[0].count: must be <="),
    (lambda c: c["links"][0].update(latency_ms=math.inf), "cluster.links[0].latency_ms: must be <= 1e+09"),
    (lambda c: c["sites"][0].update(lan_latency_ms=1e308), "cluster.sites[0].lan_latency_ms: must be <="),
    (lambda c: c["links"].append(dict(c["links"][0])), "cluster.links[3]: duplicate link"),
    (lambda c: c["links"].append({"a": "cloud", "b": "cloud", "latency_ms": 1, "bandwidth_mbps": 1}),
     "cluster.links[3]: a link needs two different sites"),
    (lambda c: (c["device_types"].update({"x\ny": {"tier": "edge", "arch": "arm64", "cpu_cores": 0}}),
                c["nodes"][0].update(device_type="x\ny")), "cluster.device_types.x\\ny: a device type needs"),
])
def test_cluster_config_errors(edit, key):
    cfg = copy.deepcopy(DEFAULT_CLUSTER)
    edit(cfg)
    with pytest.raises(ConfigError) as ei:
        build_testbed(cfg)
    msg = assert_one_line(ei.value, "cluster")
    assert msg.startswith(key), msg


def test_cluster_must_be_a_mapping():
    for bad in (None, [], "default", 3):
        with pytest.raises(ConfigError, match="^cluster: must be a mapping"):
            build_testbed(bad)


# ----------------------------------------------------------------------------- the whole config (prepare)
@pytest.fixture(scope="module")
def default_cfg():
    from experiments.runner import compose_config

    return compose_config(["workload.n_jobs=40"])


@fuzz(250)
@given(data=st.data(), traces_dir=st.sampled_from(["traces", "traces", "traces", "/nonexistent", "traces/arrivals",
                                                   "README.md", "configs/hydra"]),
       basis=st.sampled_from(["wall", "cpu", "cpu", "both"]))
def test_prepare_whole_config(default_cfg, data, traces_dir, basis):
    """Edits anywhere in the cluster and workload config, and the trace settings; a config that passes
    ``prepare`` must also generate its jobs (or fail there with a one-line error)."""
    from experiments.runner import make_stream, prepare

    sub = mutated({"cluster": default_cfg["cluster"], "workload": default_cfg["workload"]}, data.draw,
                  cluster_value)
    if not isinstance(sub, dict):
        return
    cfg = {**default_cfg, "cluster": sub.get("cluster", default_cfg["cluster"]),
           "workload": sub.get("workload", default_cfg["workload"]),
           "experiment": {**default_cfg["experiment"], "traces_dir": traces_dir, "latency_basis": basis}}
    cfg = copy.deepcopy(cfg)
    if isinstance(cfg["workload"], dict) and isinstance(cfg["workload"].get("n_jobs"), int):
        cfg["workload"]["n_jobs"] = min(cfg["workload"]["n_jobs"], 200)  # a valid config must also run quickly
    prep = outcome(lambda: prepare(cfg), "cluster", "workload", "experiment", "traces", traces_dir)
    if prep is not None:
        stream = outcome(lambda: make_stream(prep), "cluster", "workload")
        if stream is not None:
            assert_valid_stream(stream, prep.spec)
