"""Hydra callback: when a sweep ends, gather every run's summary into one tidy table and draw its figures."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class AggregateSweep(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        out = Path(config.hydra.sweep.dir)
        table = aggregate(out)
        if table is None:
            print(f"sweep {out}: no summary.csv found")
            return
        print(f"sweep {out}: {len(table)} rows from {table['run'].nunique()} runs -> {out / 'results.csv'}")
        from .fig_sweep import FIGURES

        for name in config.experiment.get("sweep_figures") or []:
            FIGURES[name](table, out)


def aggregate(sweep_dir: Path) -> pd.DataFrame | None:
    parts = []
    for f in sorted(sweep_dir.glob("*/summary.csv")):
        parts.append(pd.read_csv(f).assign(run=f.parent.name))
    if not parts:
        return None
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(sweep_dir / "results.csv", index=False)
    return table
