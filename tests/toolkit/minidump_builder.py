"""Build small minidumps from our construct layouts, for features no corpus file has
(MINIDUMP_HANDLE_DESCRIPTOR_2 object-information chains, ARM64 contexts, forged counts).

Each stream is given as (stream type, function of its own file offset -> bytes), so a stream
can point inside itself with absolute RVAs.
"""

from __future__ import annotations

from typing import Callable, List, Tuple

import struct

from parsers.minidump import MINIDUMP_DIRECTORY, MINIDUMP_HEADER, MINIDUMP_SYSTEM_INFO
from parsers.minidump_handles import (MINIDUMP_HANDLE_DATA_STREAM, MINIDUMP_HANDLE_DESCRIPTOR_2,
                                      MINIDUMP_HANDLE_OBJECT_INFORMATION)

StreamMaker = Callable[[int], bytes]


def minidump_string(text: str) -> bytes:
    body = text.encode("utf-16-le")
    return len(body).to_bytes(4, "little") + body + b"\0\0"


def system_info(arch: str = "PROCESSOR_ARCHITECTURE_AMD64") -> StreamMaker:
    def make(rva: int) -> bytes:
        return MINIDUMP_SYSTEM_INFO.build(dict(
            ProcessorArchitecture=arch, ProcessorLevel=6, ProcessorRevision=0, NumberOfProcessors=4,
            ProductType="VER_NT_WORKSTATION", MajorVersion=10, MinorVersion=0, BuildNumber=19045,
            PlatformId="VER_PLATFORM_WIN32_NT", CSDVersionRva=0, SuiteMask=0, Reserved2=0,
            Cpu=dict(VendorId=[0, 0, 0], VersionInformation=0, FeatureInformation=0,
                     AMDExtendedCpuFeatures=0)))
    return make


def build_minidump(streams: List[Tuple[int, StreamMaker]], flags: int = 0,
                   timestamp: int = 0x5F000000) -> bytes:
    n = len(streams)
    offset = MINIDUMP_HEADER.sizeof() + n * MINIDUMP_DIRECTORY.sizeof()
    blobs, directory = [], []
    for stream_type, make in streams:
        offset = (offset + 7) & ~7
        blob = make(offset)
        directory.append(MINIDUMP_DIRECTORY.build(dict(
            StreamType=stream_type, Location=dict(DataSize=len(blob), Rva=offset))))
        blobs.append((offset, blob))
        offset += len(blob)
    header = MINIDUMP_HEADER.build(dict(
        Version=0xA793, ImplementationVersion=0, NumberOfStreams=n,
        StreamDirectoryRva=MINIDUMP_HEADER.sizeof(), CheckSum=0, TimeDateStamp=timestamp,
        Flags={name: True for name, bit in _flag_bits().items() if flags & bit}))
    out = bytearray(header + b"".join(directory))
    for at, blob in blobs:
        out += bytes(at - len(out)) + blob
    return bytes(out)


def _flag_bits():
    from parsers.minidump import MINIDUMP_TYPE
    return dict(MINIDUMP_TYPE.flags)


def info_record(next_rva: int, info_type: int, payload: bytes) -> bytes:
    return MINIDUMP_HANDLE_OBJECT_INFORMATION.build(dict(
        NextInfoRva=next_rva, InfoType=info_type, SizeOfInfo=len(payload))) + payload


def handle_stream(rva: int, loop: bool = False) -> bytes:
    """Two handles: a named mutant with Mutant1 -> Mutant2 -> unknown(0x63), and a thread."""
    strings_at = rva + 16 + 2 * 40
    mutant, name, thread = (minidump_string("Mutant"), minidump_string("\\BaseNamedObjects\\M1"),
                            minidump_string("Thread"))
    s_mutant, s_name = strings_at, strings_at + len(mutant)
    s_thread = s_name + len(name)
    r1 = s_thread + len(thread)
    r2 = r1 + 12 + 8
    r3 = r2 + 12 + 8
    r4 = r3 + 12 + 5
    records = (info_record(r2, 2, struct.pack("<iI", -1, 0))
               + info_record(r3, 3, struct.pack("<II", 0x1234, 0x5678))
               + info_record(0, 0x63, b"\x01\x02\x03\x04\x05")
               + info_record(r4 if loop else 0, 1, struct.pack("<IIiiQ", 0x99, 0x1234, 8, 0, 0x401000)))
    descriptors = [
        dict(Handle=0x40, TypeNameRva=s_mutant, ObjectNameRva=s_name, Attributes=0,
             GrantedAccess=0x1F0001, HandleCount=2, PointerCount=3, ObjectInfoRva=r1, Reserved0=0),
        dict(Handle=0x44, TypeNameRva=s_thread, ObjectNameRva=0, Attributes=0,
             GrantedAccess=0x1FFFFF, HandleCount=1, PointerCount=2, ObjectInfoRva=r4, Reserved0=0),
    ]
    head = MINIDUMP_HANDLE_DATA_STREAM.build(dict(SizeOfHeader=16, SizeOfDescriptor=40,
                                                  NumberOfDescriptors=2, Reserved=0))
    return head + b"".join(MINIDUMP_HANDLE_DESCRIPTOR_2.build(d) for d in descriptors) + \
        mutant + name + thread + records
