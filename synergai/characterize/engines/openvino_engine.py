"""OpenVINO CPU plugin: fp32 and bf16, converted from the fp32 ONNX export.

The ONNX file (``export.ensure_fp32``) is converted once with ``openvino.convert_model`` and saved as
IR in the cache (``save_model(..., compress_to_fp16=False)``, so weights stay fp32). Per
configuration the IR is read, reshaped to a **static** batch (the CPU plugin is fastest with static
shapes) and compiled with ``PERFORMANCE_HINT=LATENCY``, ``NUM_STREAMS=1``,
``INFERENCE_NUM_THREADS=threads`` and ``INFERENCE_PRECISION_HINT`` ``f32`` (fp32) or ``bf16``.
bf16 runs only where ``/proc/cpuinfo`` reports ``avx512_bf16`` or ``amx_bf16``; otherwise it is
skipped (OpenVINO would silently fall back to f32). Cold start = read IR + reshape + compile + first call.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .. import export
from ..host import HostInfo
from .base import ConfigSkipped, Engine, Loaded, import_reason

_HINT = {"fp32": "f32", "bf16": "bf16"}


class OpenVinoEngine(Engine):
    name = "openvino"
    extra = "openvino"
    precisions = ("fp32", "bf16")

    def unavailable(self) -> str | None:
        return import_reason("openvino", self.extra)

    def version(self) -> str:
        import openvino

        return f"openvino {openvino.__version__.split('-')[0]}"

    def skip_reason(self, model: str, precision: str, host: HostInfo) -> str | None:
        if precision == "bf16" and not host.has_bf16:
            return "bf16 skipped: the CPU reports neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo"
        return None

    def ir(self, model: str, cache_dir: Path, say=None) -> tuple[Path, str]:
        import openvino as ov

        try:
            onnx_art = export.ensure_fp32(model, cache_dir, say)
        except RuntimeError as e:
            raise ConfigSkipped(str(e)) from None
        xml = onnx_art.path.with_name(onnx_art.path.stem + f"-ov{ov.__version__.split('-')[0]}.xml")
        if xml.is_file() and xml.with_suffix(".bin").is_file():
            return xml, f"IR {xml.name} from cache, converted from {onnx_art.path.name}"
        if say:
            say(f"converting {onnx_art.path.name} to OpenVINO IR -> {xml}")
        t0 = time.perf_counter()
        tmp = xml.with_name(f".tmp-{os.getpid()}-{xml.name}")
        try:
            ov.save_model(ov.convert_model(str(onnx_art.path)), str(tmp), compress_to_fp16=False)
            os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
            os.replace(tmp, xml)
        finally:
            for p in (tmp, tmp.with_suffix(".bin")):
                try:
                    p.unlink()
                except OSError:
                    pass
        return xml, (f"IR {xml.name} converted in this run ({time.perf_counter() - t0:.0f} s) from "
                     f"{onnx_art.path.name}")  # fmt: skip

    def prepare(self, model: str, precision: str, cache_dir: Path, say) -> str:
        return self.ir(model, cache_dir, say)[1]

    def load(self, model: str, precision: str, batch: int, threads: int, cache_dir: Path) -> Loaded:
        import openvino as ov

        xml, _ = self.ir(model, cache_dir)
        specs = {s.name: s for s in export.specs_from_json(export.ensure_fp32(model, cache_dir).meta["inputs"])}
        core = ov.Core()
        m = core.read_model(str(xml))
        shapes = {}
        for inp in m.inputs:
            name = inp.get_any_name()
            shapes[name] = [batch, *specs[name].tail]
        m.reshape(shapes)
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
            "INFERENCE_NUM_THREADS": str(threads),
            "INFERENCE_PRECISION_HINT": _HINT[precision],
        }
        compiled = core.compile_model(m, "CPU", config)
        req = compiled.create_infer_request()
        feed = export.make_inputs(list(specs.values()), batch)
        for name, arr in feed.items():
            req.set_tensor(name, ov.Tensor(arr))

        def run():
            req.infer()

        got = {}
        for key in ("INFERENCE_NUM_THREADS", "NUM_STREAMS", "INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT"):
            try:
                v = compiled.get_property(key)
                got[key] = v.get_type_name() if hasattr(v, "get_type_name") else str(v)
            except Exception:  # pragma: no cover - property names differ by version
                got[key] = "?"
        settings = (
            "openvino CPU plugin, static batch, compiled properties "
            + ", ".join(f"{k}={v}" for k, v in got.items())
            + "; weights fp32 (IR not fp16-compressed)"
        )
        desc = ", ".join(f"{s.name} {s.dtype} ({batch},{','.join(map(str, s.tail))})" for s in specs.values())

        def close():
            nonlocal req, compiled
            req = compiled = None

        return Loaded(run, settings, desc, close)
