"""mdmp.py - a small struct-based minidump reader and editor for the sample tools.

Only what samples/tools needs: the header and stream directory, SystemInfo's architecture,
ModuleList, ThreadList, Exception, MemoryList/Memory64List (to read target memory) and an
editor that can replace the Memory64List ranges, append blobs and add streams.

Layouts follow minidumpapiset.h. This file is a build helper for the committed samples, not
part of the dumpkit package (which has its own construct-based parsers under parsers/).
"""
import struct

SIGNATURE = 0x504D444D  # 'MDMP'
PAGE = 0x1000

STREAM_NAMES = {
    0: 'Unused', 3: 'ThreadList', 4: 'ModuleList', 5: 'MemoryList', 6: 'Exception',
    7: 'SystemInfo', 9: 'Memory64List', 10: 'CommentA', 11: 'CommentW', 12: 'HandleData',
    14: 'UnloadedModuleList', 15: 'MiscInfo', 16: 'MemoryInfoList', 17: 'ThreadInfoList',
    0xFFF0: 'Wine-ELF-modules',
}
ARCH_X86, ARCH_AMD64 = 0, 9


def page_down(x):
    return x & ~(PAGE - 1)


def page_up(x):
    return (x + PAGE - 1) & ~(PAGE - 1)


class Dump:
    """Read-only view of a minidump held in memory."""

    def __init__(self, data):
        self.b = bytes(data)
        (sig, self.version, self.nstreams, self.dir_rva, self.checksum, self.timestamp,
         self.flags) = struct.unpack_from('<IIIIIIQ', self.b, 0)
        if sig != SIGNATURE:
            raise ValueError('not a minidump')
        self.dir = [struct.unpack_from('<III', self.b, self.dir_rva + 12 * i) for i in range(self.nstreams)]
        s = self.stream(7)
        self.arch = struct.unpack_from('<H', self.b, s[1])[0] if s else None
        self.ptr = 4 if self.arch == ARCH_X86 else 8
        self._memory()

    @classmethod
    def load(cls, path):
        with open(path, 'rb') as f:
            return cls(f.read())

    # ---- generic helpers
    def stream(self, typ):
        """(size, rva) of the first stream of this type, or None."""
        for t, size, rva in self.dir:
            if t == typ:
                return size, rva
        return None

    def u32(self, off):
        return struct.unpack_from('<I', self.b, off)[0]

    def string(self, rva):
        """MINIDUMP_STRING (ULONG32 byte length + UTF-16LE)."""
        n = self.u32(rva)
        return self.b[rva + 4:rva + 4 + n].decode('utf-16-le')

    # ---- memory
    def _memory(self):
        self.mem = []        # (va, size, file offset), sorted
        self.mem64 = None    # (rva of stream, BaseRva, [(va, size)]) if Memory64List present
        s = self.stream(5)
        if s:
            n = self.u32(s[1])
            for i in range(n):
                va, size, rva = struct.unpack_from('<QII', self.b, s[1] + 4 + 16 * i)
                self.mem.append((va, size, rva))
        s = self.stream(9)
        if s:
            n, base = struct.unpack_from('<QQ', self.b, s[1])
            ranges = [struct.unpack_from('<QQ', self.b, s[1] + 16 + 16 * i) for i in range(n)]
            off = base
            for va, size in ranges:
                self.mem.append((va, size, off))
                off += size
            self.mem64 = (s[1], base, ranges)
        self.mem.sort()

    def read(self, va, size):
        """size bytes of target memory at va, or None if not (wholly) in the dump."""
        out = b''
        while size > 0:
            for mva, msize, off in self.mem:
                if mva <= va < mva + msize:
                    n = min(size, mva + msize - va)
                    out += self.b[off + va - mva:off + va - mva + n]
                    va += n
                    size -= n
                    break
            else:
                return None
        return out

    def ptr_at(self, va):
        d = self.read(va, self.ptr)
        if d is None:
            return None
        return struct.unpack('<I' if self.ptr == 4 else '<Q', d)[0]

    # ---- streams
    def modules(self, typ=4):
        s = self.stream(typ)
        out = []
        if not s:
            return out
        n = self.u32(s[1])
        for i in range(n):
            o = s[1] + 4 + 108 * i
            base, size, checksum, ts, name_rva = struct.unpack_from('<QIIII', self.b, o)
            cv_size, cv_rva = struct.unpack_from('<II', self.b, o + 76)
            out.append({'index': i, 'entry_offset': o, 'base': base, 'size': size, 'checksum': checksum,
                        'timestamp': ts, 'name': self.string(name_rva), 'cv_size': cv_size, 'cv_rva': cv_rva})
        return out

    def module_at(self, va):
        for m in self.modules():
            if m['base'] <= va < m['base'] + m['size']:
                return m
        return None

    def threads(self):
        s = self.stream(3)
        out = []
        if not s:
            return out
        n = self.u32(s[1])
        for i in range(n):
            o = s[1] + 4 + 48 * i
            (tid, suspend, prio_class, prio, teb, stack_va, stack_size, stack_rva, ctx_size,
             ctx_rva) = struct.unpack_from('<IIIIQQIIII', self.b, o)
            out.append({'tid': tid, 'teb': teb, 'stack_va': stack_va, 'stack_size': stack_size,
                        'stack_rva': stack_rva, 'ctx': self.context(ctx_rva, ctx_size)})
        return out

    def context(self, rva, size):
        """ip/sp/bp of an x86 or AMD64 CONTEXT."""
        if not rva or not size:
            return None
        if self.arch == ARCH_X86 and size >= 0xCC:
            ebp, eip, _cs, _flags, esp = struct.unpack_from('<IIIII', self.b, rva + 0xB4)
            return {'ip': eip, 'sp': esp, 'bp': ebp}
        if self.arch == ARCH_AMD64 and size >= 0x100:
            rsp, rbp = struct.unpack_from('<QQ', self.b, rva + 0x98)
            rip = struct.unpack_from('<Q', self.b, rva + 0xF8)[0]
            return {'ip': rip, 'sp': rsp, 'bp': rbp}
        return None

    def exception(self):
        s = self.stream(6)
        if not s:
            return None
        r = s[1]
        tid = self.u32(r)
        code, flags, record, address, nparams = struct.unpack_from('<IIQQI', self.b, r + 8)
        params = list(struct.unpack_from('<15Q', self.b, r + 40)[:nparams])
        ctx_size, ctx_rva = struct.unpack_from('<II', self.b, r + 160)
        return {'tid': tid, 'code': code, 'flags': flags, 'address': address, 'params': params,
                'ctx': self.context(ctx_rva, ctx_size)}


class Editor:
    """Builds a new dump from an old one.

    Layout of the result:  [the old file up to `cut`]  [appended blobs]  [Memory64List + data]
    where `cut` is the old Memory64List descriptor's RVA when that stream and its data end the
    file (Wine writes it last), else the old file's end.  Nothing before `cut` moves, so every
    RVA in the other streams stays valid; only the Memory64List (RVA, BaseRva, ranges) and the
    directory entries that change are rewritten.
    """

    def __init__(self, dump):
        self.d = dump
        self.head = bytearray(dump.b)
        self.mem64 = None
        if dump.mem64:
            rva, base, ranges = dump.mem64
            end = base + sum(sz for _, sz in ranges)
            others = [r + sz for t, sz, r in dump.dir if t not in (0, 9)]
            if end == len(dump.b) and all(e <= rva for e in others) and dump.dir_rva < rva:
                self.head = bytearray(dump.b[:rva])
                self.mem64 = [(va, dump.read(va, sz)) for va, sz in ranges]
        self.tail = bytearray()
        self.new_streams = []

    def _append_rva(self):
        return len(self.head) + len(self.tail)

    def append(self, blob, align=4):
        """Append blob after the kept head; returns its RVA."""
        while self._append_rva() % align:
            self.tail.append(0)
        rva = self._append_rva()
        self.tail += blob
        return rva

    def patch(self, offset, data):
        """Overwrite bytes inside the kept head (e.g. a module's CvRecord descriptor)."""
        assert offset + len(data) <= len(self.head)
        self.head[offset:offset + len(data)] = data

    def set_memory64(self, ranges):
        """ranges: [(va, bytes)] in ascending address order."""
        assert self.mem64 is not None, 'no Memory64List at the end of this dump'
        self.mem64 = list(ranges)

    def add_stream(self, typ, blob):
        rva = self.append(blob)
        self.new_streams.append((typ, len(blob), rva))
        return rva

    def build(self):
        d = self.d
        directory = [list(e) for e in d.dir]
        # new streams take Unused (type 0) slots first; if there are too few, the directory is
        # rewritten after the appended blobs (the header's StreamDirectoryRva then points there)
        for typ, size, rva in self.new_streams:
            for e in directory:
                if e[0] == 0:
                    e[:] = [typ, size, rva]
                    break
            else:
                directory.append([typ, size, rva])
        relocate = len(directory) != d.nstreams
        out = self.head + self.tail
        dir_rva = d.dir_rva
        if relocate:
            while len(directory) % 4:                 # keep Wine's padding habit
                directory.append([0, 0, 0])
            while len(out) % 4:
                out.append(0)
            dir_rva = len(out)
            out += b'\0' * (12 * len(directory))
        if self.mem64 is not None:
            while len(out) % 8:
                out.append(0)
            m64_rva = len(out)
            desc = struct.pack('<QQ', len(self.mem64), m64_rva + 16 + 16 * len(self.mem64))
            desc += b''.join(struct.pack('<QQ', va, len(data)) for va, data in self.mem64)
            out += desc
            for _, data in self.mem64:
                out += data
            for e in directory:
                if e[0] == 9:
                    e[1], e[2] = len(desc), m64_rva
        for i, e in enumerate(directory):
            struct.pack_into('<III', out, dir_rva + 12 * i, *e)
        struct.pack_into('<II', out, 8, len(directory), dir_rva)
        return bytes(out)

    def save(self, path):
        data = self.build()
        with open(path, 'wb') as f:
            f.write(data)
        return len(data)


# ---- PE helpers (images read from dump memory or from files)

def pe_headers(read, base):
    """Parse the PE headers of an image; read(va, size) -> bytes|None. Returns a dict or None."""
    h = read(base, PAGE) or read(base, 0x400)
    if not h or h[:2] != b'MZ':
        return None
    pe = struct.unpack_from('<I', h, 0x3C)[0]
    if pe + 24 > len(h) or h[pe:pe + 4] != b'PE\0\0':
        return None
    nsec, = struct.unpack_from('<H', h, pe + 6)
    opt_size, = struct.unpack_from('<H', h, pe + 20)
    if pe + 24 + opt_size + 40 * nsec > len(h):
        return None
    opt = pe + 24
    magic, = struct.unpack_from('<H', h, opt)
    dd = opt + (96 if magic == 0x10B else 112)
    ndd, = struct.unpack_from('<I', h, dd - 4)
    dirs = [struct.unpack_from('<II', h, dd + 8 * i) for i in range(min(ndd, 16))]
    secs = []
    for i in range(nsec):
        o = opt + opt_size + 40 * i
        name = h[o:o + 8].rstrip(b'\0').decode('latin1')
        vsize, va, rsize, rptr = struct.unpack_from('<IIII', h, o + 8)
        secs.append({'name': name, 'va': va, 'vsize': vsize, 'rsize': rsize, 'rptr': rptr})
    image_base = struct.unpack_from('<I' if magic == 0x10B else '<Q', h, opt + (28 if magic == 0x10B else 24))[0]
    size_of_headers, = struct.unpack_from('<I', h, opt + 60)
    return {'magic': magic, 'dirs': dirs, 'sections': secs, 'image_base': image_base,
            'size_of_headers': size_of_headers}


def file_reader(data):
    """read(rva, size) over a PE file on disk, mapping RVAs through the section table."""
    pe = struct.unpack_from('<I', data, 0x3C)[0]
    nsec, = struct.unpack_from('<H', data, pe + 6)
    opt_size, = struct.unpack_from('<H', data, pe + 20)
    secs = []
    for i in range(nsec):
        o = pe + 24 + opt_size + 40 * i
        vsize, va, rsize, rptr = struct.unpack_from('<IIII', data, o + 8)
        secs.append((va, max(vsize, rsize), rptr, rsize))
    size_of_headers, = struct.unpack_from('<I', data, pe + 24 + 60)

    def read(rva, size):
        if rva < size_of_headers:
            chunk = data[rva:min(rva + size, size_of_headers)]
            return chunk + b'\0' * (size - len(chunk))
        for va, vs, rptr, rsize in secs:
            if va <= rva and rva + size <= va + vs:
                o = rva - va
                chunk = data[rptr + o:rptr + min(o + size, rsize)] if o < rsize else b''
                return chunk + b'\0' * (size - len(chunk))
        return None
    return read


def codeview_record(read, base, hdr=None):
    """Raw CodeView (RSDS) debug record of an image, via its debug directory, or None."""
    hdr = hdr or pe_headers(read, base)
    if not hdr or len(hdr['dirs']) <= 6:
        return None
    rva, size = hdr['dirs'][6]
    if not rva:
        return None
    for i in range(size // 28):
        e = read(base + rva + 28 * i, 28)
        if not e:
            return None
        typ, sz, addr = struct.unpack_from('<III', e, 12)
        if typ == 2:
            return read(base + addr, sz)
    return None


def parse_rsds(raw):
    if not raw or raw[:4] != b'RSDS' or len(raw) < 25:
        return None
    g = raw[4:20]
    d1, d2, d3 = struct.unpack_from('<IHH', g, 0)
    guid = '%08X-%04X-%04X-%s-%s' % (d1, d2, d3, g[8:10].hex().upper(), g[10:16].hex().upper())
    age, = struct.unpack_from('<I', raw, 20)
    return {'guid': guid, 'age': age, 'pdb': raw[24:].split(b'\0')[0].decode('utf-8', 'replace')}
