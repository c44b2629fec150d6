"""Decoded PE directories as frozen values: debug-directory entries and the load config.

``toolkit.targets.pe.image`` reads the bytes (from a file or from a target's memory, by RVA) and hands them
here; these functions turn construct containers into plain values with ``to_json``, so the
renderers and the JSON schema never see construct types.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from construct import ConstructError

from parsers.codeview import CodeViewInfo, parse_codeview
from parsers.flags import set_flag_names
from parsers.load_config import guard_cf_stride
from parsers.pe_debug import debug_record, debug_type_name
from toolkit.model.hexfmt import hex_addr, hex_int


@dataclass(frozen=True)
class DebugEntry:
    """One IMAGE_DEBUG_DIRECTORY entry, its payload (None when not readable) and its decoding."""

    index: int
    type: str                      # "CODEVIEW", "POGO", ..., "TYPE_0x1f" for unknown numbers
    type_value: int
    characteristics: int
    timestamp: int
    major_version: int
    minor_version: int
    size_of_data: int
    address_of_raw_data: int
    pointer_to_raw_data: int
    data: Optional[bytes] = field(default=None, repr=False)
    decoded: Dict[str, Any] = field(default_factory=dict)
    codeview: Optional[CodeViewInfo] = None

    def to_json(self) -> Dict[str, Any]:
        return {
            "index": self.index, "type": self.type, "type_value": self.type_value,
            "characteristics": hex_int(self.characteristics),
            "timestamp": f"0x{self.timestamp:08x}",
            "major_version": self.major_version, "minor_version": self.minor_version,
            "size_of_data": hex_int(self.size_of_data),
            "address_of_raw_data": hex_int(self.address_of_raw_data),
            "pointer_to_raw_data": hex_int(self.pointer_to_raw_data),
            "data_readable": self.data is not None,
            "decoded": self.decoded,
        }


def decode_debug_entry(index: int, entry: Any, data: Optional[bytes]) -> DebugEntry:
    """From an IMAGE_DEBUG_DIRECTORY container and its payload bytes (None = unreadable)."""
    type_value = int(getattr(entry.Type, "intvalue", entry.Type))
    name = debug_type_name(entry.Type)
    decoded: Dict[str, Any] = {}
    codeview = None
    if data is not None:
        try:
            record = debug_record(entry.Type).parse(data)
            decoded = _json_record(name, record, data)
        except ConstructError:          # e.g. a CODEVIEW payload shorter than its signature
            decoded = {"raw": bytes(data[:256]).hex()}
        if name == "CODEVIEW":
            codeview = parse_codeview(data)
            if codeview.debug_id is not None:
                decoded.update(debug_id=str(codeview.debug_id), pdb_name=codeview.pdb_name)
    return DebugEntry(index, name, type_value, entry.Characteristics, entry.TimeDateStamp,
                      entry.MajorVersion, entry.MinorVersion, entry.SizeOfData,
                      entry.AddressOfRawData, entry.PointerToRawData, data, decoded, codeview)


def _json_record(name: str, record: Any, data: bytes) -> Dict[str, Any]:
    if name == "CODEVIEW":
        out: Dict[str, Any] = {"signature": bytes(record.CvSignature).decode("latin1")}
        if "Age" in record:
            out["age"] = record.Age
        return out
    if name == "POGO" and "Entries" in record:
        return {"signature": str(record.Signature),
                "entries": [{"rva": hex_int(e.Rva), "size": hex_int(e.Size),
                             "name": bytes(e.Name).decode("latin1")} for e in record.Entries]}
    if name == "VC_FEATURE" and "CCpp" in record:
        return {"pre_vc11": record.PreVC11, "c_cpp": record.CCpp, "gs": record.Gs,
                "sdl": record.Sdl, "guard_n": record.GuardN}
    if name == "EX_DLLCHARACTERISTICS" and "ExDllCharacteristics" in record:
        flags = record.ExDllCharacteristics
        return {"value": hex_int(int.from_bytes(data[:4], "little")),
                "flags": set_flag_names(flags)}
    if name == "REPRO":
        return {"hash": bytes(record.Hash).hex() if record.get("Hash") else None}
    if name == "PDBCHECKSUM" and "AlgorithmName" in record:
        return {"algorithm": record.AlgorithmName, "checksum": bytes(record.Checksum).hex()}
    return {"raw": bytes(data[:256]).hex()}


# Pointer-typed load config fields printed as addresses; the rest print as numbers/hex.
_ADDRESS_FIELDS = {
    "LockPrefixTable", "EditList", "SecurityCookie", "SEHandlerTable",
    "GuardCFCheckFunctionPointer", "GuardCFDispatchFunctionPointer", "GuardCFFunctionTable",
    "GuardAddressTakenIatEntryTable", "GuardLongJumpTargetTable", "DynamicValueRelocTable",
    "CHPEMetadataPointer", "GuardRFFailureRoutine", "GuardRFFailureRoutineFunctionPointer",
    "GuardRFVerifyStackPointerFunctionPointer", "EnclaveConfigurationPointer",
    "VolatileMetadataPointer", "GuardEHContinuationTable", "GuardXFGCheckFunctionPointer",
    "GuardXFGDispatchFunctionPointer", "GuardXFGTableDispatchFunctionPointer",
    "CastGuardOsDeterminedFailureMode", "GuardMemcpyFunctionPointer", "UmaFunctionPointers",
}


@dataclass(frozen=True)
class LoadConfig:
    """The load config fields the image's Size covers, plus the SafeSEH handler RVAs."""

    size: int                                   # the directory's own Size field
    fields: Dict[str, int]                      # covered scalar fields, in layout order
    guard_flags: Optional[int]
    guard_flag_names: Tuple[str, ...]
    safeseh_handlers: Tuple[int, ...]           # RVAs, sorted
    truncated: bool = False                     # fewer bytes readable than Size says
    pointer_size: int = 4

    def get(self, name: str) -> Optional[int]:
        return self.fields.get(name)

    @property
    def guard_cf_stride(self) -> int:
        return 0 if self.guard_flags is None else guard_cf_stride(self.guard_flags)

    def safeseh_contains(self, rva: int) -> bool:
        i = bisect.bisect_left(self.safeseh_handlers, rva)
        return i < len(self.safeseh_handlers) and self.safeseh_handlers[i] == rva

    def to_json(self, image_base: int = 0) -> Dict[str, Any]:
        fields: Dict[str, Any] = {}
        for k, v in self.fields.items():
            fields[k] = hex_addr(v, self.pointer_size) if k in _ADDRESS_FIELDS else hex_int(v)
        return {
            "size": hex_int(self.size), "truncated": self.truncated, "fields": fields,
            "guard_flags": hex_int(self.guard_flags), "guard_flag_names": list(self.guard_flag_names),
            "safeseh_handlers": [{"rva": hex_int(r), "va": hex_addr(image_base + r, self.pointer_size)}
                                 for r in self.safeseh_handlers],
        }


def decode_load_config(container: Any, handlers: List[int], truncated: bool,
                       pointer_size: int, size: int) -> LoadConfig:
    fields: Dict[str, int] = {}
    guard = None
    names: Tuple[str, ...] = ()
    for key, value in container.items():
        if str(key).startswith("_") or value is None or key in ("Trailing", "Size"):
            continue
        if key == "GuardFlags":
            guard = sum(v for n, v in _guard_bits(value)) | int(value.get("_unknown", 0))
            names = tuple(set_flag_names(value))
            fields[key] = guard
        elif key == "CodeIntegrity":
            fields["CodeIntegrity.Flags"] = value.Flags
            fields["CodeIntegrity.Catalog"] = value.Catalog
            fields["CodeIntegrity.CatalogOffset"] = value.CatalogOffset
        elif isinstance(value, int):
            fields[str(key)] = value
    return LoadConfig(size, fields, guard, names, tuple(sorted(handlers)), truncated, pointer_size)


def _guard_bits(flags: Any):
    from parsers.load_config import IMAGE_GUARD
    return [(n, v) for n, v in IMAGE_GUARD.items() if flags.get(n)]


__all__ = ["DebugEntry", "decode_debug_entry", "LoadConfig", "decode_load_config"]
