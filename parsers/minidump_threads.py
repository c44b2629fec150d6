"""Minidump thread streams (minidumpapiset.h): ThreadList, ThreadNames, ThreadInfoList, Exception.

MINIDUMP_THREAD_NAME packs a 64-bit RVA after a 32-bit id (the header is ``#pragma pack(4)``), so
entries are 12 bytes. The exception record keeps all 15 ExceptionInformation slots on disk; only
the first NumberParameters (bounded by EXCEPTION_MAXIMUM_PARAMETERS) mean anything.
"""

from __future__ import annotations

from construct import Array, FlagsEnum, Int32ul, Int64ul, Struct, this

from parsers.minidump import MINIDUMP_LOCATION_DESCRIPTOR, MINIDUMP_MEMORY_DESCRIPTOR

EXCEPTION_MAXIMUM_PARAMETERS = 15

MINIDUMP_THREAD = Struct(
    "ThreadId" / Int32ul,                     # +0x00
    "SuspendCount" / Int32ul,                 # +0x04
    "PriorityClass" / Int32ul,                # +0x08
    "Priority" / Int32ul,                     # +0x0C
    "Teb" / Int64ul,                          # +0x10
    "Stack" / MINIDUMP_MEMORY_DESCRIPTOR,     # +0x18
    "ThreadContext" / MINIDUMP_LOCATION_DESCRIPTOR,  # +0x28
)
assert MINIDUMP_THREAD.sizeof() == 0x30

MINIDUMP_THREAD_LIST = Struct(
    "NumberOfThreads" / Int32ul,              # +0x00
    "Threads" / Array(this.NumberOfThreads, MINIDUMP_THREAD),  # +0x04
)

MINIDUMP_THREAD_NAME = Struct(
    "ThreadId" / Int32ul,                     # +0x00
    "RvaOfThreadName" / Int64ul,              # +0x04 RVA64 -> MINIDUMP_STRING
)
assert MINIDUMP_THREAD_NAME.sizeof() == 12

MINIDUMP_THREAD_NAME_LIST = Struct(
    "NumberOfThreadNames" / Int32ul,          # +0x00
    "ThreadNames" / Array(this.NumberOfThreadNames, MINIDUMP_THREAD_NAME),  # +0x04
)

THREAD_DUMP_FLAGS = FlagsEnum(
    Int32ul,
    MINIDUMP_THREAD_INFO_ERROR_THREAD=0x1, MINIDUMP_THREAD_INFO_WRITING_THREAD=0x2,
    MINIDUMP_THREAD_INFO_EXITED_THREAD=0x4, MINIDUMP_THREAD_INFO_INVALID_INFO=0x8,
    MINIDUMP_THREAD_INFO_INVALID_CONTEXT=0x10, MINIDUMP_THREAD_INFO_INVALID_TEB=0x20,
)

MINIDUMP_THREAD_INFO = Struct(
    "ThreadId" / Int32ul,                     # +0x00
    "DumpFlags" / THREAD_DUMP_FLAGS,          # +0x04
    "DumpError" / Int32ul,                    # +0x08 HRESULT
    "ExitStatus" / Int32ul,                   # +0x0C
    "CreateTime" / Int64ul,                   # +0x10 FILETIME
    "ExitTime" / Int64ul,                     # +0x18
    "KernelTime" / Int64ul,                   # +0x20
    "UserTime" / Int64ul,                     # +0x28
    "StartAddress" / Int64ul,                 # +0x30
    "Affinity" / Int64ul,                     # +0x38
)
assert MINIDUMP_THREAD_INFO.sizeof() == 0x40

# Header only: entries are SizeOfEntry apart (a newer writer may append fields), so the caller
# steps through them by that stride rather than by sizeof(MINIDUMP_THREAD_INFO).
MINIDUMP_THREAD_INFO_LIST = Struct(
    "SizeOfHeader" / Int32ul,                 # +0x00
    "SizeOfEntry" / Int32ul,                  # +0x04
    "NumberOfEntries" / Int32ul,              # +0x08
)

EXCEPTION_FLAGS = FlagsEnum(Int32ul, EXCEPTION_NONCONTINUABLE=0x1, EXCEPTION_UNWINDING=0x2,
                            EXCEPTION_EXIT_UNWIND=0x4, EXCEPTION_STACK_INVALID=0x8,
                            EXCEPTION_NESTED_CALL=0x10, EXCEPTION_TARGET_UNWIND=0x20,
                            EXCEPTION_COLLIDED_UNWIND=0x40, EXCEPTION_SOFTWARE_ORIGINATE=0x80)

MINIDUMP_EXCEPTION = Struct(
    "ExceptionCode" / Int32ul,                # +0x00 NTSTATUS (or a signal on other systems)
    "ExceptionFlags" / Int32ul,               # +0x04 EXCEPTION_FLAGS bits
    "ExceptionRecord" / Int64ul,              # +0x08 address of a chained record
    "ExceptionAddress" / Int64ul,             # +0x10
    "NumberParameters" / Int32ul,             # +0x18 meaningful slots (<= 15)
    "__unusedAlignment" / Int32ul,            # +0x1C
    "ExceptionInformation" / Array(EXCEPTION_MAXIMUM_PARAMETERS, Int64ul),  # +0x20
)
assert MINIDUMP_EXCEPTION.sizeof() == 0x98

MINIDUMP_EXCEPTION_STREAM = Struct(
    "ThreadId" / Int32ul,                     # +0x00
    "__alignment" / Int32ul,                  # +0x04
    "ExceptionRecord" / MINIDUMP_EXCEPTION,   # +0x08
    "ThreadContext" / MINIDUMP_LOCATION_DESCRIPTOR,  # +0xA0
)
assert MINIDUMP_EXCEPTION_STREAM.sizeof() == 0xA8

# Breakpad's MDRawBreakpadInfo (stream 0x47670001, minidump_format.h): which thread wrote the
# dump and which asked for it; each id counts only when its validity bit is set.
MD_BREAKPAD_INFO_VALID_DUMP_THREAD_ID = 0x1
MD_BREAKPAD_INFO_VALID_REQUESTING_THREAD_ID = 0x2
MD_RAW_BREAKPAD_INFO = Struct(
    "Validity" / Int32ul,                     # +0x00
    "DumpThreadId" / Int32ul,                 # +0x04
    "RequestingThreadId" / Int32ul,           # +0x08
)
assert MD_RAW_BREAKPAD_INFO.sizeof() == 12

__all__ = [
    "MD_RAW_BREAKPAD_INFO", "MD_BREAKPAD_INFO_VALID_DUMP_THREAD_ID",
    "MD_BREAKPAD_INFO_VALID_REQUESTING_THREAD_ID",
    "EXCEPTION_MAXIMUM_PARAMETERS", "MINIDUMP_THREAD", "MINIDUMP_THREAD_LIST",
    "MINIDUMP_THREAD_NAME", "MINIDUMP_THREAD_NAME_LIST", "THREAD_DUMP_FLAGS",
    "MINIDUMP_THREAD_INFO", "MINIDUMP_THREAD_INFO_LIST", "EXCEPTION_FLAGS", "MINIDUMP_EXCEPTION",
    "MINIDUMP_EXCEPTION_STREAM",
]
