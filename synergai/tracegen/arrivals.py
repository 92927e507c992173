"""Bundle real production arrival traces for replay (``workload.arrival=replay``).

Reads the Azure LLM inference traces 2023 (processed copies, see ``traces/arrivals/README.md``) and writes
them into ``traces/arrivals/`` after validating every row: ``arrived_at`` (s since the first request,
non-decreasing), ``num_prefill_tokens`` and ``num_decode_tokens`` (integers >= 0). Numbers are copied
unchanged. Usage::

    python -m synergai.tracegen.arrivals --src ../shared/data/arrivals --out traces/arrivals
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
from pathlib import Path

FILES = ("azure_llm_2023_code.csv", "azure_llm_2023_conv.csv")
COLUMNS = ("arrived_at", "num_prefill_tokens", "num_decode_tokens")


class InputError(Exception):
    pass


def read_trace(path: Path) -> list[tuple[str, str, str]]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    rows, prev = [], -math.inf
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise InputError(f"{path}:1: expected columns {','.join(COLUMNS)}, found {reader.fieldnames}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                t = float(row["arrived_at"])
            except ValueError:
                raise InputError(f"{where} column 'arrived_at': not a number: {row['arrived_at']!r}") from None
            if not math.isfinite(t) or t < prev:
                raise InputError(f"{where} column 'arrived_at': must be finite and non-decreasing")
            for c in COLUMNS[1:]:
                if not row[c].isdigit():
                    raise InputError(f"{where} column '{c}': not an integer >= 0: {row[c]!r}")
            prev = t
            rows.append(tuple(row[c] for c in COLUMNS))
    if len(rows) < 2:
        raise InputError(f"{path}: fewer than 2 arrivals")
    return rows


def write_atomic(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(COLUMNS)
            w.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Bundle production arrival traces into traces/arrivals/")
    ap.add_argument("--src", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("traces/arrivals"))
    a = ap.parse_args(argv)
    try:
        for name in FILES:
            rows = read_trace(a.src / name)
            write_atomic(a.out / name, rows)
            print(f"{a.out / name}: {len(rows)} arrivals over {float(rows[-1][0]):.0f} s")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
