"""``synergai``: the Hydra command-line app.

``synergai`` runs the default experiment; ``synergai -m workload.load=0.5,0.9 policy=greedy,random`` sweeps.
Every invalid value ends with one line ``synergai: error: <key>: <problem>`` and exit code 2, before any
run starts: overrides are composed and validated up front (each sweep value once), then Hydra runs.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .runner import CONFIG_DIR, GROUPS

_FLAGS_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun",
                     "--package", "-p", "--info", "-i"}


def _fail(msg: str) -> None:
    print(f"synergai: error: {msg}", file=sys.stderr)
    sys.exit(2)


def _override_args(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in _FLAGS_WITH_VALUE:
            skip = True
            continue
        if a.startswith("-"):
            continue
        out.append(a)
    return out


def config_dirs(argv: list[str]) -> list[str]:
    """The ``--config-dir``/``-cd`` folders given on the command line (either ``-cd D`` or ``--config-dir=D``)."""
    out = []
    for i, a in enumerate(argv):
        if a in ("--config-dir", "-cd"):
            if i + 1 >= len(argv):
                _fail(f"{a}: missing folder")
            out.append(argv[i + 1])
        elif a.startswith("--config-dir="):
            out.append(a.split("=", 1)[1])
    for d in out:
        if not Path(d).is_dir():
            _fail(f"--config-dir: {d}: folder not found")
    return out


def _override_variants(overrides: list[str], dirs: list[str] = (), search: list[str] = ()) -> list[list[str]]:
    """One override list per sweep value (others at their first value): validates each value once."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .runner import group_options

    parsed = OverridesParser.create().parse_overrides(overrides)
    base, variants = [], []
    options: dict[str, list[str]] = {}
    for o in parsed:
        if o.is_sweep_override():
            vals = [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
            choices = list(o.sweep_string_iterator())
        else:
            vals = [o.input_line]
            choices = [o.value()] if isinstance(o.value(), str) else []
        if o.key_or_group in GROUPS and not o.is_delete():
            if o.key_or_group not in options:
                options[o.key_or_group] = group_options(o.key_or_group, dirs, search)
            known = options[o.key_or_group]
            for c in choices:
                if c not in known:
                    _fail(f"{o.key_or_group}: unknown option {c!r} (available: {', '.join(known)})")
        base.append(vals[0])
        variants.append(vals)
    out = [base]
    for i, vals in enumerate(variants):
        for v in vals[1:]:
            out.append(base[:i] + [v] + base[i + 1:])
    return out


def precheck(argv: list[str]) -> None:
    """Compose and validate the config for every sweep value; one-line error and exit 2 on any problem."""
    from synergai.errors import SynergAIError

    from .runner import compose_config, prepare

    args = _override_args(argv)
    _check_out_dir(argv, args)
    dirs = config_dirs(argv)
    search = [a for a in args if a.startswith("hydra.searchpath")]
    overrides = [a for a in args if not a.startswith("hydra.") and not a.startswith("hydra/")]
    search += [a for a in args if a.startswith("hydra/")]  # e.g. hydra/launcher=ray_local: its plugin must exist
    try:
        variants = _override_variants(overrides, dirs, search)
    except SynergAIError as exc:
        _fail(str(exc))
    except Exception as exc:  # hydra's grammar errors
        _fail(f"cannot parse overrides: {str(exc).splitlines()[0]}")
    for ov in variants:
        try:
            cfg = compose_config(search + ov, dirs)
        except Exception as exc:  # hydra's composition / interpolation errors: first paragraph, one line
            msg = " ".join(str(exc).split("\n\n")[0].split())
            for plugin, extra in (("hydra/launcher/ray'", "ray"), ("hydra/launcher/submitit", "slurm")):
                if plugin in msg:
                    msg += f" (the launcher plugin is not installed: pip install 'synergai[{extra}]')"
            _fail(msg)
        try:
            prepare(cfg)
        except SynergAIError as exc:
            _fail(str(exc))


def _check_out_dir(argv: list[str], overrides: list[str]) -> None:
    """The run (or sweep) folder can be created and written: Hydra makes it before any of our code runs, so a
    folder under a file, under /proc or on a read-only disk would otherwise end in Hydra's traceback."""
    import os
    import tempfile

    multi = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir" if multi else "hydra.run.dir"
    value = "multirun" if multi else "outputs"
    for o in overrides:
        if o.startswith(key + "="):
            value = o.split("=", 1)[1]
    static = value.split("${", 1)[0]
    path = Path(static if "${" not in value or static.endswith("/") else Path(static).parent or ".").expanduser()
    q = path if str(path) else Path(".")
    while not q.exists() and q != q.parent:
        q = q.parent
    if not q.is_dir():
        _fail(f"{key}: {value}: {q} is not a folder")
    try:
        if "${" not in value:
            path.mkdir(parents=True, exist_ok=True)
            q = path
        fd, probe = tempfile.mkstemp(dir=q, prefix=".synergai-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        _fail(f"{key}: {value}: cannot write there ({exc.strerror or exc})")


def main() -> None:
    argv = sys.argv[1:]
    if not any(a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")
               for a in argv):
        precheck(argv)
    _hydra_main()


def _hydra_main():
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig, OmegaConf

    from synergai.errors import SynergAIError

    from .runner import format_summary, run_experiment

    @hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="config")
    def app(cfg: DictConfig) -> float:
        out = Path(HydraConfig.get().runtime.output_dir)
        try:
            res = run_experiment(OmegaConf.to_container(cfg, resolve=True), out)
        except SynergAIError as exc:
            _fail(str(exc))
        print("\nsteady state (first/last 10% of arrivals excluded):")
        print(format_summary(res.summary))
        print(f"\noutputs: {out}")
        s = res.summary[res.summary["window"] == "steady"]
        return float(s["violation_rate"].min())

    app()


if __name__ == "__main__":
    main()
