"""The crash's Socorro signature: Mozilla's ``siggen`` (Socorro's own generator) on our frames.

We hand siggen exactly what Socorro's processor hands it for a rust-minidump report: our
``minidump-stackwalk``-schema document wrapped as a processed crash (``{"json_dump": doc}``),
converted as ``siggen.utils.convert_to_crash_data`` converts it (``crash_data``). So ``signify`` reading that same document
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


def _at(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def crash_data(stackwalk_doc: Dict[str, Any]) -> Dict[str, Any]:
    """What ``siggen.utils.convert_to_crash_data({"json_dump": doc})`` returns, built with plain
    lookups: siggen's takes ~2 ms a dump in glom path lookups for fourteen keys, most of them
    absent from a processed crash that holds only ``json_dump``. Held to siggen's own on every
    corpus dump by tests/toolkit/triage/test_signature_crash_data.py."""
    return {
        "hang": None, "oom_allocation_size": None, "js_large_allocation_failure": None,
        "abort_message": None, "mdsw_status_string": None, "async_shutdown_timeout": None,
        "ipc_channel_error": None, "ipc_message_name": None, "additional_minidumps": [],
        "original_signature": "",
        "crashing_thread": _at(stackwalk_doc, "crash_info", "crashing_thread"),
        "reason": _at(stackwalk_doc, "crash_info", "type"),
        "threads": _at(stackwalk_doc, "threads"),
        "os": _at(stackwalk_doc, "system_info", "os"),
    }


def socorro_signature(stackwalk_doc: Dict[str, Any]) -> Signature:
    """siggen's signature of a ``minidump-stackwalk --json`` document."""
    result = _generator().generate(crash_data(stackwalk_doc))
    return Signature(result.signature, result.extra.get("proto_signature", ""),
                     list(result.notes))


__all__ = ["Signature", "socorro_signature", "crash_data"]
