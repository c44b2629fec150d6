"""One triage worker: analyses dumps one at a time and answers with an ``Outcome``.

``analyze_one`` is the unit of work: it never raises for a bad dump (a refusal is a result),
so one corrupt or hostile file costs one row, not the run. The resolver is made once per
process (``_resolver``): every dump a worker analyses shares its loaded symbols.

Run as ``python -m toolkit.triage.worker [--symbol-path P]`` it is the child process that
``toolkit.triage.slot`` drives: one JSON request per stdin line, one JSON outcome per stdout
line. A separate process per worker, not a thread, so that a dump which overruns ``--timeout``
(or crashes the interpreter) is stopped by killing its process. The child does its one-time
set-up (imports, the resolver, siggen's rules, capstone) before it reads a request, then prints
``READY``: the set-up overlaps the coordinator's own start, and no dump's deadline pays for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

_RESOLVERS: Dict[Optional[str], Any] = {}
READY: Dict[str, Any] = {"ready": True}     # the child's first line: set-up done


@dataclass
class Outcome:
    """What the store keeps of one dump (``analysis`` is analyze's full JSON, as text)."""

    sha256: str
    name: str
    size: int
    status: str                     # ok | refused
    reason: Optional[str] = None
    os: Optional[str] = None
    arch: Optional[str] = None
    exception: Optional[str] = None
    bucket: Optional[str] = None
    signature: Optional[str] = None
    module: Optional[str] = None
    module_version: Optional[str] = None
    dump_timestamp: Optional[int] = None
    seconds: float = 0.0
    analysis: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Dict[str, Any]) -> "Outcome":
        return cls(**doc)


def refused(request: Dict[str, Any], reason: str, seconds: float = 0.0) -> Outcome:
    return Outcome(request["sha256"], request["name"], request["size"], "refused",
                   reason=" ".join(reason.split()), seconds=seconds)


def _resolver(symbol_path: Optional[str]) -> Any:
    if symbol_path not in _RESOLVERS:
        from toolkit.symbols.resolver import Resolver
        _RESOLVERS[symbol_path] = Resolver.from_symbol_path(symbol_path)
    return _RESOLVERS[symbol_path]


def analyze_one(request: Dict[str, Any], symbol_path: Optional[str] = None) -> Outcome:
    """Analyse ``request["path"]``; bad input and internal errors alike become a refusal."""
    from toolkit.model.errors import DumpkitError
    from toolkit.triage.analyze import analyze_file
    start = time.perf_counter()
    try:
        a = analyze_file(request["path"], resolver=_resolver(symbol_path),
                         walk_all_threads=False)
        doc = a.to_json()
    except DumpkitError as exc:
        return refused(request, _without_path(str(exc), request), time.perf_counter() - start)
    except MemoryError:
        return refused(request, "ran out of memory", time.perf_counter() - start)
    except Exception as exc:      # noqa: BLE001 - a bug on one dump must not stop the run
        return refused(request, f"internal error: {type(exc).__name__}: {exc}",
                       time.perf_counter() - start)
    exception = None
    if a.exception_code is not None:
        exception = f"0x{a.exception_code:08x}" + (f" {a.exception_name}" if a.exception_name
                                                   else "")
    return Outcome(request["sha256"], request["name"], request["size"], "ok", os=a.os,
                   arch=a.arch, exception=exception, bucket=a.bucket,
                   signature=a.socorro_signature, module=a.crashing_module,
                   module_version=a.crashing_module_version, dump_timestamp=a.dump_timestamp,
                   seconds=time.perf_counter() - start,
                   analysis=json.dumps(doc, separators=(",", ":")))


def _without_path(message: str, request: Dict[str, Any]) -> str:
    """The reason without the (long, already shown) path: the file's base name instead."""
    base = os.path.basename(request["name"].split("!")[-1])
    for path in (request["path"], request["name"]):
        message = message.replace(f"{path}: ", "").replace(path, base)
    return message


# What analysing the corpus dumps imports lazily beyond ``toolkit.triage.analyze`` itself.
_WARM_MODULES = ("toolkit.targets.open", "toolkit.targets.minidump.target",
                 "toolkit.targets.minidump.package", "toolkit.targets.pe.image",
                 "toolkit.stackwalk.walker", "toolkit.stackwalk.amd64", "toolkit.stackwalk.x86",
                 "toolkit.seh.exchain", "toolkit.waitgraph.analysis", "pefile", "symbolic")


def warm_up(symbol_path: Optional[str]) -> None:
    """Everything a first dump would otherwise set up: the analysis modules, this symbol path's
    resolver, siggen's generator (its rule and regex set-up) and the x86/x64 capstone decoders.
    Each is made once per process and kept; a failure here is left for the first dump to
    report as its refusal."""
    import importlib
    for name in ("toolkit.triage.analyze",) + _WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:     # noqa: BLE001 - the first dump that needs it reports it
            pass
    try:
        from toolkit.model.target import Arch
        from toolkit.triage.instruction import _engine
        from toolkit.triage.signature import _generator
        _resolver(symbol_path)
        _generator()
        for arch in (Arch.X86, Arch.AMD64):
            _engine(arch)
    except Exception:     # noqa: BLE001 - the first dump's own attempt reports it
        pass


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m toolkit.triage.worker")
    parser.add_argument("--symbol-path", default=None)
    args = parser.parse_args(argv)
    # The protocol owns the real stdout; anything else printed goes to stderr.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    warm_up(args.symbol_path)
    channel.write(json.dumps(READY) + "\n")
    channel.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        outcome = analyze_one(json.loads(line), args.symbol_path)
        channel.write(json.dumps(outcome.to_json()) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
