"""Model architectures for latency characterization, built from ``torch.nn`` only.

Every builder returns ``(model, example_input_fn)``: ``model`` is an ``nn.Module`` in ``eval()`` mode
with random weights (latency does not depend on weight values), and ``example_input_fn(batch)``
returns the tuple of positional input tensors for one call that processes ``batch`` inputs, so a
call is ``model(*example_input_fn(batch))``. No weights or data sets are downloaded; torchvision is
not used (it does not import beside the CPU torch build this project uses).

Architectures (names follow MLPerf Inference where one exists):

``resnet50`` -- ResNet-50 v1.5 (MLPerf ``resnet50``)
    Bottleneck blocks [3, 4, 6, 3] with widths 64/128/256/512 (x4 expansion); v1.5 puts the stride
    of a downsampling block on the 3x3 convolution (v1 puts it on the first 1x1). BatchNorm after
    every convolution, 1000-class fully connected head.
    Input: float32 ``(batch, 3, 224, 224)``. Output: logits ``(batch, 1000)``.
    Parameters: 25,557,032 (published: 25.6 M).

``retinanet`` -- MLPerf Inference RetinaNet (OpenImages MLPerf subset, 264 classes)
    Backbone ResNeXt50-32x4d (ResNet-50 layout, grouped 3x3 convolutions with 32 groups of width 4
    at the first stage, stride on the 3x3, frozen batch norm as in the reference detector). FPN over
    C3-C5 (1x1 lateral + 3x3 output convolutions, 256 channels, nearest-neighbour top-down
    upsampling) plus P6 and P7 computed from P5 by stride-2 3x3 convolutions (ReLU before P7): five
    levels P3-P7. Shared heads over all levels: classification = 4 x (3x3 conv 256 + ReLU) + 3x3 conv
    to ``9 anchors x 264 classes``; box regression = 4 x (3x3 conv 256 + ReLU) + 3x3 conv to
    ``9 x 4``.
    Input: float32 ``(batch, 3, 800, 800)`` (already resized and normalized).
    Output: ``(cls_logits, bbox_regression)`` with shapes ``(batch, A, 264)`` and ``(batch, A, 4)``,
    ``A = 9 * sum(H_l * W_l)`` over P3-P7 = 120,087 anchors at 800x800.
    **Stops at the head outputs**: image normalization/resizing, anchor generation, box decoding,
    score thresholding, top-k and NMS (all part of the MLPerf reference's post-processing) are NOT
    included, so a measured call is the network only.
    Parameters: about 37.0 M (published: 37-38 M).

``bert-99`` -- BERT-Large for SQuAD v1.1 question answering (MLPerf ``bert-99``; the "-99" is the
    accuracy target, the network is the same as ``bert-99.9``)
    Embeddings: word (30522 x 1024) + position (512 x 1024) + token type (2 x 1024), LayerNorm,
    dropout (inactive in eval). Encoder: 24 post-norm layers (``nn.TransformerEncoderLayer``,
    hidden 1024, 16 heads, FFN 4096, exact GELU). QA head: linear 1024 -> 2 (start/end logits).
    No pooler (the QA model does not use it).
    Input: int64 ``input_ids`` and ``token_type_ids``, each ``(batch, 384)`` (MLPerf max sequence
    length). No attention mask is passed: every one of the 384 positions is attended, which is what
    a padded 384-token MLPerf sample costs in a dense implementation. In eval/inference mode PyTorch
    may run its fused "fast path" kernel for the encoder layers; that is part of PyTorch eager.
    Output: ``(start_logits, end_logits)``, each ``(batch, 384)``.
    Parameters: 334,094,338 (published: ~335 M for BERT-Large incl. embeddings, which counts a
    1.05 M pooler this QA model does not have).

``mobilenet-v2`` -- MobileNetV2, width multiplier 1.0 (a small model, not an MLPerf one)
    Conv 3x3/2 (32) then inverted-residual blocks (expansion t, channels c, repeats n, stride s):
    (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), conv 1x1 to 1280,
    global average pool, dropout, 1000-class linear. BatchNorm + ReLU6.
    Input: float32 ``(batch, 3, 224, 224)``. Output: logits ``(batch, 1000)``.
    Parameters: 3,504,872 (published: 3.4-3.5 M).

All convolutional models use PyTorch's default NCHW (contiguous) memory format and keep batch norm
as a separate op (no conv/BN folding): this is plain PyTorch eager fp32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

InputFn = Callable[[int], tuple[Tensor, ...]]

__all__ = [
    "MODELS",
    "build",
    "build_resnet50",
    "build_retinanet",
    "build_bert_large",
    "build_mobilenet_v2",
    "count_parameters",
    "input_shape_description",
    "IO_NAMES",
    "retinanet_num_anchors",
]


# --------------------------------------------------------------------------------------------------
# ResNet-50 v1.5 / ResNeXt-50 32x4d
# --------------------------------------------------------------------------------------------------


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters held as buffers (not parameters).

    Used by detection backbones (as in the MLPerf RetinaNet reference) so their parameter count
    matches the published one.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: 1x1 -> 3x3 (stride, groups) -> 1x1 (x4), identity/projection skip."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        groups: int,
        base_width: int,
        norm: Callable[[int], nn.Module],
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = norm(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = norm(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), norm(out))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet(nn.Module):
    """ResNet/ResNeXt body (stem + 4 stages) with an optional classifier.

    ``forward`` returns logits when ``num_classes`` is set; ``features`` returns the outputs of
    stages 2-4 (C3, C4, C5) for detection necks.
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        groups: int = 1,
        width_per_group: int = 64,
        num_classes: int | None = 1000,
        norm: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        stages = []
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            stage = []
            for b in range(blocks):
                stage.append(Bottleneck(inplanes, planes, stride if b == 0 else 1, groups, width_per_group, norm))
                inplanes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.stage_channels = (256, 512, 1024, 2048)
        self.fc: nn.Module | None = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

    def features(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c3, c4, c5]

    def forward(self, x: Tensor) -> Tensor:
        if self.fc is None:
            raise RuntimeError("this ResNet has no classifier; use features()")
        c5 = self.features(x)[-1]
        return self.fc(torch.flatten(self.avgpool(c5), 1))


def _image_input_fn(size: int) -> InputFn:
    def fn(batch: int) -> tuple[Tensor, ...]:
        return (torch.randn(batch, 3, size, size),)

    return fn


def build_resnet50(image_size: int = 224, num_classes: int = 1000) -> tuple[nn.Module, InputFn]:
    """ResNet-50 v1.5, 1000 classes; input ``(batch, 3, image_size, image_size)``."""
    model = ResNet((3, 4, 6, 3), groups=1, width_per_group=64, num_classes=num_classes)
    return model.eval(), _image_input_fn(image_size)


# --------------------------------------------------------------------------------------------------
# RetinaNet (ResNeXt50-32x4d + FPN P3-P7 + heads)
# --------------------------------------------------------------------------------------------------


class FPN(nn.Module):
    """Feature pyramid over C3-C5 with P6/P7 from P5 (RetinaNet's LastLevelP6P7, P5 variant)."""

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256) -> None:
        super().__init__()
        self.inner = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.layer = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels)
        self.p6 = nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        last = self.inner[-1](feats[-1])
        outs = [self.layer[-1](last)]
        for i in range(len(feats) - 2, -1, -1):
            lateral = self.inner[i](feats[i])
            top_down = nn.functional.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            last = lateral + top_down
            outs.insert(0, self.layer[i](last))
        p6 = self.p6(outs[-1])
        p7 = self.p7(nn.functional.relu(p6))
        return outs + [p6, p7]


class _HeadTower(nn.Module):
    def __init__(self, channels: int, out_per_anchor: int, num_anchors: int) -> None:
        super().__init__()
        convs: list[nn.Module] = []
        for _ in range(4):
            convs += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*convs)
        self.out = nn.Conv2d(channels, num_anchors * out_per_anchor, 3, padding=1)
        self.k = out_per_anchor

    def forward(self, levels: list[Tensor]) -> Tensor:
        outs = []
        for f in levels:
            y = self.out(self.conv(f))
            n, _, h, w = y.shape
            # (N, A*K, H, W) -> (N, H*W*A, K), the reference's anchor ordering
            y = y.view(n, -1, self.k, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, self.k)
            outs.append(y)
        return torch.cat(outs, dim=1)


class RetinaNet(nn.Module):
    """RetinaNet network up to the head outputs (no anchors, decoding or NMS)."""

    def __init__(self, num_classes: int = 264, num_anchors: int = 9) -> None:
        super().__init__()
        self.backbone = ResNet((3, 4, 6, 3), groups=32, width_per_group=4, num_classes=None, norm=FrozenBatchNorm2d)
        self.fpn = FPN(self.backbone.stage_channels[1:], 256)
        self.cls_head = _HeadTower(256, num_classes, num_anchors)
        self.box_head = _HeadTower(256, 4, num_anchors)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        levels = self.fpn(self.backbone.features(x))
        return self.cls_head(levels), self.box_head(levels)


def retinanet_num_anchors(image_size: int, num_anchors: int = 9) -> int:
    """Rows of the head outputs for a square input: anchors over levels P3-P7 (strides 8..128)."""

    def down(size: int, k: int = 3, pad: int = 1) -> int:  # stride-2 conv/pool output size
        return (size + 2 * pad - k) // 2 + 1

    size = down(down(image_size, 7, 3))  # stem conv1 (7x7/2) and max pool (3x3/2): C2
    total = 0
    for _ in range(5):  # C3, C4, C5 (= P3..P5), P6, P7: each halves the previous level
        size = down(size)
        total += size * size
    return total * num_anchors


def build_retinanet(image_size: int = 800, num_classes: int = 264, num_anchors: int = 9) -> tuple[nn.Module, InputFn]:
    """MLPerf RetinaNet (ResNeXt50-32x4d FPN, 264 classes), head outputs only; input 800x800."""
    return RetinaNet(num_classes, num_anchors).eval(), _image_input_fn(image_size)


# --------------------------------------------------------------------------------------------------
# BERT-Large + SQuAD span head
# --------------------------------------------------------------------------------------------------


class BertForQA(nn.Module):
    """BERT encoder (post-norm) with a start/end span head, as used by MLPerf ``bert-99``."""

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden: int = 1024,
        layers: int = 24,
        heads: int = 16,
        ffn: int = 4096,
        max_positions: int = 512,
        type_vocab: int = 2,
    ) -> None:
        super().__init__()
        self.word = nn.Embedding(vocab_size, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.token_type = nn.Embedding(type_vocab, hidden)
        self.emb_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.emb_dropout = nn.Dropout(0.1)
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            ffn,
            dropout=0.1,
            activation="gelu",
            layer_norm_eps=1e-12,
            batch_first=True,
            norm_first=False,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        # TransformerEncoder deep-copies one layer, so every layer would start with the same random
        # values. Re-initialise each copy: a real checkpoint has distinct layers, and identical
        # tensors would be merged by the ONNX exporter (Identity nodes), which hides 23 of the 24
        # layers' weights from ONNX Runtime's int8 quantizer.
        for copy in self.encoder.layers:
            for m in copy.modules():
                reset = getattr(m, "_reset_parameters", None) or getattr(m, "reset_parameters", None)
                if callable(reset) and m is not copy:
                    reset()
        self.qa = nn.Linear(hidden, 2)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> tuple[Tensor, Tensor]:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        h = self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids)
        h = self.encoder(self.emb_dropout(self.emb_norm(h)))
        start, end = self.qa(h).unbind(-1)
        return start, end


def build_bert_large(seq_len: int = 384, layers: int = 24) -> tuple[nn.Module, InputFn]:
    """BERT-Large QA (bert-99); inputs ``input_ids``/``token_type_ids`` of ``(batch, seq_len)``.

    ``layers`` exists only so tests can check shapes on a shallow copy; measure with 24.
    """
    model = BertForQA(layers=layers)

    def fn(batch: int) -> tuple[Tensor, ...]:
        ids = torch.randint(1000, 30522, (batch, seq_len), dtype=torch.long)
        types = torch.zeros(batch, seq_len, dtype=torch.long)
        types[:, seq_len // 4 :] = 1  # question segment, then context segment
        return ids, types

    return model.eval(), fn


# --------------------------------------------------------------------------------------------------
# MobileNetV2
# --------------------------------------------------------------------------------------------------


def _conv_bn_relu6(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_relu6(cin, hidden, 1))
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn_relu6(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def build_mobilenet_v2(image_size: int = 224, num_classes: int = 1000) -> tuple[nn.Module, InputFn]:
    """MobileNetV2 width 1.0; input ``(batch, 3, image_size, image_size)``."""
    return MobileNetV2(num_classes).eval(), _image_input_fn(image_size)


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

MODELS: dict[str, Callable[..., tuple[nn.Module, InputFn]]] = {
    "resnet50": build_resnet50,
    "retinanet": build_retinanet,
    "bert-99": build_bert_large,
    "mobilenet-v2": build_mobilenet_v2,
}

_INPUT_SHAPES: dict[str, str] = {
    "resnet50": "float32 ({b},3,224,224)",
    "retinanet": "float32 ({b},3,800,800)",
    "bert-99": "int64 input_ids+token_type_ids ({b},384)",
    "mobilenet-v2": "float32 ({b},3,224,224)",
}


#: ONNX input and output names of each model (used by the exporter; inputs in ``input_fn`` order).
IO_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "resnet50": (("input",), ("logits",)),
    "retinanet": (("input",), ("cls_logits", "bbox_regression")),
    "bert-99": (("input_ids", "token_type_ids"), ("start_logits", "end_logits")),
    "mobilenet-v2": (("input",), ("logits",)),
}


def build(name: str) -> tuple[nn.Module, InputFn]:
    """Build a registered model (eval mode, random weights) with its default MLPerf input shape."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
    return builder()


def input_shape_description(name: str, batch: int) -> str:
    """Human-readable input shape of one call, for trace notes."""
    if name not in _INPUT_SHAPES:
        return f"(batch {batch})"
    return _INPUT_SHAPES[name].format(b=batch)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (buffers such as frozen batch-norm statistics are not counted)."""
    return sum(p.numel() for p in model.parameters())
