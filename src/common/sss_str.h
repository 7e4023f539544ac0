/* C strings made from counted bytes (a record's span, a parser's token). */
#ifndef SSS_STR_H
#define SSS_STR_H

#include <stddef.h>
#include <string.h>

/* dst = the len bytes at src and a NUL: 0, or -1 (dst untouched) if they don't fit in cap. */
static inline int sss_str_copy(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return -1;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

#endif
