"""Checks of the characterization models (parameter counts, output shapes) and the torch runner.

Skipped as a whole where PyTorch is not installed. Parameter counts are taken on the ``meta`` device
(no memory, no initialization), so the 335 M-parameter BERT-Large costs nothing; forward passes use
small inputs or shallow copies to keep the module well under 20 s on a 2-vCPU machine.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from synergai.characterize import models, torch_runner  # noqa: E402

README = Path(__file__).resolve().parents[1] / "traces" / "README.md"


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _meta_params(name: str) -> int:
    with torch.device("meta"):
        model, _ = models.MODELS[name]()
    return models.count_parameters(model)


# name -> (published value, allowed relative deviation)
PUBLISHED = {
    "resnet50": (25.6e6, 0.01),  # ResNet-50 v1.5: 25,557,032
    "retinanet": (37.5e6, 0.02),  # ResNeXt50-32x4d FPN RetinaNet, 264 classes: 37-38 M
    "bert-99": (335e6, 0.01),  # BERT-Large incl. embeddings
    "mobilenet-v2": (3.5e6, 0.02),  # MobileNetV2 1.0: 3,504,872
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_close_to_published(name):
    published, tolerance = PUBLISHED[name]
    n = _meta_params(name)
    assert abs(n - published) / published <= tolerance, f"{name}: {n:,} params vs {published:,.0f}"


def test_exact_parameter_counts():
    # Exact counts of the reference implementations' architectures (torchvision / HF BERT QA).
    assert _meta_params("resnet50") == 25_557_032
    assert _meta_params("mobilenet-v2") == 3_504_872
    assert _meta_params("bert-99") == 334_094_338  # no pooler; +1,049,600 with one = 335.1 M
    assert _meta_params("retinanet") == 37_060_652


def test_registry_and_default_input_shapes():
    assert set(models.MODELS) == {"resnet50", "retinanet", "bert-99", "mobilenet-v2"}
    expected = {
        "resnet50": [((2, 3, 224, 224), torch.float32)],
        "mobilenet-v2": [((2, 3, 224, 224), torch.float32)],
        "retinanet": [((2, 3, 800, 800), torch.float32)],
        "bert-99": [((2, 384), torch.int64), ((2, 384), torch.int64)],
    }
    for name, shapes in expected.items():
        with torch.device("meta"):
            _, input_fn = models.MODELS[name]()
        inputs = input_fn(2)
        assert [(tuple(t.shape), t.dtype) for t in inputs] == shapes, name
    with pytest.raises(KeyError):
        models.build("no-such-model")


def test_classifier_output_shapes():
    with torch.inference_mode():
        for name in ("resnet50", "mobilenet-v2"):
            model, input_fn = models.build(name)
            assert not model.training
            assert tuple(model(*input_fn(2)).shape) == (2, 1000), name


def test_retinanet_head_output_shapes():
    size = 128  # small image; the layout is the same as at 800x800
    model, input_fn = models.build_retinanet(image_size=size)
    with torch.inference_mode():
        cls, box = model(*input_fn(1))
    anchors = models.retinanet_num_anchors(size)
    assert anchors == 9 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1 * 1)
    assert tuple(cls.shape) == (1, anchors, 264)
    assert tuple(box.shape) == (1, anchors, 4)
    assert models.retinanet_num_anchors(800) == 9 * (100**2 + 50**2 + 25**2 + 13**2 + 7**2)


def test_bert_qa_output_shapes():
    model, input_fn = models.build_bert_large(seq_len=16, layers=2)  # shallow copy, same layer
    with torch.inference_mode():
        start, end = model(*input_fn(2))
    assert tuple(start.shape) == (2, 16) and tuple(end.shape) == (2, 16)
    layer = model.encoder.layers[0]
    assert layer.self_attn.num_heads == 16 and layer.linear1.out_features == 4096
    assert layer.norm_first is False and model.word.num_embeddings == 30522


def _schema_columns():
    """Column order of the schema table in traces/README.md."""
    cols = []
    in_table = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| column |"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            first_cell = line.split("|")[1]
            cols += re.findall(r"`([a-z0-9_]+)`", first_cell)
    return cols


def test_columns_follow_readme_schema():
    assert torch_runner.COLUMNS == _schema_columns()


def _check_row(row, model, threads, n):
    assert row["device_type"] == "x86-vm-2c" and row["model"] == model
    assert (row["engine"], row["precision"], row["power_mode"]) == ("pytorch", "fp32", "default")
    assert row["batch"] == "1" and row["threads"] == str(threads)
    assert row["resource"] == "cpu" and row["units"] == str(threads)
    assert row["latency_kind"] == "samples" and row["source_kind"] == "measured"
    samples = [float(x) for x in row["samples_ms"].split(";")]
    assert len(samples) == n and all(s > 0 for s in samples)
    for col in ("min_ms", "p50_ms", "p90_ms", "p95_ms", "p97_ms", "p99_ms", "p999_ms", "max_ms",
                "power_w", "idle_power_w"):  # fmt: skip
        assert row[col] == "", col
    assert float(row["mean_ms"]) == pytest.approx(sum(samples) / n, abs=1e-3)
    assert float(row["cpu_ms"]) >= 0
    assert row["source"].startswith(f"synergai.characterize (pytorch {torch.__version__} eager, CPU) on ")
    assert "vCPU" in row["source"] and "GiB" in row["source"] and "avx2 " in row["source"]
    for word in ("warm-up", "samples", "load avg", "before", "after", "input", "cold start",
                 "exceeded"):  # fmt: skip
        assert word in row["notes"], word


def test_runner_writes_valid_row(tmp_path):
    out = tmp_path / "trace.csv"
    argv = ["--models", "mobilenet-v2", "--threads", "1", "--batch", "1", "--warmup", "1",
            "--n", "3", "--max-seconds", "30", "--out", str(out)]  # fmt: skip
    assert torch_runner.main(argv) == 0
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == _schema_columns()
        rows = list(reader)
    assert len(rows) == 1
    _check_row(rows[0], "mobilenet-v2", 1, 3)

    # A second run replaces the row with the same key and keeps unrelated rows.
    other = dict(rows[0], model="resnet50", samples_ms="1.0;2.0", mean_ms="1.5")
    torch_runner.write_trace(str(out), [other, rows[0]])
    assert torch_runner.main(argv) == 0
    rows2 = torch_runner.read_trace(str(out))
    assert [r["model"] for r in rows2] == ["resnet50", "mobilenet-v2"]
    assert rows2[0] == other
    _check_row(rows2[1], "mobilenet-v2", 1, 3)
    assert rows2[1]["samples_ms"] != rows[0]["samples_ms"] or rows2[1]["notes"] != rows[0]["notes"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_measure_time_limit_keeps_min_samples():
    row = torch_runner.measure("mobilenet-v2", batch=1, threads=1, warmup=1, n=50, max_seconds=0)
    assert len(row["samples_ms"].split(";")) == torch_runner.MIN_SAMPLES
    assert "time limit" in row["notes"]


def test_merge_rows_replaces_by_key():
    base = {c: "" for c in torch_runner.COLUMNS}
    a = dict(base, device_type="d", model="m", engine="e", precision="fp32", batch="1",
             threads="1", power_mode="default", notes="old")  # fmt: skip
    b = dict(a, threads="2", notes="b")
    a_new = dict(a, notes="new")
    merged = torch_runner.merge_rows([a, b], [a_new])
    assert [r["notes"] for r in merged] == ["new", "b"]


def test_cli_without_torch_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch_runner, "torch", None)
    rc = torch_runner.main(["--models", "resnet50", "--out", str(tmp_path / "x.csv")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "PyTorch is not installed" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_read_trace_rejects_foreign_header(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError):
        torch_runner.read_trace(str(bad))
    assert torch_runner.main(["--models", "mobilenet-v2", "--out", str(bad)]) == 2
    assert bad.read_text() == "a,b\n1,2\n"
