/*
 * Socket names (the format is atop sss_sockname.h): writing one, and reading
 * one back strictly, so that every socket has exactly one spelling.
 */
#include "sss_sockname.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int sss_sockname_format(char *buf, size_t size, uint64_t sid, uint32_t run, const char *host,
                        size_t host_len)
{
    int n;

    if (size)
        buf[0] = '\0';
    if (!host || !host_len || host_len > SSS_HOST_ID_MAX || memchr(host, '\0', host_len))
        return SSS_EINVAL;
    n = snprintf(buf, size, "%" PRIu64 ".%08" PRIx32 "@%.*s", sid, run, (int)host_len, host);
    if (n < 0 || (size_t)n >= size) {
        if (size)
            buf[0] = '\0';
        return -ENOSPC;
    }
    return n;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1; /* upper case too: one spelling per name */
}

int sss_sockname_parse(const char *name, size_t len, struct sss_sockname *out)
{
    const char *at = name ? memchr(name, '@', len) : NULL;
    size_t i = 0, head, digits;
    uint64_t sid = 0;
    uint32_t run = 0;

    if (!at)
        return SSS_EINVAL;
    head = (size_t)(at - name);
    /* The socket id: decimal, no leading zero, at most UINT64_MAX. */
    for (; i < head && name[i] >= '0' && name[i] <= '9'; i++) {
        unsigned d = (unsigned)(name[i] - '0');

        if (sid > (UINT64_MAX - d) / 10)
            return SSS_EINVAL;
        sid = sid * 10 + d;
    }
    digits = i;
    if (!digits || (digits > 1 && name[0] == '0'))
        return SSS_EINVAL;
    /* ".", then exactly 8 lowercase hex digits, then the '@'. */
    if (head != digits + 1 + 8 || name[digits] != '.')
        return SSS_EINVAL;
    for (i = digits + 1; i < head; i++) {
        int v = hex_value(name[i]);

        if (v < 0)
            return SSS_EINVAL;
        run = run << 4 | (uint32_t)v;
    }
    out->sid = sid;
    out->run = run;
    out->host = at + 1;
    out->host_len = len - head - 1;
    if (!out->host_len || out->host_len > SSS_HOST_ID_MAX || memchr(out->host, '\0', out->host_len))
        return SSS_EINVAL;
    return 0;
}
