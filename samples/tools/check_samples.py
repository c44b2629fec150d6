#!/usr/bin/env python3
"""check_samples.py - check the committed sample dumps against samples/EXPECTED.json.

    python3 samples/tools/check_samples.py [-v]

Needs only Python (struct) and, for the second reader, the PyPI `minidump` package (0.0.24;
skipped with a note when missing).  No LLVM, no Wine.  For every dump in EXPECTED.json:

  * structure: signature/version, every directory entry and RVA inside the file, the
    Memory64List data ending the file, no overlapping memory ranges;
  * the `minidump` package parses it (unknown stream types such as Wine's 0xFFF0 skipped),
    and agrees on thread ids, modules, the exception and handle names;
  * the facts: exception code/address/thread, thread ids, CodeView records (in the ModuleList
    and from the image in dump memory), call chains (exe return sites on each stack, read
    with the exe's code from the dump or from bin/), the x86 SEH chain walked from
    TEB->ExceptionList, the SafeSEH table read from the image in dump memory,
    CRITICAL_SECTION owners read from dump memory, and mutex owners from the HandleDataStream.

Ends with the line 'N passed, N failed'; exits 1 on any failure.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from mdmp import Dump, codeview_record, file_reader, parse_rsds, pe_headers  # noqa: E402

VERBOSE = '-v' in sys.argv
results = {'passed': 0, 'failed': 0}


def check(cond, what):
    results['passed' if cond else 'failed'] += 1
    if not cond or VERBOSE:
        print('%s %s' % ('ok  ' if cond else 'FAIL', what))
    return cond


def hx(v):
    return '%#x' % v


def structure(path, d):
    b = d.b
    check(d.version & 0xFFFF == 0xA793, '%s: MINIDUMP_VERSION' % path)
    check(d.dir_rva + 12 * d.nstreams <= len(b), '%s: directory inside the file' % path)
    for t, size, rva in d.dir:
        check(t == 0 or rva + size <= len(b), '%s: stream %#x inside the file' % (path, t))
    if d.mem64:
        _, base, ranges = d.mem64
        check(base + sum(s for _, s in ranges) == len(b), '%s: Memory64List data ends the file' % path)
        check(all(a[0] + a[1] <= c[0] for a, c in zip(ranges, ranges[1:])), '%s: Memory64List ranges sorted, disjoint' % path)


def package(path, d, exp):
    try:
        from minidump import directory as mdir
        from minidump.constants import MINIDUMP_STREAM_TYPE
        from minidump.minidumpfile import MinidumpFile
    except ImportError:
        print('note: the minidump package is not installed; its checks are skipped')
        return
    import logging
    orig = mdir.MINIDUMP_DIRECTORY.parse

    def tolerant(buff):  # minidump 0.0.24 raises on stream types it does not know (Wine's 0xFFF0)
        pos = buff.tell()
        if mdir.MINIDUMP_DIRECTORY.get_stream_type_value(buff) not in MINIDUMP_STREAM_TYPE._value2member_map_:
            return None
        buff.seek(pos)
        return orig(buff)

    mdir.MINIDUMP_DIRECTORY.parse = staticmethod(tolerant)
    logging.disable(logging.CRITICAL)   # it logs a traceback when the PEB is not in a (normal) dump
    try:
        m = MinidumpFile.parse(os.path.join(SAMPLES, path))
    except Exception as e:  # noqa: BLE001
        check(False, '%s: minidump package parses it (%r)' % (path, e))
        return
    finally:
        mdir.MINIDUMP_DIRECTORY.parse = orig
        logging.disable(logging.NOTSET)
    check(True, '%s: minidump package parses it' % path)
    check([t.ThreadId for t in m.threads.threads] == exp['thread_ids'], '%s: package thread ids' % path)
    check([x.name for x in m.modules.modules] == [x['name'] for x in exp['modules']], '%s: package module names' % path)
    if exp['exception']:
        e = m.exception.exception_records[0]
        check(e.ThreadId == exp['exception']['thread_id'] and e.ExceptionRecord.ExceptionCode_raw ==
              int(exp['exception']['code'], 16) and e.ExceptionRecord.ExceptionAddress == int(exp['exception']['address'], 16),
              '%s: package exception' % path)
    if exp.get('mutexes') and exp['mutexes'][0]['in_handle_stream']:
        names = sorted(h.ObjectName for h in m.handles.handles)
        check(names == sorted(x['object_name'] for x in exp['mutexes']) and
              all(h.TypeName == 'Mutant' for h in m.handles.handles), '%s: package handle names' % path)
    if exp['memory']['teb']:
        reader = m.get_reader()
        t = m.threads.threads[0]
        check(reader.read(t.Teb, 4) == d.read(t.Teb, 4), '%s: package reads the TEB' % path)


def is_return_site(read, rva):
    b = read(rva - 7, 7)
    if not b:
        return False
    return (b[-5] == 0xE8 or (b[-6] == 0xFF and b[-5] == 0x15) or
            (b[-2] == 0xFF and (b[-1] & 0x38) == 0x10 and b[-1] >> 6 == 3) or
            (b[-3] == 0xFF and (b[-2] & 0x38) == 0x10 and b[-2] >> 6 == 1) or
            (b[-6] == 0xFF and (b[-5] & 0x38) == 0x10 and b[-5] >> 6 == 2))


def chain_on_stack(d, syms, code_read, base, sp, end):
    data = d.read(sp, end - sp) or b''
    fmt = '<I' if d.ptr == 4 else '<Q'
    out = []
    for off in range(0, len(data) - d.ptr + 1, d.ptr):
        rva = struct.unpack_from(fmt, data, off)[0] - base
        for name, s in syms.items():
            if s['rva'] < rva < s['rva'] + s['size'] and is_return_site(code_read, rva):
                if not out or out[-1] != name:
                    out.append(name)
    return out


def subsequence(want, have):
    it = iter(have)
    return all(any(w == h for h in it) for w in want)


def facts(path, d, exp, prog):
    syms = {k: {'rva': int(v['rva'], 16), 'size': v['size']} for k, v in prog['symbols'].items()}
    exe = d.modules()[0]
    base = exe['base']
    check(('x86' if d.arch == 0 else 'amd64') == exp['arch'], '%s: arch %s' % (path, exp['arch']))
    misc = d.stream(15)
    check(misc and d.u32(misc[1] + 8) == exp['pid'], '%s: MiscInfo ProcessId %d' % (path, exp['pid']))
    check([t['tid'] for t in d.threads()] == exp['thread_ids'], '%s: thread ids %s' % (path, exp['thread_ids']))
    # CodeView
    for m, em in zip(d.modules(), exp['modules']):
        cv = parse_rsds(d.b[m['cv_rva']:m['cv_rva'] + m['cv_size']]) if m['cv_size'] else None
        check(cv == em['cv_record'], '%s: CvRecord of %s' % (path, em['name']))
    img_cv = codeview_record(d.read, base)
    check((parse_rsds(img_cv) if img_cv else None) == exp['memory']['exe_codeview_from_image'],
          '%s: CodeView from the image in memory' % path)
    check(exp['memory']['exe_codeview_from_image'] in (None, prog['codeview']), '%s: image CodeView = PDB' % path)
    # code bytes for the return-site test: the image in the dump, else the exe file
    if exp['memory']['exe_image']:
        def code_read(rva, size):
            return d.read(base + rva, size)
    else:
        code_read = file_reader(open(os.path.join(SAMPLES, prog['exe']), 'rb').read())
    # exception
    exc = d.exception()
    if exp['exception'] is None:
        check(exc is None, '%s: no exception stream' % path)
    else:
        e = exp['exception']
        check(exc['tid'] == e['thread_id'] and exc['code'] == int(e['code'], 16) and
              exc['address'] == int(e['address'], 16) and [hx(p) for p in exc['params']] == e['parameters'],
              '%s: exception %s at %s in thread %d' % (path, e['code'], e['address'], e['thread_id']))
        s = syms[e['function']]
        check(s['rva'] <= exc['address'] - base < s['rva'] + s['size'], '%s: exception in %s' % (path, e['function']))
        t = [t for t in d.threads() if t['tid'] == exc['tid']][0]
        found = [e['function']] + chain_on_stack(d, syms, code_read, base, exc['ctx']['sp'], t['stack_va'] + t['stack_size'])
        check(found[:len(e['call_chain'])] == e['call_chain'], '%s: call chain at the exception %s' % (path, e['call_chain']))
    # per-thread chains from each thread's own context
    for t, et in zip(d.threads(), exp['threads']):
        if 'call_chain' not in et:
            continue
        found = chain_on_stack(d, syms, code_read, base, t['ctx']['sp'], t['stack_va'] + t['stack_size'])
        check(subsequence(et['call_chain'], found), '%s: thread %d (%s) call chain %s' % (path, t['tid'], et['role'], et['call_chain']))
    # SEH chain
    if exp.get('seh_chain') and exp['seh_chain']['walkable_from_dump']:
        walked, rec = [], d.ptr_at(d.threads()[0]['teb'])
        while rec not in (None, 0xFFFFFFFF) and len(walked) < 32:
            walked.append({'record': hx(rec), 'handler': hx(d.ptr_at(rec + 4))})
            rec = d.ptr_at(rec)
        check(walked == [{'record': r['record'], 'handler': r['handler']} for r in exp['seh_chain']['records']],
              '%s: SEH chain from TEB->ExceptionList' % path)
        names = []
        for w in walked:
            h = int(w['handler'], 16)
            m = d.module_at(h)
            if m and m['index'] == 0:
                names += [n for n, s in syms.items() if s['rva'] == h - base]
            else:
                names.append(m['name'].split('\\')[-1].replace('.dll', '') if m else '?')
        check(names == exp['seh_chain']['names'], '%s: SEH chain names %s' % (path, names))
    # SafeSEH table from the image in dump memory
    if prog.get('safeseh') and exp['memory']['exe_image']:
        hdr = pe_headers(d.read, base)
        lc_rva = hdr['dirs'][10][0]
        table_va, count = struct.unpack('<II', d.read(base + lc_rva + 0x40, 8))
        rvas = struct.unpack('<%dI' % count, d.read(table_va, 4 * count)) if count else ()
        names = [n for r in rvas for n, s in syms.items() if s['rva'] == r]
        check(names == [h['name'] for h in prog['safeseh']['handlers']], '%s: SafeSEH table from memory %s' % (path, names))
    # critical sections
    for cs in exp.get('critical_sections', []):
        if not cs['in_dump']:
            continue
        raw = d.read(int(cs['address'], 16), 24 if d.ptr == 4 else 40)
        fmt = '<IiiIII' if d.ptr == 4 else '<QiiQQQ'
        _dbg, lock, rec, owner, _sem, _spin = struct.unpack(fmt, raw)
        check(owner == cs['owner_tid'] and lock == cs['lock_count'] and rec == cs['recursion_count'],
              '%s: %s owned by %d' % (path, cs['name'], cs['owner_tid']))
    # mutex owners from the HandleDataStream
    hs = d.stream(12)
    if exp.get('mutexes'):
        check((hs is not None) == exp['mutexes'][0]['in_handle_stream'], '%s: HandleDataStream present as expected' % path)
    if hs:
        hdr_size, desc_size, n, _ = struct.unpack_from('<IIII', d.b, hs[1])
        check((hdr_size, desc_size) == (16, 40), '%s: handle stream header' % path)
        owners = {}
        for i in range(n):
            o = hs[1] + hdr_size + desc_size * i
            handle, tn, on, _attr, _acc, _hc, _pc, info = struct.unpack_from('<QIIIIIII', d.b, o)
            objname = d.string(on)
            check(d.string(tn) == 'Mutant', '%s: handle %#x is a Mutant' % (path, handle))
            while info:
                nxt, typ, size = struct.unpack_from('<III', d.b, info)
                if typ == 3 and size == 8:
                    owners[objname] = struct.unpack_from('<II', d.b, info + 12)
                info = nxt
        for mx in exp['mutexes']:
            check(owners.get(mx['object_name']) == (mx['owner_pid'], mx['owner_tid']),
                  '%s: %s owned by thread %d' % (path, mx['name'], mx['owner_tid']))


def main():
    exp = json.load(open(os.path.join(SAMPLES, 'EXPECTED.json')))
    on_disk = sorted('dumps/' + f for f in os.listdir(os.path.join(SAMPLES, 'dumps')) if f.endswith('.dmp'))
    check(on_disk == sorted(exp['dumps']), 'dumps/ holds exactly the dumps EXPECTED.json describes')
    for name, prog in exp['programs'].items():
        for f in (prog['exe'], prog['pdb']):
            check(os.path.exists(os.path.join(SAMPLES, f)), '%s exists' % f)
    for path, e in exp['dumps'].items():
        d = Dump.load(os.path.join(SAMPLES, path))
        check(len(d.b) == e['size'], '%s: size %d' % (path, e['size']))
        structure(path, d)
        package(path, d, e)
        facts(path, d, e, exp['programs'][e['program']])
    print('%d passed, %d failed' % (results['passed'], results['failed']))
    sys.exit(1 if results['failed'] else 0)


if __name__ == '__main__':
    main()
