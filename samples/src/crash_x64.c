/* crash_x64.c - x86_64: an access violation four calls below main.
 *
 *   crash_x64.exe OUTPREFIX DUMPER
 *
 * Call chain (innermost first):
 *   crash_read <- crash_level3 <- crash_level2 <- crash_level1 <- main <- mainCRTStartup
 * Each level keeps a small local array and does work after the call, so each
 * has a real frame (stack allocation, unwind codes in .pdata/.xdata) and is
 * neither inlined nor turned into a tail call.  No frame pointers (-O1 x64):
 * walking the stack needs the image's .pdata.  The unhandled-exception filter
 * starts DUMPER (out of process, ClientPointers=TRUE) and waits for it.
 */
#include "dkwin.h"

#if !defined(__x86_64__)
#error "crash_x64.c is the x86_64 sample"
#endif

volatile LONG g_sink;
static char g_prefix[260], g_dumper[260];

NOINLINE int crash_read(const volatile int *p) {
    return *p + 1; /* access violation: read from 0x30 */
}

NOINLINE int crash_level3(int v) {
    volatile int scratch[6];
    int i, r;
    for (i = 0; i < 6; i++) scratch[i] = v + i;
    r = crash_read((const volatile int *)(ULONG_PTR)(0x30 + (v & 0)));
    return r + scratch[2];
}

NOINLINE int crash_level2(int v) {
    volatile int scratch[10];
    int i, r;
    for (i = 0; i < 10; i++) scratch[i] = v * i;
    r = crash_level3(v + 2);
    return r + scratch[7];
}

NOINLINE int crash_level1(int v) {
    volatile long long scratch[4];
    int i, r;
    for (i = 0; i < 4; i++) scratch[i] = (long long)v << i;
    r = crash_level2(v + 1);
    return r + (int)scratch[3];
}

static LONG WINAPI last_chance(EXCEPTION_POINTERS *ep) {
    char cmd[800];
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
    cmd[0] = 0;
    dk_cat(cmd, "\""); dk_cat(cmd, g_dumper); dk_cat(cmd, "\" ");
    dk_cat_dec(cmd, GetCurrentProcessId());
    dk_cat(cmd, " \""); dk_cat(cmd, g_prefix); dk_cat(cmd, "\" ");
    dk_cat_dec(cmd, tid);
    dk_cat(cmd, " ");
    dk_cat_hex(cmd, (ULONG_PTR)ep);
    dk_run_and_wait(cmd);
    return EXCEPTION_EXECUTE_HANDLER;
}

int main(void) {
    char *argv[6], buf[1024];
    int argc = dk_argv(argv, 6, buf, sizeof buf), r;
    if (argc < 3) {
        dk_puts("usage: crash_x64 OUTPREFIX DUMPER\r\n");
        return 2;
    }
    dk_cat(g_prefix, argv[1]);
    dk_cat(g_dumper, argv[2]);
    SetUnhandledExceptionFilter(last_chance);
    dk_puts("start:");
    dk_kv_dec("pid", GetCurrentProcessId());
    dk_kv_dec("tid", GetCurrentThreadId());
    dk_kv_hex("main", (ULONG_PTR)&main);
    dk_kv_hex("crash_level1", (ULONG_PTR)&crash_level1);
    dk_kv_hex("crash_level2", (ULONG_PTR)&crash_level2);
    dk_kv_hex("crash_level3", (ULONG_PTR)&crash_level3);
    dk_kv_hex("crash_read", (ULONG_PTR)&crash_read);
    dk_nl();
    r = crash_level1(4);
    g_sink = r;
    return r & 0x7f;
}
