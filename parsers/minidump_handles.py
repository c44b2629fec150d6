"""Minidump handle data (minidumpapiset.h): HandleDataStream, descriptors, object information.

The stream header says how big each descriptor is: 32 bytes (MINIDUMP_HANDLE_DESCRIPTOR) or 40
bytes (MINIDUMP_HANDLE_DESCRIPTOR_2, which adds ObjectInfoRva). ObjectInfoRva starts a chain of
MINIDUMP_HANDLE_OBJECT_INFORMATION records linked by NextInfoRva (0 ends it).

The payload after each record header is not documented by Microsoft ("can vary by operating
system and processor architecture"). The layouts below are INFERRED from the native query
structures dbghelp gathers them with (NtQueryMutant MutantBasicInformation /
MutantOwnerInformation, NtQueryEvent, NtQuerySemaphore, NtQuerySection, NtQueryInformationThread
/Process basic information); see docs/minidump-notes.md. A reader decodes a payload only when its
SizeOfInfo equals the inferred size exactly and keeps every other payload raw.
"""

from __future__ import annotations

from typing import Dict

from construct import Enum, Int32sl, Int32ul, Int64ul, Struct

MINIDUMP_HANDLE_DATA_STREAM = Struct(
    "SizeOfHeader" / Int32ul,                 # +0x00
    "SizeOfDescriptor" / Int32ul,             # +0x04 32 or 40
    "NumberOfDescriptors" / Int32ul,          # +0x08
    "Reserved" / Int32ul,                     # +0x0C
)

MINIDUMP_HANDLE_DESCRIPTOR = Struct(
    "Handle" / Int64ul,                       # +0x00
    "TypeNameRva" / Int32ul,                  # +0x08 -> MINIDUMP_STRING, 0 when unknown
    "ObjectNameRva" / Int32ul,                # +0x0C -> MINIDUMP_STRING, 0 when unnamed
    "Attributes" / Int32ul,                   # +0x10
    "GrantedAccess" / Int32ul,                # +0x14
    "HandleCount" / Int32ul,                  # +0x18
    "PointerCount" / Int32ul,                 # +0x1C
)
assert MINIDUMP_HANDLE_DESCRIPTOR.sizeof() == 32

MINIDUMP_HANDLE_DESCRIPTOR_2 = Struct(
    "Handle" / Int64ul,                       # +0x00
    "TypeNameRva" / Int32ul,                  # +0x08
    "ObjectNameRva" / Int32ul,                # +0x0C
    "Attributes" / Int32ul,                   # +0x10
    "GrantedAccess" / Int32ul,                # +0x14
    "HandleCount" / Int32ul,                  # +0x18
    "PointerCount" / Int32ul,                 # +0x1C
    "ObjectInfoRva" / Int32ul,                # +0x20 -> MINIDUMP_HANDLE_OBJECT_INFORMATION
    "Reserved0" / Int32ul,                    # +0x24
)
assert MINIDUMP_HANDLE_DESCRIPTOR_2.sizeof() == 40

MINIDUMP_HANDLE_OBJECT_INFORMATION_TYPE = Enum(
    Int32ul,
    MiniHandleObjectInformationNone=0, MiniThreadInformation1=1, MiniMutantInformation1=2,
    MiniMutantInformation2=3, MiniProcessInformation1=4, MiniProcessInformation2=5,
    MiniEventInformation1=6, MiniSectionInformation1=7, MiniSemaphoreInformation1=8,
)

MINIDUMP_HANDLE_OBJECT_INFORMATION = Struct(
    "NextInfoRva" / Int32ul,                  # +0x00 0 ends the chain
    "InfoType" / MINIDUMP_HANDLE_OBJECT_INFORMATION_TYPE,  # +0x04
    "SizeOfInfo" / Int32ul,                   # +0x08 payload bytes that follow
)
assert MINIDUMP_HANDLE_OBJECT_INFORMATION.sizeof() == 12

# --- INFERRED payload layouts (see the module docstring) -----------------------------------

# MUTANT_BASIC_INFORMATION: CurrentCount (1 = free, <= 0 = owned, recursion depth), and
# AbandonedState widened to a BOOL.
MINI_MUTANT_INFORMATION_1 = Struct(
    "Count" / Int32sl,                        # +0x00
    "Abandoned" / Int32ul,                    # +0x04 BOOL
)

# MUTANT_OWNER_INFORMATION's CLIENT_ID reduced to two 32-bit ids. INFERRED: no public writer
# or reader defines this record; pid/tid order follows CLIENT_ID (UniqueProcess first).
MINI_MUTANT_INFORMATION_2 = Struct(
    "OwnerProcessId" / Int32ul,               # +0x00
    "OwnerThreadId" / Int32ul,                # +0x04
)

# Thread: the thread's own ids and priorities plus where it started (what `!handle h f`
# prints for a thread in a dump). INFERRED.
MINI_THREAD_INFORMATION_1 = Struct(
    "ThreadId" / Int32ul,                     # +0x00
    "ProcessId" / Int32ul,                    # +0x04
    "Priority" / Int32sl,                     # +0x08
    "BasePriority" / Int32sl,                 # +0x0C
    "StartAddress" / Int64ul,                 # +0x10
)

MINI_PROCESS_INFORMATION_1 = Struct(          # INFERRED: PROCESS_BASIC_INFORMATION ids
    "ProcessId" / Int32ul,                    # +0x00
    "ParentProcessId" / Int32ul,              # +0x04
)

MINI_PROCESS_INFORMATION_2 = Struct(          # INFERRED: ids, exit status and PEB
    "ProcessId" / Int32ul,                    # +0x00
    "ParentProcessId" / Int32ul,              # +0x04
    "ExitStatus" / Int32ul,                   # +0x08
    "Reserved" / Int32ul,                     # +0x0C
    "PebBaseAddress" / Int64ul,               # +0x10
)

MINI_EVENT_INFORMATION_1 = Struct(            # INFERRED: EVENT_BASIC_INFORMATION
    "EventType" / Int32ul,                    # +0x00 0 NotificationEvent, 1 SynchronizationEvent
    "EventState" / Int32sl,                   # +0x04 1 signalled
)

MINI_SECTION_INFORMATION_1 = Struct(          # INFERRED: SECTION_BASIC_INFORMATION
    "BaseAddress" / Int64ul,                  # +0x00
    "AllocationAttributes" / Int32ul,         # +0x08 SEC_*
    "Reserved" / Int32ul,                     # +0x0C
    "MaximumSize" / Int64ul,                  # +0x10
)

MINI_SEMAPHORE_INFORMATION_1 = Struct(        # INFERRED: SEMAPHORE_BASIC_INFORMATION
    "CurrentCount" / Int32sl,                 # +0x00
    "MaximumCount" / Int32sl,                 # +0x04
)

HANDLE_OBJECT_PAYLOADS: Dict[str, Struct] = {
    "MiniThreadInformation1": MINI_THREAD_INFORMATION_1,
    "MiniMutantInformation1": MINI_MUTANT_INFORMATION_1,
    "MiniMutantInformation2": MINI_MUTANT_INFORMATION_2,
    "MiniProcessInformation1": MINI_PROCESS_INFORMATION_1,
    "MiniProcessInformation2": MINI_PROCESS_INFORMATION_2,
    "MiniEventInformation1": MINI_EVENT_INFORMATION_1,
    "MiniSectionInformation1": MINI_SECTION_INFORMATION_1,
    "MiniSemaphoreInformation1": MINI_SEMAPHORE_INFORMATION_1,
}

__all__ = [
    "MINIDUMP_HANDLE_DATA_STREAM", "MINIDUMP_HANDLE_DESCRIPTOR", "MINIDUMP_HANDLE_DESCRIPTOR_2",
    "MINIDUMP_HANDLE_OBJECT_INFORMATION_TYPE", "MINIDUMP_HANDLE_OBJECT_INFORMATION",
    "MINI_MUTANT_INFORMATION_1", "MINI_MUTANT_INFORMATION_2", "MINI_THREAD_INFORMATION_1",
    "MINI_PROCESS_INFORMATION_1", "MINI_PROCESS_INFORMATION_2", "MINI_EVENT_INFORMATION_1",
    "MINI_SECTION_INFORMATION_1", "MINI_SEMAPHORE_INFORMATION_1", "HANDLE_OBJECT_PAYLOADS",
]
