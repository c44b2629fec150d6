#!/usr/bin/env python3
"""trim_dump.py - shrink a full-memory minidump (Memory64List) to the ranges that matter.

    trim_dump.py IN.dmp OUT.dmp [--keep VA:SIZE[:LABEL]]... [--json REPORT.json]

Wine's full-memory dumps are 20-40 MB, mostly heaps and DLL images.  This keeps every stream
byte for byte and only replaces the Memory64List by a subset of its own ranges (page
granular, clipped to what the dump holds, never merged across the original descriptors):

  * every thread's stack: from the page of the thread's Stack.StartOfMemoryRange (its SP) up
    to the end of the range the thread descriptor names (Wine leaves Stack.Memory.Rva = 0 in
    full dumps: the stack bytes are only in the Memory64List);
  * every thread's TEB (2 pages) and the PEB (1 page, address read from the TEB) and the
    RTL_USER_PROCESS_PARAMETERS block the PEB points to (its Length bytes, when < 64 KB) and
    its environment block (what `minidump`'s PEB reader and !peb-style commands read);
  * the whole image of the main executable (first ModuleList entry): code, data, .bss,
    .pdata, load config, SafeSEH table, debug directory;
  * the first page (PE headers) of every other module;
  * the page around the exception address (Exception stream);
  * x86: walking each thread's fs:[0] chain (TEB->ExceptionList) through the kept memory,
    the page of every handler address (e.g. ntdll's handlers);
  * x64: every module's exception directory (.pdata), and the page(s) of the UNWIND_INFO
    (and chained UNWIND_INFO) of every RUNTIME_FUNCTION that covers a candidate code address:
    any pointer-sized value on a kept stack, a thread's RIP or the exception address; so the
    stacks can be unwound through the system DLLs;
  * any --keep VA:SIZE (e.g. the heap page of a CRITICAL_SECTION's DebugInfo).

The header (Flags still say MiniDumpWithFullMemory), the directory and every other stream
are unchanged; the Memory64List descriptor moves to the end of the kept part of the file.
"""
import argparse
import bisect
import json
import struct
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdmp import ARCH_X86, PAGE, Dump, Editor, page_down, page_up, pe_headers  # noqa: E402


def wanted_ranges(d, extra=()):
    """[(start, end, label)] of target memory to keep (not yet clipped to the dump)."""
    want = []

    def keep(start, end, label):
        if end > start:
            want.append((page_down(start), page_up(end), label))

    mods = d.modules()
    teb_peb = (0x30, 0x10) if d.arch == ARCH_X86 else (0x60, 0x20)   # TEB->Peb, PEB->ProcessParameters
    for t in d.threads():
        keep(t['stack_va'], t['stack_va'] + t['stack_size'], 'stack of thread %d' % t['tid'])
        keep(t['teb'], t['teb'] + 2 * PAGE, 'TEB of thread %d' % t['tid'])
    if d.threads():
        teb = d.threads()[0]['teb']
        peb = d.ptr_at(teb + teb_peb[0])
        if peb:
            keep(peb, peb + PAGE, 'PEB')
            pp = d.ptr_at(peb + teb_peb[1])
            hdr = d.read(pp, 8) if pp else None
            if hdr:
                maxlen, length = struct.unpack('<II', hdr)
                if 0 < length < 0x10000:
                    keep(pp, pp + length, 'process parameters')
                # the environment block (UTF-16 strings, ends with an empty one)
                env = d.ptr_at(pp + (0x48 if d.arch == ARCH_X86 else 0x80))
                blob = env and d.read(env, min(0x10000, page_up(env + 1) - env))
                while blob is not None and env:
                    end = next((i for i in range(0, len(blob) - 3, 2) if blob[i:i + 4] == b'\0\0\0\0'), None)
                    if end is not None:
                        keep(env, env + end + 4, 'environment')
                        break
                    more = d.read(env + len(blob), PAGE)
                    blob = blob + more if more and len(blob) < 0x10000 else None
    for i, m in enumerate(mods):
        name = m['name'].split('\\')[-1]
        if i == 0:
            keep(m['base'], m['base'] + m['size'], 'image of %s' % name)
        else:
            keep(m['base'], m['base'] + PAGE, 'PE headers of %s' % name)
    exc = d.exception()
    if exc:
        keep(exc['address'], exc['address'] + 1, 'exception address')
    if d.arch == ARCH_X86:
        for t in d.threads():
            rec, seen = d.ptr_at(t['teb']), 0
            while rec not in (None, 0, 0xFFFFFFFF) and seen < 64:
                handler = d.ptr_at(rec + 4)
                if handler is None:
                    break
                m = d.module_at(handler)
                keep(handler, handler + 1, 'SEH handler in %s' % (m['name'].split('\\')[-1] if m else '?'))
                rec, seen = d.ptr_at(rec), seen + 1
    else:
        # candidate code addresses: every pointer-sized value on the kept stacks, the threads'
        # instruction pointers and the exception address
        cands = set()
        for t in d.threads():
            data = d.read(page_down(t['stack_va']), t['stack_va'] + t['stack_size'] - page_down(t['stack_va'])) or b''
            cands.update(struct.unpack_from('<%dQ' % (len(data) // 8), data))
            if t['ctx']:
                cands.add(t['ctx']['ip'])
        if exc:
            cands.add(exc['address'])
        for m in mods:
            name = m['name'].split('\\')[-1]
            hdr = pe_headers(d.read, m['base'])
            if not hdr or len(hdr['dirs']) <= 3 or not hdr['dirs'][3][0]:
                continue
            rva, size = hdr['dirs'][3]
            keep(m['base'] + rva, m['base'] + rva + size, '.pdata of %s' % name)
            pdata = d.read(m['base'] + rva, size)
            if not pdata:
                continue
            funcs = [struct.unpack_from('<III', pdata, 12 * i) for i in range(size // 12)]
            starts = [f[0] for f in funcs]
            for c in sorted(x - m['base'] for x in cands if m['base'] <= x < m['base'] + m['size']):
                i = bisect.bisect_right(starts, c) - 1
                if i < 0 or not (funcs[i][0] <= c < funcs[i][1]):
                    continue
                unwind, depth = funcs[i][2], 0
                while unwind and depth < 8:      # UNWIND_INFO, then any chained ones
                    unwind &= ~1
                    head = d.read(m['base'] + unwind, 4)
                    if not head:
                        break
                    flags, ncodes = head[0] >> 3, head[2]
                    end = unwind + 4 + 2 * ((ncodes + 1) & ~1)
                    keep(m['base'] + unwind, m['base'] + end + (16 if flags & 3 else 12),
                         'unwind info of %s' % name)
                    nxt = d.read(m['base'] + end, 12) if flags & 4 else None   # UNW_FLAG_CHAININFO
                    unwind = struct.unpack_from('<III', nxt)[2] if nxt else 0
                    depth += 1
    for start, size, label in extra:
        keep(start, start + size, label)
    return want


def trim(d, want):
    """Clip the wanted ranges to the dump's Memory64List; returns [(va, bytes, labels)]."""
    rva, base, ranges = d.mem64
    out = []
    for va, size in ranges:
        pieces = sorted((max(s, va), min(e, va + size), lab) for s, e, lab in want if s < va + size and e > va)
        merged = []
        for s, e, lab in pieces:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
                if lab not in merged[-1][2]:
                    merged[-1][2].append(lab)
            else:
                merged.append([s, e, [lab]])
        for s, e, labs in merged:
            out.append((s, d.read(s, e - s), labs))
    return out


def parse_keep(spec):
    parts = spec.split(':', 2)
    return int(parts[0], 0), int(parts[1], 0), parts[2] if len(parts) > 2 else 'extra'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('src')
    ap.add_argument('dst')
    ap.add_argument('--keep', action='append', default=[], type=parse_keep, metavar='VA:SIZE[:LABEL]')
    ap.add_argument('--json', help='write the kept ranges (with reasons) here')
    a = ap.parse_args()
    d = Dump.load(a.src)
    if not d.mem64:
        sys.exit('%s: no Memory64List (not a full-memory dump)' % a.src)
    kept = trim(d, wanted_ranges(d, a.keep))
    ed = Editor(d)
    ed.set_memory64([(va, data) for va, data, _ in kept])
    size = ed.save(a.dst)
    total = sum(len(data) for _, data, _ in kept)
    print('%s: %d -> %d bytes; Memory64List %d -> %d ranges, %d -> %d bytes of memory' % (
        a.dst, len(d.b), size, len(d.mem64[2]), len(kept), sum(s for _, s in d.mem64[2]), total))
    report = [{'va': '%#x' % va, 'size': '%#x' % len(data), 'why': labs} for va, data, labs in kept]
    for r in report:
        print('  %s +%s  %s' % (r['va'], r['size'], '; '.join(r['why'])))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
