/* Allocation wrappers with optional fault injection (see sss_alloc.h). */
#include "sss_alloc.h"

#include <stdlib.h>
#include <string.h>

/* Countdown to the allocation that fails; 0 means never. Per process. */
static long fail_countdown;

void sss_alloc_init(void)
{
    const char *s = getenv("SSS_FAIL_ALLOC");

    fail_countdown = s ? strtol(s, NULL, 10) : 0;
}

static int should_fail(void)
{
    if (fail_countdown <= 0)
        return 0;
    return --fail_countdown == 0;
}

void *sss_malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size);
}

void *sss_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n, size);
}

void *sss_realloc(void *p, size_t size)
{
    return should_fail() ? NULL : realloc(p, size);
}

void sss_free(void *p)
{
    free(p);
}

char *sss_strndup(const char *s, size_t len)
{
    char *d = sss_malloc(len + 1);

    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}
