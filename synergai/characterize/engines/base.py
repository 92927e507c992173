"""The engine interface every characterization backend implements.

An engine turns (model, precision, batch, threads) into a callable that runs one inference call on
fixed synthetic inputs. The measurement loop (``synergai.characterize.measure``) times that callable;
engines never time anything themselves.

- ``unavailable()``: ``None`` when the engine's package imports, else a one-line reason (the CLI then
  skips the engine with that message).
- ``version()``: the ``engine_version`` column, e.g. ``onnxruntime 1.23.2``.
- ``precisions``: precisions the engine can run at all; ``skip_reason(model, precision, host)`` says
  why a supported precision cannot run here (e.g. bf16 without CPU support), or ``None``.
- ``prepare(...)``: one-off, untimed work (export, quantization, conversion, all cached); returns a
  note for the row.
- ``load(...)``: everything a cold start pays (load/build the model, create the session or compile,
  bind inputs), returning a ``Loaded``; the first ``Loaded.run()`` completes the cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..host import HostInfo


class ConfigSkipped(Exception):
    """A configuration cannot run here; the message is one line shown to the user."""


@dataclass
class Loaded:
    run: Callable[[], object]
    settings: str  # engine settings for the row's notes
    input_desc: str = ""
    close: Callable[[], None] = field(default=lambda: None)


class Engine:
    name: str = ""
    extra: str = ""  # pip extra that installs it
    resource: str = "cpu"  # pool a call occupies: "cpu" (threads cores) or "accel" (one accelerator slot)
    precisions: tuple[str, ...] = ()

    def unavailable(self) -> str | None:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    def skip_reason(self, model: str, precision: str, host: HostInfo) -> str | None:
        return None

    def prepare(self, model: str, precision: str, cache_dir: Path, say: Callable[[str], None]) -> str:
        return ""

    def load(self, model: str, precision: str, batch: int, threads: int, cache_dir: Path) -> Loaded:
        raise NotImplementedError


def import_reason(module: str, extra: str) -> str | None:
    """``None`` if ``module`` imports, else a one-line "not installed" reason."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as e:
        return f"{module} is not installed ({type(e).__name__}: {str(e).splitlines()[0][:80]}); pip install 'synergai[{extra}]'"
    return None
