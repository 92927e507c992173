"""Characterization: measure per-call inference latency on this host and write it as a trace row.

Modules:

- ``models``: the measured architectures (ResNet-50 v1.5, MLPerf RetinaNet, BERT-Large QA,
  MobileNetV2) built from ``torch.nn`` with random weights; see its docstring for shapes.
- ``torch_runner``: PyTorch eager CPU runner, host description, trace-row building and the
  atomic CSV merge, plus the command line
  ``python -m synergai.characterize.torch_runner --models resnet50 --threads 1,2 --out FILE``.

The rows follow the schema in ``traces/README.md`` (``latency_kind=samples``). Importing this package
does not import torch; only ``models`` and ``torch_runner.measure`` need it.
"""
