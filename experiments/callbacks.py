"""Hydra callback: when a sweep ends, gather every run's summary into one tidy table and draw its figures.

On in every multirun (``configs/config.yaml`` lists it under ``hydra.callbacks``), whatever the launcher: it
runs in the process that launched the sweep and reads the run folders under ``hydra.sweep.dir``, so with a
remote launcher (a Ray cluster, SLURM) that folder must be on a file system the workers share.
Only runs whose ``manifest.json`` says completed are gathered; the others are named and left out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .outputs import IncompleteRun, read_run, write_csv


class AggregateSweep(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        out = Path(config.hydra.sweep.dir)
        table, skipped = aggregate(out)
        for why in skipped:
            print(f"sweep {out}: left out: {why}")
        if table is None:
            print(f"sweep {out}: no completed run found")
            return
        print(f"sweep {out}: {len(table)} rows from {table['run'].nunique()} runs -> {out / 'results.csv'}")
        from .fig_sweep import FIGURES

        for name in config.get("experiment", {}).get("sweep_figures") or []:
            FIGURES[name](table, out)


def aggregate(sweep_dir: Path) -> tuple[pd.DataFrame | None, list[str]]:
    """(the completed runs' summaries with a ``run`` column, or None; why each other run folder was left out)."""
    parts, skipped = [], []
    runs = sorted({f.parent for f in Path(sweep_dir).glob("*/summary.csv")} |
                  {f.parent for f in Path(sweep_dir).glob("*/manifest.json")}, key=_run_key)
    for d in runs:
        try:
            parts.append(read_run(d, "summary").assign(run=d.name))
        except IncompleteRun as exc:
            skipped.append(str(exc))
    if not parts:
        return None, skipped
    table = pd.concat(parts, ignore_index=True)
    write_csv(Path(sweep_dir) / "results.csv", [table])
    return table, skipped


def _run_key(d: Path):
    return (0, int(d.name), "") if d.name.isdigit() else (1, 0, d.name)
