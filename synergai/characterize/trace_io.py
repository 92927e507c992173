"""Trace CSV input/output for the characterization tool (no engine imports).

Rows are ``dict[str, str]`` with the columns of the schema table in ``traces/README.md``, in that
order (``COLUMNS``). A configuration is identified by ``KEY_COLUMNS``; merging new rows into a file
replaces the row with the same key in place and appends the others. Every write goes to a temporary
file beside the target and is moved over it with ``os.replace``, so an interrupt leaves either the
old file or the new one, never a half-written one.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Iterable, Sequence

#: Trace columns, in the order of the schema table in traces/README.md.
COLUMNS: list[str] = [
    "device_type", "model", "engine", "precision", "batch", "threads", "power_mode", "resource",
    "units", "latency_kind", "samples_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p97_ms",
    "p99_ms", "p999_ms", "max_ms", "mean_ms", "power_w", "idle_power_w", "cpu_ms", "cpu_samples_ms",
    "cold_start_ms", "load_avg_1m", "engine_version", "host", "source_kind", "source", "notes",
]  # fmt: skip

#: Columns that identify an execution configuration; a new row replaces an old one with the same key.
KEY_COLUMNS = ("device_type", "model", "engine", "precision", "batch", "threads", "power_mode")


def row_key(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(str(row.get(c, "")).strip() for c in KEY_COLUMNS)


def read_trace(path: str) -> list[dict[str, str]]:
    """Rows of an existing trace file ([] if it does not exist), completed to all ``COLUMNS``.

    A file written under an older version of the schema (a subset of the columns that contains the
    key columns) is accepted and its missing columns are blank; any other header is a ``ValueError``.
    """
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        unknown = [h for h in header if h not in COLUMNS]
        missing_keys = [k for k in KEY_COLUMNS if k not in header]
        if unknown or missing_keys:
            raise ValueError(f"{path} is not a trace file (unknown columns {unknown}, missing {missing_keys})")
        return [{c: (r.get(c) or "") for c in COLUMNS} for r in reader]


def merge_rows(existing: Iterable[dict[str, str]], new: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Existing rows in their order, each replaced by a new row with the same key; others appended."""
    out = [dict(r) for r in existing]
    index = {row_key(r): i for i, r in enumerate(out)}
    for r in new:
        k = row_key(r)
        if k in index:
            out[index[k]] = dict(r)
        else:
            index[k] = len(out)
            out.append(dict(r))
    return out


def write_trace(path: str, rows: Iterable[dict[str, str]]) -> None:
    """Write the whole file to a temporary file beside ``path`` and ``os.replace`` it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow({c: r.get(c, "") for c in COLUMNS})
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def append_rows(path: str, rows: Iterable[dict[str, str]]) -> None:
    """Merge ``rows`` into the trace at ``path`` (replacing same-key rows) and rewrite it atomically."""
    write_trace(path, merge_rows(read_trace(path), rows))


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of a non-empty sequence."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def floats(cell: str) -> list[float]:
    """The values of a ``;``-separated cell such as ``samples_ms``."""
    return [float(x) for x in cell.split(";") if x.strip()]
