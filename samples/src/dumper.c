/* dumper.c - writes minidumps of another process with dbghelp's MiniDumpWriteDump.
 *
 *   dumper.exe PID OUTPREFIX [TID EXCEPTION_POINTERS_ADDRESS]
 *
 * Writes OUTPREFIX-normal.dmp (MiniDumpNormal) and OUTPREFIX-full.dmp
 * (full memory plus the usual "full dump" flags).  With TID and the address of
 * an EXCEPTION_POINTERS in the target, the exception is passed with
 * ClientPointers=TRUE, i.e. read from the target's memory, as a crash handler
 * that hands off to an out-of-process dumper does.  Written from outside, every
 * thread of the target gets its own live context (under Wine too).
 */
#include "dkwin.h"

#define MiniDumpNormal 0x0
#define DK_FULL_FLAGS (0x2 /*WithFullMemory*/ | 0x4 /*WithHandleData*/ | 0x20 /*WithUnloadedModules*/ | \
                       0x800 /*WithFullMemoryInfo*/ | 0x1000 /*WithThreadInfo*/)

static int write_one(HANDLE proc, DWORD pid, const char *prefix, const char *suffix, DWORD type,
                     MINIDUMP_EXCEPTION_INFORMATION *mei) {
    char path[400];
    HANDLE f;
    BOOL ok;
    path[0] = 0;
    dk_cat(path, prefix);
    dk_cat(path, suffix);
    f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, 0, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, 0);
    if (f == INVALID_HANDLE_VALUE) {
        dk_puts("dumper: cannot create"); dk_kv_str("path", path); dk_nl();
        return 0;
    }
    ok = MiniDumpWriteDump(proc, pid, f, type, mei, 0, 0);
    dk_puts(ok ? "dumper: wrote" : "dumper: FAILED");
    dk_kv_str("path", path);
    dk_kv_hex("type", type);
    if (!ok) dk_kv_dec("err", GetLastError());
    dk_nl();
    CloseHandle(f);
    return ok;
}

int main(void) {
    char *argv[8], buf[1024];
    int argc = dk_argv(argv, 8, buf, sizeof buf), ok;
    MINIDUMP_EXCEPTION_INFORMATION mei, *pmei = 0;
    DWORD pid;
    HANDLE proc;
    if (argc < 3) {
        dk_puts("usage: dumper PID OUTPREFIX [TID EXCEPTION_POINTERS]\r\n");
        return 2;
    }
    pid = (DWORD)dk_atoull(argv[1]);
    if (argc >= 5) {
        mei.ThreadId = (DWORD)dk_atoull(argv[3]);
        mei.ExceptionPointers = (EXCEPTION_POINTERS *)(ULONG_PTR)dk_atoull(argv[4]);
        mei.ClientPointers = 1;
        pmei = &mei;
    }
    proc = OpenProcess(PROCESS_ALL_ACCESS, 0, pid);
    if (!proc) {
        dk_puts("dumper: OpenProcess failed"); dk_kv_dec("err", GetLastError()); dk_nl();
        return 1;
    }
    ok = write_one(proc, pid, argv[2], "-normal.dmp", MiniDumpNormal, pmei);
    ok &= write_one(proc, pid, argv[2], "-full.dmp", DK_FULL_FLAGS, pmei);
    CloseHandle(proc);
    return ok ? 0 : 1;
}
