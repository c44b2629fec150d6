"""Minidump container layouts (minidumpapiset.h): header, stream directory, strings, system info.

The per-stream layouts live beside this module (``minidump_threads``, ``minidump_modules``,
``minidump_handles``, ``minidump_misc``); the memory lists are ``minidump_memory``. Everything here
is a construct definition that parses and builds; policy (bounds checks, which decoder to trust)
belongs to ``toolkit.targets.minidump.file``.

Non-Windows writers reuse the container: Breakpad and Crashpad put their own platform ids
(0x8000 and up) in ``MINIDUMP_SYSTEM_INFO.PlatformId`` and their own stream types (0x4767xxxx,
0x4d7a0000+) in the directory; Wine adds a private stream 0xFFF0. Enums here therefore never
reject an unknown value: construct's ``Enum`` passes unknown integers through unchanged.
"""

from __future__ import annotations

from construct import (Array, Const, Enum, FlagsEnum, Int8ul, Int16ul, Int32ul, Int64ul,
                       PaddedString, Struct, this)

MINIDUMP_SIGNATURE = b"MDMP"
MINIDUMP_VERSION = 0xA793          # low word of MINIDUMP_HEADER.Version

MINIDUMP_STREAM_TYPE = Enum(
    Int32ul,
    UnusedStream=0, ReservedStream0=1, ReservedStream1=2, ThreadListStream=3,
    ModuleListStream=4, MemoryListStream=5, ExceptionStream=6, SystemInfoStream=7,
    ThreadExListStream=8, Memory64ListStream=9, CommentStreamA=10, CommentStreamW=11,
    HandleDataStream=12, FunctionTableStream=13, UnloadedModuleListStream=14,
    MiscInfoStream=15, MemoryInfoListStream=16, ThreadInfoListStream=17,
    HandleOperationListStream=18, TokenStream=19, JavaScriptDataStream=20,
    SystemMemoryInfoStream=21, ProcessVmCountersStream=22, IptTraceStream=23,
    ThreadNamesStream=24,
    ceStreamNull=0x8000, ceStreamSystemInfo=0x8001, ceStreamException=0x8002,
    ceStreamModuleList=0x8003, ceStreamProcessList=0x8004, ceStreamThreadList=0x8005,
    ceStreamThreadContextList=0x8006, ceStreamThreadCallStackList=0x8007,
    ceStreamMemoryVirtualList=0x8008, ceStreamMemoryPhysicalList=0x8009,
    ceStreamBucketParameters=0x800A, ceStreamProcessModuleMap=0x800B,
    ceStreamDiagnosisList=0x800C, LastReservedStream=0xFFFF,
    WineElfModulesStream=0xFFF0,       # Wine's dbghelp: ELF modules of the Unix side
    BreakpadInfoStream=0x47670001, BreakpadAssertionInfoStream=0x47670002,
    LinuxCpuInfo=0x47670003, LinuxProcStatus=0x47670004, LinuxLsbRelease=0x47670005,
    LinuxCmdLine=0x47670006, LinuxEnviron=0x47670007, LinuxAuxv=0x47670008,
    LinuxMaps=0x47670009, LinuxDsoDebug=0x4767000A, CrashpadInfoStream=0x43500001,
)

# MINIDUMP_TYPE (the header's Flags): which optional data the writer was asked to include.
MINIDUMP_TYPE = FlagsEnum(
    Int64ul,
    MiniDumpWithDataSegs=0x1, MiniDumpWithFullMemory=0x2, MiniDumpWithHandleData=0x4,
    MiniDumpFilterMemory=0x8, MiniDumpScanMemory=0x10, MiniDumpWithUnloadedModules=0x20,
    MiniDumpWithIndirectlyReferencedMemory=0x40, MiniDumpFilterModulePaths=0x80,
    MiniDumpWithProcessThreadData=0x100, MiniDumpWithPrivateReadWriteMemory=0x200,
    MiniDumpWithoutOptionalData=0x400, MiniDumpWithFullMemoryInfo=0x800,
    MiniDumpWithThreadInfo=0x1000, MiniDumpWithCodeSegs=0x2000,
    MiniDumpWithoutAuxiliaryState=0x4000, MiniDumpWithFullAuxiliaryState=0x8000,
    MiniDumpWithPrivateWriteCopyMemory=0x10000, MiniDumpIgnoreInaccessibleMemory=0x20000,
    MiniDumpWithTokenInformation=0x40000, MiniDumpWithModuleHeaders=0x80000,
    MiniDumpFilterTriage=0x100000, MiniDumpWithAvxXStateContext=0x200000,
    MiniDumpWithIptTrace=0x400000, MiniDumpScanInaccessiblePartialPages=0x800000,
    MiniDumpFilterWriteCombinedMemory=0x1000000,
)

MINIDUMP_HEADER = Struct(
    "Signature" / Const(MINIDUMP_SIGNATURE),  # +0x00
    "Version" / Int16ul,                      # +0x04 MINIDUMP_VERSION
    "ImplementationVersion" / Int16ul,        # +0x06 writer-specific high word
    "NumberOfStreams" / Int32ul,              # +0x08
    "StreamDirectoryRva" / Int32ul,           # +0x0C
    "CheckSum" / Int32ul,                     # +0x10
    "TimeDateStamp" / Int32ul,                # +0x14 time_t of the dump
    "Flags" / MINIDUMP_TYPE,                  # +0x18
)
assert MINIDUMP_HEADER.sizeof() == 0x20

MINIDUMP_LOCATION_DESCRIPTOR = Struct(
    "DataSize" / Int32ul,                     # +0x00
    "Rva" / Int32ul,                          # +0x04
)

MINIDUMP_MEMORY_DESCRIPTOR = Struct(
    "StartOfMemoryRange" / Int64ul,           # +0x00
    "Memory" / MINIDUMP_LOCATION_DESCRIPTOR,  # +0x08
)

MINIDUMP_DIRECTORY = Struct(
    "StreamType" / MINIDUMP_STREAM_TYPE,      # +0x00
    "Location" / MINIDUMP_LOCATION_DESCRIPTOR,  # +0x04
)
assert MINIDUMP_DIRECTORY.sizeof() == 12

# MINIDUMP_STRING: Length is in bytes and excludes the terminating NUL the writer adds.
MINIDUMP_STRING = Struct(
    "Length" / Int32ul,                                   # +0x00
    "Buffer" / PaddedString(this.Length, "utf_16_le"),    # +0x04
)

PROCESSOR_ARCHITECTURE = Enum(
    Int16ul,
    PROCESSOR_ARCHITECTURE_INTEL=0, PROCESSOR_ARCHITECTURE_MIPS=1,
    PROCESSOR_ARCHITECTURE_ALPHA=2, PROCESSOR_ARCHITECTURE_PPC=3,
    PROCESSOR_ARCHITECTURE_SHX=4, PROCESSOR_ARCHITECTURE_ARM=5,
    PROCESSOR_ARCHITECTURE_IA64=6, PROCESSOR_ARCHITECTURE_ALPHA64=7,
    PROCESSOR_ARCHITECTURE_MSIL=8, PROCESSOR_ARCHITECTURE_AMD64=9,
    PROCESSOR_ARCHITECTURE_IA32_ON_WIN64=10, PROCESSOR_ARCHITECTURE_ARM64=12,
    PROCESSOR_ARCHITECTURE_ARM32_ON_WIN64=13, PROCESSOR_ARCHITECTURE_IA32_ON_ARM64=14,
    PROCESSOR_ARCHITECTURE_UNKNOWN=0xFFFF,
)

# VER_PLATFORM_* plus the ids Breakpad (minidump_format.h MD_OS_*) writes for other systems.
PLATFORM_ID = Enum(
    Int32ul,
    VER_PLATFORM_WIN32s=0, VER_PLATFORM_WIN32_WINDOWS=1, VER_PLATFORM_WIN32_NT=2,
    VER_PLATFORM_WIN32_CE=3,
    MD_OS_UNIX=0x8000, MD_OS_MAC_OS_X=0x8101, MD_OS_IOS=0x8102, MD_OS_LINUX=0x8201,
    MD_OS_SOLARIS=0x8202, MD_OS_ANDROID=0x8203, MD_OS_PS3=0x8204, MD_OS_NACL=0x8205,
    MD_OS_FUCHSIA=0x8206,
)

PRODUCT_TYPE = Enum(Int8ul, VER_NT_WORKSTATION=1, VER_NT_DOMAIN_CONTROLLER=2, VER_NT_SERVER=3)

CPU_INFORMATION = Struct(                     # a union; both views cover the same 24 bytes
    "VendorId" / Array(3, Int32ul),           # +0x00 X86CpuInfo
    "VersionInformation" / Int32ul,           # +0x0C
    "FeatureInformation" / Int32ul,           # +0x10
    "AMDExtendedCpuFeatures" / Int32ul,       # +0x14
)

MINIDUMP_SYSTEM_INFO = Struct(
    "ProcessorArchitecture" / PROCESSOR_ARCHITECTURE,  # +0x00
    "ProcessorLevel" / Int16ul,               # +0x02
    "ProcessorRevision" / Int16ul,            # +0x04
    "NumberOfProcessors" / Int8ul,            # +0x06
    "ProductType" / PRODUCT_TYPE,             # +0x07
    "MajorVersion" / Int32ul,                 # +0x08
    "MinorVersion" / Int32ul,                 # +0x0C
    "BuildNumber" / Int32ul,                  # +0x10
    "PlatformId" / PLATFORM_ID,               # +0x14
    "CSDVersionRva" / Int32ul,                # +0x18 -> MINIDUMP_STRING
    "SuiteMask" / Int16ul,                    # +0x1C
    "Reserved2" / Int16ul,                    # +0x1E
    "Cpu" / CPU_INFORMATION,                  # +0x20
)
assert MINIDUMP_SYSTEM_INFO.sizeof() == 0x38

OTHER_CPU_INFO = Struct("ProcessorFeatures" / Array(2, Int64ul))  # the union's other view

# Breakpad's own platform ids mean "not a Windows process" whatever else the stream says.
NON_WINDOWS_PLATFORMS = {
    0x8000: "unix", 0x8101: "macos", 0x8102: "ios", 0x8201: "linux", 0x8202: "solaris",
    0x8203: "android", 0x8204: "ps3", 0x8205: "nacl", 0x8206: "fuchsia",
}


__all__ = [
    "MINIDUMP_SIGNATURE", "MINIDUMP_VERSION", "MINIDUMP_STREAM_TYPE", "MINIDUMP_TYPE",
    "MINIDUMP_HEADER", "MINIDUMP_LOCATION_DESCRIPTOR", "MINIDUMP_MEMORY_DESCRIPTOR",
    "MINIDUMP_DIRECTORY", "MINIDUMP_STRING", "PROCESSOR_ARCHITECTURE", "PLATFORM_ID",
    "PRODUCT_TYPE", "CPU_INFORMATION", "OTHER_CPU_INFO", "MINIDUMP_SYSTEM_INFO",
    "NON_WINDOWS_PLATFORMS",
]
