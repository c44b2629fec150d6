"""The crash's Socorro signature: Mozilla's ``siggen`` (Socorro's own generator) on our frames.

We hand siggen exactly what Socorro's processor hands it for a rust-minidump report: our
``minidump-stackwalk``-schema document wrapped as a processed crash (``{"json_dump": doc}``),
converted by ``siggen.utils.convert_to_crash_data``. So ``signify`` reading that same document
prints this same signature by construction, and a difference against rust-minidump can only come
from the walks (frames, names), never from how the signature is computed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Dict, List


@dataclass(frozen=True)
class Signature:
    signature: str
    proto_signature: str
    notes: List[str]

    def to_json(self) -> Dict[str, Any]:
        return {"signature": self.signature, "proto_signature": self.proto_signature,
                "notes": list(self.notes)}


@functools.lru_cache(maxsize=1)
def _generator() -> Any:
    from siggen.generator import SignatureGenerator
    return SignatureGenerator()


def socorro_signature(stackwalk_doc: Dict[str, Any]) -> Signature:
    """siggen's signature of a ``minidump-stackwalk --json`` document."""
    from siggen.utils import convert_to_crash_data
    crash_data = convert_to_crash_data({"json_dump": stackwalk_doc})
    result = _generator().generate(crash_data)
    return Signature(result.signature, result.extra.get("proto_signature", ""),
                     list(result.notes))


__all__ = ["Signature", "socorro_signature"]
