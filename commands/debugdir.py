"""``dumpkit debugdir FILE``: debug directory, load config and SafeSEH table of a PE, of every
module image in a dump, or of a stored debug blob — laid out like ``llvm-readobj
--coff-debug-directory --coff-load-config`` (dumpbin /headers carries the same fields).

``--blob OUT`` writes the MODLOAD_DATA (DBHHEADER_DEBUGDIRS) blob: for a PE, to the file OUT;
for a dump, into the directory OUT, one ``<module>.<base hex>.dbgblob`` per module image.
"""

from __future__ import annotations

import datetime
from typing import List, Optional

import click

from commands.common import json_option
from commands.output import emit_json, write_lines
from toolkit.targets.pe.image import PeImage
from toolkit.targets.pe.records import DebugEntry, LoadConfig
from toolkit.targets.pe.report import DebugDirReport, debugdir_report, write_blobs

SEH_FLAGS = {"NO_SEH", "NX_COMPAT", "DYNAMIC_BASE", "GUARD_CF", "HIGH_ENTROPY_VA"}


@click.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@json_option
@click.option("--blob", "blob_out", type=click.Path(), default=None,
              help="Write the MODLOAD_DATA debug blob (PE: file OUT; dump: directory OUT).")
@click.pass_context
def debugdir(ctx: click.Context, file: Optional[str], as_json: bool,
             blob_out: Optional[str]) -> None:
    """Debug directory, load config and SafeSEH handlers of FILE (PE, minidump or blob).

    Inside WinDbg FILE may be left out: the debugger's current target is read."""
    if file is None:   # the debugger's target (load_target raises a usage error elsewhere)
        from commands.common import load_target
        from toolkit.targets.pe.report import report_for_target
        report = report_for_target(load_target(ctx, None), "<debugger>")
    else:
        report = debugdir_report(file)
    written = write_blobs(report, blob_out) if blob_out else []
    if as_json:
        emit_json("debugdir", {**report.to_json(), "blobs_written": written})
        return
    lines = render_text(report)
    lines += [f"Blob written: {p}" for p in written]
    write_lines(lines)


def render_text(report: DebugDirReport) -> List[str]:
    lines = [f"File: {report.path}", f"Kind: {report.kind}"]
    lines += [f"Problem: {p.code}: {p.message}" for p in report.problems]
    if report.kind == "blob":
        lines += _debug_directory(report.blob_entries, indent="")
        return lines
    for m in report.modules:
        lines.append("")
        if m.image is None:
            lines.append(f"Module: {m.name} @ {m.base:#x}: {m.missing}")
            continue
        lines += _image(m.image)
    if report.kind == "minidump":
        missing = report.missing
        lines += ["", f"Modules without image bytes: {len(missing)}"
                  + (f" ({', '.join(m.name for m in missing)})" if missing else "")]
    return lines


def _image(image: PeImage) -> List[str]:
    lines = [
        f"Module: {image.name} ({image.layout} layout)",
        f"  Machine: {image.arch.value} ({image.machine:#x})",
        f"  ImageBase: {image.image_base:#x}",
        f"  TimeDateStamp: {_stamp(image.timestamp)}",
        f"  SizeOfImage: {image.size_of_image:#x}",
        f"  CheckSum: {image.checksum:#x}",
        f"  CodeId: {image.code_id}",
        f"  DebugId: {image.debug_id or '-'}",
        f"  PDB: {image.pdb_name or '-'}",
        f"  DllCharacteristics [ ({image.dll_characteristics:#x})",
    ]
    lines += [f"    IMAGE_DLL_CHARACTERISTICS_{n}" for n in image.dll_characteristic_names]
    lines.append("  ]")
    seh = [n for n in image.dll_characteristic_names if n in SEH_FLAGS]
    lines.append(f"  SEH: {', '.join(seh) or 'none of NO_SEH/NX/DYNAMIC_BASE/GUARD_CF'}"
                 + ("; IL-only (.NET)" if image.il_only else "")
                 + ("; .pdata present" if image.has_pdata else ""))
    lines += [f"  Problem: {p.code}: {p.message}" for p in image.problems]
    lines += _debug_directory(image.debug_entries, indent="  ")
    if image.load_config is None:
        lines.append("  LoadConfig: none")
    else:
        lines += _load_config(image.load_config, image.image_base, image.pointer_size)
    return lines


def _debug_directory(entries, indent: str) -> List[str]:
    lines = [f"{indent}DebugDirectory ["]
    for e in entries:
        lines += [f"{indent}  {line}" for line in _entry(e)]
    lines.append(f"{indent}]")
    return lines


def _entry(e: DebugEntry) -> List[str]:
    lines = ["DebugEntry {",
             f"  Characteristics: {e.characteristics:#x}",
             f"  TimeDateStamp: {_stamp(e.timestamp)}",
             f"  MajorVersion: {e.major_version:#x}",
             f"  MinorVersion: {e.minor_version:#x}",
             f"  Type: {e.type} ({e.type_value:#x})",
             f"  SizeOfData: {e.size_of_data:#x}",
             f"  AddressOfRawData: {e.address_of_raw_data:#x}",
             f"  PointerToRawData: {e.pointer_to_raw_data:#x}"]
    d = e.decoded
    if e.data is None and e.size_of_data:
        lines.append("  Data: <not readable>")
    elif e.codeview is not None and e.codeview.debug_id is not None:
        dbg = e.codeview.debug_id
        guid = f"{dbg.guid:08X}" if dbg.is_nb10 else "{" + str(dbg.guid).upper() + "}"
        lines += ["  PDBInfo {", f"    PDBSignature: {e.codeview.signature}",
                  f"    PDBGUID: {guid}", f"    PDBAge: {dbg.age}",
                  f"    PDBFileName: {e.codeview.pdb_name}", f"    DebugId: {dbg}", "  }"]
    elif "flags" in d:
        lines += [f"  ExtendedCharacteristics [ ({d['value']})"]
        lines += [f"    {n}" for n in d["flags"]] + ["  ]"]
    elif "c_cpp" in d:
        lines.append(f"  Counts: Pre-VC++ 11.00={d['pre_vc11']}, C/C++={d['c_cpp']}, "
                     f"/GS={d['gs']}, /sdl={d['sdl']}, guardN={d['guard_n']}")
    elif "entries" in d:
        lines.append(f"  POGO {d['signature']} [")
        lines += [f"    {x['rva']:>10} {x['size']:>8} {x['name']}" for x in d["entries"]] + ["  ]"]
    elif "algorithm" in d:
        lines.append(f"  PDBChecksum: {d['algorithm']}:{d['checksum']}")
    elif e.type == "REPRO":
        lines.append(f"  ReproHash: {d.get('hash') or '(none)'}")
    elif e.data:
        lines += ["  RawData ("] + [f"    {line}" for line in _hexdump(e.data[:256])] + ["  )"]
    lines.append("}")
    return lines


def _load_config(lc: LoadConfig, image_base: int, pointer_size: int) -> List[str]:
    lines = ["  LoadConfig [", f"    Size: {lc.size:#x}" + ("  (truncated)" if lc.truncated else "")]
    for k, v in lc.fields.items():
        if k == "GuardFlags":
            lines.append(f"    GuardFlags [ ({v:#x})")
            lines += [f"      {n}" for n in lc.guard_flag_names]
            if lc.guard_cf_stride:
                lines.append(f"      CF_FUNCTION_TABLE_SIZE: +{lc.guard_cf_stride} bytes")
            lines.append("    ]")
        else:
            lines.append(f"    {k}: {v:#x}")
    lines.append("  ]")
    if lc.safeseh_handlers or lc.get("SEHandlerTable"):
        w = pointer_size * 2
        lines.append(f"  SEHTable [ ({len(lc.safeseh_handlers)} handlers)")
        lines += [f"    {image_base + r:0{w}x} (RVA {r:#x})" for r in lc.safeseh_handlers]
        lines.append("  ]")
    return lines


def _stamp(value: int) -> str:
    when = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    return f"{when:%Y-%m-%d %H:%M:%S} ({value:#X})".replace("0X", "0x", 1)


def _hexdump(data: bytes) -> List[str]:
    out = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        words = " ".join(chunk[i:i + 4].hex().upper() for i in range(0, len(chunk), 4))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append(f"{off:04X}: {words:<35}  |{text}|")
    return out
