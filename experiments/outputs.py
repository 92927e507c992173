"""A run's output folder: every file written to a temporary name and renamed, a manifest written last.

Readers (``read_run``, the sweep aggregation) trust a folder only when its ``manifest.json`` says
``"completed": true``: a killed run leaves no manifest (or an old one it had not yet replaced), never complete-
looking summaries beside a truncated table. Identical content gives identical bytes: parquet from fixed column
types and row groups, gzip with no timestamp or file name in its header, JSON with sorted keys.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synergai.errors import SynergAIError

MANIFEST = "manifest.json"
ROW_GROUP = 1 << 18  # rows per parquet row group: bounds the writer's extra memory (~25 MB) on 10^7-row tables
MANIFEST_VERSION = 1


class OutputError(SynergAIError):
    """An output could not be written (folder not writable, disk full, a name taken by a folder)."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"hydra.run.dir: cannot write {path}: {problem}")


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """``write(fh)`` into ``.<name>.tmp`` beside ``path``, flushed to disk, then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise OutputError(path, exc.strerror or str(exc)) from None


def check_writable(out: Path, names: Sequence[str]) -> None:
    """Before a run: the folder can be created and written, and no output name is taken by a folder."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(out, exc.strerror or str(exc)) from None
    for n in names:
        if (out / n).is_dir():
            raise OutputError(out / n, "a folder has this name")


# ----------------------------------------------------------------------------- writers
def _arrow_column(col: pd.Series):
    import pyarrow as pa

    v = col.array
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = np.asarray(col.cat.codes, dtype=np.int32)
        cats = [str(c) for c in col.cat.categories]
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(cats, pa.string()))
    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        return pa.array([None if (x is None or x != x) else str(x) for x in v], pa.string())
    return pa.array(np.asarray(v))


def _arrow_table(df: pd.DataFrame, schema=None):
    import pyarrow as pa

    arrays = [_arrow_column(df[c]) for c in df.columns]
    if schema is None:
        types = [pa.dictionary(pa.int32(), pa.string()) if pa.types.is_dictionary(a.type) else a.type for a in arrays]
        schema = pa.schema([pa.field(c, t) for c, t in zip(df.columns, types)])
    return pa.Table.from_arrays([a.cast(f.type) for a, f in zip(arrays, schema)], schema=schema), schema


def write_parquet(path: Path, frames: Sequence[pd.DataFrame]) -> int:
    """The frames (same columns) one after another as one parquet file, in row groups of ``ROW_GROUP`` rows."""
    import pyarrow.parquet as pq

    rows = 0

    def write(fh):
        nonlocal rows
        writer, schema = None, None
        for df in frames:
            for lo in range(0, max(len(df), 1), ROW_GROUP):
                part = df.iloc[lo:lo + ROW_GROUP]
                if not len(part) and writer is not None:
                    continue
                table, schema = _arrow_table(part, schema)
                if writer is None:
                    writer = pq.ParquetWriter(fh, schema, compression="zstd", write_statistics=True)
                writer.write_table(table)
                rows += len(part)
        if writer is not None:
            writer.close()

    atomic_write(path, write)
    return rows


def write_csv(path: Path, frames: Sequence[pd.DataFrame], chunk: int = ROW_GROUP) -> int:
    """CSV (gzip when ``path`` ends in .gz, with mtime 0 and no name in the header: same rows, same bytes)."""
    rows = 0

    def write(fh):
        nonlocal rows
        out = gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) if path.suffix == ".gz" else fh
        header = True
        for df in frames:
            for lo in range(0, len(df), chunk):
                part = df.iloc[lo:lo + chunk]
                out.write(part.to_csv(index=False, header=header, lineterminator="\n").encode())
                header = False
                rows += len(part)
        if header and frames:  # no rows at all: still a header line
            out.write(frames[0].iloc[:0].to_csv(index=False, lineterminator="\n").encode())
        if out is not fh:
            out.close()

    atomic_write(path, write)
    return rows


def write_table(path: Path, frames: Sequence[pd.DataFrame]) -> int:
    if path.name.endswith(".parquet"):
        return write_parquet(path, frames)
    return write_csv(path, frames)


# ----------------------------------------------------------------------------- manifest
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_hash(cfg: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synergai")
    except PackageNotFoundError:
        return "unknown"


def write_manifest(out: Path, files: Mapping[str, int], cfg: Mapping[str, Any], inputs: Mapping[str, Path]) -> dict:
    """Last file of a run: per output its rows, bytes and sha256; the config hash; the package version; the
    sha256 of every input trace; ``completed: true``."""
    man = {
        "manifest_version": MANIFEST_VERSION,
        "completed": True,
        "package_version": package_version(),
        "config_sha256": config_hash(cfg),
        "files": {n: {"rows": int(r), "bytes": (out / n).stat().st_size, "sha256": sha256_file(out / n)}
                  for n, r in sorted(files.items())},
        "inputs": {name: sha256_file(p) for name, p in sorted(inputs.items())},
    }
    atomic_write(out / MANIFEST, lambda fh: fh.write(json.dumps(man, indent=1, sort_keys=True) + "\n"), mode="w")
    return man


class IncompleteRun(SynergAIError):
    pass


def read_manifest(run_dir: Path) -> dict:
    """The manifest of a completed run whose files are all there with their recorded sizes; else IncompleteRun."""
    f = Path(run_dir) / MANIFEST
    try:
        man = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise IncompleteRun(f"{run_dir}: not a completed run (no readable {MANIFEST}: {exc})") from None
    if man.get("completed") is not True:
        raise IncompleteRun(f"{run_dir}: run not completed ({MANIFEST})")
    for n, meta in man.get("files", {}).items():
        p = Path(run_dir) / n
        if not p.is_file() or p.stat().st_size != meta.get("bytes"):
            raise IncompleteRun(f"{p}: missing or not the size its manifest records")
    return man


def read_run(run_dir: Path | str, name: str = "summary") -> pd.DataFrame:
    """One table of a completed run: ``summary``, ``nodes``, ``faults`` or ``jobs`` (parquet or CSV)."""
    run_dir = Path(run_dir)
    man = read_manifest(run_dir)
    for n in man["files"]:
        if n.split(".")[0] == name:
            p = run_dir / n
            return pd.read_parquet(p) if n.endswith(".parquet") else pd.read_csv(p)
    raise IncompleteRun(f"{run_dir}: no {name} table in this run")
