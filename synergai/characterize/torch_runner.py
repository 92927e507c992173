"""Deprecated entry point kept for old commands: PyTorch eager measurements now go through the
common engine interface (``engines.PyTorchEngine``) and the ``synergai-characterize`` CLI.

``python -m synergai.characterize.torch_runner --models M --threads 1,2 --n 200 --out FILE`` runs
``synergai-characterize --engines pytorch --precisions fp32 ... --requests 200 --out FILE``
(``--n`` is the old name of ``--requests``; the old ``--warmup`` counted the cold call, the new one
does not, so the old value minus one is passed).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .trace_io import COLUMNS, KEY_COLUMNS, append_rows, merge_rows, read_trace, write_trace  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    from . import cli

    args = list(sys.argv[1:] if argv is None else argv)
    out: list[str] = ["--engines", "pytorch", "--precisions", "fp32"]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--n":
            out.append("--requests")
        elif a == "--warmup" and i + 1 < len(args) and args[i + 1].lstrip("-").isdigit():
            out += ["--warmup", str(max(0, int(args[i + 1]) - 1))]
            i += 2
            continue
        else:
            out.append(a)
        i += 1
    return cli.main(out)


if __name__ == "__main__":
    sys.exit(main())
