"""The dumpkit trace file (``.trace``): a module table and address events, as a tracer stores them.

Documented in docs/trace-format.md. A file is a 32-byte header followed by records; each record
is a type, flags and a byte size, so a reader skips record types it does not know (a newer minor
writer) and refuses files whose major ``Version`` is newer than its own. All integers are
little-endian.

* ``TRACE_RECORD_MODULE``: one loaded module: base, size, the PE header's TimeDateStamp,
  SizeOfImage and CheckSum, its UTF-16LE name, and the MODLOAD_DATA debug blob
  (parsers/modload_data.py) — the image's debug directory entries with their payloads, which is
  all a resolver needs to find the PDB after the binary itself is gone.
* ``TRACE_RECORD_EVENTS``: a block of events stored column-wise (timestamps, thread ids,
  address counts, then all addresses), so a reader can map a million addresses with
  ``numpy.frombuffer`` instead of a Python loop (toolkit/targets/trace.py does; construct defines the
  same bytes for building, checking and small files).
"""

from __future__ import annotations

from construct import (
    Array, Bytes, Const, Enum, GreedyBytes, GreedyRange, Int8ul, Int16ul, Int32ul, Int64ul,
    PaddedString, Prefixed, Struct, Switch, this,
)

TRACE_MAGIC = b"DKTRACE\x00"
TRACE_VERSION = 1                       # major version this code reads and writes
TRACE_FILE_HEADER_SIZE = 0x20
TRACE_RECORD_HEADER_SIZE = 8

IMAGE_FILE_MACHINE = dict(
    IMAGE_FILE_MACHINE_UNKNOWN=0x0000,
    IMAGE_FILE_MACHINE_I386=0x014C,
    IMAGE_FILE_MACHINE_ARM=0x01C0,
    IMAGE_FILE_MACHINE_ARMNT=0x01C4,
    IMAGE_FILE_MACHINE_AMD64=0x8664,
    IMAGE_FILE_MACHINE_ARM64=0xAA64,
)

TRACE_FILE_HEADER = Struct(
    "Magic" / Const(TRACE_MAGIC),                            # +0x00 "DKTRACE\0"
    "Version" / Int16ul,                                     # +0x08 major format version
    "HeaderSize" / Int16ul,                                  # +0x0A offset of the first record
    "Machine" / Enum(Int16ul, **IMAGE_FILE_MACHINE),         # +0x0C of the traced process
    "PointerSize" / Int8ul,                                  # +0x0E 4 or 8
    "Reserved0" / Int8ul,                                    # +0x0F 0
    "StartTime" / Int64ul,                                   # +0x10 FILETIME of capture start, 0 unknown
    "Reserved1" / Bytes(8),                                  # +0x18 zero
)

TRACE_MODULE = Struct(
    "BaseOfImage" / Int64ul,                                 # +0x00 load address
    "SizeOfMapping" / Int32ul,                               # +0x08 bytes mapped at the base
    "TimeDateStamp" / Int32ul,                               # +0x0C IMAGE_FILE_HEADER
    "SizeOfImage" / Int32ul,                                 # +0x10 IMAGE_OPTIONAL_HEADER
    "CheckSum" / Int32ul,                                    # +0x14 IMAGE_OPTIONAL_HEADER
    "NameLength" / Int16ul,                                  # +0x18 bytes of Name
    "Reserved" / Int16ul,                                    # +0x1A 0
    "DebugBlobSize" / Int32ul,                               # +0x1C bytes of DebugBlob
    "Name" / PaddedString(this.NameLength, "utf_16_le"),     # +0x20 module path, no NUL
    "DebugBlob" / Bytes(this.DebugBlobSize),                 # MODLOAD_DATA DBHHEADER_DEBUGDIRS blob
)

TRACE_EVENTS = Struct(
    "EventCount" / Int32ul,                                  # +0x00 events in this block
    "AddressCount" / Int32ul,                                # +0x04 addresses, all events
    "Timestamp" / Array(this.EventCount, Int64ul),           # +0x08 per event (ticks, writer's unit)
    "ThreadId" / Array(this.EventCount, Int32ul),            # per event
    "AddressesPerEvent" / Array(this.EventCount, Int32ul),   # per event; they sum to AddressCount
    "Address" / Array(this.AddressCount, Int64ul),           # event 0's addresses, then event 1's...
)

TRACE_RECORD_TYPE = dict(
    TRACE_RECORD_MODULE=1,
    TRACE_RECORD_EVENTS=2,
)

# What a reader needs to skip a record: the fixed part of TRACE_RECORD.
TRACE_RECORD_HEADER = Struct(
    "Type" / Enum(Int16ul, **TRACE_RECORD_TYPE),             # +0x00
    "Flags" / Int16ul,                                       # +0x02
    "Size" / Int32ul,                                        # +0x04 bytes of body that follow
)

TRACE_RECORD = Struct(
    "Type" / Enum(Int16ul, **TRACE_RECORD_TYPE),             # +0x00
    "Flags" / Int16ul,                                       # +0x02 0; reserved
    "Body" / Prefixed(Int32ul, Switch(this.Type, {           # +0x04 Size, then Size bytes
        "TRACE_RECORD_MODULE": TRACE_MODULE,
        "TRACE_RECORD_EVENTS": TRACE_EVENTS,
    }, default=GreedyBytes)),                                # unknown types: kept as bytes
)

TRACE_FILE = Struct(
    "Header" / TRACE_FILE_HEADER,
    "HeaderExtra" / Bytes(this.Header.HeaderSize - TRACE_FILE_HEADER_SIZE),  # later versions
    "Records" / GreedyRange(TRACE_RECORD),
)

__all__ = [
    "TRACE_MAGIC", "TRACE_VERSION", "TRACE_FILE_HEADER_SIZE", "TRACE_RECORD_HEADER_SIZE",
    "IMAGE_FILE_MACHINE", "TRACE_FILE_HEADER", "TRACE_MODULE", "TRACE_EVENTS",
    "TRACE_RECORD_TYPE", "TRACE_RECORD_HEADER", "TRACE_RECORD", "TRACE_FILE",
]
