#!/usr/bin/env python3
"""make_samples.py - turn Wine's raw dumps into the committed sample dumps + EXPECTED.json.

    make_samples.py --raw RAWDIR [--prefix WINEPREFIX]     (run from samples/, by build.sh post)

For every program P (bin/P.exe, logs/run-P.txt, RAWDIR/P-normal.dmp, RAWDIR/P-full.dmp):

  dumps/P-normal.dmp               Wine's MiniDumpNormal dump, byte for byte (NOT edited)
  dumps/P-full-trim-cv.dmp         EDITED: Wine's full-memory dump, Memory64List trimmed
                                   (tools/trim_dump.py) + RSDS CvRecord for P.exe (tools/add_cv.py)
  dumps/P-full-trim-cv-handles.dmp EDITED (mutex programs only, instead of the one above): the
                                   same + a HandleDataStream built from the run log
                                   (tools/add_handles.py)

Then it derives the facts a test can check (from the run logs, the PDBs via llvm-pdbutil,
and the dumps themselves), asserts that they agree with how the programs were written, and
writes EXPECTED.json.  llvm-pdbutil and llvm-symbolizer are needed here (not by the check).
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import add_cv  # noqa: E402
import add_handles  # noqa: E402
import trim_dump  # noqa: E402
from mdmp import (ARCH_X86, STREAM_NAMES, Dump, codeview_record, file_reader,  # noqa: E402
                  parse_rsds, pe_headers)

SAMPLES = os.path.dirname(HERE)

# How the programs were written (src/*.c): the ground truth the dumps must agree with.
PROGRAMS = {
    'seh_x86': {
        'source': 'src/seh_x86.c', 'kind': 'crash',
        'exception_chain': ['write_null', 'guard_inner', 'guard_try', 'guard_outer', 'main', 'mainCRTStartup'],
        'live_chain': ['last_chance', 'guard_inner', 'guard_try', 'guard_outer', 'main', 'mainCRTStartup'],
        'seh_exe_handlers': ['seh_h3', '_except_handler3', 'seh_h1'],
        'safeseh': ['seh_h1', 'seh_h3', '_except_handler3'],
    },
    'crash_x64': {
        'source': 'src/crash_x64.c', 'kind': 'crash',
        'exception_chain': ['crash_read', 'crash_level3', 'crash_level2', 'crash_level1', 'main', 'mainCRTStartup'],
        'live_chain': ['last_chance', 'crash_level3', 'crash_level2', 'crash_level1', 'main', 'mainCRTStartup'],
    },
    'deadlock_cs_x86': {'source': 'src/deadlock_cs.c', 'kind': 'cs'},
    'deadlock_cs_x64': {'source': 'src/deadlock_cs.c', 'kind': 'cs', 'keep_normal': False},
    'deadlock_mutex_x86': {'source': 'src/deadlock_mutex.c', 'kind': 'mutex'},
    'deadlock_mutex_x64': {'source': 'src/deadlock_mutex.c', 'kind': 'mutex', 'keep_normal': False},
}
ROLE_CHAINS = {
    'cs': {'alpha': ['cs_take_second', 'cs_thread_alpha'], 'beta': ['cs_take_second', 'cs_thread_beta'],
           'main': ['main', 'mainCRTStartup']},
    'mutex': {'red': ['mutex_take_second', 'mutex_thread_red'], 'blue': ['mutex_take_second', 'mutex_thread_blue'],
              'main': ['main', 'mainCRTStartup']},
}
WINE_DLL_DIRS = {0: '/usr/lib/i386-linux-gnu/wine/i386-windows', 9: '/usr/lib/x86_64-linux-gnu/wine/x86_64-windows'}


def hx(v):
    return '%#x' % v


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


# ---------------------------------------------------------------- program facts

def parse_log(path):
    """Lines 'tag: k=v k=v ...' -> list of (tag, dict); repeated keys keep a list in '_pairs'."""
    out = []
    for line in open(path, encoding='utf-8', errors='replace'):
        m = re.match(r'([\w-]+):(.*)', line.strip())
        if not m or m.group(1) in ('run', 'exit'):
            continue
        pairs = re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(2))
        d = dict(pairs)
        d['_pairs'] = pairs
        out.append((m.group(1), d))
    return out


def pdb_symbols(pdb):
    """{name: (rva, size)} for functions (S_GPROC32/S_LPROC32) and function publics (thunks)."""
    out = run(['llvm-pdbutil', 'dump', '--symbols', '--publics', '--section-headers', pdb])
    secva = {int(m.group(1)): int(m.group(2), 16) for m in re.finditer(
        r'SECTION HEADER #(\d+)\n.*?\n\s+[0-9A-F]+ virtual size\n\s+([0-9A-F]+) virtual address', out, re.S)}
    syms = {}
    for m in re.finditer(r'S_[GL]PROC32 \[size = \d+\] `([^`]*)`\n\s+parent = \d+, end = \d+, '
                         r'addr = (\d+):(\d+), code size = (\d+)', out):
        syms[m.group(1)] = {'rva': secva[int(m.group(2))] + int(m.group(3)), 'size': int(m.group(4)), 'kind': 'function'}
    covered = {v['rva'] for v in syms.values()}
    for m in re.finditer(r'S_PUB32 \[size = \d+\] `([^`]*)`\n\s+flags = function, addr = (\d+):(\d+)', out):
        rva = secva[int(m.group(2))] + int(m.group(3))
        if rva in covered:
            continue
        name = m.group(1)
        # x86 C decoration: _name (cdecl) / _name@N (stdcall); import thunks are `jmp [__imp_x]` (6 bytes)
        plain = re.sub(r'@\d+$', '', name[1:]) if name.startswith('_') and not name.startswith('__imp') else name
        syms[plain] = {'rva': rva, 'size': 6, 'kind': 'import thunk', 'public': name}
    return syms


def symbolize(syms, rva):
    for name, s in syms.items():
        if s['rva'] <= rva < s['rva'] + s['size']:
            return name, rva - s['rva']
    return None, None


def safeseh_table(exe_bytes):
    """RVAs in the x86 load config's SEHandlerTable."""
    read = file_reader(exe_bytes)
    hdr = pe_headers(read, 0)
    rva, size = hdr['dirs'][10]
    lc = read(rva, 0x48)
    table_va, count = struct.unpack_from('<II', lc, 0x40)
    table = read(table_va - hdr['image_base'], 4 * count)
    return hdr['image_base'], table_va, list(struct.unpack('<%dI' % count, table))


def is_return_site(read, rva):
    """Does a call instruction end right before rva? (E8 rel32, FF /2 with any operand form)"""
    b = read(rva - 7, 7)
    if not b:
        return False
    if b[-5] == 0xE8:
        return True
    if b[-6] == 0xFF and b[-5] == 0x15:                                  # call [abs32 / rip+disp32]
        return True
    if b[-2] == 0xFF and (b[-1] & 0x38) == 0x10 and b[-1] >> 6 == 3:     # call reg
        return True
    if b[-3] == 0xFF and (b[-2] & 0x38) == 0x10 and b[-2] >> 6 == 1:     # call [reg+disp8]
        return True
    if b[-6] == 0xFF and (b[-5] & 0x38) == 0x10 and b[-5] >> 6 == 2:     # call [reg+disp32]
        return True
    return False


def exe_return_sites(d, syms, exe_read, exe_base, sp, end):
    """Functions of the exe whose return sites are on the stack between sp and end, in order."""
    data = d.read(sp, end - sp) or b''
    fmt = '<I' if d.ptr == 4 else '<Q'
    out = []
    for off in range(0, len(data) - d.ptr + 1, d.ptr):
        v = struct.unpack_from(fmt, data, off)[0]
        rva = v - exe_base
        if not (0 < rva < 0x100000):
            continue
        name, delta = symbolize(syms, rva)
        if name and delta and is_return_site(exe_read, rva):
            if not out or out[-1]['function'] != name:
                out.append({'stack_address': hx(sp + off), 'return_address': hx(v), 'function': name,
                            'offset': hx(delta)})
    return out


def is_subsequence(want, have):
    it = iter(have)
    return all(any(w == h for h in it) for w in want)


def wine_symbol(arch, module, rva):
    """Name of a Wine builtin DLL function (Debian's Wine PE DLLs carry DWARF), or None."""
    path = os.path.join(WINE_DLL_DIRS.get(arch, ''), module.lower())
    if not os.path.exists(path):
        return None
    hdr = pe_headers(file_reader(open(path, 'rb').read()), 0)
    try:
        name = run(['llvm-symbolizer', '--obj=' + path, hx(hdr['image_base'] + rva)]).split('\n')[0]
    except (OSError, subprocess.CalledProcessError):
        return None
    return None if name.startswith('??') else name


# ---------------------------------------------------------------- dumps

def stream_list(d):
    return [STREAM_NAMES.get(t, hx(t)) for t, _, _ in d.dir if t != 0]


def build_dumps(name, raw, log, exe_path):
    """Write dumps/NAME-*.dmp; returns {file: (Dump, description dict)}."""
    out = {}
    if PROGRAMS[name].get('keep_normal', True):   # the x64 deadlock ones (~97 KB each) are left out for size
        normal = os.path.join(raw, name + '-normal.dmp')
        dst = 'dumps/%s-normal.dmp' % name
        data = open(normal, 'rb').read()
        open(dst, 'wb').write(data)
        out[dst] = (Dump(data), {'edited': False, 'edits': [],
                                 'origin': 'Wine 8.0 MiniDumpWriteDump(MiniDumpNormal) called out of process by '
                                           'dumper.exe; copied unchanged'})
    full = Dump.load(os.path.join(raw, name + '-full.dmp'))
    extra = []
    for tag, kv in log:
        if tag == 'critical-section' and int(kv['debug_info'], 16):
            extra.append((int(kv['debug_info'], 16), 0x30, 'DebugInfo of %s' % kv['name']))
    kept = trim_dump.trim(full, trim_dump.wanted_ranges(full, extra))
    ed = trim_dump.Editor(full)
    ed.set_memory64([(va, bytes_) for va, bytes_, _ in kept])
    trimmed = Dump(ed.build())
    edits = ['trimmed: Memory64List reduced from %d ranges / %d bytes to %d ranges / %d bytes by tools/trim_dump.py '
             '(all other streams, the header and the directory unchanged)' % (
                 len(full.mem64[2]), sum(s for _, s in full.mem64[2]), len(kept), sum(len(b) for _, b, _ in kept))]
    ed, done = add_cv.add_cv(trimmed, [exe_path])
    cvd = Dump(ed.build())
    edits.append('cv: ModuleList entry of %s given an RSDS CvRecord (%d bytes, read from bin/%s) by tools/add_cv.py' % (
        done[0][0], len(codeview_record(cvd.read, cvd.modules()[0]['base'])), os.path.basename(exe_path)))
    suffix = '-full-trim-cv'
    if PROGRAMS[name]['kind'] == 'mutex':
        pid = int([kv for tag, kv in log if tag == 'start'][0]['pid'])
        mutexes = [kv for tag, kv in log if tag == 'mutex']
        cvd = Dump(add_handles.add_handles(cvd, pid, mutexes).build())
        edits.append('handles: HandleDataStream (type 12) with %d MINIDUMP_HANDLE_DESCRIPTOR_2 entries built from '
                     'logs/run-%s.txt by tools/add_handles.py' % (len(mutexes), name))
        suffix += '-handles'
    dst = 'dumps/%s%s.dmp' % (name, suffix)
    open(dst, 'wb').write(cvd.b)
    ranges = [{'va': hx(va), 'size': hx(len(b)), 'why': labs} for va, b, labs in kept]
    out[dst] = (cvd, {'edited': True, 'edits': edits, 'memory64_ranges': ranges,
                      'origin': 'Wine 8.0 MiniDumpWriteDump(flags 0x1826: WithFullMemory|WithHandleData|'
                                'WithUnloadedModules|WithFullMemoryInfo|WithThreadInfo) called out of process by '
                                'dumper.exe (%d bytes), then edited' % len(full.b)})
    return out


def dump_facts(name, d, desc, log, prog):
    """Facts about one dump, checked against the program's log and construction."""
    spec = PROGRAMS[name]
    syms, exe_read = prog['_syms'], prog['_read']
    exe_mod = d.modules()[0]
    base = exe_mod['base']
    start = [kv for tag, kv in log if tag == 'start'][0]
    facts = {
        'program': name, 'exe': prog['exe'], 'pdb': prog['pdb'],
        'arch': 'x86' if d.arch == ARCH_X86 else 'amd64',
        'edited': desc['edited'], 'edits': desc['edits'], 'origin': desc['origin'],
        'size': len(d.b), 'header_flags': hx(d.flags),
        'streams': stream_list(d),
        'pid': int(start['pid']),
        'thread_ids': [t['tid'] for t in d.threads()],
        'modules': [{'name': m['name'], 'base': hx(m['base']), 'size': hx(m['size']),
                     'cv_record': parse_rsds(d.b[m['cv_rva']:m['cv_rva'] + m['cv_size']]) if m['cv_size'] else None}
                    for m in d.modules()],
    }
    assert facts['modules'][0]['name'].lower().endswith('\\%s.exe' % name)
    img = codeview_record(d.read, base)
    facts['memory'] = {
        'kind': 'Memory64List' if d.mem64 else 'MemoryList',
        'exe_image': d.read(base, exe_mod['size']) is not None,
        'teb': all(d.read(t['teb'], 0x100) is not None for t in d.threads()),
        'stacks': all(d.read(t['stack_va'], t['stack_size']) is not None for t in d.threads()),
        'exe_codeview_from_image': parse_rsds(img) if img else None,
    }
    if desc.get('memory64_ranges'):
        facts['memory64_ranges'] = desc['memory64_ranges']
    # threads and call chains
    roles = {}
    if spec['kind'] == 'crash':
        roles[int(start['tid'])] = 'main (faulting)'
    else:
        roles[int(start['main_tid'])] = 'main'
        for k, v in start.items():
            if k.endswith('_tid') and k != 'main_tid':
                roles[int(v)] = k[:-4]
    assert sorted(roles) == sorted(facts['thread_ids']), (roles, facts['thread_ids'])
    threads = []
    for t in d.threads():
        role = roles[t['tid']]
        th = {'tid': t['tid'], 'role': role, 'teb': hx(t['teb']),
              'stack': {'start': hx(t['stack_va']), 'size': hx(t['stack_size'])}}
        if t['ctx']:
            ip = t['ctx']['ip']
            m = d.module_at(ip)
            th['context'] = {'ip': hx(ip), 'sp': hx(t['ctx']['sp']),
                             'ip_module': m['name'].split('\\')[-1] if m else None}
            if m and m['index'] != 0:
                th['context']['ip_symbol_wine'] = wine_symbol(d.arch, th['context']['ip_module'], ip - m['base'])
            sites = exe_return_sites(d, syms, exe_read, base, t['ctx']['sp'], t['stack_va'] + t['stack_size'])
            th['exe_return_sites'] = sites
            found = [s['function'] for s in sites]
            want = spec['live_chain'] if spec['kind'] == 'crash' else ROLE_CHAINS[spec['kind']][role]
            assert is_subsequence(want, found), (name, role, want, found)
            th['call_chain'] = want
        threads.append(th)
    facts['threads'] = threads
    # exception
    exc = d.exception()
    if spec['kind'] == 'crash':
        ex = [kv for tag, kv in log if tag == 'exception'][0]
        assert exc and exc['tid'] == int(ex['tid']) and exc['code'] == int(ex['code'], 16)
        assert exc['address'] == int(ex['address'], 16) and exc['params'][:2] == [int(ex['param0'], 16), int(ex['param1'], 16)]
        fn, off = symbolize(syms, exc['address'] - base)
        assert fn == spec['exception_chain'][0]
        sp = exc['ctx']['sp']
        t = [t for t in d.threads() if t['tid'] == exc['tid']][0]
        sites = exe_return_sites(d, syms, exe_read, base, sp, t['stack_va'] + t['stack_size'])
        found = [fn] + [s['function'] for s in sites]
        assert found[:len(spec['exception_chain'])] == spec['exception_chain'], found
        facts['exception'] = {
            'thread_id': exc['tid'], 'code': '0x%08x' % exc['code'], 'name': 'EXCEPTION_ACCESS_VIOLATION',
            'address': hx(exc['address']), 'function': fn, 'function_offset': hx(off),
            'parameters': [hx(p) for p in exc['params']],
            'access': 'write' if exc['params'][0] == 1 else 'read', 'fault_address': hx(exc['params'][1]),
            'context': {'ip': hx(exc['ctx']['ip']), 'sp': hx(sp)},
            'call_chain': spec['exception_chain'],
            'exe_return_sites': sites,
        }
    else:
        assert exc is None
        facts['exception'] = None
    # x86 SEH chain, as the program itself walked it inside the filter
    if name == 'seh_x86':
        chain = []
        for tag, kv in log:
            if tag != 'seh-record':
                continue
            rec, handler = int(kv['record'], 16), int(kv['handler'], 16)
            m = d.module_at(handler)
            mod = m['name'].split('\\')[-1]
            if m['index'] == 0:
                sym, off = symbolize(syms, handler - base)
                assert off == 0
            else:
                sym = wine_symbol(d.arch, mod, handler - m['base'])
            chain.append({'record': hx(rec), 'handler': hx(handler), 'module': mod, 'handler_rva': hx(handler - m['base']),
                          'symbol': sym, 'in_safeseh_table': (m['index'] == 0 and handler - base in prog['_safeseh_rvas'])})
        exe_handlers = [c['symbol'] for c in chain if c['module'].endswith('.exe')]
        assert exe_handlers == spec['seh_exe_handlers'], exe_handlers
        assert chain[0]['module'] == 'ntdll.dll' and chain[-1]['module'] == 'ntdll.dll'
        if facts['memory']['teb']:
            walked, rec = [], d.ptr_at(d.threads()[0]['teb'])
            while rec not in (None, 0xFFFFFFFF):
                walked.append((hx(rec), hx(d.ptr_at(rec + 4))))
                rec = d.ptr_at(rec)
            assert walked == [(c['record'], c['handler']) for c in chain], walked
        facts['seh_chain'] = {
            'source': 'TEB->ExceptionList (fs:[0]) of thread %d while the unhandled-exception filter waits for the '
                      'dumper; identical to what the program walked itself (logs/run-seh_x86.txt)' % d.threads()[0]['tid'],
            'names': [c['module'].replace('.dll', '') if not c['module'].endswith('.exe') else c['symbol'] for c in chain],
            'records': chain,
            'walkable_from_dump': facts['memory']['teb'],
        }
    # critical sections
    if spec['kind'] == 'cs':
        css = []
        for tag, kv in log:
            if tag != 'critical-section':
                continue
            addr = int(kv['address'], 16)
            entry = {'name': kv['name'], 'address': hx(addr), 'rva': hx(addr - base),
                     'owner_tid': int(kv['owner_tid']), 'lock_count': int(kv['lock_count']),
                     'recursion_count': int(kv['recursion_count']), 'debug_info': kv['debug_info'],
                     'encoding': 'NT5-style LockCount (Wine): -1 free, 0 owned, n owned with n waiters'}
            raw = d.read(addr, 24 if d.ptr == 4 else 40)
            if raw is not None:
                if d.ptr == 4:
                    _dbg, lock, rec, owner, _sem, _spin = struct.unpack('<IiiIII', raw)
                else:
                    _dbg, lock, rec, owner, _sem, _spin = struct.unpack('<QiiQQQ', raw)
                assert (owner, lock, rec) == (entry['owner_tid'], entry['lock_count'], entry['recursion_count'])
            entry['in_dump'] = raw is not None
            css.append(entry)
        waits = [kv for tag, kv in log if tag == 'waits'][0]['_pairs']
        waiters = {}
        for (k1, tid), (k2, cs) in zip(waits[0::2], waits[1::2]):
            waiters[int(tid)] = cs
        for c in css:
            c['waiting_tids'] = [tid for tid, cs in waiters.items() if cs == c['name']]
        facts['critical_sections'] = css
    # mutexes
    if spec['kind'] == 'mutex':
        muts = []
        waits = [kv for tag, kv in log if tag == 'waits'][0]['_pairs']
        waiters = {int(tid): m for (_, tid), (_, m) in zip(waits[0::2], waits[1::2])}
        for tag, kv in log:
            if tag != 'mutex':
                continue
            muts.append({'name': kv['name'], 'object_name': kv['object_name'], 'handle': kv['handle'],
                         'owner_tid': int(kv['owner_tid']), 'owner_pid': facts['pid'],
                         'waiting_tids': [tid for tid, m in waiters.items() if m == kv['name']],
                         'count': int(kv['current_count']), 'abandoned': bool(int(kv['abandoned'])),
                         'granted_access': kv['granted_access'], 'handle_count': int(kv['handle_count']),
                         'pointer_count': int(kv['pointer_count']),
                         'in_handle_stream': d.stream(12) is not None})
        facts['mutexes'] = muts
        if d.stream(12):
            facts['handle_stream'] = {
                'added_by': 'tools/add_handles.py', 'descriptor_size': 40, 'type_name': 'Mutant',
                'object_info': [
                    {'InfoType': 2, 'name': 'MiniMutantInformation1', 'SizeOfInfo': 8,
                     'payload': '{LONG Count; BOOL Abandoned} (inferred layout)'},
                    {'InfoType': 3, 'name': 'MiniMutantInformation2', 'SizeOfInfo': 8,
                     'payload': '{ULONG32 OwnerProcessId; ULONG32 OwnerThreadId} (inferred layout)'}],
                'size_of_info_counts': 'payload bytes after the 12-byte MINIDUMP_HANDLE_OBJECT_INFORMATION header'}
    return facts


def program_facts(name):
    exe_path = 'bin/%s.exe' % name
    pdb_path = 'bin/%s.pdb' % name
    data = open(exe_path, 'rb').read()
    read = file_reader(data)
    hdr = pe_headers(read, 0)
    syms = pdb_symbols(pdb_path)
    cv = parse_rsds(codeview_record(read, 0))
    pdbsum = run(['llvm-pdbutil', 'dump', '--summary', pdb_path])
    assert cv['guid'] == re.search(r'GUID: \{(.*)\}', pdbsum).group(1) and cv['age'] == int(re.search(r'Age: (\d+)', pdbsum).group(1))
    prog = {'exe': exe_path, 'pdb': pdb_path, 'source': PROGRAMS[name]['source'],
            'arch': 'x86' if hdr['magic'] == 0x10B else 'amd64', 'image_base': hx(hdr['image_base']),
            'codeview': cv, 'pdb_matches_exe': True,
            'symbols': {k: {'rva': hx(v['rva']), 'size': v['size'], 'kind': v['kind'],
                            **({'public': v['public']} if 'public' in v else {})}
                        for k, v in sorted(syms.items(), key=lambda kv: kv[1]['rva'])},
            '_syms': syms, '_read': lambda rva, size: read(rva, size)}
    if hdr['magic'] == 0x10B:
        image_base, table_va, rvas = safeseh_table(data)
        prog['_safeseh_rvas'] = set(rvas)
        prog['safeseh'] = {'table_va': hx(table_va), 'count': len(rvas),
                           'handlers': [{'rva': hx(r), 'name': symbolize(syms, r)[0]} for r in rvas]}
        if 'safeseh' in PROGRAMS[name]:
            assert [h['name'] for h in prog['safeseh']['handlers']] == PROGRAMS[name]['safeseh'], prog['safeseh']
    return prog


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--raw', required=True)
    ap.add_argument('--prefix', default='/srv/dumpkit-samples-wine')
    a = ap.parse_args()
    os.chdir(SAMPLES)
    os.makedirs('dumps', exist_ok=True)
    for f in os.listdir('dumps'):
        if f.endswith('.dmp'):
            os.remove(os.path.join('dumps', f))
    expected = {
        'about': 'Facts about the sample programs and dumps in samples/ (see samples/README.md). Written by '
                 'tools/make_samples.py from the run logs, the PDBs and the dumps; checked by tools/check_samples.py. '
                 'Addresses are hex strings, thread/process ids decimal. Dumps with "edited": true were changed after '
                 'Wine wrote them ("edits" says how).',
        'toolchain': {
            'clang': run(['clang', '--version']).split('\n')[0],
            'lld': run(['lld-link', '--version']).strip(),
            'wine': run(['wine', '--version']).strip(),
        },
        'programs': {}, 'dumps': {},
    }
    for name in PROGRAMS:
        log = parse_log('logs/run-%s.txt' % name)
        prog = program_facts(name)
        for path, (d, desc) in build_dumps(name, a.raw, log, 'bin/%s.exe' % name).items():
            expected['dumps'][path] = dump_facts(name, d, desc, log, prog)
            print('%-44s %8d bytes  %s' % (path, len(d.b), 'EDITED' if desc['edited'] else 'as written by Wine'))
        expected['programs'][name] = {k: v for k, v in prog.items() if not k.startswith('_')}
    with open('EXPECTED.json', 'w') as f:
        json.dump(expected, f, indent=1)
        f.write('\n')
    print('EXPECTED.json written')


if __name__ == '__main__':
    main()
