/* seh_x86.c - i686 only: an access violation inside nested SEH frames.
 *
 *   seh_x86.exe OUTPREFIX DUMPER
 *
 * Call chain (innermost first):
 *   write_null  <- guard_inner <- guard_try <- guard_outer <- main <- mainCRTStartup
 * Frames on the fs:[0] exception-registration chain, innermost first:
 *   guard_inner: hand-made EXCEPTION_REGISTRATION_RECORD, handler seh_h3
 *   guard_try:   clang's __try/__except frame, handler _except_handler3 (msvcrt)
 *   guard_outer: hand-made EXCEPTION_REGISTRATION_RECORD, handler seh_h1
 * seh_h1 and seh_h3 are declared safe handlers (.safeseh), so with lld-link
 * /safeseh the load config's SEHandlerTable lists seh_h1, seh_h3 and the
 * _except_handler3 import thunk.  Every handler declines, the unhandled-exception
 * filter prints what it sees (including the fs:[0] chain at that moment) and
 * starts DUMPER, which writes the dumps of this process from outside
 * (MiniDumpWriteDump with ClientPointers=TRUE) while the filter waits.
 */
#include "dkwin.h"

#if !defined(__i386__)
#error "seh_x86.c is the i686 SEH sample"
#endif

typedef struct SEH_RECORD {
    struct SEH_RECORD *next;
    void *handler;
} SEH_RECORD;

volatile LONG g_calls[3]; /* [0] seh_h3, [1] __except filter, [2] seh_h1 */
volatile LONG g_result;
static char g_prefix[260], g_dumper[260];

/* Link rec in front of fs:[0], and unlink it again. */
#define SEH_LINK(rec, fn)                                                                \
    do {                                                                                 \
        (rec).handler = (void *)(fn);                                                    \
        __asm__ volatile("movl %%fs:0, %%eax\n\t"                                        \
                         "movl %%eax, (%0)\n\t"                                          \
                         "movl %0, %%fs:0" : : "r"(&(rec)) : "eax", "memory");           \
    } while (0)
#define SEH_UNLINK(rec) \
    __asm__ volatile("movl (%0), %%eax\n\tmovl %%eax, %%fs:0" : : "r"(&(rec)) : "eax", "memory")

DK_USED int __cdecl seh_h1(EXCEPTION_RECORD *rec, void *frame, void *ctx, void *dispatch) {
    (void)rec; (void)frame; (void)ctx; (void)dispatch;
    g_calls[2]++;
    return ExceptionContinueSearch;
}

DK_USED int __cdecl seh_h3(EXCEPTION_RECORD *rec, void *frame, void *ctx, void *dispatch) {
    (void)rec; (void)frame; (void)ctx; (void)dispatch;
    g_calls[0]++;
    return ExceptionContinueSearch;
}

/* declare both as valid SafeSEH handlers (.sxdata) */
__asm__(".safeseh _seh_h1\n\t.safeseh _seh_h3\n\t");

NOINLINE int write_null(int v) {
    volatile int *p = (volatile int *)(ULONG_PTR)0x10;
    *p = v; /* access violation: write to 0x00000010 */
    return v;
}

NOINLINE int guard_inner(int v) {
    SEH_RECORD rec;
    int r;
    SEH_LINK(rec, seh_h3);
    r = write_null(v * 7) + 1;
    SEH_UNLINK(rec);
    g_result = r;
    return r;
}

static int decline_filter(void) {
    g_calls[1]++;
    return EXCEPTION_CONTINUE_SEARCH;
}

NOINLINE int guard_try(int v) {
    int r;
    __try {
        r = guard_inner(v + 3) + 2;
    } __except (decline_filter()) {
        r = -1;
    }
    g_result = r;
    return r;
}

NOINLINE int guard_outer(int v) {
    SEH_RECORD rec;
    int r;
    SEH_LINK(rec, seh_h1);
    r = guard_try(v + 1) + 3;
    SEH_UNLINK(rec);
    g_result = r;
    return r;
}

static LONG WINAPI last_chance(EXCEPTION_POINTERS *ep) {
    char cmd[800];
    SEH_RECORD *r;
    int i = 0;
    DWORD tid = GetCurrentThreadId();
    dk_puts("exception:");
    dk_kv_dec("tid", tid);
    dk_kv_hex("code", ep->ExceptionRecord->ExceptionCode);
    dk_kv_hex("address", (ULONG_PTR)ep->ExceptionRecord->ExceptionAddress);
    dk_kv_dec("nparams", ep->ExceptionRecord->NumberParameters);
    dk_kv_hex("param0", ep->ExceptionRecord->ExceptionInformation[0]);
    dk_kv_hex("param1", ep->ExceptionRecord->ExceptionInformation[1]);
    dk_kv_hex("ep", (ULONG_PTR)ep);
    dk_nl();
    dk_puts("handlers-called:");
    dk_kv_dec("seh_h3", (unsigned long)g_calls[0]);
    dk_kv_dec("except_filter", (unsigned long)g_calls[1]);
    dk_kv_dec("seh_h1", (unsigned long)g_calls[2]);
    dk_nl();
    /* the fs:[0] chain as it is while the dumper runs (this frame is the waiting one) */
    __asm__ volatile("movl %%fs:0, %0" : "=r"(r));
    for (; r && (ULONG_PTR)r != 0xFFFFFFFFu && i < 16; r = r->next, i++) {
        dk_puts("seh-record:");
        dk_kv_dec("index", (unsigned)i);
        dk_kv_hex("record", (ULONG_PTR)r);
        dk_kv_hex("handler", (ULONG_PTR)r->handler);
        dk_nl();
    }
    cmd[0] = 0;
    dk_cat(cmd, "\""); dk_cat(cmd, g_dumper); dk_cat(cmd, "\" ");
    dk_cat_dec(cmd, GetCurrentProcessId());
    dk_cat(cmd, " \""); dk_cat(cmd, g_prefix); dk_cat(cmd, "\" ");
    dk_cat_dec(cmd, tid);
    dk_cat(cmd, " ");
    dk_cat_hex(cmd, (ULONG_PTR)ep);
    dk_run_and_wait(cmd);
    return EXCEPTION_EXECUTE_HANDLER; /* terminate the process */
}

int main(void) {
    char *argv[6], buf[1024];
    int argc = dk_argv(argv, 6, buf, sizeof buf);
    if (argc < 3) {
        dk_puts("usage: seh_x86 OUTPREFIX DUMPER\r\n");
        return 2;
    }
    dk_cat(g_prefix, argv[1]);
    dk_cat(g_dumper, argv[2]);
    SetUnhandledExceptionFilter(last_chance);
    dk_puts("start:");
    dk_kv_dec("pid", GetCurrentProcessId());
    dk_kv_dec("tid", GetCurrentThreadId());
    dk_kv_hex("main", (ULONG_PTR)&main);
    dk_kv_hex("guard_outer", (ULONG_PTR)&guard_outer);
    dk_kv_hex("guard_try", (ULONG_PTR)&guard_try);
    dk_kv_hex("guard_inner", (ULONG_PTR)&guard_inner);
    dk_kv_hex("write_null", (ULONG_PTR)&write_null);
    dk_kv_hex("seh_h1", (ULONG_PTR)&seh_h1);
    dk_kv_hex("seh_h3", (ULONG_PTR)&seh_h3);
    dk_nl();
    return guard_outer(5);
}
