/* crt0.c - entry point of the samples (they link with /nodefaultlib: no C runtime).
 * mainCRTStartup is what lld-link /entry: names; memset/memcpy are here because
 * clang may emit calls to them for struct initialisation or copies. */
#include "dkwin.h"

int main(void);

void *memset(void *dst, int c, SIZE_T n) {
    volatile unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *dst, const void *src, SIZE_T n) {
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void mainCRTStartup(void) { ExitProcess((UINT)main()); }
