"""ONNX export and int8 quantization of the ``models`` architectures, cached outside the repository.

Files live in a cache directory (``default_cache_dir()``: ``$SYNERGAI_CACHE_DIR``, else
``$XDG_CACHE_HOME/synergai/models``, else ``~/.cache/synergai/models``; the CLI's ``--cache-dir``
overrides it). Each ``.onnx`` has a ``.json`` sidecar with its provenance and input specs; a file is
reused only when both exist. Names carry a fingerprint of ``models.py`` and the export settings, so
editing an architecture never reuses a stale export. Every file is written under a temporary name and
moved into place with ``os.replace``: an interrupted export leaves nothing that looks complete.

- **fp32** (``ensure_fp32``): ``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``;
  the dynamo exporter needs ``onnxscript``, which the project does not install), opset ``OPSET``,
  dynamic batch axis on every input and output, constant folding on. PyTorch's fused
  ``TransformerEncoderLayer`` fast path has no ONNX symbolic, so it is switched off while exporting
  (the exported BERT graph is the plain MatMul/Softmax/LayerNormalization decomposition).
- **int8** (``ensure_int8``):
  CNNs (float image input) -- static quantization in QDQ format (``quantize_static``,
  ``QuantFormat.QDQ``, s8 activations / s8 per-channel weights, MinMax calibration) after
  ``quant_pre_process`` (shape inference + graph optimisation), calibrated with ``CALIB_INPUTS``
  random N(0, 1) inputs of batch 1. Random calibration gives a representative **latency** (the same
  int8 kernels run whatever the ranges are) but **not a representative accuracy**: the scales are
  not those of real images, so the int8 outputs are meaningless for accuracy.
  Token models (int64 inputs: ``bert-99``) -- dynamic quantization (``quantize_dynamic``, s8
  weights; activations quantized per call at run time), which needs no calibration data.

Only ``ensure_*`` for a model that is not cached yet needs torch; everything else needs ``onnx`` and
``onnxruntime`` only.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OPSET = 17  # supported by every onnxruntime >= 1.13 and by OpenVINO's ONNX front end
CALIB_INPUTS = 4  # random batch-1 calibration inputs for static int8
EXPORT_TAG = f"ts-opset{OPSET}"  # part of the fingerprint: change it when export settings change
QUANT_TAG = "qdq-s8s8-perchannel-minmax-v1"

Say = Callable[[str], None]


def default_cache_dir() -> Path:
    env = os.environ.get("SYNERGAI_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "synergai" / "models"


def fingerprint() -> str:
    """Short hash of ``models.py`` and the export settings; part of every cached file name."""
    src = (Path(__file__).with_name("models.py")).read_bytes()
    return hashlib.sha1(src + EXPORT_TAG.encode() + QUANT_TAG.encode()).hexdigest()[:10]


# --------------------------------------------------------------------------------------------------
# Input specs and synthetic inputs (numpy only)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: str  # numpy dtype name: "float32" or "int64"
    tail: tuple[int, ...]  # static dimensions after the batch axis


def specs_to_json(specs: Sequence[InputSpec]) -> list[dict]:
    return [{"name": s.name, "dtype": s.dtype, "tail": list(s.tail)} for s in specs]


def specs_from_json(items: Sequence[dict]) -> list[InputSpec]:
    return [InputSpec(d["name"], d["dtype"], tuple(int(x) for x in d["tail"])) for d in items]


def make_inputs(specs: Sequence[InputSpec], batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic inputs of one call: N(0, 1) floats; for int64, BERT-style token ids
    (uniform in [1000, 30522)) or, for a name containing ``token_type``, segment ids (0 for the
    first quarter of the sequence, then 1)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for s in specs:
        shape = (batch, *s.tail)
        if s.dtype.startswith("float"):
            out[s.name] = rng.standard_normal(shape, dtype=np.float32).astype(s.dtype)
        elif "token_type" in s.name:
            a = np.zeros(shape, dtype=s.dtype)
            a[:, shape[1] // 4 :] = 1
            out[s.name] = a
        else:
            out[s.name] = rng.integers(1000, 30522, size=shape).astype(s.dtype)
    return out


# --------------------------------------------------------------------------------------------------
# Cache helpers
# --------------------------------------------------------------------------------------------------


@dataclass
class Artifact:
    path: Path
    meta: dict
    created_now: bool

    def describe(self) -> str:
        how = "created in this run" if self.created_now else f"from cache (created {self.meta.get('created', '?')})"
        return (f"{self.path.name} ({how}, took {self.meta.get('seconds', 0):.0f} s): "
                f"{self.meta.get('method', '')}")  # fmt: skip


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def _load_cached(path: Path) -> Artifact | None:
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        try:
            return Artifact(path, json.loads(meta_path.read_text(encoding="utf-8")), False)
        except (OSError, ValueError):
            return None
    return None


def _write_meta(path: Path, meta: dict) -> None:
    meta_path = path.with_suffix(".json")
    tmp = _tmp_path(meta_path)
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, meta_path)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cleanup(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------


def export_module(module, example_inputs: Sequence, path: Path, input_names: Sequence[str],
                  output_names: Sequence[str], opset: int = OPSET) -> list[InputSpec]:  # fmt: skip
    """Export ``module`` (eval mode) to ONNX at ``path`` atomically; returns the input specs.

    Every input and output gets a dynamic axis 0 named ``batch``.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    dynamic_axes = {n: {0: "batch"} for n in (*input_names, *output_names)}
    mha = getattr(torch.backends, "mha", None)
    fastpath = mha.get_fastpath_enabled() if mha else None
    try:
        if mha:
            mha.set_fastpath_enabled(False)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), tuple(example_inputs), str(tmp), input_names=list(input_names),
                output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=opset,
                do_constant_folding=True, dynamo=False,
            )  # fmt: skip
        os.replace(tmp, path)
    finally:
        if mha:
            mha.set_fastpath_enabled(fastpath)
        _cleanup(tmp)
    dtypes = {torch.float32: "float32", torch.int64: "int64", torch.int32: "int32", torch.float16: "float16"}
    return [InputSpec(n, dtypes[t.dtype], tuple(t.shape[1:])) for n, t in zip(input_names, example_inputs)]


def fp32_path(model: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{model}-fp32-{EXPORT_TAG}-{fingerprint()}.onnx"


def ensure_fp32(model: str, cache_dir: Path, say: Say | None = None, builder=None) -> Artifact:
    """The fp32 ONNX file of a registered model (or of ``builder()`` -> (module, input_fn)), exported
    on first use. Raises ``RuntimeError`` if it is not cached and torch is not installed."""
    path = fp32_path(model, cache_dir)
    cached = _load_cached(path)
    if cached:
        return cached
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RuntimeError(
            f"{path.name} is not cached and exporting it needs torch (pip install 'synergai[torch]')"
        ) from None
    from . import models

    if say:
        say(f"exporting {model} to ONNX (opset {OPSET}) -> {path}")
    t0 = time.perf_counter()
    module, input_fn = (builder or (lambda: models.build(model)))()
    example = input_fn(1)
    names = models.IO_NAMES.get(model) or (
        tuple(f"input_{i}" for i in range(len(example))), ("output",))  # fmt: skip
    specs = export_module(module, example, path, names[0], names[1])
    import torch

    meta = {
        "model": model, "precision": "fp32", "created": _now(), "seconds": round(time.perf_counter() - t0, 1),
        "method": f"torch {torch.__version__} torch.onnx.export TorchScript exporter (dynamo=False), opset {OPSET}, "
                  "dynamic batch axis, random weights",
        "inputs": specs_to_json(specs), "fingerprint": fingerprint(),
    }  # fmt: skip
    _write_meta(path, meta)
    return Artifact(path, meta, True)


# --------------------------------------------------------------------------------------------------
# Quantization
# --------------------------------------------------------------------------------------------------


def int8_method(specs: Sequence[InputSpec]) -> str:
    """``"dynamic"`` for token models (any integer input), ``"static-qdq"`` otherwise."""
    return "dynamic" if any(s.dtype.startswith("int") for s in specs) else "static-qdq"


def quantize_qdq(fp32: Path, out: Path, specs: Sequence[InputSpec], n_calib: int = CALIB_INPUTS,
                 preprocess: bool = True) -> str:  # fmt: skip
    """Static int8 QDQ quantization of ``fp32`` into ``out`` (atomic), calibrated with ``n_calib``
    random batch-1 inputs. Returns a description of what was done."""
    from onnxruntime.quantization import (
        CalibrationDataReader,  # fmt: skip
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.i = 0

        def get_next(self):
            if self.i >= n_calib:
                return None
            self.i += 1
            return make_inputs(specs, 1, seed=1000 + self.i)

    out = Path(out)
    tmp, pre = _tmp_path(out), out.with_name(f".tmp-{os.getpid()}-pre-{out.name}")
    source, pre_note = fp32, "no pre-processing"
    try:
        if preprocess:
            try:
                from onnxruntime.quantization.shape_inference import quant_pre_process

                quant_pre_process(str(fp32), str(pre))
                source, pre_note = pre, "quant_pre_process (shape inference + optimisation)"
            except Exception as e:  # pragma: no cover - depends on the ORT version
                pre_note = f"quant_pre_process failed ({type(e).__name__}), quantized the raw export"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(
                str(source), str(tmp), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )  # fmt: skip
        os.replace(tmp, out)
    finally:
        _cleanup(tmp, pre)
    return (f"onnxruntime static int8, QDQ format, s8 activations / s8 per-channel weights, MinMax "
            f"calibration on {n_calib} random N(0,1) batch-1 inputs (latency-representative, NOT "
            f"accuracy-representative), {pre_note}")  # fmt: skip


def quantize_dynamic_int8(fp32: Path, out: Path) -> str:
    """Dynamic int8 quantization (s8 weights) of ``fp32`` into ``out`` (atomic)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = Path(out)
    tmp = _tmp_path(out)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # ORT logs a pre-processing hint through the root logger
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        os.replace(tmp, out)
    finally:
        root.setLevel(level)
        _cleanup(tmp)
    return ("onnxruntime dynamic int8 (quantize_dynamic, s8 weights, activations quantized at run time; "
            "no calibration)")  # fmt: skip


def ensure_int8(model: str, cache_dir: Path, say: Say | None = None, builder=None) -> Artifact:
    """The int8 ONNX file of a model (static QDQ for CNNs, dynamic for token models), made on first use."""
    fp = ensure_fp32(model, cache_dir, say, builder)
    specs = specs_from_json(fp.meta["inputs"])
    method = int8_method(specs)
    path = (
        Path(cache_dir) / f"{model}-int8-{'qdq' if method == 'static-qdq' else 'dyn'}-{EXPORT_TAG}-{fingerprint()}.onnx"
    )
    cached = _load_cached(path)
    if cached:
        return cached
    if say:
        say(f"quantizing {model} to int8 ({method}) -> {path}")
    t0 = time.perf_counter()
    desc = quantize_qdq(fp.path, path, specs) if method == "static-qdq" else quantize_dynamic_int8(fp.path, path)
    import onnxruntime

    meta = {
        "model": model, "precision": "int8", "created": _now(), "seconds": round(time.perf_counter() - t0, 1),
        "method": f"{desc}; onnxruntime {onnxruntime.__version__}; from {fp.path.name}",
        "inputs": fp.meta["inputs"], "fingerprint": fingerprint(),
    }  # fmt: skip
    _write_meta(path, meta)
    return Artifact(path, meta, True)
