"""ONNX Runtime, CPU execution provider: fp32 and int8 (see ``synergai.characterize.export``).

Session: ``intra_op_num_threads = threads`` (the row's ``threads``), ``inter_op_num_threads = 1``,
sequential execution, ``ORT_ENABLE_ALL`` graph optimisations, default thread spinning (idle intra-op
threads spin briefly, which shows up as CPU time). Cold start = ``InferenceSession`` creation from the
cached file (graph optimisation, weight pre-packing) + first call.
"""

from __future__ import annotations

from pathlib import Path

from .. import export
from .base import ConfigSkipped, Engine, Loaded, import_reason


def create_session(path: Path, threads: int):
    """The session every ONNX Runtime measurement uses (also the Kubernetes worker's, so live runs match
    the traces): CPU provider, ``threads`` intra-op threads, sequential, all graph optimisations."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"
    extra = "onnx"
    precisions = ("fp32", "int8")

    def unavailable(self) -> str | None:
        return import_reason("onnxruntime", self.extra) or import_reason("onnx", self.extra)

    def version(self) -> str:
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"

    def artifact(self, model: str, precision: str, cache_dir: Path, say=None) -> export.Artifact:
        try:
            if precision == "int8":
                return export.ensure_int8(model, cache_dir, say)
            return export.ensure_fp32(model, cache_dir, say)
        except RuntimeError as e:
            raise ConfigSkipped(str(e)) from None

    def prepare(self, model: str, precision: str, cache_dir: Path, say) -> str:
        return "model file " + self.artifact(model, precision, cache_dir, say).describe()

    def load(self, model: str, precision: str, batch: int, threads: int, cache_dir: Path) -> Loaded:
        art = self.artifact(model, precision, cache_dir)
        sess = create_session(art.path, threads)
        specs = export.specs_from_json(art.meta["inputs"])
        feed = export.make_inputs(specs, batch)

        def run():
            return sess.run(None, feed)

        settings = (f"onnxruntime CPUExecutionProvider, intra_op_num_threads={threads}, inter_op_num_threads=1, "
                    "sequential, ORT_ENABLE_ALL, default spinning")  # fmt: skip
        desc = ", ".join(f"{s.name} {s.dtype} ({batch},{','.join(map(str, s.tail))})" for s in specs)
        return Loaded(run, settings, desc)
