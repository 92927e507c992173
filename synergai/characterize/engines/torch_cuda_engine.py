"""PyTorch eager on a CUDA GPU: the same ``models.build`` modules moved to the GPU, fp32 or fp16 (``.half()``),
calls under ``torch.inference_mode()`` followed by ``torch.cuda.synchronize()`` so the measured wall time covers
the kernels, not just their launch. One call holds one accelerator slot (``resource=accel``, ``threads=0``).
TF32 matmuls are disabled so fp32 means fp32. No CUDA graphs, no torch.compile, no TensorRT: a plain deployment.
"""

from __future__ import annotations

from pathlib import Path

from .base import ConfigSkipped, Engine, Loaded, import_reason


class PyTorchCudaEngine(Engine):
    name = "pytorch-cuda"
    extra = "torch"
    precisions = ("fp32", "fp16")
    resource = "accel"

    def unavailable(self) -> str | None:
        reason = import_reason("torch", self.extra)
        if reason:
            return reason
        import torch

        return None if torch.cuda.is_available() else "no CUDA device visible to torch"

    def version(self) -> str:
        import torch

        return f"pytorch {torch.__version__} CUDA {torch.version.cuda} on {torch.cuda.get_device_name(0)}"

    def load(self, model: str, precision: str, batch: int, threads: int, cache_dir: Path) -> Loaded:
        import torch

        from .. import models

        if precision not in self.precisions:
            raise ConfigSkipped(f"pytorch-cuda runs fp32 or fp16, not {precision}")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_num_threads(threads)
        module, input_fn = models.build(model)
        dtype = torch.float16 if precision == "fp16" else torch.float32
        module = module.to("cuda", dtype=dtype)
        inputs = [x.to("cuda", dtype=dtype) if x.is_floating_point() else x.to("cuda") for x in input_fn(batch)]

        def run():
            with torch.inference_mode():
                out = module(*inputs)
            torch.cuda.synchronize()
            return out

        settings = (f"pytorch eager on CUDA ({torch.cuda.get_device_name(0)}), {precision}, TF32 off, "
                    f"random weights, eval(), inference_mode, synchronize after each call, host threads {threads}")
        return Loaded(run, settings, models.input_shape_description(model, batch), close=torch.cuda.empty_cache)
