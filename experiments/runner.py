"""Turn a composed config into runs: load traces, build the testbed and workload, run every policy, write outputs.

Kept free of Hydra so tests and notebooks can call ``run_experiment`` with a plain dict.
"""
from __future__ import annotations

import gc
import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backends import get_backend
from synergai.errors import ConfigError, SynergAIError
from synergai.faults import FaultSchedule, faults_from_dict
from synergai.metrics import SUMMARY_COLUMNS, node_utilization, summarize
from synergai.policy import make_policy
from synergai.profile import BASES, PerformanceProfile
from synergai.testbed import Testbed, testbed_from_dict
from synergai.workload import JobStream, WorkloadSpec, cluster_capacity_per_s, generate

from .outputs import MANIFEST, OutputError, check_writable, write_csv, write_manifest, write_table


def _project_root() -> Path:
    """Where ``configs/`` and ``traces/`` live: the source checkout, or the installed wheel's package data."""
    here = Path(__file__).resolve().parent
    if (here.parent / "configs" / "config.yaml").is_file():
        return here.parent
    return here / "data"  # pyproject.toml maps configs/ and traces/ to experiments/data/ in the wheel


PROJECT_ROOT = _project_root()
CONFIG_DIR = PROJECT_ROOT / "configs"
GROUPS = ("cluster", "workload", "policy", "backend", "faults", "experiment")


def search_override(config_dirs: list[str] | tuple[str, ...] = (), overrides: list[str] = ()) -> list[str]:
    """``hydra.searchpath`` covering ``--config-dir`` folders and any ``hydra.searchpath=[...]`` in ``overrides``,
    in Hydra's own order (the package's configs first, then ``--config-dir``, then the search path)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    paths = [f"file://{Path(d).resolve()}" for d in config_dirs]
    for o in OverridesParser.create().parse_overrides([x for x in overrides if x.startswith("hydra.searchpath")]):
        v = o.value()
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError("hydra.searchpath", f"must be a list of paths, got {v!r}")
        paths += [x if "://" in x else f"file://{Path(x).resolve()}" for x in v]
    if not paths:
        return []
    return ["hydra.searchpath=[" + ",".join(repr(x) for x in paths) + "]"]


def compose_config(overrides: list[str], config_dirs: list[str] | tuple[str, ...] = ()) -> dict:
    """The composed, resolved config for these overrides, as plain containers (no Hydra run, no output dir).

    ``config_dirs`` (``--config-dir``) and ``hydra.searchpath=[...]`` overrides add folders of the user's own
    cluster/workload/policy/faults/experiment configs, as they do for the ``synergai`` command."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    plain = [o for o in overrides if not o.startswith("hydra.searchpath")]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            cfg = compose(config_name="config", overrides=search_override(config_dirs, overrides) + plain)
            return OmegaConf.to_container(cfg, resolve=True)
    finally:
        GlobalHydra.instance().clear()


def group_options(group: str, config_dirs: list[str] | tuple[str, ...] = (), overrides: list[str] = ()) -> list[str]:
    """The options of a config group across the package's configs and the user's search path."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            loader = GlobalHydra.instance().config_loader()
            return sorted(loader.get_group_options(group, config_name="config",
                                                   overrides=search_override(config_dirs, overrides)))
    finally:
        GlobalHydra.instance().clear()


def project_path(p: str | Path) -> Path:
    """Relative paths in configs are relative to the project root, wherever the command runs."""
    p = Path(p)
    return p if p.is_absolute() else PROJECT_ROOT / p


@dataclass
class Prepared:
    profile: PerformanceProfile
    testbed: Testbed
    spec: WorkloadSpec
    policies: list[tuple[str, dict]]
    backend: Any
    seed: int
    faults: FaultSchedule | None = None  # None or empty: no fault injection


def _section(cfg: Mapping[str, Any], key: str, required: bool = False, where: str | None = None) -> Mapping:
    """``cfg[key]`` as a mapping ({} when absent or null, unless required); ConfigError otherwise."""
    v = cfg.get(key)
    if v is None:
        if required:
            raise ConfigError(where or key, "missing")
        return {}
    if not isinstance(v, Mapping):
        raise ConfigError(where or key, f"must be a mapping, got {v!r}")
    return v


TOP_KEYS = (*GROUPS, "seed")
EXPERIMENT_KEYS = {  # key -> (type, what it must be); anything else under experiment is a typo
    "name": (str, "a string"), "traces_dir": (str, "a path"), "latency_basis": (str, "a string"),
    "warmup_fraction": ((int, float), "a number"), "cooldown_fraction": ((int, float), "a number"),
    "write_jobs": (bool, "true or false"), "jobs_format": (str, "parquet or csv"), "figure": (bool, "true or false"),
    "progress": (bool, "true or false"), "sweep_figures": (list, "a list of figure names"),
}
POLICY_KEYS = ("names", "params", "modules")
JOBS_FORMATS = ("parquet", "csv")
MAX_ARRIVAL_SPAN_MS = 1e12  # ~32 years: float64 times still resolve 1 microsecond there (ulp 2e-4 ms)
BYTES_PER_JOB = 400  # peak bytes per job and policy held in memory (stream, outcome columns, table); bench_sim


def _check_keys(cfg: Mapping[str, Any]) -> None:
    for k in cfg:
        if k not in TOP_KEYS:
            raise ConfigError(str(k), f"unknown key (known: {', '.join(TOP_KEYS)})")
    exp = _section(cfg, "experiment")
    for k, v in exp.items():
        if k not in EXPERIMENT_KEYS:
            raise ConfigError(f"experiment.{k}", f"unknown key (known: {', '.join(EXPERIMENT_KEYS)})")
        kind, need = EXPERIMENT_KEYS[k]
        bad = isinstance(v, bool) != (kind is bool) if kind in (bool, (int, float)) else False
        if v is not None and (bad or not isinstance(v, kind)):
            raise ConfigError(f"experiment.{k}", f"must be {need}, got {v!r}")
    if exp.get("jobs_format", "parquet") not in JOBS_FORMATS:
        raise ConfigError("experiment.jobs_format", f"must be one of {', '.join(JOBS_FORMATS)}, "
                          f"got {exp['jobs_format']!r}")
    for k in _section(cfg, "policy"):
        if k not in POLICY_KEYS:
            raise ConfigError(f"policy.{k}", f"unknown key (known: {', '.join(POLICY_KEYS)})")


def available_memory_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit; None where unknown."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        lim = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if lim != "max":
            avail = min(avail or 2**63, int(lim) - used)
    except (OSError, ValueError):
        pass
    return avail


def _check_scale(spec: WorkloadSpec, profile: PerformanceProfile, testbed: Testbed, n_policies: int) -> None:
    """Refuse up front what would end in an out-of-memory kill or in arrival times too coarse to measure."""
    need = BYTES_PER_JOB * spec.n_jobs * max(1, n_policies)
    avail = available_memory_bytes()
    if avail is not None and need > avail:
        raise ConfigError("workload.n_jobs", f"{spec.n_jobs:,} jobs x {n_policies} policies need ~{need / 2**30:.1f} "
                          f"GiB, only {avail / 2**30:.1f} GiB available; use fewer jobs or policies per run")
    if spec.arrival == "replay":
        return
    rate, key = spec.rate_per_s, "workload.rate_per_s"
    if rate is None:
        key = "workload.load"
        rate = spec.load * cluster_capacity_per_s(profile, testbed.nodes, {m: spec.mix[m] for m in spec.models()},
                                                  spec.queries)
    span_ms = spec.n_jobs / rate * 1000.0 if rate > 0 else math.inf
    if rate > 0 and span_ms > MAX_ARRIVAL_SPAN_MS:
        raise ConfigError(key, f"{rate:.3g} jobs/s: {spec.n_jobs:,} arrivals would span ~{span_ms:.3g} ms, beyond "
                          f"{MAX_ARRIVAL_SPAN_MS:g} ms where float64 times lose microseconds; use a higher rate")


def prepare(cfg: Mapping[str, Any]) -> Prepared:
    """Validate everything before any run starts; raises SynergAIError with the offending key."""
    _check_keys(cfg)
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", f"must be an integer >= 0, got {seed!r}")
    exp = _section(cfg, "experiment")
    tdir = exp.get("traces_dir", "traces")
    if not isinstance(tdir, (str, Path)) or not str(tdir):
        raise ConfigError("experiment.traces_dir", f"must be a path, got {tdir!r}")
    tdir = project_path(tdir)
    if not tdir.is_dir():
        raise ConfigError("experiment.traces_dir", f"{tdir}: directory not found")
    for f in sorted(tdir.iterdir()):  # the profile reads *.csv: a trace named x.CSV would be silently ignored
        if f.suffix.lower() == ".csv" and f.suffix != ".csv":
            raise ConfigError("experiment.traces_dir", f"{f}: trace files are read by the suffix .csv (lower case); "
                              f"rename it")
    basis = exp.get("latency_basis", "wall")
    if basis not in BASES:
        raise ConfigError("experiment.latency_basis", f"must be one of {', '.join(BASES)}, got {basis!r}")
    profile = PerformanceProfile.from_dir(tdir, basis=basis)
    testbed = testbed_from_dict(_section(cfg, "cluster", required=True), profile=profile)
    spec = workload_spec(_section(cfg, "workload", required=True))
    spec.validate(profile)
    pol = _section(cfg, "policy")
    for k in ("modules", "names"):
        if pol.get(k) is not None and (isinstance(pol[k], (str, Mapping)) or not isinstance(pol[k], (list, tuple))):
            raise ConfigError(f"policy.{k}", f"must be a list, got {pol[k]!r}")
    for mod in pol.get("modules") or []:  # user policies: importing a module registers its classes
        try:
            importlib.import_module(mod)
        except Exception as exc:
            raise ConfigError("policy.modules", f"cannot import {mod!r}: {exc}") from None
    names = list(pol.get("names") or [])
    if not names:
        raise ConfigError("policy.names", "no policy selected")
    params = _section(pol, "params", where="policy.params")
    policies = []
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError("policy.names", f"{n!r} listed twice (runs and outputs are keyed by policy name)")
        p = dict(_section(params, n, where=f"policy.params.{n}")) if isinstance(n, str) else {}
        make_policy(n, **p)  # fail now on unknown names / parameters
        policies.append((n, p))
    for k in ("warmup_fraction", "cooldown_fraction"):
        v = exp.get(k, 0.1)
        if not (isinstance(v, (int, float)) and 0 <= v < 0.5):
            raise ConfigError(f"experiment.{k}", f"must be in [0, 0.5), got {v!r}")
    bopts = dict(_section(cfg, "backend"))
    backend = get_backend(bopts.pop("name", "sim"), **bopts)
    faults = faults_from_dict(cfg.get("faults"), testbed.nodes, testbed.network)
    _check_scale(spec, profile, testbed, len(policies))
    return Prepared(profile, testbed, spec, policies, backend, seed, faults)


def workload_spec(w: Mapping[str, Any]) -> WorkloadSpec:
    """The workload config as a WorkloadSpec; shape errors (unknown/missing keys, wrong types) name the key.
    Values are checked by ``WorkloadSpec.validate``."""
    if not isinstance(w, Mapping):
        raise ConfigError("workload", f"must be a mapping of workload settings, got {w!r}")
    known = {f.name for f in fields(WorkloadSpec)}
    for k in w:
        if k not in known:
            raise ConfigError(f"workload.{k}", f"unknown key (known: {', '.join(sorted(known))})")
    if w.get("mix") is None:
        raise ConfigError("workload.mix", "missing (a mapping model -> weight)")
    kw = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in w.items()}
    for k in ("mix", "input_bytes"):
        if k in kw and not isinstance(kw[k], dict):
            raise ConfigError(f"workload.{k}", f"must be a mapping model -> value, got {kw[k]!r}")
    for k in ("load", "rate_per_s", "qos_multiplier", "private_fraction", "on_s", "off_s", "off_rate_fraction",
              "replay_unit_s"):
        v = kw.get(k)
        if v is not None and not isinstance(v, dict) and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ConfigError(f"workload.{k}", f"must be a number, got {v!r}")
    for k in ("replay_path", "replay_column", "arrival"):
        if kw.get(k) is not None and not isinstance(kw[k], str):
            raise ConfigError(f"workload.{k}", f"must be a string, got {kw[k]!r}")
    if kw.get("replay_path"):
        kw["replay_path"] = str(project_path(kw["replay_path"]))
    if kw.get("origins") is not None:
        o = kw["origins"]
        if isinstance(o, (str, bytes, Mapping)) or not isinstance(o, (list, tuple)):
            raise ConfigError("workload.origins", f"must be a list of site names (or null), got {o!r}")
        kw["origins"] = list(o)
    return WorkloadSpec(**kw)


def make_stream(p: Prepared) -> JobStream:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(p.seed, spawn_key=(0,))))
    return compact(generate(p.spec, p.profile, p.testbed.nodes, p.testbed.network, rng))


def compact(stream: JobStream) -> JobStream:
    """Model and origin indices in one byte each where they fit (they are only ever used as indices): 14 bytes
    a job less for the whole run, 140 MB at 10^7 jobs."""
    for name in ("model_idx", "origin_idx"):
        a = getattr(stream, name)
        if len(a) and a.dtype.itemsize > 1 and 0 <= a.min() and a.max() <= np.iinfo(np.int8).max:
            setattr(stream, name, a.astype(np.int8))
    return stream


@dataclass
class ExperimentResult:
    summary: pd.DataFrame
    job_tables: list[pd.DataFrame]  # per policy, in run order (a 10^7-job run keeps one copy of each)
    nodes: pd.DataFrame
    decisions: pd.DataFrame
    faults: pd.DataFrame | None = None  # injected faults per policy (faults.csv); None when none were scheduled

    @cached_property
    def jobs(self) -> pd.DataFrame:
        """Every policy's per-job table in one frame (built on first use: it copies them)."""
        return pd.concat(self.job_tables, ignore_index=True)


def output_names(exp: Mapping[str, Any], faults: bool) -> list[str]:
    names = ["summary.csv", "nodes.csv"] + (["faults.csv"] if faults else [])
    if exp.get("write_jobs", True):
        names.append(jobs_file(exp))
    return names


def jobs_file(exp: Mapping[str, Any]) -> str:
    return "jobs.parquet" if exp.get("jobs_format", "parquet") == "parquet" else "jobs.csv.gz"


def run_experiment(cfg: Mapping[str, Any], out_dir: str | Path | None = None, log=print) -> ExperimentResult:
    p = prepare(cfg)
    exp = cfg.get("experiment", {})
    if out_dir is not None:  # before the runs: an output that cannot be written fails now, not after hours
        check_writable(Path(out_dir), output_names(exp, bool(p.faults)) + [MANIFEST, "comparison.png"])
    stream = make_stream(p)
    log(f"testbed {p.testbed.name}: {len(p.testbed.nodes)} nodes; {len(stream)} jobs "
        f"({p.spec.arrival}); QoS targets ms: " + ", ".join(f"{m}={q:.2f}" for m, q in stream.qos_ms.items()))
    summaries, jobs, nodes, decisions, injected = [], [], [], [], []
    for name, params in p.policies:
        policy = make_policy(name, **params)
        r = p.backend.run(p.testbed, p.profile, policy, stream, p.seed, progress=bool(exp.get("progress", False)),
                          faults=p.faults)
        gc.collect()  # the finished simulation's object cycles: freed before the summary and the next policy
        rows = summarize(name, r.jobs, r.decisions, exp.get("warmup_fraction", 0.1), exp.get("cooldown_fraction", 0.1),
                         faults=getattr(r, "faults", None))
        for row in rows:  # policy counters (e.g. SLO-MAEL's windows split by its enumeration cap)
            row.update(getattr(policy, "stats", dict)())
        summaries += rows
        tag = pd.Categorical.from_codes(np.zeros(len(r.jobs), dtype=np.int8), categories=[name])
        jobs.append(r.jobs.assign(policy=tag))
        nodes.append(node_utilization(r.nodes, r.horizon_ms).assign(policy=name))
        decisions.append(r.decisions.assign(policy=name))
        if getattr(r, "faults", None) is not None:
            injected.append(r.faults.assign(policy=name))
        del r
        s = summaries[-2]
        log(f"  {name:<18} violations {s['violation_rate']:6.1%}  p99 {s['p99_latency_ms']:9.2f} ms  "
            f"failed {s['failed']}")
    summary = pd.DataFrame(summaries)
    summary = summary[list(SUMMARY_COLUMNS) + [c for c in summary.columns if c not in SUMMARY_COLUMNS]]
    for k, v in run_parameters(cfg, p, stream).items():  # so a sweep's summaries concatenate into one tidy table
        summary[k] = v
    res = ExperimentResult(summary, jobs, pd.concat(nodes, ignore_index=True),
                           pd.concat(decisions, ignore_index=True),
                           pd.concat(injected, ignore_index=True) if injected else None)
    if out_dir is not None:
        write_outputs(res, Path(out_dir), exp, cfg, run_inputs(cfg, p))
    return res


def run_inputs(cfg: Mapping[str, Any], p: Prepared) -> dict[str, Path]:
    """The files a run read (traces, replayed arrivals), named relative to the project root where they lie
    under it: their hashes go into the manifest (the trace versions of the run)."""
    tdir = project_path(cfg.get("experiment", {}).get("traces_dir", "traces"))
    files = sorted(tdir.glob("*.csv"))
    if p.spec.arrival == "replay" and p.spec.replay_path:
        files.append(Path(p.spec.replay_path))
    out = {}
    for f in files:
        f = f.resolve()
        out[str(f.relative_to(PROJECT_ROOT)) if f.is_relative_to(PROJECT_ROOT) else str(f)] = f
    return out


def run_parameters(cfg: Mapping[str, Any], p: Prepared, stream: JobStream) -> dict[str, Any]:
    s = p.spec
    return {
        "cluster": p.testbed.name, "nodes": len(p.testbed.nodes), "arrival": s.arrival, "n_jobs": s.n_jobs,
        "load": s.load if s.rate_per_s is None else np.nan,
        "rate_per_s": len(stream) / (stream.arrival_ms[-1] / 1000.0) if len(stream) > 1 else np.nan,
        "qos_multiplier": s.qos_multiplier if not isinstance(s.qos_multiplier, dict) else np.nan,
        "seed": p.seed, "latency_basis": cfg.get("experiment", {}).get("latency_basis", "wall"),
        "fault_schedule": p.faults.name if p.faults is not None else "none",
    }


def write_outputs(res: ExperimentResult, out: Path, exp: Mapping[str, Any], cfg: Mapping[str, Any] | None = None,
                  inputs: Mapping[str, Path] | None = None) -> dict:
    """Every output via a temporary name and a rename, then ``manifest.json`` last (see experiments/outputs.py).
    Returns the manifest. Any write failure is an OutputError (one line, exit 2 from the CLI)."""
    check_writable(out, output_names(exp, res.faults is not None))
    old = out / MANIFEST
    if old.exists():  # rewriting a folder: it is incomplete until the new manifest lands
        try:
            old.unlink()
        except OSError as exc:
            raise OutputError(old, exc.strerror or str(exc)) from None
    files = {}
    if exp.get("write_jobs", True):
        name = jobs_file(exp)
        files[name] = write_table(out / name, res.job_tables)
    if res.faults is not None:
        files["faults.csv"] = write_csv(out / "faults.csv", [res.faults])
    files["nodes.csv"] = write_csv(out / "nodes.csv", [res.nodes])
    files["summary.csv"] = write_csv(out / "summary.csv", [res.summary])
    if exp.get("figure", True):
        from .plots import comparison_figure

        try:
            comparison_figure(res.summary, res.job_tables, out / "comparison.png")
        except OSError as exc:
            raise OutputError(out / "comparison.png", exc.strerror or str(exc)) from None
    return write_manifest(out, files, cfg or {}, inputs or {})


def format_summary(summary: pd.DataFrame, window: str = "steady") -> str:
    s = summary[summary["window"] == window]
    cols = {"policy": "policy", "violation_rate": "viol %", "mean_excess_ms": "excess ms",
            "p50_latency_ms": "p50 ms", "p95_latency_ms": "p95 ms", "p99_latency_ms": "p99 ms",
            "throughput_jobs_per_s": "jobs/s", "edge_share": "edge %", "edge_energy_j": "edge J",
            "failed": "failed", "overhead_p50_us": "ovh p50 us", "overhead_p99_us": "ovh p99 us"}
    t = s[list(cols)].rename(columns=cols).copy()
    t["viol %"] *= 100
    t["edge %"] *= 100
    return t.to_string(index=False, float_format=lambda v: f"{v:.2f}" if math.isfinite(v) else "-")


__all__ = ["ExperimentResult", "OutputError", "group_options", "write_outputs", "Prepared", "SynergAIError", "format_summary", "make_stream", "prepare",
           "project_path", "run_experiment", "workload_spec", "compose_config", "CONFIG_DIR"]
