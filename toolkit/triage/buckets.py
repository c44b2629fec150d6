"""The triage report: dumps grouped by ``bucket``, largest first, with what a triager needs to
pick one up (share, first and last dump time, an example dump and its stack, top module,
Socorro signature); plus the refused dumps and skipped files, each with its reason."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional

from toolkit.triage.inputs import Skipped
from toolkit.triage.worker import Outcome

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Bucket:
    bucket: str
    count: int
    share: float
    first_time: Optional[int]
    last_time: Optional[int]
    example: str
    top_module: Optional[str]
    top_module_version: Optional[str]
    signature: str
    dumps: List[str]
    stack: List[str]                # the example dump's crashing stack, one frame a line

    def to_json(self) -> Dict[str, Any]:
        return {"bucket": self.bucket, "count": self.count, "share": round(self.share, 4),
                "first_time": iso_time(self.first_time), "last_time": iso_time(self.last_time),
                "example": self.example, "top_module": self.top_module,
                "top_module_version": self.top_module_version, "signature": self.signature,
                "dumps": self.dumps, "stack": self.stack}


@dataclass
class Report:
    buckets: List[Bucket]
    ok: int
    refused: List[Outcome]
    skipped: List[Skipped]
    processed: int
    known: int
    db: str
    totals: Dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "command": "triage", "db": self.db,
                "dumps": self.ok + len(self.refused), "ok": self.ok,
                "refused": len(self.refused), "skipped": len(self.skipped),
                "processed": self.processed, "known": self.known,
                "buckets": [b.to_json() for b in self.buckets],
                "refused_dumps": [{"path": o.name, "sha256": o.sha256, "reason": o.reason}
                                  for o in self.refused],
                "skipped_files": [{"path": s.name, "reason": s.reason} for s in self.skipped]}


def iso_time(stamp: Optional[int]) -> Optional[str]:
    if not stamp:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(rows: Iterable[Outcome], skipped: List[Skipped], *, processed: int = 0,
                 known: int = 0, db: str = "") -> Report:
    ok: List[Outcome] = []
    refused: List[Outcome] = []
    for row in rows:
        (ok if row.status == "ok" else refused).append(row)
    groups: Dict[str, List[Outcome]] = {}
    for row in sorted(ok, key=lambda r: r.name):
        groups.setdefault(row.bucket or "", []).append(row)
    buckets = [_bucket(name, members, len(ok)) for name, members in groups.items()]
    buckets.sort(key=lambda b: (-b.count, b.bucket))
    refused.sort(key=lambda r: r.name)
    return Report(buckets, len(ok), refused, list(skipped), processed, known, db)


def _bucket(name: str, members: List[Outcome], total: int) -> Bucket:
    times = [m.dump_timestamp for m in members if m.dump_timestamp]
    modules = Counter((m.module, m.module_version) for m in members if m.module)
    (module, version), _ = modules.most_common(1)[0] if modules else ((None, None), 0)
    signatures = Counter(m.signature or "" for m in members)
    example = members[0]
    return Bucket(bucket=name, count=len(members), share=len(members) / total if total else 0.0,
                  first_time=min(times) if times else None,
                  last_time=max(times) if times else None, example=example.name,
                  top_module=module, top_module_version=version,
                  signature=signatures.most_common(1)[0][0],
                  dumps=[m.name for m in members], stack=stack_lines(example.analysis))


def stack_lines(analysis: Optional[str], limit: int = 32) -> List[str]:
    """``module!symbol+offset`` (or ``module+offset``) per frame of the crashing thread."""
    if not analysis:
        return []
    thread = (json.loads(analysis).get("crashing_thread") or {})
    out: List[str] = []
    for frame in (thread.get("frames") or [])[:limit]:
        module, symbol, offset = frame.get("module"), frame.get("symbol"), frame.get("offset")
        if module and symbol:
            site = f"{module}!{symbol}" + (f"+{offset}" if offset and offset != "0x0" else "")
        elif module:
            site = f"{module}+{offset}" if offset else module
        else:
            site = frame.get("ip") or "?"
        out.append(f"{frame.get('index', len(out)):02d} {site}")
    return out


__all__ = ["Bucket", "Report", "build_report", "iso_time", "stack_lines"]
