"""Thread and process blocks an analysis reads from target memory: NT_TIB, TEB, PEB, SEH records,
critical sections and the MSVC CRT's SEH scope tables.

Sources, and how sure each layout is:
* NT_TIB32/64, EXCEPTION_REGISTRATION_RECORD, RTL_CRITICAL_SECTION: winnt.h — documented.
* TEB/PEB: only their first fields are documented (winternl.h); the offsets used here are the
  ones WinDbg's ``dt ntdll!_TEB/_PEB`` prints for x86/x64 Windows 7–11 and Vergilius/Geoff
  Chappell list; they have been stable since Windows Vista for every field defined below
  (documented-by-symbols, not by headers). ``Reserved_0x…`` byte runs keep the gaps, so
  these partial layouts build back to the bytes they parsed.
* WOW64: the 32-bit TEB of a WOW64 thread lies at TEB64 + 0x2000 (observed on Windows 7–11;
  inferred — also reachable as TEB64.NtTib.ExceptionList, which WOW64 points at it). The
  thread's x86 context is reached through ``TEB64.TlsSlots[WOW64_TLS_CPURESERVED = 1]``: that
  slot points at a WOW64_CPURESERVED {USHORT Flags; USHORT Machine; ...} and the WOW64_CONTEXT
  starts 4 bytes in. Microsoft documents this (WOW64_CONTEXT remarks) for Vista–8.1 only;
  for Windows 10/11 it is inferred from observed dumps.
* CRT SEH frames (_except_handler3/_except_handler4): MSVC CRT sources (exsup.inc,
  chandler4.c) — documented by source, not by header.
"""

from __future__ import annotations

from construct import Array, Bytes, GreedyRange, Int8ul, Int16ul, Int32sl, Int32ul, Int64ul, Struct

# --- winnt.h NT_TIB (the first member of every TEB) ---------------------------------------------
NT_TIB32 = Struct(
    "ExceptionList" / Int32ul,                           # +0x00 EXCEPTION_REGISTRATION_RECORD*
    "StackBase" / Int32ul,                               # +0x04
    "StackLimit" / Int32ul,                              # +0x08
    "SubSystemTib" / Int32ul,                            # +0x0C
    "FiberData" / Int32ul,                               # +0x10 (union with Version)
    "ArbitraryUserPointer" / Int32ul,                    # +0x14
    "Self" / Int32ul,                                    # +0x18
)
NT_TIB64 = Struct(
    "ExceptionList" / Int64ul,                           # +0x00
    "StackBase" / Int64ul,                               # +0x08
    "StackLimit" / Int64ul,                              # +0x10
    "SubSystemTib" / Int64ul,                            # +0x18
    "FiberData" / Int64ul,                               # +0x20
    "ArbitraryUserPointer" / Int64ul,                    # +0x28
    "Self" / Int64ul,                                    # +0x30
)

CLIENT_ID32 = Struct("UniqueProcess" / Int32ul, "UniqueThread" / Int32ul)
CLIENT_ID64 = Struct("UniqueProcess" / Int64ul, "UniqueThread" / Int64ul)

TLS_MINIMUM_AVAILABLE = 64
WOW64_TLS_CPURESERVED = 1
WOW64_TEB32_OFFSET = 0x2000          # inferred (see module docstring)
WOW64_CONTEXT_OFFSET_IN_CPURESERVED = 4

# --- TEB: the parts the tool reads ---------------------------------------------------------------
TEB32 = Struct(
    "NtTib" / NT_TIB32,                                  # +0x000
    "EnvironmentPointer" / Int32ul,                      # +0x01C
    "ClientId" / CLIENT_ID32,                            # +0x020
    "ActiveRpcHandle" / Int32ul,                         # +0x028
    "ThreadLocalStoragePointer" / Int32ul,               # +0x02C
    "ProcessEnvironmentBlock" / Int32ul,                 # +0x030
    "LastErrorValue" / Int32ul,                          # +0x034
    "CountOfOwnedCriticalSections" / Int32ul,            # +0x038
    "Reserved_0x03C" / Bytes(0xBF4 - 0x03C),
    "LastStatusValue" / Int32ul,                         # +0xBF4
    "Reserved_0xBF8" / Bytes(0xE0C - 0xBF8),
    "DeallocationStack" / Int32ul,                       # +0xE0C
    "TlsSlots" / Array(TLS_MINIMUM_AVAILABLE, Int32ul),  # +0xE10
)
TEB64 = Struct(
    "NtTib" / NT_TIB64,                                  # +0x000
    "EnvironmentPointer" / Int64ul,                      # +0x038
    "ClientId" / CLIENT_ID64,                            # +0x040
    "ActiveRpcHandle" / Int64ul,                         # +0x050
    "ThreadLocalStoragePointer" / Int64ul,               # +0x058
    "ProcessEnvironmentBlock" / Int64ul,                 # +0x060
    "LastErrorValue" / Int32ul,                          # +0x068
    "CountOfOwnedCriticalSections" / Int32ul,            # +0x06C
    "Reserved_0x070" / Bytes(0x1250 - 0x070),
    "LastStatusValue" / Int32ul,                         # +0x1250
    "Reserved_0x1254" / Bytes(0x1478 - 0x1254),
    "DeallocationStack" / Int64ul,                       # +0x1478
    "TlsSlots" / Array(TLS_MINIMUM_AVAILABLE, Int64ul),  # +0x1480
)
# Short forms: what is always at the start of a TEB, for callers that read only that much.
TEB32_HEAD = Struct(*TEB32.subcons[:8])                  # 0x3C bytes
TEB64_HEAD = Struct(*TEB64.subcons[:8])                  # 0x70 bytes

# --- PEB: the parts the tool reads ---------------------------------------------------------------
PEB32 = Struct(
    "InheritedAddressSpace" / Int8ul,                    # +0x000
    "ReadImageFileExecOptions" / Int8ul,                 # +0x001
    "BeingDebugged" / Int8ul,                            # +0x002
    "BitField" / Int8ul,                                 # +0x003
    "Mutant" / Int32ul,                                  # +0x004
    "ImageBaseAddress" / Int32ul,                        # +0x008
    "Ldr" / Int32ul,                                     # +0x00C PEB_LDR_DATA*
    "ProcessParameters" / Int32ul,                       # +0x010 RTL_USER_PROCESS_PARAMETERS*
    "SubSystemData" / Int32ul,                           # +0x014
    "ProcessHeap" / Int32ul,                             # +0x018
    "FastPebLock" / Int32ul,                             # +0x01C RTL_CRITICAL_SECTION*
    "Reserved_0x020" / Bytes(0x068 - 0x020),
    "NtGlobalFlag" / Int32ul,                            # +0x068
    "Reserved_0x06C" / Bytes(0x088 - 0x06C),
    "NumberOfHeaps" / Int32ul,                           # +0x088
    "MaximumNumberOfHeaps" / Int32ul,                    # +0x08C
    "ProcessHeaps" / Int32ul,                            # +0x090
    "Reserved_0x094" / Bytes(0x0A0 - 0x094),
    "LoaderLock" / Int32ul,                              # +0x0A0 RTL_CRITICAL_SECTION*
    "OSMajorVersion" / Int32ul,                          # +0x0A4
    "OSMinorVersion" / Int32ul,                          # +0x0A8
    "OSBuildNumber" / Int16ul,                           # +0x0AC
    "OSCSDVersion" / Int16ul,                            # +0x0AE
    "OSPlatformId" / Int32ul,                            # +0x0B0
)
PEB64 = Struct(
    "InheritedAddressSpace" / Int8ul,                    # +0x000
    "ReadImageFileExecOptions" / Int8ul,                 # +0x001
    "BeingDebugged" / Int8ul,                            # +0x002
    "BitField" / Int8ul,                                 # +0x003
    "Padding0" / Bytes(4),                               # +0x004
    "Mutant" / Int64ul,                                  # +0x008
    "ImageBaseAddress" / Int64ul,                        # +0x010
    "Ldr" / Int64ul,                                     # +0x018
    "ProcessParameters" / Int64ul,                       # +0x020
    "SubSystemData" / Int64ul,                           # +0x028
    "ProcessHeap" / Int64ul,                             # +0x030
    "FastPebLock" / Int64ul,                             # +0x038
    "Reserved_0x040" / Bytes(0x0BC - 0x040),
    "NtGlobalFlag" / Int32ul,                            # +0x0BC
    "Reserved_0x0C0" / Bytes(0x0E8 - 0x0C0),
    "NumberOfHeaps" / Int32ul,                           # +0x0E8
    "MaximumNumberOfHeaps" / Int32ul,                    # +0x0EC
    "ProcessHeaps" / Int64ul,                            # +0x0F0
    "Reserved_0x0F8" / Bytes(0x110 - 0x0F8),
    "LoaderLock" / Int64ul,                              # +0x110 RTL_CRITICAL_SECTION*
    "OSMajorVersion" / Int32ul,                          # +0x118
    "OSMinorVersion" / Int32ul,                          # +0x11C
    "OSBuildNumber" / Int16ul,                           # +0x120
    "OSCSDVersion" / Int16ul,                            # +0x122
    "OSPlatformId" / Int32ul,                            # +0x124
)

# --- winnt.h EXCEPTION_REGISTRATION_RECORD (x86 SEH chain node, on the stack) -------------------
EXCEPTION_REGISTRATION_RECORD = Struct(
    "Next" / Int32ul,                                    # +0x00 0xFFFFFFFF ends the chain
    "Handler" / Int32ul,                                 # +0x04
)
EXCEPTION_CHAIN_END = 0xFFFFFFFF

# --- winnt.h RTL_CRITICAL_SECTION -----------------------------------------------------------------
RTL_CRITICAL_SECTION32 = Struct(
    "DebugInfo" / Int32ul,                               # +0x00
    "LockCount" / Int32sl,                               # +0x04 -1 = free (Vista+: bit 0 clear = locked)
    "RecursionCount" / Int32sl,                          # +0x08
    "OwningThread" / Int32ul,                            # +0x0C thread id (a HANDLE-typed field)
    "LockSemaphore" / Int32ul,                           # +0x10
    "SpinCount" / Int32ul,                               # +0x14
)
RTL_CRITICAL_SECTION64 = Struct(
    "DebugInfo" / Int64ul,                               # +0x00
    "LockCount" / Int32sl,                               # +0x08
    "RecursionCount" / Int32sl,                          # +0x0C
    "OwningThread" / Int64ul,                            # +0x10
    "LockSemaphore" / Int64ul,                           # +0x18
    "SpinCount" / Int64ul,                               # +0x20
)

# --- MSVC CRT frame-based SEH (x86) ---------------------------------------------------------------
# _except_handler3/_except_handler4 frames extend the registration record; it sits at
# [ebp-0x10], preceded by the saved ESP ([ebp-0x18]) and EXCEPTION_POINTERS* ([ebp-0x14]).
EH3_EXCEPTION_REGISTRATION = Struct(
    "Next" / Int32ul,                                    # +0x00 ([ebp-0x10])
    "Handler" / Int32ul,                                 # +0x04 _except_handler3/4
    "ScopeTable" / Int32ul,                              # +0x08 EH4: XOR __security_cookie
    "TryLevel" / Int32sl,                                # +0x0C -1 (EH3) / -2 (EH4) = none
    "_ebp" / Int32ul,                                    # +0x10 the frame's saved EBP
)
TRYLEVEL_NONE_EH3 = -1
TRYLEVEL_NONE_EH4 = -2

SCOPETABLE_ENTRY = Struct(
    "EnclosingLevel" / Int32sl,                          # +0x00
    "FilterFunc" / Int32ul,                              # +0x04 NULL for __finally
    "HandlerFunc" / Int32ul,                             # +0x08 handler or finally body
)
EH4_SCOPETABLE_RECORD = SCOPETABLE_ENTRY
EH4_NO_GS_COOKIE = -2
EH4_SCOPETABLE = Struct(
    "GSCookieOffset" / Int32sl,                          # +0x00 -2 = no GS cookie
    "GSCookieXOROffset" / Int32sl,                       # +0x04
    "EHCookieOffset" / Int32sl,                          # +0x08
    "EHCookieXOROffset" / Int32sl,                       # +0x0C
    "ScopeRecord" / GreedyRange(EH4_SCOPETABLE_RECORD),  # +0x10 indexed by TryLevel
)


def EH3_SCOPETABLE(count: int):
    """``count`` SCOPETABLE_ENTRY records (a try level indexes this array)."""
    return Array(count, SCOPETABLE_ENTRY)


def EH4_SCOPETABLE_N(count: int):
    """EH4_SCOPETABLE with exactly ``count`` records, for reads from target memory."""
    return Struct(*EH4_SCOPETABLE.subcons[:4], "ScopeRecord" / Array(count, EH4_SCOPETABLE_RECORD))


def teb_layout(pointer_size: int):
    return TEB64 if pointer_size == 8 else TEB32


def peb_layout(pointer_size: int):
    return PEB64 if pointer_size == 8 else PEB32


def nt_tib_layout(pointer_size: int):
    return NT_TIB64 if pointer_size == 8 else NT_TIB32


def critical_section_layout(pointer_size: int):
    return RTL_CRITICAL_SECTION64 if pointer_size == 8 else RTL_CRITICAL_SECTION32


__all__ = [
    "NT_TIB32", "NT_TIB64", "CLIENT_ID32", "CLIENT_ID64", "TEB32", "TEB64", "TEB32_HEAD",
    "TEB64_HEAD", "PEB32", "PEB64", "TLS_MINIMUM_AVAILABLE", "WOW64_TLS_CPURESERVED",
    "WOW64_TEB32_OFFSET", "WOW64_CONTEXT_OFFSET_IN_CPURESERVED", "EXCEPTION_REGISTRATION_RECORD",
    "EXCEPTION_CHAIN_END", "RTL_CRITICAL_SECTION32", "RTL_CRITICAL_SECTION64",
    "EH3_EXCEPTION_REGISTRATION", "TRYLEVEL_NONE_EH3", "TRYLEVEL_NONE_EH4", "SCOPETABLE_ENTRY",
    "EH4_SCOPETABLE_RECORD", "EH4_NO_GS_COOKIE", "EH4_SCOPETABLE", "EH3_SCOPETABLE",
    "EH4_SCOPETABLE_N", "teb_layout", "peb_layout", "nt_tib_layout", "critical_section_layout",
]
