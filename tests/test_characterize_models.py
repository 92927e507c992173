"""Checks of the characterization models (parameter counts, output shapes).

Skipped as a whole where PyTorch is not installed. Parameter counts are taken on the ``meta`` device
(no memory, no initialization), so the 335 M-parameter BERT-Large costs nothing; forward passes use
small inputs or shallow copies to keep the module well under 20 s on a 2-vCPU machine.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from synergai.characterize import models  # noqa: E402


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


def test_io_names_cover_registry():
    assert set(models.IO_NAMES) == set(models.MODELS)
    for name, (inputs, _outputs) in models.IO_NAMES.items():
        with torch.device("meta"):
            _, input_fn = models.MODELS[name]()
        assert len(inputs) == len(input_fn(1)), name


def test_bert_layers_have_distinct_random_weights():
    # TransformerEncoder clones one layer; identical copies would be merged by the ONNX exporter.
    model, _ = models.build_bert_large(seq_len=16, layers=2)
    a, b = model.encoder.layers
    assert not torch.equal(a.linear1.weight, b.linear1.weight)
    assert not torch.equal(a.linear2.weight, b.linear2.weight)
    assert not torch.equal(a.self_attn.in_proj_weight, b.self_attn.in_proj_weight)
    assert not torch.equal(a.self_attn.out_proj.weight, b.self_attn.out_proj.weight)
