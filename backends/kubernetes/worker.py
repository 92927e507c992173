"""The worker: runs one inference job with the configuration the scheduler wrote on its pod.

Two ways in:

- **In process** (the node agent's "local hardware" mode): ``run_inference(model, engine, precision, batch,
  threads, queries)`` returns a ``WorkerResult``. Loaded sessions are kept in a per-process pool keyed by
  (model, engine, precision, threads), so a later job with the same key does not reload; two jobs running at
  the same time with the same key each get their own session (own intra-op threads), as two containers
  would. ``prepare_models(models, precisions, model_dir)`` exports / quantizes the model files up front so
  the first timed job does not pay for it.
- **As a container** (``synergai-worker``, the image's entrypoint): reads the pod's annotations from a
  downward-API file (``--annotations /etc/podinfo/annotations``, one ``key="value"`` line per annotation,
  value quoted like Go's ``strconv.Quote``) or from environment variables (``synergai.io/batch`` ->
  ``SYNERGAI_BATCH``), runs the job, prints one JSON line with the result and exits 0. A missing or invalid
  annotation, or one this installation cannot run (an engine that is not installed), prints
  ``synergai-worker: error: annotation synergai.io/batch: ...`` on stderr and exits 2, as do bad options and an
  unreadable annotations file; any other failure (model file missing, inference error) prints one
  ``synergai-worker: error: ...`` line and exits 1. Never a traceback. Where the kubelet mounted a termination-message file (``/dev/termination-log``), a compact
  summary (or the error line) is written there too, so it shows in the pod's
  ``status.containerStatuses[].state.terminated.message`` without reading logs.

What a job costs: ``calls = ceil(queries / batch)`` inference calls of a full ``batch`` (the last one padded),
exactly what the simulator charges (``ProfileEntry.service_ms``). ``service_ms`` is the wall time of those
calls (``time.perf_counter`` around the loop), ``call_ms`` each call's. Inputs are synthetic (the
characterization's ``make_inputs``) and built before timing. Loading a session, and ``WARMUP_CALLS`` calls the
first time a session runs a batch size, happen before timing and are reported as ``load_ms`` (0 when everything
was warm), like the traces, whose samples exclude the cold start and warm-up calls.

Engines: ``onnxruntime`` (fp32, int8) with the same session settings and model files as the x86 traces
(``synergai.characterize.engines.ort_engine.create_session``, ``export.ensure_fp32/ensure_int8``). The other
characterization engines (``openvino`` fp32/bf16, ``pytorch`` fp32, ``pytorch-cuda`` fp32/fp16) run through
their ``Engine.load`` when installed; their sessions are pooled per batch size too (OpenVINO compiles a
static batch). ``pytorch`` sets torch's process-wide thread count, so concurrent pytorch jobs with different
thread counts in one process interfere. Engines without a runner here (``tensorrt``, which the published
MLPerf traces use) are rejected with a one-line error naming ``synergai.io/engine``.

Models: the characterization's architectures (``resnet50``, ``retinanet``, ``bert-99``, ``mobilenet-v2``),
named as in the traces' ``model`` column. Model files live in ``model_dir``: ``$SYNERGAI_MODEL_DIR``, else the
characterization cache (``$SYNERGAI_CACHE_DIR``, else ``~/.cache/synergai/models``); the image ships them
pre-exported. A missing file is exported with torch (optional extra) or, without torch, reported in one line
naming the file.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synergai.errors import ConfigError, SynergAIError

from . import names

PROG = "synergai-worker"
MODELS = ("resnet50", "retinanet", "bert-99", "mobilenet-v2")  # = synergai.characterize.cli.MODEL_NAMES
ENV_MODEL_DIR = "SYNERGAI_MODEL_DIR"
DEFAULT_ANNOTATIONS = "/etc/podinfo/annotations"
TERMINATION_LOG = "/dev/termination-log"
TERMINATION_LOG_LIMIT = 4096  # bytes the kubelet keeps of a termination message
WARMUP_CALLS = 2  # untimed calls when a session first runs a batch size (the first call after the cold one
#                   can still be slow); the traces' samples likewise follow the cold call + warm-up calls

# the annotations the worker reads; the job id is only echoed into the result
WORKER_ANNOTATIONS = (names.ANN_MODEL, names.ANN_ENGINE, names.ANN_PRECISION, names.ANN_BATCH, names.ANN_THREADS,
                      names.ANN_QUERIES, names.ANN_JOB_ID)


class AnnotationError(ConfigError):
    """A job setting is missing, malformed or cannot run here; the message names the annotation key."""

    def __init__(self, key: str, problem: str):
        SynergAIError.__init__(self, f"annotation {key}: {problem}")
        self.key, self.problem = key, problem


@dataclass
class WorkerResult:
    model: str
    engine: str
    precision: str
    batch: int
    threads: int
    queries: int
    calls: int  # ceil(queries / batch)
    service_ms: float  # wall time of all calls (time.perf_counter around the loop)
    call_ms: list[float]  # wall time of each call
    load_ms: float  # untimed work before the calls: session load and/or warm-up call; 0.0 when warm
    engine_version: str  # as in the traces' engine_version column, e.g. "onnxruntime 1.32.0"
    host: str  # as in the traces' host column: CPU model, vCPUs, RAM, ISA flags
    hostname: str = ""
    model_file: str = ""  # file name of the ONNX model (onnxruntime), "" for engines that build their own
    start_unix_ms: float = 0.0  # wall clock (time.time) when the first timed call started
    finish_unix_ms: float = 0.0  # ... and when the last one finished

    def to_json(self) -> dict:
        d = asdict(self)
        d["service_ms"] = round(self.service_ms, 4)
        d["call_ms"] = [round(x, 4) for x in self.call_ms]
        d["load_ms"] = round(self.load_ms, 3)
        d["start_unix_ms"] = round(self.start_unix_ms, 3)
        d["finish_unix_ms"] = round(self.finish_unix_ms, 3)
        return d


# --------------------------------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------------------------------


def default_model_dir() -> Path:
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        return Path(env).expanduser()
    from synergai.characterize.export import default_cache_dir

    return default_cache_dir()


_PREPARE_LOCK = threading.Lock()  # export/quantize write temporary files named by pid: one at a time per process


def _engine(engine: str):
    from synergai.characterize.engines import ENGINES

    cls = ENGINES.get(engine)
    if cls is None:
        raise AnnotationError(names.ANN_ENGINE, f"unknown engine {engine!r} (the worker runs {', '.join(ENGINES)})")
    eng = cls()
    if engine == "onnxruntime":
        from synergai.characterize.engines.base import import_reason

        reason = import_reason("onnxruntime", eng.extra)  # onnx itself is needed only to quantize
    else:
        reason = eng.unavailable()
    if reason:
        raise AnnotationError(names.ANN_ENGINE, f"{engine} cannot run here: {reason}")
    return eng


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise AnnotationError(names.ANN_MODEL, f"unknown model {model!r} (the worker runs {', '.join(MODELS)}; other "
                                               "trace models have published numbers only)")


def _check_precision(eng, model: str, precision: str) -> None:
    if precision not in eng.precisions:
        raise AnnotationError(names.ANN_PRECISION, f"{eng.name} does not run {precision!r} "
                                                   f"(it runs {', '.join(eng.precisions)})")
    why = eng.skip_reason(model, precision, _host_info())
    if why:
        raise AnnotationError(names.ANN_PRECISION, f"{precision} cannot run here: {why}")


def _ort_artifact(model: str, precision: str, model_dir: Path, say=None):
    from synergai.characterize import export

    try:
        with _PREPARE_LOCK:
            if precision == "int8":
                return export.ensure_int8(model, model_dir, say)
            return export.ensure_fp32(model, model_dir, say)
    except RuntimeError as e:  # not cached and no torch
        if "torch" not in str(e):
            raise
        raise SynergAIError(f"model file {export.fp32_path(model, model_dir)} is missing and exporting it needs torch "
                            "(pip install 'synergai[torch]', or run 'synergai-worker --prepare' where torch is "
                            "installed and copy the files)") from None
    except OSError as e:
        raise SynergAIError(f"cannot write the {precision} model file of {model} into {model_dir}: "
                            f"{e.strerror or e}") from None
    except ImportError as e:  # quantizing needs the onnx package besides onnxruntime
        raise SynergAIError(f"the {precision} model file of {model} is not in {model_dir} and making it needs "
                            f"{e.name or 'onnx'} (pip install 'synergai[onnx]')") from None


def prepare_models(models: Iterable[str], precisions: Iterable[str], model_dir: str | Path | None = None, *,
                   engines: Sequence[str] = ("onnxruntime",), say: Callable[[str], None] | None = None) -> list[Path]:
    """Export / quantize / convert the model files for every model x precision, for each of ``engines``
    that runs that precision (a precision none of them runs is an error). Untimed; cached, so a second call
    returns at once. Returns the ONNX (onnxruntime) and IR (openvino) files, in order."""
    model_dir = Path(model_dir).expanduser() if model_dir is not None else default_model_dir()
    models, precisions = list(dict.fromkeys(models)), list(dict.fromkeys(precisions))
    for m in models:
        _check_model(m)
    engs = [_engine(e) for e in dict.fromkeys(engines)]
    for p in precisions:
        if not any(p in e.precisions for e in engs):
            raise ConfigError("precisions", f"{p!r} is run by none of {', '.join(e.name for e in engs)}")
    files: list[Path] = []
    for m in models:
        for p in precisions:
            for eng in engs:
                if p not in eng.precisions:
                    continue
                _check_precision(eng, m, p)
                if eng.name == "onnxruntime":
                    files.append(_ort_artifact(m, p, model_dir, say).path)
                elif eng.name == "openvino":
                    from synergai.characterize.engines.base import ConfigSkipped

                    try:
                        with _PREPARE_LOCK:
                            files.append(eng.ir(m, model_dir, say)[0])
                    except ConfigSkipped as e:
                        raise SynergAIError(f"{m}: {e}") from None
                # pytorch / pytorch-cuda build the model in memory: nothing to prepare
    return files


# --------------------------------------------------------------------------------------------------
# Session pool
# --------------------------------------------------------------------------------------------------


class _OrtRunner:
    """One ONNX Runtime session; inputs per batch size are built once and reused."""

    def __init__(self, model: str, precision: str, threads: int, model_dir: Path):
        from synergai.characterize import export
        from synergai.characterize.engines.ort_engine import create_session

        art = _ort_artifact(model, precision, model_dir)
        self.model_file = art.path.name
        self.specs = export.specs_from_json(art.meta["inputs"])
        self.session = create_session(art.path, threads)
        self.feeds: dict[int, dict] = {}

    def prepare(self, batch: int) -> tuple[Callable[[], object], bool]:
        """(the call for ``batch``, whether it was warmed up now): the first time this session sees a batch
        size it builds the inputs and runs ``WARMUP_CALLS`` untimed calls (the first run at a shape allocates
        buffers)."""
        feed = self.feeds.get(batch)
        sess = self.session
        warmed = feed is None
        if warmed:
            from synergai.characterize import export

            feed = export.make_inputs(self.specs, batch)
            for _ in range(WARMUP_CALLS):
                sess.run(None, feed)
            self.feeds[batch] = feed
        return (lambda: sess.run(None, feed)), warmed


class _EngineRunner:
    """Any other characterization engine through ``Engine.load`` (one loaded instance per batch size)."""

    def __init__(self, eng, model: str, precision: str, threads: int, model_dir: Path):
        from synergai.characterize.engines.base import ConfigSkipped

        self.eng, self.model, self.precision, self.threads, self.model_dir = eng, model, precision, threads, model_dir
        self.loaded: dict[int, Callable[[], object]] = {}
        self.model_file = ""
        self._skipped = ConfigSkipped

    def prepare(self, batch: int) -> tuple[Callable[[], object], bool]:
        run = self.loaded.get(batch)
        warmed = run is None
        if warmed:
            try:
                with _PREPARE_LOCK:
                    self.eng.prepare(self.model, self.precision, self.model_dir, lambda _m: None)
                loaded = self.eng.load(self.model, self.precision, batch, max(self.threads, 1), self.model_dir)
            except self._skipped as e:
                raise SynergAIError(f"{self.eng.name} {self.precision} {self.model}: {e}") from None
            run = loaded.run
            for _ in range(WARMUP_CALLS):  # the first completes the cold start
                run()
            self.loaded[batch] = run
        return run, warmed


@dataclass
class _Pool:
    idle: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_POOLS: dict[tuple, _Pool] = {}
_POOLS_LOCK = threading.Lock()
_HOST: list = []  # [HostInfo, host string], read once per process


def clear_cache() -> None:
    """Drop every pooled session (frees their memory; the next job reloads)."""
    with _POOLS_LOCK:
        _POOLS.clear()


def cached_sessions() -> dict[tuple, int]:
    """Idle pooled sessions per (model, engine, precision, threads, model_dir): for tests and the agent's logs."""
    with _POOLS_LOCK:
        return {k: len(p.idle) for k, p in _POOLS.items()}


def _host_info():
    if not _HOST:
        from synergai.characterize.host import host_info, host_string

        info = host_info()
        _HOST[:] = [info, host_string(info)]
    return _HOST[0]


def _host() -> str:
    _host_info()
    return _HOST[1]


def _int(value, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AnnotationError(key, f"must be an integer >= {minimum}, got {value!r}")
    return value


def run_inference(model: str, engine: str, precision: str, batch: int, threads: int, queries: int, *,
                  model_dir: str | Path | None = None) -> WorkerResult:
    """Run one job: ``ceil(queries / batch)`` calls of ``model`` on ``engine`` at ``precision`` with
    ``threads`` intra-op threads (0 is allowed for accelerator engines, which use one host thread).

    Raises ``AnnotationError`` (its message names the annotation key) for a setting that is unknown or cannot
    run here, ``SynergAIError`` for a model file that is missing and cannot be exported; both are one line.
    """
    _check_model(model)
    eng = _engine(engine)
    _check_precision(eng, model, precision)
    batch = _int(batch, names.ANN_BATCH, 1)
    threads = _int(threads, names.ANN_THREADS, 1 if eng.resource == "cpu" else 0)
    queries = _int(queries, names.ANN_QUERIES, 1)
    model_dir = Path(model_dir).expanduser() if model_dir is not None else default_model_dir()

    key = (model, engine, precision, threads, str(model_dir))
    with _POOLS_LOCK:
        pool = _POOLS.setdefault(key, _Pool())
    with pool.lock:
        runner = pool.idle.pop() if pool.idle else None
    t0 = time.perf_counter()
    fresh = runner is None
    if fresh:
        if engine == "onnxruntime":
            runner = _OrtRunner(model, precision, threads, model_dir)
        else:
            runner = _EngineRunner(eng, model, precision, threads, model_dir)
    try:
        call, warmed = runner.prepare(batch)
        load_ms = (time.perf_counter() - t0) * 1e3 if fresh or warmed else 0.0
        calls = -(-queries // batch)
        call_ms = [0.0] * calls
        perf = time.perf_counter
        start_wall = time.time()
        start = perf()
        for i in range(calls):
            c0 = perf()
            call()
            call_ms[i] = (perf() - c0) * 1e3
        service_ms = (perf() - start) * 1e3
        finish_wall = time.time()
    finally:
        with pool.lock:
            pool.idle.append(runner)
    return WorkerResult(
        model=model, engine=engine, precision=precision, batch=batch, threads=threads, queries=queries, calls=calls,
        service_ms=service_ms, call_ms=call_ms, load_ms=load_ms,
        engine_version=eng.version(), host=_host(), hostname=socket.gethostname(), model_file=runner.model_file,
        start_unix_ms=start_wall * 1e3, finish_unix_ms=finish_wall * 1e3,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Downward-API annotations file (Kubernetes fieldpath.FormatMap: sorted `key="value"` lines, Go %q quoting)
# --------------------------------------------------------------------------------------------------

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
                   '"': '"', "'": "'"}  # fmt: skip
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                  "\\": "\\\\", '"': '\\"'}  # fmt: skip
_HEX = re.compile(r"[0-9a-fA-F]+\Z")


def go_unquote(text: str) -> str:
    """Inverse of Go's ``strconv.Quote``: a double-quoted string with Go escapes (``\\n``, ``\\"``, ``\\\\``,
    ``\\xNN``, ``\\NNN``, ``\\uNNNN``, ``\\UNNNNNNNN``, ...). Raises ``ValueError`` saying what is wrong."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError("value is not a double-quoted string")
    body, out, i, n = text[1:-1], bytearray(), 0, len(text) - 2
    while i < n:
        c = body[i]
        if c == '"':
            raise ValueError(f"unescaped '\"' at character {i + 1}")
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("value ends with a lone backslash")
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[e].encode()
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not _HEX.match(digits):
                raise ValueError(f"bad escape \\{e}{digits} at character {i + 1}")
            v = int(digits, 16)
            if e == "x":
                out.append(v)  # a raw byte (Go writes \xNN for bytes that are not valid UTF-8)
            elif v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise ValueError(f"escape \\{e}{digits} is not a valid code point")
            else:
                out += chr(v).encode()
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError(f"bad octal escape \\{digits} at character {i + 1}")
            out.append(int(digits, 8))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e} at character {i + 1}")
    return out.decode("utf-8", "replace")


def go_quote(value: str) -> str:
    """Go's ``strconv.Quote`` for a valid UTF-8 string (what the kubelet writes for each annotation value)."""
    parts = ['"']
    for c in value:
        esc = _QUOTE_ESCAPES.get(c)
        if esc is not None:
            parts.append(esc)
        elif c.isprintable():  # = Go's unicode.IsPrint: L, M, N, P, S and the ASCII space (no C*, Z* else)
            parts.append(c)
        elif ord(c) < 0x20 or c == "\x7f":
            parts.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            parts.append(f"\\u{ord(c):04x}")
        else:
            parts.append(f"\\U{ord(c):08x}")
    parts.append('"')
    return "".join(parts)


def format_annotations(annotations: Mapping[str, str]) -> str:
    """The downward-API file for ``annotations`` as the kubelet writes it (sorted keys, no trailing newline)."""
    return "\n".join(f"{k}={go_quote(annotations[k])}" for k in sorted(annotations))


def parse_annotations(text: str, source: str = "annotations") -> dict[str, str]:
    """Parse a downward-API annotations (or labels) file. Raises ``SynergAIError`` naming ``source:line``."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.split("\n"), 1):  # only \n separates: Go escapes every other line break
        if not line.strip():
            continue
        key, sep, quoted = line.partition("=")
        if not sep or not key or quoted[:1] != '"':
            raise SynergAIError(f"{source}:{lineno}: expected key=\"value\", got {line[:60]!r}")
        try:
            out[key] = go_unquote(quoted)
        except ValueError as e:
            raise SynergAIError(f"{source}:{lineno}: annotation {key}: {e}") from None
    return out


def env_name(annotation: str) -> str:
    """Environment variable carrying an annotation: ``synergai.io/batch`` -> ``SYNERGAI_BATCH``."""
    return "SYNERGAI_" + annotation.split("/", 1)[-1].upper().replace("-", "_").replace(".", "_")


def annotations_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: environ[env_name(k)] for k in WORKER_ANNOTATIONS if env_name(k) in environ}


# --------------------------------------------------------------------------------------------------
# Job settings from annotations
# --------------------------------------------------------------------------------------------------

_UINT = re.compile(r"[0-9]+\Z")


def _ann_int(ann: Mapping[str, str], key: str, minimum: int, default: int | None = None) -> int:
    raw = ann.get(key)
    if raw is None:
        if default is not None:
            return default
        raise AnnotationError(key, "missing (the synergai scheduler writes it when it binds the pod)")
    text = raw.strip()
    if not _UINT.match(text) or int(text) < minimum:
        raise AnnotationError(key, f"expected an integer >= {minimum}, got {raw!r}")
    return int(text)


def _ann_str(ann: Mapping[str, str], key: str) -> str:
    raw = ann.get(key)
    if raw is None or not raw.strip():
        why = "missing" if raw is None else "empty"
        who = "the job's submitter sets it" if key == names.ANN_MODEL else "the synergai scheduler writes it when it binds the pod"
        raise AnnotationError(key, f"{why} ({who})")
    return raw.strip()


def job_from_annotations(ann: Mapping[str, str]) -> dict:
    """The ``run_inference`` arguments from pod annotations (``AnnotationError`` on the first bad one)."""
    return {
        "model": _ann_str(ann, names.ANN_MODEL),
        "engine": _ann_str(ann, names.ANN_ENGINE),
        "precision": _ann_str(ann, names.ANN_PRECISION),
        "batch": _ann_int(ann, names.ANN_BATCH, 1),
        "threads": _ann_int(ann, names.ANN_THREADS, 0),
        "queries": _ann_int(ann, names.ANN_QUERIES, 1, default=1),
    }


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Run one SynergAI inference job with the configuration from its pod's "
                "annotations and print the result as one JSON line.")  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--annotations", metavar="PATH", help="downward-API annotations file (default "
                     f"{DEFAULT_ANNOTATIONS} when it exists, else the environment)")  # fmt: skip
    src.add_argument("--from-env", action="store_true", help="read the settings from SYNERGAI_MODEL, "
                     "SYNERGAI_ENGINE, SYNERGAI_PRECISION, SYNERGAI_BATCH, SYNERGAI_THREADS, SYNERGAI_QUERIES")
    p.add_argument("--model-dir", help=f"model files (default ${ENV_MODEL_DIR}, else the characterization cache)")
    p.add_argument("--termination-log", default=TERMINATION_LOG,
                   help=f"also write a summary here if the file exists (default {TERMINATION_LOG})")
    p.add_argument("--prepare", action="store_true",
                   help="only export/quantize the model files for --models x --precisions (image build)")
    p.add_argument("--models", default=",".join(MODELS), help="with --prepare: comma-separated models")
    p.add_argument("--precisions", default="fp32,int8", help="with --prepare: comma-separated precisions")
    p.add_argument("--engines", default="onnxruntime", help="with --prepare: comma-separated engines")
    return p


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _termination_message(path: str, text: str) -> None:
    if path and os.path.isfile(path):
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.encode("utf-8")[:TERMINATION_LOG_LIMIT].decode("utf-8", "ignore"))
        except OSError:
            pass


def main(argv: Sequence[str] | None = None) -> int:
    term = TERMINATION_LOG
    try:
        args = build_parser().parse_args(argv)
        term = args.termination_log
        model_dir = Path(args.model_dir).expanduser() if args.model_dir else None
        if args.prepare:
            def say(msg: str) -> None:
                print(f"{PROG}: {msg}", file=sys.stderr)

            files = prepare_models(_split(args.models), _split(args.precisions), model_dir,
                                   engines=_split(args.engines), say=say)  # fmt: skip
            print(json.dumps({"prepared": [str(f) for f in files]}))
            return 0
        path = args.annotations
        if path is None and not args.from_env and os.path.isfile(DEFAULT_ANNOTATIONS):
            path = DEFAULT_ANNOTATIONS
        if path is not None:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise _UsageError(f"--annotations: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
            try:
                ann = parse_annotations(text, path)
            except SynergAIError as e:
                raise _UsageError(str(e)) from None
        else:
            ann = annotations_from_env(os.environ)
        job = job_from_annotations(ann)
    except _UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except SynergAIError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        _termination_message(term, f"error: {e}")
        return 2 if isinstance(e, ConfigError) else 1
    except Exception as e:  # never a traceback for the user; one line
        msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 1

    try:
        result = run_inference(**job, model_dir=model_dir)
    except SynergAIError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        _termination_message(term, f"error: {e}")
        return 2 if isinstance(e, ConfigError) else 1
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        msg = f"inference failed: {type(e).__name__}: {first}"[:400]
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        _termination_message(term, f"error: {msg}")
        return 1
    out = {"job_id": ann.get(names.ANN_JOB_ID, ""), **result.to_json()}
    print(json.dumps(out, separators=(",", ":")))
    summary = {k: v for k, v in out.items() if k not in ("call_ms", "host")}
    _termination_message(term, json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
