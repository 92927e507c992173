"""Checks of the real engines: a CI-sized ``synergai-characterize`` run and the ONNX Runtime int8 and
OpenVINO paths on tiny models. Each test skips itself when its engine is not installed
(``pip install -e '.[torch,onnx,openvino]'`` installs them all). About 15 s on a 2-vCPU VM."""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import numpy as np
import pytest

from synergai.characterize import cli, export, host, measure
from synergai.profile import PerformanceProfile

torch = pytest.importorskip("torch")
nn = torch.nn

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.body(x), 1))


class TinyTokenModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30522, 8)
        self.ff = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 2))

    def forward(self, ids):
        return self.ff(self.emb(ids))


def tiny_cnn():
    torch.manual_seed(0)
    return TinyCNN().eval(), lambda b: (torch.randn(b, 3, 32, 32),)


def tiny_tokens():
    torch.manual_seed(0)
    return TinyTokenModel().eval(), lambda b: (torch.randint(1000, 30522, (b, 16)),)


def _installed(*mods):
    for m in mods:
        try:
            importlib.import_module(m)
        except ImportError:
            return False
    return True


def test_ci_sized_cli_run_loads_as_profile(tmp_path):
    """mobilenet-v2, fp32, batch 1, 1 thread, 20 requests, on every installed engine."""
    engines = ["pytorch"] + [e for e, mods in (("onnxruntime", ("onnxruntime", "onnx")), ("openvino", ("openvino",)))
                             if _installed(*mods)]  # fmt: skip
    out = tmp_path / "x86_{engine}.csv"
    cache = tmp_path / "cache"
    rc = cli.main(["--engines", ",".join(engines), "--models", "mobilenet-v2", "--precisions", "fp32",
                   "--threads", "1", "--batch", "1", "--warmup", "2", "--requests", "20", "--max-seconds", "20",
                   "--device-type", "ci-vm", "--cache-dir", str(cache), "--out", str(out)])  # fmt: skip
    assert rc == 0
    files = [tmp_path / f"x86_{e}.csv" for e in engines]
    prof = PerformanceProfile.from_csv(files)
    assert len(prof) == len(engines)
    for e in prof.entries:
        assert e.device_type == "ci-vm" and e.model == "mobilenet-v2" and e.config.threads == 1
        assert e.source_kind == "measured" and len(e.dist.samples) == 20 and len(e.cpu_samples_ms) == 20
    for f in files:
        with open(f, newline="") as fh:
            (row,) = list(csv.DictReader(fh))
        assert row["engine_version"].split()[0] == row["engine"] and row["host"] and row["cold_start_ms"]
    if len(engines) > 1:  # exported files went to the cache dir, not the repository
        assert list(cache.glob("mobilenet-v2-fp32-*.onnx"))
        assert not list(REPO.glob("*.onnx")) and not list((REPO / "traces").glob("*.onnx"))


def test_ort_int8_static_qdq_tiny_cnn(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    from synergai.characterize.engines import OnnxRuntimeEngine

    art = export.ensure_int8("tiny-cnn", tmp_path, builder=tiny_cnn)
    assert art.created_now and "QDQ" in art.meta["method"] and "NOT accuracy" in art.meta["method"]
    ops = {n.op_type for n in onnx.load(str(art.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert export.ensure_int8("tiny-cnn", tmp_path).created_now is False  # cached, no torch model needed

    # The quantized network still computes roughly the same function (calibration and test inputs
    # come from the same random distribution), so the QDQ graph is wired correctly.
    specs = export.specs_from_json(art.meta["inputs"])
    feed = export.make_inputs(specs, 4, seed=7)
    fp32 = ort.InferenceSession(str(export.fp32_path("tiny-cnn", tmp_path))).run(None, feed)[0]
    int8 = ort.InferenceSession(str(art.path)).run(None, feed)[0]
    assert int8.shape == fp32.shape == (4, 10)
    assert np.corrcoef(fp32.ravel(), int8.ravel())[0, 1] > 0.9

    row = measure.measure(OnnxRuntimeEngine(), "tiny-cnn", "int8", batch=2, threads=1, warmup=1, requests=5,
                          max_seconds=5, cache_dir=tmp_path)  # fmt: skip
    assert row["engine"] == "onnxruntime" and row["precision"] == "int8" and row["batch"] == "2"
    assert "intra_op_num_threads=1" in row["notes"] and "static int8" in row["notes"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_ort_int8_dynamic_for_token_models(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")

    art = export.ensure_int8("tiny-tokens", tmp_path, builder=tiny_tokens)
    assert "dynamic" in art.meta["method"] and art.path.name.startswith("tiny-tokens-int8-dyn-")
    ops = {n.op_type for n in onnx.load(str(art.path)).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}


def test_openvino_fp32_and_bf16_tiny_cnn(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("openvino")
    from synergai.characterize.engines import OpenVinoEngine

    export.ensure_fp32("tiny-cnn", tmp_path, builder=tiny_cnn)
    eng = OpenVinoEngine()
    assert eng.unavailable() is None and eng.version().startswith("openvino ")
    row = measure.measure(eng, "tiny-cnn", "fp32", batch=2, threads=1, warmup=1, requests=5, max_seconds=5,
                          cache_dir=tmp_path)  # fmt: skip
    assert "INFERENCE_NUM_THREADS=1" in row["notes"] and "INFERENCE_PRECISION_HINT=f32" in row["notes"]
    assert list(tmp_path.glob("tiny-cnn-fp32-*.xml"))
    h = host.host_info()
    if h.has_bf16:
        row = measure.measure(eng, "tiny-cnn", "bf16", batch=1, threads=1, warmup=1, requests=5, max_seconds=5,
                              cache_dir=tmp_path)  # fmt: skip
        assert "INFERENCE_PRECISION_HINT=bf16" in row["notes"]
    else:
        assert "bf16" in eng.skip_reason("tiny-cnn", "bf16", h)
