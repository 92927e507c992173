"""PyTorch eager CPU: ``models.build`` (random weights, ``eval()``), ``torch.set_num_threads``,
calls under ``torch.inference_mode()``; fp32 only, NCHW, no BN folding, no compilation."""

from __future__ import annotations

from pathlib import Path

from .base import Engine, Loaded, import_reason


class PyTorchEngine(Engine):
    name = "pytorch"
    extra = "torch"
    precisions = ("fp32",)

    def unavailable(self) -> str | None:
        return import_reason("torch", self.extra)

    def version(self) -> str:
        import torch

        return f"pytorch {torch.__version__}"

    def load(self, model: str, precision: str, batch: int, threads: int, cache_dir: Path) -> Loaded:
        import torch

        from .. import models

        torch.set_num_threads(threads)
        module, input_fn = models.build(model)
        inputs = input_fn(batch)

        def run():
            with torch.inference_mode():
                return module(*inputs)

        cap = ""
        try:
            cap = f", ATen CPU capability {torch.backends.cpu.get_cpu_capability()}"
        except Exception:  # pragma: no cover - older torch
            pass
        settings = (f"pytorch eager, torch.set_num_threads({threads}), random weights (build = random init), "
                    f"eval(), inference_mode, NCHW, no BN folding{cap}")  # fmt: skip
        return Loaded(run, settings, models.input_shape_description(model, batch))
