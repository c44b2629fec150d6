#!/usr/bin/env python3
"""add_cv.py - give a Wine-written minidump's module entries CodeView (RSDS) records.

    add_cv.py IN.dmp OUT.dmp EXE [EXE...]

Wine 8.0's MiniDumpWriteDump writes CvRecord = {0, 0} for every module; Windows' dbghelp
copies each module's CodeView debug record there.  For each EXE given (a PE file on disk
whose name matches a ModuleList entry by file name), this appends the raw CodeView record
read from the file's debug directory and points that module's CvRecord at it.  When the
dump holds the image's memory, the record read from there must be identical (checked).
Every other byte of the dump is unchanged (the appended records go before a trailing
Memory64List, see mdmp.Editor).  Wine's builtin DLLs have no debug directory: left as is.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdmp import Dump, Editor, codeview_record, file_reader, parse_rsds  # noqa: E402


def add_cv(d, exes):
    ed = Editor(d)
    done = []
    by_name = {os.path.basename(p).lower(): p for p in exes}
    for m in d.modules():
        base_name = m['name'].replace('\\', '/').split('/')[-1].lower()
        path = by_name.get(base_name)
        if not path:
            continue
        data = open(path, 'rb').read()
        cv = codeview_record(file_reader(data), 0)
        if not cv or not parse_rsds(cv):
            raise SystemExit('%s: no RSDS CodeView record' % path)
        in_mem = codeview_record(d.read, m['base'])
        if in_mem is not None and in_mem != cv:
            raise SystemExit('%s: CodeView record differs from the image in the dump' % path)
        rva = ed.append(cv)
        ed.patch(m['entry_offset'] + 76, struct.pack('<II', len(cv), rva))
        done.append((m['name'], parse_rsds(cv), in_mem is not None))
    return ed, done


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, dst, exes = sys.argv[1], sys.argv[2], sys.argv[3:]
    ed, done = add_cv(Dump.load(src), exes)
    if not done:
        sys.exit('no module of the dump matches ' + ' '.join(exes))
    size = ed.save(dst)
    for name, cv, checked in done:
        print('%s: CvRecord of %s = RSDS {%s} age %d %s%s' % (
            dst, name, cv['guid'], cv['age'], cv['pdb'], ' (= image in dump)' if checked else ''))
    print('%s: %d bytes' % (dst, size))


if __name__ == '__main__':
    main()
