"""Characterization: measure per-call inference latency of real engines on this host as trace rows.

Command line: ``synergai-characterize`` (``cli``), e.g.
``synergai-characterize --engines onnxruntime --models resnet50 --threads 1,2 --out traces/x.csv``.

Modules:

- ``models``: the measured architectures (ResNet-50 v1.5, MLPerf RetinaNet, BERT-Large QA,
  MobileNetV2) built from ``torch.nn`` with random weights; see its docstring for shapes.
- ``engines``: the engine interface (``engines.base``) and its PyTorch eager, ONNX Runtime and
  OpenVINO CPU implementations; each engine's package is an optional extra
  (``synergai[torch]``, ``synergai[onnx]``, ``synergai[openvino]``) and is imported only when used.
- ``export``: ONNX export and int8 quantization (static QDQ for CNNs, dynamic for BERT), cached
  outside the repository (``~/.cache/synergai/models`` by default).
- ``measure``: one configuration -> one trace row (cold start, warm-up, timed requests with wall
  and process CPU time, load and interference, host, provenance).
- ``trace_io``: schema column order and the atomic replace-by-key CSV merge.
- ``host``: CPU model, ISA flags, RAM, ``/proc/stat`` interference probes.
- ``torch_runner``: the old PyTorch-only command, forwarding to ``cli``.

The rows follow the schema in ``traces/README.md`` (``latency_kind=samples``). Importing this package
imports no engine; torch, onnxruntime and openvino are imported only by the code that uses them.
"""
