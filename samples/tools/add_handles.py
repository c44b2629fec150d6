#!/usr/bin/env python3
"""add_handles.py - add a HandleDataStream (type 12) to a Wine-written minidump.

    add_handles.py IN.dmp OUT.dmp RUNLOG.txt

Wine 8.0 never writes a HandleDataStream ("NIY MiniDumpWithHandleData"), and it cannot
report mutant owners at all (NtQueryMutant(MutantOwnerInformation) fails with
STATUS_INVALID_INFO_CLASS).  samples/src/deadlock_mutex.c therefore prints, for each of its
mutexes, the handle value, the thread that acquired it (known by construction) and what
NtQueryObject / NtQueryMutant(MutantBasicInformation) answered inside the process:

  mutex: name=dumpkit_mutex_red handle=0x34 owner_tid=212 object_name=\\Sessions\\1\\Base...
         type_name=Mutant attributes=0x0 granted_access=0x1f0001 handle_count=1
         pointer_count=3 current_count=0 owned_by_caller=0 abandoned=0 ...
  start: pid=32 ...

From those lines this writes what Windows' dbghelp would have written for these handles:

  MINIDUMP_HANDLE_DATA_STREAM {SizeOfHeader=16, SizeOfDescriptor=40, NumberOfDescriptors, 0}
  MINIDUMP_HANDLE_DESCRIPTOR_2 per handle: Handle, TypeNameRva -> MINIDUMP_STRING "Mutant",
      ObjectNameRva -> MINIDUMP_STRING (the NT object name), Attributes, GrantedAccess,
      HandleCount, PointerCount, ObjectInfoRva -> first MINIDUMP_HANDLE_OBJECT_INFORMATION,
      Reserved0 = 0
  MINIDUMP_HANDLE_OBJECT_INFORMATION {NextInfoRva, InfoType, SizeOfInfo} + payload, chained:
      InfoType 2 = MiniMutantInformation1, SizeOfInfo 8: {LONG Count; BOOL Abandoned}
                   (NtQueryMutant's MUTANT_BASIC_INFORMATION: CurrentCount, AbandonedState)
      InfoType 3 = MiniMutantInformation2, SizeOfInfo 8: {ULONG32 OwnerProcessId;
                   ULONG32 OwnerThreadId}  (MUTANT_OWNER_INFORMATION's CLIENT_ID as 32-bit ids)
  InfoType values are those of MINIDUMP_HANDLE_OBJECT_INFORMATION_TYPE in minidumpapiset.h
  (None=0, Thread1=1, Mutant1=2, Mutant2=3, ...).  SizeOfInfo counts the payload bytes that
  follow the 12-byte record header (Microsoft's documentation: "the size of the information
  that follows this member").  The payload layouts are INFERRED from the native structures:
  no public source documents them.

Only the mutex handles are described (a Windows dump would list every handle of the process).
Everything else in the dump is unchanged; the stream takes an Unused directory slot.
"""
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdmp import Dump, Editor  # noqa: E402

MINI_MUTANT_INFORMATION_1 = 2
MINI_MUTANT_INFORMATION_2 = 3


def parse_log(path):
    pid, mutexes = None, []
    for line in open(path, encoding='utf-8', errors='replace'):
        kv = dict(re.findall(r'(\w+)=(\S+)', line))
        if line.startswith('start:'):
            pid = int(kv['pid'])
        elif line.startswith('mutex:'):
            mutexes.append(kv)
    return pid, mutexes


def minidump_string(s):
    u = s.encode('utf-16-le')
    return struct.pack('<I', len(u)) + u + b'\0\0'


def add_handles(d, pid, mutexes):
    ed = Editor(d)
    # strings and object information first, then the stream itself
    descs = []
    for m in mutexes:
        type_rva = ed.append(minidump_string(m.get('type_name', 'Mutant')))
        name_rva = ed.append(minidump_string(m['object_name']))
        count = int(m['current_count']) - int(m.get('current_count_neg', 0))
        info2 = struct.pack('<III', 0, MINI_MUTANT_INFORMATION_2, 8) + struct.pack('<II', pid, int(m['owner_tid']))
        info2_rva = ed.append(info2)
        info1 = struct.pack('<III', info2_rva, MINI_MUTANT_INFORMATION_1, 8) + struct.pack('<iI', count, int(m['abandoned']))
        info1_rva = ed.append(info1)
        descs.append(struct.pack('<QIIIIIIII', int(m['handle'], 0), type_rva, name_rva, int(m['attributes'], 0),
                                 int(m['granted_access'], 0), int(m['handle_count']), int(m['pointer_count']),
                                 info1_rva, 0))
    stream = struct.pack('<IIII', 16, 40, len(descs), 0) + b''.join(descs)
    ed.add_stream(12, stream)
    return ed


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, log = sys.argv[1:]
    pid, mutexes = parse_log(log)
    if pid is None or not mutexes:
        sys.exit('%s: no start:/mutex: lines' % log)
    size = add_handles(Dump.load(src), pid, mutexes).save(dst)
    for m in mutexes:
        print('%s: handle %s %s owner pid %d tid %s' % (dst, m['handle'], m['object_name'], pid, m['owner_tid']))
    print('%s: %d bytes' % (dst, size))


if __name__ == '__main__':
    main()
