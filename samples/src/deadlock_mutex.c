/* deadlock_mutex.c - two threads deadlocked on two named mutexes.
 *
 *   deadlock_mutex.exe OUTPREFIX DUMPER
 *
 * mutex_thread_red:  owns "dumpkit_mutex_red",  then waits for "dumpkit_mutex_blue"
 * mutex_thread_blue: owns "dumpkit_mutex_blue", then waits for "dumpkit_mutex_red"
 * Both block in WaitForSingleObject inside mutex_take_second.  The main thread is
 * not involved: once both workers are blocked it prints, for each mutex, the
 * handle value, the owning thread id (known by construction: Wine cannot report
 * mutant owners) and what NtQueryObject/NtQueryMutant say about the handle; then
 * it starts DUMPER to dump this process from outside, waits for it and terminates.
 * Wine writes no HandleDataStream; samples/tools/add_handles.py builds one from
 * this output.
 */
#include "dkwin.h"

static const char *const g_names[2] = {"dumpkit_mutex_red", "dumpkit_mutex_blue"};
HANDLE g_mutex[2];
DWORD g_owner[2];           /* thread id that acquired g_mutex[i] */
volatile LONG g_stage[2];   /* 1: owns its first mutex, 2: about to wait for the second */
DWORD g_tid[2];

NOINLINE void mutex_take_second(HANDLE m, int who) {
    g_stage[who] = 2;
    WaitForSingleObject(m, INFINITE); /* never returns: the other thread owns m */
    g_stage[who] = 3;
}

static void wait_stage(int who, LONG stage) {
    while (g_stage[who] < stage) Sleep(10);
}

NOINLINE DWORD WINAPI mutex_thread_red(void *arg) {
    (void)arg;
    WaitForSingleObject(g_mutex[0], INFINITE);
    g_owner[0] = GetCurrentThreadId();
    g_stage[0] = 1;
    wait_stage(1, 1);
    mutex_take_second(g_mutex[1], 0);
    return 0;
}

NOINLINE DWORD WINAPI mutex_thread_blue(void *arg) {
    (void)arg;
    WaitForSingleObject(g_mutex[1], INFINITE);
    g_owner[1] = GetCurrentThreadId();
    g_stage[1] = 1;
    wait_stage(0, 1);
    mutex_take_second(g_mutex[0], 1);
    return 0;
}

/* print a UNICODE_STRING that holds ASCII text */
static void put_ustr(const char *key, const UNICODE_STRING *u) {
    char s[256];
    unsigned i, n = u->Length / 2;
    if (n > sizeof s - 1) n = sizeof s - 1;
    for (i = 0; i < n; i++) s[i] = (u->Buffer[i] < 0x80 && u->Buffer[i] > 0x20) ? (char)u->Buffer[i] : '?';
    s[n] = 0;
    dk_kv_str(key, n ? s : "-");
}

static void print_mutex(int i) {
    union { UNICODE_STRING u; char raw[1024]; } info;
    OBJECT_BASIC_INFORMATION obi;
    MUTANT_BASIC_INFORMATION mbi;
    DWORD len = 0;
    NTSTATUS st;
    dk_puts("mutex:");
    dk_kv_str("name", g_names[i]);
    dk_kv_hex("handle", (ULONG_PTR)g_mutex[i]);
    dk_kv_dec("owner_tid", g_owner[i]);
    st = NtQueryObject(g_mutex[i], 1 /*ObjectNameInformation*/, &info, sizeof info, &len);
    if (st == 0) put_ustr("object_name", &info.u); else dk_kv_hex("object_name_status", (DWORD)st);
    st = NtQueryObject(g_mutex[i], 2 /*ObjectTypeInformation*/, &info, sizeof info, &len);
    if (st == 0) put_ustr("type_name", &info.u); else dk_kv_hex("type_name_status", (DWORD)st);
    dk_zero(&obi, sizeof obi);
    st = NtQueryObject(g_mutex[i], 0 /*ObjectBasicInformation*/, &obi, sizeof obi, &len);
    if (st == 0) {
        dk_kv_hex("attributes", obi.Attributes);
        dk_kv_hex("granted_access", obi.GrantedAccess);
        dk_kv_dec("handle_count", obi.HandleCount);
        dk_kv_dec("pointer_count", obi.PointerCount);
    } else {
        dk_kv_hex("basic_status", (DWORD)st);
    }
    dk_zero(&mbi, sizeof mbi);
    st = NtQueryMutant(g_mutex[i], 0 /*MutantBasicInformation*/, &mbi, 8, &len);
    if (st == 0) {
        dk_kv_dec("current_count", (unsigned long)(mbi.CurrentCount < 0 ? 0 : mbi.CurrentCount));
        if (mbi.CurrentCount < 0) dk_kv_dec("current_count_neg", (unsigned long)-mbi.CurrentCount);
        dk_kv_dec("owned_by_caller", mbi.OwnedByCaller);
        dk_kv_dec("abandoned", mbi.AbandonedState);
    } else {
        dk_kv_hex("mutant_status", (DWORD)st);
    }
    st = NtQueryMutant(g_mutex[i], 1 /*MutantOwnerInformation*/, &info, 16, &len);
    dk_kv_hex("mutant_owner_query_status", (DWORD)st);
    dk_nl();
}

int main(void) {
    char *argv[6], buf[1024], cmd[800];
    int argc = dk_argv(argv, 6, buf, sizeof buf);
    HANDLE t[2];
    if (argc < 3) {
        dk_puts("usage: deadlock_mutex OUTPREFIX DUMPER\r\n");
        return 2;
    }
    g_mutex[0] = CreateMutexA(0, 0, g_names[0]);
    g_mutex[1] = CreateMutexA(0, 0, g_names[1]);
    t[0] = CreateThread(0, 0, mutex_thread_red, 0, 0, &g_tid[0]);
    t[1] = CreateThread(0, 0, mutex_thread_blue, 0, 0, &g_tid[1]);
    wait_stage(0, 2);
    wait_stage(1, 2);
    Sleep(700); /* both are now blocked inside WaitForSingleObject */
    dk_puts("start:");
    dk_kv_dec("pid", GetCurrentProcessId());
    dk_kv_dec("main_tid", GetCurrentThreadId());
    dk_kv_dec("red_tid", g_tid[0]);
    dk_kv_dec("blue_tid", g_tid[1]);
    dk_kv_dec("red_stage", (unsigned long)g_stage[0]);
    dk_kv_dec("blue_stage", (unsigned long)g_stage[1]);
    dk_kv_hex("red_thread_handle", (ULONG_PTR)t[0]);
    dk_kv_hex("blue_thread_handle", (ULONG_PTR)t[1]);
    dk_kv_hex("mutex_take_second", (ULONG_PTR)&mutex_take_second);
    dk_kv_hex("mutex_thread_red", (ULONG_PTR)&mutex_thread_red);
    dk_kv_hex("mutex_thread_blue", (ULONG_PTR)&mutex_thread_blue);
    dk_nl();
    print_mutex(0);
    print_mutex(1);
    dk_puts("waits:");
    dk_kv_dec("red_tid", g_tid[0]);
    dk_kv_str("waits_for", g_names[1]);
    dk_kv_dec("blue_tid", g_tid[1]);
    dk_kv_str("waits_for", g_names[0]);
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
