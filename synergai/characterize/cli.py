"""``synergai-characterize``: measure inference latency of real engines on this host into trace CSVs.

Configurations are the product of --models x --engines x --precisions x --batch x --threads, minus
precisions an engine does not have (pytorch: fp32; onnxruntime: fp32, int8; openvino: fp32, bf16).
An engine whose package is missing, or a precision the CPU cannot run (bf16 without avx512_bf16/
amx_bf16), is skipped with a one-line message. Each row is merged into --out (``{engine}`` in the
path is replaced by the engine name) as soon as it is measured, replacing the row with the same
(device_type, model, engine, precision, batch, threads, power_mode) and keeping the others; the file
is rewritten through a temporary file and ``os.replace``, so an interrupt never leaves a half-written
trace. --skip-existing resumes an interrupted run.

Example (the x86 VM traces in traces/README.md were made with commands like this)::

    synergai-characterize --engines onnxruntime,openvino --models resnet50,mobilenet-v2 \\
        --precisions fp32,int8,bf16 --threads 1,2 --batch 1 --warmup 5 --requests 100 \\
        --max-seconds 30 --out 'traces/x86_vm_{engine}.csv'

Exit status: 0 when every planned configuration was measured or skipped, 1 when one failed (its
error is printed, the others still run), 2 for bad options, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .engines import ENGINES, ConfigSkipped
from .export import default_cache_dir
from .host import host_info
from .measure import TOOL, measure
from .trace_io import append_rows, read_trace, row_key

MODEL_NAMES = ("resnet50", "bert-99", "retinanet", "mobilenet-v2")
PRECISIONS = ("fp32", "int8", "bf16", "fp16")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (raised to main)
        raise _UsageError(message)


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    values = [x.strip() for x in text.split(",") if x.strip()]
    bad = [v for v in values if v not in known]
    if bad or not values:
        raise _UsageError(f"--{what}: unknown {', '.join(bad) or 'empty list'} (known: {', '.join(known)})")
    return list(dict.fromkeys(values))


def _ints(text: str, what: str, lo: int = 1, hi: int | None = None) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise _UsageError(f"--{what}: expected comma-separated integers, got {text!r}") from None
    if not values or any(v < lo or (hi is not None and v > hi) for v in values):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise _UsageError(f"--{what}: values must be in {rng}, got {text!r}")
    return list(dict.fromkeys(values))


def build_parser() -> argparse.ArgumentParser:
    cores = os.cpu_count() or 1
    p = _Parser(prog=TOOL, description="Measure per-call inference latency of real engines on this host and "
                "merge the rows into trace CSVs (schema: traces/README.md).")  # fmt: skip
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, default {','.join(ENGINES)}")
    p.add_argument("--models", default=",".join(MODEL_NAMES), help=f"comma-separated, default {','.join(MODEL_NAMES)}")
    p.add_argument(
        "--precisions",
        default=",".join(PRECISIONS),
        help="comma-separated fp32,int8,bf16 (each engine runs those it has); default all",
    )
    p.add_argument(
        "--threads",
        default=f"1,{cores}" if cores > 1 else "1",
        help=f"comma-separated intra-op thread counts, 1..{cores} (cores); default 1,{cores}",
    )
    p.add_argument("--batch", default="1", help="comma-separated batch sizes, e.g. 1,2,4,8; default 1")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured calls after the cold first call (default 3)")
    p.add_argument("--requests", type=int, default=50, help="timed requests per configuration (default 50)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="stop sampling a configuration after this many seconds, keeping >= 5 samples (default 60)",
    )
    p.add_argument("--device-type", default="x86-vm-2c", help="device_type column (default x86-vm-2c)")
    p.add_argument("--out", required=True, help="trace CSV to create/update; '{engine}' is replaced by the engine name")
    p.add_argument("--skip-existing", action="store_true", help="skip configurations already in the output file")
    p.add_argument(
        "--cache-dir",
        default=None,
        help=f"exported/quantized model cache (default $SYNERGAI_CACHE_DIR or {default_cache_dir()})",
    )
    return p  # fmt: skip


def _out_path(template: str, engine: str) -> str:
    return template.replace("{engine}", engine)


def main(argv: Sequence[str] | None = None) -> int:
    cores = os.cpu_count() or 1
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        engines = _names(args.engines, list(ENGINES), "engines")
        models = _names(args.models, MODEL_NAMES, "models")
        precisions = _names(args.precisions, PRECISIONS, "precisions")
        threads = _ints(args.threads, "threads", 1, cores)
        batches = _ints(args.batch, "batch", 1)
        if args.warmup < 0:
            raise _UsageError("--warmup must be >= 0")
        if args.requests < 1:
            raise _UsageError("--requests must be >= 1")
        if not args.max_seconds >= 0:
            raise _UsageError("--max-seconds must be >= 0")
        if not args.device_type.strip():
            raise _UsageError("--device-type must not be empty")
        outs = {e: _out_path(args.out, e) for e in engines}
        existing: dict[str, set] = {}
        for e, path in outs.items():
            if os.path.isdir(path):
                raise _UsageError(f"--out: {path} is a directory")
            try:
                existing[e] = {row_key(r) for r in read_trace(path)}
            except (ValueError, OSError) as exc:
                raise _UsageError(f"--out: {exc}") from None
        cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
        if cache_dir.exists() and not cache_dir.is_dir():
            raise _UsageError(f"--cache-dir: {cache_dir} is not a directory")
    except _UsageError as e:
        print(f"{TOOL}: error: {e}", file=sys.stderr)
        return 2

    from tqdm import tqdm

    def say(msg: str) -> None:
        tqdm.write(msg, file=sys.stderr)

    host = host_info()
    plan = []  # (engine instance, model, precision, batch, threads)
    skipped = 0
    available = {}
    for name in engines:
        eng = ENGINES[name]()
        reason = eng.unavailable()
        if reason:
            say(f"{TOOL}: skipping engine {name}: {reason}")
            continue
        available[name] = eng
    told: set = set()
    for model in models:
        for name, eng in available.items():
            for prec in precisions:
                if prec not in eng.precisions:
                    continue
                why = eng.skip_reason(model, prec, host)
                if why:
                    if (name, prec) not in told:
                        say(f"{TOOL}: skipping {name} {prec}: {why}")
                        told.add((name, prec))
                    skipped += 1
                    continue
                for b in batches:
                    for t in threads:
                        key = (args.device_type, model, name, prec, str(b), str(t), "default")
                        if args.skip_existing and key in existing[name]:
                            skipped += 1
                            continue
                        plan.append((eng, model, prec, b, t))
    if args.skip_existing:
        say(f"{TOOL}: {len(plan)} configuration(s) to measure, {skipped} skipped (existing or unsupported)")
    if not plan:
        say(f"{TOOL}: nothing to measure")
        return 0

    failed = 0
    done = 0
    written: set[str] = set()
    t_start = time.perf_counter()
    bar = tqdm(plan, desc="configurations", unit="cfg", file=sys.stderr, dynamic_ncols=True, disable=None)
    try:
        for eng, model, prec, b, t in bar:
            bar.set_postfix_str(f"{eng.name} {prec} {model} b{b} t{t}")
            try:
                row = measure(eng, model, prec, b, t, warmup=args.warmup, requests=args.requests,
                              max_seconds=args.max_seconds, device_type=args.device_type, cache_dir=cache_dir,
                              say=say, host=host)  # fmt: skip
            except ConfigSkipped as e:
                say(f"{TOOL}: skipping {eng.name} {prec} {model}: {e}")
                continue
            except Exception as e:  # noqa: BLE001 - report, continue with the next configuration
                failed += 1
                say(f"{TOOL}: FAILED {eng.name} {prec} {model} b{b} t{t}: {type(e).__name__}: "
                    f"{str(e).splitlines()[0][:200] if str(e) else ''}")  # fmt: skip
                continue
            path = _out_path(args.out, eng.name)
            append_rows(path, [row])
            written.add(path)
            done += 1
    except KeyboardInterrupt:
        bar.close()
        say(f"{TOOL}: interrupted; {done} row(s) were written (rerun with --skip-existing to resume)")
        return 130
    bar.close()
    say(
        f"{TOOL}: {done} row(s) written to {', '.join(sorted(written)) or 'no file'} in "
        f"{time.perf_counter() - t_start:.0f} s{f'; {failed} failed' if failed else ''}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
