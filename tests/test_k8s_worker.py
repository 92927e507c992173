"""The Kubernetes worker: the downward-API annotations file, the CLI's one-line errors, and one real run."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.kubernetes import names as N
from backends.kubernetes import worker as W
from synergai.errors import SynergAIError

ROOT = Path(__file__).resolve().parent.parent

# What the kubelet writes (Kubernetes fieldpath.FormatMap: sorted keys, "%v=%q" per line, no trailing newline),
# produced by that code under Go 1.19 for the values in GOLDEN_VALUES.
GOLDEN_FILE = (
    'a/json="{\\"apiVersion\\":\\"v1\\",\\"kind\\":\\"Pod\\"}\\n"\n'
    'b/ctl="tab\\there\\rcr\\x00nul\\abell\\x1besc\\x7fdel\\vvt\\fff\\bbs"\n'
    'c/uni="café \\u00a0nbsp \\u2028ls \\u200bzw 😀 emoji \\ufeffbom"\n'
    "d/back=\"back\\\\slash 'single' \\\"double\\\"\"\n"
    'e/empty=""\n'
    'f/eq="k=v=w"\n'
    'synergai.io/batch="abc"'
)
GOLDEN_VALUES = {
    "a/json": '{"apiVersion":"v1","kind":"Pod"}\n',
    "b/ctl": "tab\there\rcr\x00nul\x07bell\x1besc\x7fdel\vvt\fff\bbs",
    "c/uni": "caf\u00e9 \u00a0nbsp \u2028ls \u200bzw \U0001F600 emoji \ufeffbom",
    "d/back": "back\\slash 'single' \"double\"",
    "e/empty": "",
    "f/eq": "k=v=w",
    "synergai.io/batch": "abc",
}

JOB = {N.ANN_JOB_ID: "7", N.ANN_MODEL: "mobilenet-v2", N.ANN_ENGINE: "onnxruntime", N.ANN_PRECISION: "fp32",
       N.ANN_BATCH: "1", N.ANN_THREADS: "1", N.ANN_QUERIES: "2", N.ANN_POWER_MODE: "default",
       "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Pod","metadata":{"annotations":{}}}\n'}


# ----------------------------------------------------------------------------- annotations file
def test_parse_matches_what_the_kubelet_writes():
    assert W.parse_annotations(GOLDEN_FILE) == GOLDEN_VALUES
    assert W.format_annotations(GOLDEN_VALUES) == GOLDEN_FILE
    assert W.parse_annotations(GOLDEN_FILE + "\n\n") == GOLDEN_VALUES  # trailing blank lines are harmless


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z0-9.]{1,12}/[a-z0-9-]{1,12}", fullmatch=True), st.text(max_size=40),
                       max_size=5))
def test_quote_parse_round_trip(ann):
    text = W.format_annotations(ann)
    assert text.count("\n") == max(len(ann) - 1, 0)  # one line per annotation, whatever the values hold
    assert W.parse_annotations(text) == ann


@pytest.mark.parametrize("line, problem", [
    ("synergai.io/batch", "expected key=\"value\""),
    ("synergai.io/batch=1", "expected key=\"value\""),
    ('synergai.io/batch="1', "not a double-quoted string"),
    ('synergai.io/batch="1"x', "not a double-quoted string"),
    ('synergai.io/batch="a"b"', "unescaped"),
    ('synergai.io/batch="a\\qb"', "unknown escape \\q"),
    ('synergai.io/batch="a\\x4"', "bad escape"),
    ('synergai.io/batch="a\\ud800"', "not a valid code point"),
    ('synergai.io/batch="\\"', "lone backslash"),
])
def test_parse_errors_name_file_line_and_key(line, problem):
    with pytest.raises(SynergAIError) as e:
        W.parse_annotations(f'synergai.io/model="resnet50"\n{line}', "/etc/podinfo/annotations")
    msg = str(e.value)
    assert msg.startswith("/etc/podinfo/annotations:2: ") and problem in msg and "\n" not in msg


def test_octal_and_unicode_escapes():
    assert W.go_unquote('"\\101\\u00e9\\U0001f600\\xc3\\xa9"') == "Aé😀é"


def test_job_from_annotations_and_env():
    assert W.job_from_annotations(JOB) == dict(model="mobilenet-v2", engine="onnxruntime", precision="fp32", batch=1,
                                               threads=1, queries=2)
    no_queries = {k: v for k, v in JOB.items() if k != N.ANN_QUERIES}
    assert W.job_from_annotations(no_queries)["queries"] == 1
    env = {W.env_name(k): v for k, v in JOB.items() if k.startswith(N.DOMAIN)}
    assert W.env_name(N.ANN_BATCH) == "SYNERGAI_BATCH" and W.env_name(N.ANN_JOB_ID) == "SYNERGAI_JOB_ID"
    assert W.job_from_annotations(W.annotations_from_env(env)) == W.job_from_annotations(JOB)


@pytest.mark.parametrize("key, value, problem", [
    (N.ANN_BATCH, "abc", "expected an integer >= 1, got 'abc'"),
    (N.ANN_BATCH, "0", "expected an integer >= 1"),
    (N.ANN_BATCH, "1.5", "expected an integer >= 1"),
    (N.ANN_BATCH, "-2", "expected an integer >= 1"),
    (N.ANN_THREADS, "two", "expected an integer >= 0"),
    (N.ANN_QUERIES, "0", "expected an integer >= 1"),
    (N.ANN_ENGINE, None, "missing"),
    (N.ANN_MODEL, "", "empty"),
])
def test_bad_annotations_name_the_key(key, value, problem):
    ann = dict(JOB)
    if value is None:
        del ann[key]
    else:
        ann[key] = value
    with pytest.raises(W.AnnotationError) as e:
        W.job_from_annotations(ann)
    assert e.value.key == key
    assert str(e.value).startswith(f"annotation {key}: ") and problem in str(e.value)


def test_worker_runs_the_models_of_the_measured_traces():
    from synergai.characterize.cli import MODEL_NAMES

    assert set(W.MODELS) == set(MODEL_NAMES)
    measured = set()
    for path in (ROOT / "traces").glob("*.csv"):
        with open(path, newline="") as f:
            measured |= {r["model"] for r in csv.DictReader(f) if r["source_kind"] == "measured"}
    assert measured and measured <= set(W.MODELS)


def test_run_inference_rejects_bad_settings_naming_the_key():
    with pytest.raises(W.AnnotationError) as e:
        W.run_inference("rnnt", "onnxruntime", "fp32", 1, 1, 1)
    assert e.value.key == N.ANN_MODEL
    with pytest.raises(W.AnnotationError) as e:
        W.run_inference("resnet50", "tensorrt", "int8", 1, 0, 1)
    assert e.value.key == N.ANN_ENGINE and "tensorrt" in str(e.value)
    pytest.importorskip("onnxruntime")
    for args, key in [(("bf16", 1, 1, 1), N.ANN_PRECISION), (("fp32", 0, 1, 1), N.ANN_BATCH),
                      (("fp32", 1, 0, 1), N.ANN_THREADS), (("fp32", 1, 1, 0), N.ANN_QUERIES),
                      (("fp32", True, 1, 1), N.ANN_BATCH)]:
        with pytest.raises(W.AnnotationError) as e:
            W.run_inference("resnet50", "onnxruntime", *args)
        assert e.value.key == key, args


def test_missing_model_file_without_torch_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError, as in the runtime image
    with pytest.raises(SynergAIError) as e:
        W.run_inference("resnet50", "onnxruntime", "int8", 1, 1, 1, model_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "resnet50-fp32-") in msg and "needs torch" in msg
    assert not W.cached_sessions().get(("resnet50", "onnxruntime", "int8", 1, str(tmp_path)))


# ----------------------------------------------------------------------------- CLI (subprocess)
def _cli(*args, env=None, timeout=120):
    e = {**os.environ, **(env or {})}
    e["PYTHONPATH"] = f"{ROOT}{os.pathsep}{e.get('PYTHONPATH', '')}"
    return subprocess.run([sys.executable, "-m", "backends.kubernetes.worker", *args], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=timeout)


def _one_error_line(r, rc: int, start: str) -> str:
    assert r.returncode == rc, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"synergai-worker: error: {start}"), r.stderr
    return lines[0]


def _write(tmp_path, ann, name="annotations") -> str:
    p = tmp_path / name
    p.write_text(W.format_annotations(ann), encoding="utf-8")
    return str(p)


def test_cli_one_line_errors_and_exit_codes(tmp_path):
    # as a process: exit 2 and one stderr line naming the annotation, nothing on stdout, no traceback
    line = _one_error_line(_cli("--annotations", _write(tmp_path, {**JOB, N.ANN_BATCH: "abc"})), 2,
                           f"annotation {N.ANN_BATCH}: ")
    assert "'abc'" in line
    env = {W.env_name(k): v for k, v in JOB.items() if k.startswith(N.DOMAIN)}
    _one_error_line(_cli("--from-env", env={**env, "SYNERGAI_THREADS": "-1"}), 2, f"annotation {N.ANN_THREADS}: ")
    _one_error_line(_cli("--annotations", str(tmp_path / "nope")), 2, "--annotations: cannot read ")


class _Run:
    def __init__(self, returncode, out, err):
        self.returncode, self.stdout, self.stderr = returncode, out, err


@pytest.mark.parametrize("change, start", [
    ({N.ANN_ENGINE: None}, f"annotation {N.ANN_ENGINE}: missing"),
    ({N.ANN_MODEL: "rnnt"}, f"annotation {N.ANN_MODEL}: unknown model 'rnnt'"),
    ({N.ANN_ENGINE: "tensorrt"}, f"annotation {N.ANN_ENGINE}: unknown engine 'tensorrt'"),
    ({N.ANN_QUERIES: "1e3"}, f"annotation {N.ANN_QUERIES}: expected an integer >= 1"),
])
def test_main_one_line_errors(tmp_path, capsys, change, start):
    ann = {k: v for k, v in {**JOB, **change}.items() if v is not None}
    rc = W.main(["--annotations", _write(tmp_path, ann)])
    cap = capsys.readouterr()
    _one_error_line(_Run(rc, cap.out, cap.err), 2, start)


def test_main_bad_file_and_options(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.write_text('synergai.io/model="resnet50"\nsynergai.io/batch=1\n')
    for argv, start in [(["--annotations", str(bad)], f"{bad}:2: "), (["--bogus"], "unrecognized arguments"),
                        (["--annotations", str(bad), "--from-env"], "argument --from-env: not allowed")]:
        rc = W.main(argv)
        cap = capsys.readouterr()
        _one_error_line(_Run(rc, cap.out, cap.err), 2, start)


def test_cli_missing_model_file_without_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    code = ("import sys; sys.modules['torch'] = None; from backends.kubernetes.worker import main; "
            "sys.exit(main(sys.argv[1:]))")
    term = tmp_path / "termination-log"
    term.write_text("")
    e = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code, "--annotations", _write(tmp_path, JOB), "--model-dir",
                        str(tmp_path / "models"), "--termination-log", str(term)], cwd=ROOT, env=e,
                       capture_output=True, text=True, timeout=120)
    line = _one_error_line(r, 1, "model file ")
    assert str(tmp_path / "models" / "mobilenet-v2-fp32-") in line and "needs torch" in line
    assert term.read_text() == "error: " + line.removeprefix("synergai-worker: error: ")


# ----------------------------------------------------------------------------- real inference
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    d = tmp_path_factory.mktemp("models")
    files = W.prepare_models(["mobilenet-v2"], ["fp32"], d)  # export once (~3 s), untimed
    assert [f.name for f in files] == [f.name for f in d.glob("mobilenet-v2-fp32-*.onnx")]
    return d


def test_run_inference_mobilenet(model_dir):
    W.clear_cache()
    r = W.run_inference("mobilenet-v2", "onnxruntime", "fp32", 1, 1, 2, model_dir=model_dir)
    assert (r.calls, r.batch, r.threads, r.queries, len(r.call_ms)) == (2, 1, 1, 2, 2)
    assert r.service_ms > 0 and all(x > 0 for x in r.call_ms)
    assert sum(r.call_ms) <= r.service_ms <= sum(r.call_ms) + max(1.0, 0.05 * r.service_ms)
    assert r.load_ms > 0 and r.finish_unix_ms - r.start_unix_ms == pytest.approx(r.service_ms, abs=5.0)
    assert r.engine_version.startswith("onnxruntime ") and "vCPU" in r.host
    assert r.model_file.startswith("mobilenet-v2-fp32-") and r.model_file.endswith(".onnx")
    json.dumps(r.to_json())

    key = ("mobilenet-v2", "onnxruntime", "fp32", 1, str(model_dir))
    assert W.cached_sessions()[key] == 1
    again = W.run_inference("mobilenet-v2", "onnxruntime", "fp32", 1, 1, 3, model_dir=model_dir)
    assert again.load_ms == 0.0 and again.calls == 3  # the pooled session: no reload, no warm-up
    b2 = W.run_inference("mobilenet-v2", "onnxruntime", "fp32", 2, 1, 3, model_dir=model_dir)
    assert b2.calls == 2 and b2.load_ms > 0  # same session, warmed up at the new batch size
    assert W.cached_sessions()[key] == 1

    # two jobs at once with the same key get a session each (own threads), both kept for later jobs
    results, barrier = [], threading.Barrier(2)

    def job():
        barrier.wait()
        results.append(W.run_inference("mobilenet-v2", "onnxruntime", "fp32", 1, 1, 2, model_dir=model_dir))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and W.cached_sessions()[key] in (1, 2)
    W.clear_cache()
    assert W.cached_sessions() == {}


def test_cli_runs_a_job_from_the_annotations_file(model_dir, tmp_path):
    term = tmp_path / "termination-log"
    term.write_text("")
    r = _cli("--annotations", _write(tmp_path, JOB), "--model-dir", str(model_dir), "--termination-log", str(term))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["job_id"] == "7" and out["model"] == "mobilenet-v2" and out["calls"] == 2
    assert out["service_ms"] > 0 and len(out["call_ms"]) == 2
    summary = json.loads(term.read_text())
    assert summary["service_ms"] == out["service_ms"] and "call_ms" not in summary
