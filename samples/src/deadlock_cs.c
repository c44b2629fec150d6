/* deadlock_cs.c - two threads deadlocked on two CRITICAL_SECTIONs.
 *
 *   deadlock_cs.exe OUTPREFIX DUMPER
 *
 * cs_thread_alpha: owns g_cs_alpha, then blocks in EnterCriticalSection(&g_cs_beta)
 * cs_thread_beta:  owns g_cs_beta,  then blocks in EnterCriticalSection(&g_cs_alpha)
 * Both block inside cs_take_second.  The main thread is not involved: once both
 * workers are blocked it prints the facts (thread ids, CS addresses and owners),
 * starts DUMPER to dump this process from outside, waits for it and terminates.
 * The critical sections are zero-initialised globals (.bss of the exe).
 */
#include "dkwin.h"

CRITICAL_SECTION g_cs_alpha, g_cs_beta;
volatile LONG g_stage[2];   /* 1: owns its first lock, 2: about to take the second */
DWORD g_tid[2];

NOINLINE void cs_take_second(CRITICAL_SECTION *cs, int who) {
    g_stage[who] = 2;
    EnterCriticalSection(cs); /* never returns: the other thread owns cs */
    g_stage[who] = 3;
    LeaveCriticalSection(cs);
}

static void wait_stage(int who, LONG stage) {
    while (g_stage[who] < stage) Sleep(10);
}

NOINLINE DWORD WINAPI cs_thread_alpha(void *arg) {
    (void)arg;
    EnterCriticalSection(&g_cs_alpha);
    g_stage[0] = 1;
    wait_stage(1, 1);
    cs_take_second(&g_cs_beta, 0);
    LeaveCriticalSection(&g_cs_alpha);
    return 0;
}

NOINLINE DWORD WINAPI cs_thread_beta(void *arg) {
    (void)arg;
    EnterCriticalSection(&g_cs_beta);
    g_stage[1] = 1;
    wait_stage(0, 1);
    cs_take_second(&g_cs_alpha, 1);
    LeaveCriticalSection(&g_cs_beta);
    return 0;
}

static void print_cs(const char *name, CRITICAL_SECTION *cs) {
    dk_puts("critical-section:");
    dk_kv_str("name", name);
    dk_kv_hex("address", (ULONG_PTR)cs);
    dk_kv_dec("owner_tid", (ULONG_PTR)cs->OwningThread);
    dk_kv_dec("lock_count", (unsigned long)cs->LockCount);
    dk_kv_dec("recursion_count", (unsigned long)cs->RecursionCount);
    dk_kv_hex("debug_info", (ULONG_PTR)cs->DebugInfo);
    dk_kv_hex("lock_semaphore", (ULONG_PTR)cs->LockSemaphore);
    dk_nl();
}

int main(void) {
    char *argv[6], buf[1024], cmd[800];
    int argc = dk_argv(argv, 6, buf, sizeof buf);
    HANDLE t[2];
    if (argc < 3) {
        dk_puts("usage: deadlock_cs OUTPREFIX DUMPER\r\n");
        return 2;
    }
    InitializeCriticalSection(&g_cs_alpha);
    InitializeCriticalSection(&g_cs_beta);
    t[0] = CreateThread(0, 0, cs_thread_alpha, 0, 0, &g_tid[0]);
    t[1] = CreateThread(0, 0, cs_thread_beta, 0, 0, &g_tid[1]);
    wait_stage(0, 2);
    wait_stage(1, 2);
    Sleep(700); /* both are now blocked inside EnterCriticalSection */
    dk_puts("start:");
    dk_kv_dec("pid", GetCurrentProcessId());
    dk_kv_dec("main_tid", GetCurrentThreadId());
    dk_kv_dec("alpha_tid", g_tid[0]);
    dk_kv_dec("beta_tid", g_tid[1]);
    dk_kv_dec("alpha_stage", (unsigned long)g_stage[0]);
    dk_kv_dec("beta_stage", (unsigned long)g_stage[1]);
    dk_kv_hex("cs_take_second", (ULONG_PTR)&cs_take_second);
    dk_kv_hex("cs_thread_alpha", (ULONG_PTR)&cs_thread_alpha);
    dk_kv_hex("cs_thread_beta", (ULONG_PTR)&cs_thread_beta);
    dk_nl();
    print_cs("g_cs_alpha", &g_cs_alpha);
    print_cs("g_cs_beta", &g_cs_beta);
    dk_puts("waits:");
    dk_kv_dec("alpha_tid", g_tid[0]);
    dk_kv_str("waits_for", "g_cs_beta");
    dk_kv_dec("beta_tid", g_tid[1]);
    dk_kv_str("waits_for", "g_cs_alpha");
    dk_nl();
    cmd[0] = 0;
    dk_cat(cmd, "\""); dk_cat(cmd, argv[2]); dk_cat(cmd, "\" ");
    dk_cat_dec(cmd, GetCurrentProcessId());
    dk_cat(cmd, " \""); dk_cat(cmd, argv[1]); dk_cat(cmd, "\"");
    dk_run_and_wait(cmd);
    CloseHandle(t[0]);
    CloseHandle(t[1]);
    TerminateProcess(GetCurrentProcess(), 0);
    return 0;
}
