/* dkwin.h - the few Win32/NT declarations the dumpkit samples use, plus tiny
 * CRT-free helpers.  The samples are built with clang for *-pc-windows-msvc
 * and linked by lld-link with /nodefaultlib (no C runtime at all), so nothing
 * here may depend on a C library.  LLP64: long is 32 bits on both targets.
 */
#ifndef DKWIN_H
#define DKWIN_H

#define WINAPI __stdcall
#define NOINLINE __attribute__((noinline))
#define DK_USED __attribute__((used))

typedef unsigned long DWORD;
typedef long LONG;
typedef int BOOL;
typedef unsigned int UINT;
typedef unsigned short WORD;
typedef unsigned short WCHAR;
typedef unsigned char BYTE;
typedef void *HANDLE;
typedef long NTSTATUS;
typedef __SIZE_TYPE__ SIZE_T;
typedef __UINTPTR_TYPE__ ULONG_PTR;

#define INFINITE 0xFFFFFFFFu
#define STD_OUTPUT_HANDLE ((DWORD)-11)
#define GENERIC_READ 0x80000000u
#define GENERIC_WRITE 0x40000000u
#define CREATE_ALWAYS 2
#define FILE_ATTRIBUTE_NORMAL 0x80
#define PROCESS_ALL_ACCESS 0x1FFFFFu
#define INVALID_HANDLE_VALUE ((HANDLE)(ULONG_PTR)-1)
#define EXCEPTION_EXECUTE_HANDLER 1
#define EXCEPTION_CONTINUE_SEARCH 0
#define ExceptionContinueSearch 1

typedef struct _EXCEPTION_RECORD {
    DWORD ExceptionCode;
    DWORD ExceptionFlags;
    struct _EXCEPTION_RECORD *ExceptionRecord;
    void *ExceptionAddress;
    DWORD NumberParameters;
    ULONG_PTR ExceptionInformation[15];
} EXCEPTION_RECORD;

typedef struct _EXCEPTION_POINTERS {
    EXCEPTION_RECORD *ExceptionRecord;
    void *ContextRecord;
} EXCEPTION_POINTERS;

/* RTL_CRITICAL_SECTION: 24 bytes on x86, 40 on x64 */
typedef struct _CRITICAL_SECTION {
    void *DebugInfo;
    LONG LockCount;
    LONG RecursionCount;
    HANDLE OwningThread;
    HANDLE LockSemaphore;
    ULONG_PTR SpinCount;
} CRITICAL_SECTION;

typedef struct _STARTUPINFOA {
    DWORD cb;
    char *lpReserved, *lpDesktop, *lpTitle;
    DWORD dwX, dwY, dwXSize, dwYSize, dwXCountChars, dwYCountChars, dwFillAttribute, dwFlags;
    WORD wShowWindow, cbReserved2;
    BYTE *lpReserved2;
    HANDLE hStdInput, hStdOutput, hStdError;
} STARTUPINFOA;

typedef struct _PROCESS_INFORMATION {
    HANDLE hProcess, hThread;
    DWORD dwProcessId, dwThreadId;
} PROCESS_INFORMATION;

#pragma pack(push, 4) /* as in dbghelp.h */
typedef struct _MINIDUMP_EXCEPTION_INFORMATION {
    DWORD ThreadId;
    EXCEPTION_POINTERS *ExceptionPointers;
    BOOL ClientPointers;
} MINIDUMP_EXCEPTION_INFORMATION;
#pragma pack(pop)

/* NT object queries (ntdll) used by the mutex sample to describe its handles */
typedef struct _UNICODE_STRING {
    WORD Length, MaximumLength;
    WCHAR *Buffer;
} UNICODE_STRING;
typedef struct _OBJECT_BASIC_INFORMATION { /* ObjectBasicInformation = 0 */
    DWORD Attributes, GrantedAccess, HandleCount, PointerCount;
    DWORD PagedPoolUsage, NonPagedPoolUsage, Reserved[3];
    DWORD NameInformationLength, TypeInformationLength, SecurityDescriptorLength;
    long long CreateTime;
} OBJECT_BASIC_INFORMATION;
typedef struct _MUTANT_BASIC_INFORMATION { /* MutantBasicInformation = 0 */
    LONG CurrentCount;
    BYTE OwnedByCaller, AbandonedState;
} MUTANT_BASIC_INFORMATION;

typedef DWORD(WINAPI *THREAD_START)(void *);
typedef LONG(WINAPI *TOP_FILTER)(EXCEPTION_POINTERS *);

/* kernel32 */
HANDLE WINAPI CreateFileA(const char *, DWORD, DWORD, void *, DWORD, DWORD, HANDLE);
BOOL WINAPI WriteFile(HANDLE, const void *, DWORD, DWORD *, void *);
BOOL WINAPI CloseHandle(HANDLE);
HANDLE WINAPI GetStdHandle(DWORD);
char *WINAPI GetCommandLineA(void);
HANDLE WINAPI GetCurrentProcess(void);
DWORD WINAPI GetCurrentProcessId(void);
DWORD WINAPI GetCurrentThreadId(void);
HANDLE WINAPI OpenProcess(DWORD, BOOL, DWORD);
BOOL WINAPI CreateProcessA(const char *, char *, void *, void *, BOOL, DWORD, void *, const char *,
                           STARTUPINFOA *, PROCESS_INFORMATION *);
BOOL WINAPI TerminateProcess(HANDLE, UINT);
void WINAPI ExitProcess(UINT);
HANDLE WINAPI CreateThread(void *, SIZE_T, THREAD_START, void *, DWORD, DWORD *);
DWORD WINAPI WaitForSingleObject(HANDLE, DWORD);
void WINAPI Sleep(DWORD);
HANDLE WINAPI CreateMutexA(void *, BOOL, const char *);
void WINAPI InitializeCriticalSection(CRITICAL_SECTION *);
void WINAPI EnterCriticalSection(CRITICAL_SECTION *);
void WINAPI LeaveCriticalSection(CRITICAL_SECTION *);
TOP_FILTER WINAPI SetUnhandledExceptionFilter(TOP_FILTER);
DWORD WINAPI GetLastError(void);
/* dbghelp */
BOOL WINAPI MiniDumpWriteDump(HANDLE, DWORD, HANDLE, DWORD, MINIDUMP_EXCEPTION_INFORMATION *, void *, void *);
/* ntdll */
NTSTATUS WINAPI NtQueryObject(HANDLE, int, void *, DWORD, DWORD *);
NTSTATUS WINAPI NtQueryMutant(HANDLE, int, void *, DWORD, DWORD *);

/* ---------------- output helpers (stdout, no CRT) ---------------- */
static inline unsigned dk_len(const char *s) { unsigned n = 0; while (s[n]) n++; return n; }
static inline void dk_puts(const char *s) {
    DWORD n;
    WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), s, dk_len(s), &n, 0);
}
static inline char *dk_fmt_hex(char *end, unsigned long long v) { /* writes backwards, no padding */
    *--end = 0;
    do { *--end = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    *--end = 'x'; *--end = '0';
    return end;
}
static inline char *dk_fmt_dec(char *end, unsigned long v) { /* 32-bit: no __aulldiv on i686 */
    *--end = 0;
    do { *--end = (char)('0' + v % 10); v /= 10; } while (v);
    return end;
}
static inline void dk_hex(unsigned long long v) { char b[24]; dk_puts(dk_fmt_hex(b + sizeof b, v)); }
static inline void dk_dec(unsigned long v) { char b[24]; dk_puts(dk_fmt_dec(b + sizeof b, v)); }
static inline void dk_kv_hex(const char *k, unsigned long long v) { dk_puts(" "); dk_puts(k); dk_puts("="); dk_hex(v); }
static inline void dk_kv_dec(const char *k, unsigned long v) { dk_puts(" "); dk_puts(k); dk_puts("="); dk_dec(v); }
static inline void dk_kv_str(const char *k, const char *v) { dk_puts(" "); dk_puts(k); dk_puts("="); dk_puts(v); }
static inline void dk_nl(void) { dk_puts("\r\n"); }
static inline void dk_cat(char *dst, const char *src) { while (*dst) dst++; while ((*dst++ = *src++)) {} }
static inline void dk_cat_dec(char *dst, unsigned long v) { char b[24]; dk_cat(dst, dk_fmt_dec(b + sizeof b, v)); }
static inline void dk_cat_hex(char *dst, unsigned long long v) { char b[24]; dk_cat(dst, dk_fmt_hex(b + sizeof b, v)); }
static inline unsigned long long dk_atoull(const char *s) { /* decimal, or hex with 0x */
    unsigned long long v = 0;
    if (s[0] == '0' && (s[1] | 0x20) == 'x') {
        for (s += 2;; s++) {
            int c = *s | 0x20, d = (*s >= '0' && *s <= '9') ? *s - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0) break;
            v = v * 16 + (unsigned)d;
        }
    } else {
        for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (unsigned)(*s - '0');
    }
    return v;
}
/* argv from GetCommandLineA(): blanks separate, double quotes group */
static inline int dk_argv(char **argv, int max, char *buf, unsigned size) {
    const char *s = GetCommandLineA();
    unsigned o = 0;
    int argc = 0;
    for (;;) {
        int quoted = 0;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || argc == max || o >= size) break;
        argv[argc++] = buf + o;
        for (; *s && (quoted || (*s != ' ' && *s != '\t')); s++) {
            if (*s == '"') { quoted = !quoted; continue; }
            if (o + 1 < size) buf[o++] = *s;
        }
        buf[o++] = 0;
    }
    return argc;
}
static inline void dk_zero(void *p, unsigned n) { volatile char *c = p; while (n--) *c++ = 0; }

/* Start "DUMPER args" and wait for it (the dumper writes the dump of this process). */
static inline void dk_run_and_wait(char *cmdline) {
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    dk_zero(&si, sizeof si);
    si.cb = sizeof si;
    dk_puts("run:"); dk_kv_str("cmd", cmdline); dk_nl();
    if (!CreateProcessA(0, cmdline, 0, 0, 0, 0, 0, 0, &si, &pi)) {
        dk_puts("error: CreateProcessA"); dk_kv_dec("err", GetLastError()); dk_nl();
        return;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
}

#endif
