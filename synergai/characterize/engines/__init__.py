"""Inference engines for characterization; each is optional and imported only when used.

``ENGINES`` maps the ``engine`` column value to its class. See ``base.Engine`` for the interface.
"""

from __future__ import annotations

from .base import ConfigSkipped, Engine, Loaded
from .openvino_engine import OpenVinoEngine
from .ort_engine import OnnxRuntimeEngine
from .torch_cuda_engine import PyTorchCudaEngine
from .torch_engine import PyTorchEngine

ENGINES: dict[str, type[Engine]] = {
    "pytorch": PyTorchEngine,
    "onnxruntime": OnnxRuntimeEngine,
    "openvino": OpenVinoEngine,
    "pytorch-cuda": PyTorchCudaEngine,
}

__all__ = ["ENGINES", "ConfigSkipped", "Engine", "Loaded", "OnnxRuntimeEngine", "OpenVinoEngine", "PyTorchCudaEngine",
           "PyTorchEngine"]
