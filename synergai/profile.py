"""Performance profile: measured latency traces -> per-configuration service-time predictors.

This is the "profiling data -> predictor" stage of the pipeline. The profile answers which configurations
exist for a (model, device type), their expected / percentile service time, samples service times, and
energy where power is known. The trace schema is documented in ``traces/README.md``.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .domain import ACCEL, CPU, RESOURCES, Config
from .errors import TraceError

PERCENTILE_COLUMNS = (  # column -> quantile level
    ("min_ms", 0.0), ("p50_ms", 0.5), ("p90_ms", 0.9), ("p95_ms", 0.95),
    ("p97_ms", 0.97), ("p99_ms", 0.99), ("p999_ms", 0.999), ("max_ms", 1.0),
)
COLUMNS = (
    "device_type", "model", "engine", "precision", "batch", "threads", "power_mode", "resource", "units",
    "latency_kind", "samples_ms", *(c for c, _ in PERCENTILE_COLUMNS), "mean_ms",
    "power_w", "idle_power_w", "cpu_ms", "cpu_samples_ms", "cold_start_ms", "load_avg_1m", "engine_version",
    "host", "source_kind", "source", "notes",
)
REQUIRED = ("device_type", "model", "engine", "precision", "batch", "threads", "power_mode", "resource",
            "units", "latency_kind", "source_kind", "source")
SOURCE_KINDS = ("measured", "published", "derived")
MAX_MS = 1e9  # largest latency / time cell (11.6 days per call): larger is a unit error, and overflows downstream
MAX_W = 1e6  # largest power cell
BASES = ("wall", "cpu")


# ----------------------------------------------------------------------------- distributions
class LatencyDist:
    """A service-time distribution in ms; subclasses define ``quantile`` and ``sample``."""

    mean_ms: float

    def quantile(self, q: float) -> float:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError


class EmpiricalDist(LatencyDist):
    """Per-request samples as measured: resampled uniformly (bootstrap), nothing smoothed."""

    def __init__(self, samples_ms: Sequence[float]):
        self.samples_in_order = np.asarray(samples_ms, dtype=float)  # as measured, aligned with CPU samples
        self.samples = np.sort(self.samples_in_order)
        self.mean_ms = float(self.samples.mean())

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.samples, q))

    def sample(self, rng, size):
        return self.samples[rng.integers(0, self.samples.size, size)]


class QuantileDist(LatencyDist):
    """Piecewise-linear quantile function through published percentiles (inverse-CDF sampling)."""

    def __init__(self, levels: Sequence[float], values_ms: Sequence[float]):
        self.levels = np.asarray(levels, dtype=float)
        self.values = np.asarray(values_ms, dtype=float)
        # Mean of a piecewise-linear quantile function: trapezoid rule is exact.
        self.mean_ms = float(np.sum(np.diff(self.levels) * (self.values[1:] + self.values[:-1]) / 2))

    def quantile(self, q: float) -> float:
        return float(np.interp(q, self.levels, self.values))

    def sample(self, rng, size):
        return np.interp(rng.random(size), self.levels, self.values)


class ExponentialDist(LatencyDist):
    """Exponential service (for queueing-theory checks and synthetic studies)."""

    def __init__(self, mean_ms: float):
        self.mean_ms = float(mean_ms)

    def quantile(self, q):
        return -self.mean_ms * math.log1p(-q) if q < 1 else math.inf

    def sample(self, rng, size):
        return rng.exponential(self.mean_ms, size)


class DeterministicDist(LatencyDist):
    """A constant service time."""

    def __init__(self, value_ms: float):
        self.mean_ms = float(value_ms)

    def quantile(self, q):
        return self.mean_ms

    def sample(self, rng, size):
        return np.full(size, self.mean_ms)


# ----------------------------------------------------------------------------- entries
@dataclass(eq=False)
class ProfileEntry:
    """One (device type, model, config) row: its distribution, footprint, power and provenance."""

    device_type: str
    model: str
    config: Config
    resource: str
    units: int
    dist: LatencyDist
    power_w: float = math.nan
    idle_power_w: float = math.nan
    cpu_ms: float = math.nan
    source_kind: str = "derived"
    source: str = ""
    notes: str = ""
    cpu_samples_ms: np.ndarray | None = None  # per-call CPU time aligned with the latency samples, if measured
    index: int = -1  # position in the profile, a stable id for per-entry random streams
    p50_ms: float = field(init=False)
    mean_ms: float = field(init=False)

    def __post_init__(self):
        self._quantiles: dict[float, float] = {}  # q -> per-call quantile, computed once
        self._siblings: tuple[ProfileEntry, ...] = (self,)  # same config but the batch, by batch (set by the profile)
        self._plans: dict[int, tuple] = {}
        self._owner = None  # the profile this entry is in (an entry's index and siblings are that profile's)
        self.p50_ms = self.dist.quantile(0.5)
        self.mean_ms = self.dist.mean_ms

    def on_cpu_basis(self) -> ProfileEntry:
        """This entry with its latency rebuilt from CPU time (see ``PerformanceProfile.from_csv``)."""
        wall, cpu = self.dist.samples_in_order, self.cpu_samples_ms
        ok = cpu > 0
        if not ok.any():
            return self
        k = float(np.quantile(wall[ok] / cpu[ok], 0.1))
        return replace(self, dist=EmpiricalDist(cpu[ok] * k), notes=f"{self.notes} [cpu basis: x{k:.3f}]".strip())

    @property
    def key(self):
        return (self.device_type, self.model, self.config)

    def calls(self, queries: int) -> int:
        """Inference calls a job of ``queries`` inputs needs: ceil(queries / batch)."""
        return -(-queries // self.config.batch)

    def call_plan(self, queries: int) -> tuple[tuple[ProfileEntry, int], ...]:
        """The calls ``queries`` inputs run on this config, as ((entry, calls), ...): full calls of ``batch``
        inputs, then one call of the rest, timed by the smallest profiled batch of the same config that holds
        them. A call runs the inputs it has -- engines run the batch they are given, padded at most to the next
        profiled size -- so a batch config's time applies only to a call that fills it that far."""
        p = self._plans.get(queries)
        if p is None:
            full, rest = divmod(queries, self.config.batch)
            e = next((x for x in self._siblings if x.config.batch >= rest), self) if rest else self
            if e is self:
                p = ((self, full + (1 if rest else 0)),)
            else:
                p = ((self, full), (e, 1)) if full else ((e, 1),)
            self._plans[queries] = p
        return p

    def per_call_ms(self, q: float | None = None) -> float:
        """One call's mean (q=None) or q-quantile service time."""
        if q is None:
            return self.mean_ms
        v = self._quantiles.get(q)
        if v is None:
            v = self._quantiles[q] = self.dist.quantile(q)
        return v

    def service_ms(self, queries: int = 1, q: float | None = None) -> float:
        """Predicted service time of a job: mean (q=None) or the q-quantile per call, summed over its calls
        (``call_plan``)."""
        p = self.call_plan(queries)
        if len(p) == 1:
            e, n = p[0]
            return n * e.per_call_ms(q)
        return sum(n * e.per_call_ms(q) for e, n in p)

    def takes_more(self, queries: int, more: int) -> bool:
        """Whether an execution of ``queries`` inputs on this config can take ``more`` in its calls without a
        longer predicted service (cross-job batching into a bound execution: ``Placement.joins``)."""
        return (self.calls(queries + more) == self.calls(queries)
                and self.service_ms(queries + more) <= self.service_ms(queries) * (1 + 1e-9))

    def has_room(self, queries: int, more: int) -> bool:
        """Whether an execution of ``queries`` inputs on this config can take ``more`` in the calls it makes
        anyway (its last call has room), however much longer that call then runs: what a backend checks before
        it lets a job join a bound execution (``Placement.joins``); whether it is worth the longer call is the
        policy's choice (``takes_more`` is the free case)."""
        return self.calls(queries + more) == self.calls(queries)

    def median_ms(self, queries: int = 1) -> float:
        """Sum of the calls' medians (``call_plan``): the isolated-latency convention of the QoS targets."""
        return sum(n * e.p50_ms for e, n in self.call_plan(queries))

    def energy_mj(self, service_ms: float) -> float:
        """Energy of running for ``service_ms`` at this config's measured power (W x ms = mJ)."""
        return self.power_w * service_ms


# ----------------------------------------------------------------------------- profile
class PerformanceProfile:
    """All known configurations, indexed by (model, device type)."""

    def __init__(self, entries: Iterable[ProfileEntry]):
        self.entries: list[ProfileEntry] = []
        self._by_key: dict[tuple, ProfileEntry] = {}
        self._by_pair: dict[tuple[str, str], list[ProfileEntry]] = {}
        for e in entries:
            if e._owner is not None:  # in another profile: its index and batch siblings are that profile's,
                e = replace(e)  # so this one takes a copy
            e._owner = self
            if e.key in self._by_key:
                raise ValueError(f"duplicate profile entry {e.key}")
            e.index = len(self.entries)
            self.entries.append(e)
            self._by_key[e.key] = e
            self._by_pair.setdefault((e.model, e.device_type), []).append(e)
        for lst in self._by_pair.values():
            lst.sort(key=lambda e: e.config)
        kin: dict[tuple, list[ProfileEntry]] = {}  # the same config but the batch
        for e in self.entries:
            c = e.config
            kin.setdefault((e.device_type, e.model, c.engine, c.precision, c.threads, c.power_mode, e.resource,
                            e.units), []).append(e)
        for group in kin.values():
            group.sort(key=lambda e: e.config.batch)
            for e in group:  # plans cached before the entry had its siblings are stale
                e._siblings, e._plans = tuple(group), {}
        self._default: dict[tuple[str, str], ProfileEntry] = {}

    # -- queries
    def models(self) -> list[str]:
        return sorted({e.model for e in self.entries})

    def device_types(self) -> list[str]:
        return sorted({e.device_type for e in self.entries})

    def configs(self, model: str, device_type: str, power_modes: Sequence[str] = ()) -> list[ProfileEntry]:
        """Entries for (model, device type), optionally only those in the given power modes."""
        lst = self._by_pair.get((model, device_type), [])
        if power_modes:
            lst = [e for e in lst if e.config.power_mode in power_modes]
        return lst

    def entry(self, model: str, device_type: str, config: Config) -> ProfileEntry:
        try:
            return self._by_key[(device_type, model, config)]
        except KeyError:
            raise KeyError(f"no profile entry for {model} on {device_type} with {config}") from None

    def default_entry(self, model: str, device_type: str, power_modes: Sequence[str] = ()) -> ProfileEntry | None:
        """The fixed config that baselines without configuration choice use.

        Rule: batch 1, lowest median latency; ties go to fewer held units, then config order. This is the
        "fastest single-request setting" an operator would deploy by hand.
        """
        k = (model, device_type, tuple(power_modes))
        if k not in self._default:
            cands = self.configs(model, device_type, power_modes)
            b1 = [e for e in cands if e.config.batch == 1] or cands
            self._default[k] = min(b1, key=lambda e: (e.p50_ms, e.units, e.config)) if b1 else None
        return self._default[k]

    def __len__(self):
        return len(self.entries)

    # -- loading
    @classmethod
    def from_csv(cls, paths: Iterable[str | Path], basis: str = "wall") -> PerformanceProfile:
        """Load trace files. ``basis`` picks what a measured row's service time is made of:

        - ``wall``: the per-call wall-clock samples as measured.
        - ``cpu``: per-call CPU time scaled by the row's quiet-time parallel efficiency (the 10th percentile of
          wall/CPU over its calls). On a shared host, neighbours stretch wall time (repeated runs here moved
          wall p50 by up to ~70 %, CPU time by 5-15 %); CPU time keeps the engine's own call-to-call
          variation without that interference. Rows without CPU samples (published ones) stay as they are.
        """
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        entries: list[ProfileEntry] = []
        seen: dict[tuple, str] = {}
        paths = list(paths)
        for path in paths:
            for line, e in load_trace_file(Path(path)):
                if basis == "cpu" and e.cpu_samples_ms is not None:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        e = e.on_cpu_basis()
                    if not (np.isfinite(e.dist.samples).all() and e.dist.samples.max() <= MAX_MS):
                        raise TraceError(path, line, "cpu_samples_ms", f"latency_basis=cpu rescales a call to more than "
                                         f"{MAX_MS:g} ms (CPU times far apart against the wall times)")
                where = f"{path}:{line}"
                if e.key in seen:
                    raise TraceError(path, line, None, f"duplicate configuration, first defined at {seen[e.key]}")
                seen[e.key] = where
                entries.append(e)
        if not entries:
            raise TraceError(", ".join(map(str, paths)) or "(no files)", None, None, "no trace rows")
        return cls(entries)

    @classmethod
    def from_dir(cls, folder: str | Path, pattern: str = "*.csv", basis: str = "wall") -> PerformanceProfile:
        folder = Path(folder)
        files = sorted(folder.glob(pattern))
        if not files:
            raise TraceError(folder, None, None, f"no trace files matching {pattern!r}")
        return cls.from_csv(files, basis)


def load_trace_file(path: Path) -> Iterable[tuple[int, ProfileEntry]]:
    """Parse and validate one trace CSV; yields (line number, entry). Raises TraceError on any bad cell."""
    if not path.is_file():
        raise TraceError(path, None, None, "trace file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TraceError(path, None, None, f"cannot open: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (as spreadsheet programs write) is accepted
    except UnicodeDecodeError as exc:
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        start = exc.start + bom
        line = data.count(b"\n", 0, start) + 1
        col = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise TraceError(path, line, None, f"not UTF-8 text (byte 0x{data[start]:02x} at character {col})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise TraceError(path, 1, None, "empty file (expected a header row)")
        header = [h.strip() for h in header]
        for h in header:
            if not h:
                raise TraceError(path, 1, None, "empty column name (a stray comma in the header?)")
            if h not in COLUMNS:
                raise TraceError(path, 1, h, "unknown column (see traces/README.md for the schema)")
        for h in header:
            if header.count(h) > 1:
                raise TraceError(path, 1, h, "duplicate column")
        for req in REQUIRED:
            if req not in header:
                raise TraceError(path, 1, req, "required column missing")
        rows = []
        line = reader.line_num + 1  # first physical line of the next record (a quoted cell may span lines)
        for cells in reader:
            if any(c.strip() for c in cells):
                if len(cells) != len(header):
                    raise TraceError(path, line, None, f"expected {len(header)} cells, found {len(cells)}")
                rows.append((line, _parse_row(path, line, dict(zip(header, cells)))))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise TraceError(path, reader.line_num or None, None, f"not a readable CSV file ({exc})") from None
    return rows


def _num(path, line, row, col, kind=float, minimum=None, strict=False, required=False):
    raw = row.get(col, "").strip()
    if raw == "":
        if required:
            raise TraceError(path, line, col, "value required")
        return math.nan if kind is float else None
    try:
        v = kind(raw)
    except ValueError:
        raise TraceError(path, line, col, f"not a{'n integer' if kind is int else ' number'}: {raw!r}") from None
    if kind is float and not math.isfinite(v):
        raise TraceError(path, line, col, f"must be finite, got {raw!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise TraceError(path, line, col, f"must be {'>' if strict else '>='} {minimum}, got {raw!r}")
    limit = MAX_MS if col.endswith("_ms") else MAX_W if col.endswith("_w") else None
    if limit is not None and v > limit:
        raise TraceError(path, line, col, f"must be <= {limit:g}, got {raw!r}")
    return v


def _floats(path, line, col, raw, allow_zero=False) -> list[float]:
    vals = []
    for i, tok in enumerate(raw.split(";")):
        try:
            v = float(tok)
        except ValueError:
            raise TraceError(path, line, col, f"sample {i + 1} is not a number: {tok!r}") from None
        if not (math.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
            raise TraceError(path, line, col, f"sample {i + 1} must be a finite number {'>=' if allow_zero else '>'} 0, "
                             f"got {tok!r}")
        if v > MAX_MS:
            raise TraceError(path, line, col, f"sample {i + 1} must be <= {MAX_MS:g} ms, got {tok!r}")
        vals.append(v)
    return vals


def _parse_row(path, line, row) -> ProfileEntry:
    for col in ("device_type", "model", "engine", "precision", "power_mode", "source"):
        if not row[col].strip():
            raise TraceError(path, line, col, "value required")
    batch = _num(path, line, row, "batch", int, 1, required=True)
    threads = _num(path, line, row, "threads", int, 0, required=True)
    units = _num(path, line, row, "units", int, 1, required=True)
    resource = row["resource"].strip()
    if resource not in RESOURCES:
        raise TraceError(path, line, "resource", f"must be one of {CPU}|{ACCEL}, got {resource!r}")
    source_kind = row["source_kind"].strip()
    if source_kind not in SOURCE_KINDS:
        raise TraceError(path, line, "source_kind", f"must be one of {'|'.join(SOURCE_KINDS)}, got {source_kind!r}")
    kind = row["latency_kind"].strip()
    if kind == "samples":
        raw = row.get("samples_ms", "").strip()
        if not raw:
            raise TraceError(path, line, "samples_ms", "latency_kind=samples needs samples")
        dist: LatencyDist = EmpiricalDist(_floats(path, line, "samples_ms", raw))
    elif kind == "percentiles":
        pts = [(q, _num(path, line, row, c, float, 0, strict=True)) for c, q in PERCENTILE_COLUMNS]
        given = [(q, v) for q, v in pts if not math.isnan(v)]
        if not any(q == 0.5 for q, _ in given):
            raise TraceError(path, line, "p50_ms", "latency_kind=percentiles needs p50_ms")
        for (_, v0), (q1, v1) in zip(given, given[1:]):
            if v1 < v0:
                col = next(c for c, q in PERCENTILE_COLUMNS if q == q1)
                raise TraceError(path, line, col, f"percentiles must be non-decreasing ({v1} < {v0})")
        if given[0][0] > 0:  # no min: do not invent a lower tail
            given.insert(0, (0.0, given[0][1]))
        if given[-1][0] < 1:  # no max: do not invent an upper tail
            given.append((1.0, given[-1][1]))
        dist = QuantileDist([q for q, _ in given], [v for _, v in given])
    else:
        raise TraceError(path, line, "latency_kind", f"must be samples|percentiles, got {kind!r}")
    _num(path, line, row, "mean_ms", float, 0, strict=True)  # validated only; distribution defines the mean
    cpu_samples = None
    raw_cpu = row.get("cpu_samples_ms", "").strip()
    if raw_cpu:
        cpu_samples = _floats(path, line, "cpu_samples_ms", raw_cpu, allow_zero=True)
        if kind != "samples" or len(cpu_samples) != len(dist.samples):
            raise TraceError(path, line, "cpu_samples_ms", "needs latency_kind=samples and one value per sample "
                             f"({len(cpu_samples)} given)")
    for col in ("cold_start_ms", "load_avg_1m"):
        _num(path, line, row, col, float, 0)
    return ProfileEntry(
        device_type=row["device_type"].strip(), model=row["model"].strip(),
        config=Config(row["engine"].strip(), row["precision"].strip(), batch, threads, row["power_mode"].strip()),
        resource=resource, units=units, dist=dist,
        power_w=_num(path, line, row, "power_w", float, 0, strict=True),
        idle_power_w=_num(path, line, row, "idle_power_w", float, 0),
        cpu_ms=_num(path, line, row, "cpu_ms", float, 0),
        source_kind=source_kind, source=row["source"].strip(), notes=row.get("notes", "").strip(),
        cpu_samples_ms=None if cpu_samples is None else np.asarray(cpu_samples),
    )
