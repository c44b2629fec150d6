/* loadcfg32.c - IMAGE_LOAD_CONFIG_DIRECTORY32 for the i686 samples.
 * With /safeseh, lld-link synthesises __safe_se_handler_table and
 * __safe_se_handler_count from the objects' .sxdata sections, but it only
 * writes SEHandlerTable/SEHandlerCount into the image (and only clears
 * IMAGE_DLLCHARACTERISTICS_NO_SEH) when a _load_config_used symbol exists;
 * the MSVC CRT normally supplies it.  Fields up to SEHandlerCount (0x48 bytes). */
typedef unsigned long DWORD;
typedef unsigned short WORD;

struct dk_load_config32 {
    DWORD Size;
    DWORD TimeDateStamp;
    WORD MajorVersion, MinorVersion;
    DWORD GlobalFlagsClear, GlobalFlagsSet;
    DWORD CriticalSectionDefaultTimeout;
    DWORD DeCommitFreeBlockThreshold, DeCommitTotalFreeThreshold;
    DWORD LockPrefixTable;
    DWORD MaximumAllocationSize, VirtualMemoryThreshold;
    DWORD ProcessHeapFlags, ProcessAffinityMask;
    WORD CSDVersion, DependentLoadFlags;
    DWORD EditList;
    DWORD SecurityCookie;
    DWORD SEHandlerTable;
    DWORD SEHandlerCount;
};

extern void *__safe_se_handler_table[]; /* linker-synthesised */
extern char __safe_se_handler_count;    /* absolute symbol: its "address" is the count */
DWORD dk_security_cookie = 0xBB40E64Eu; /* no /GS code uses it; a load config needs one */

const struct dk_load_config32 _load_config_used = {
    .Size = sizeof(struct dk_load_config32),
    .SecurityCookie = (DWORD)&dk_security_cookie,
    .SEHandlerTable = (DWORD)__safe_se_handler_table,
    .SEHandlerCount = (DWORD)&__safe_se_handler_count,
};
