/*
 * What every fuzz target checks with: require() aborts (libFuzzer reports
 * the input), require_json() aborts unless the bytes are one valid JSON text
 * (yajl, the project's JSON reader).
 */
#ifndef SSS_FUZZ_CHECK_H
#define SSS_FUZZ_CHECK_H

#include <stdlib.h>
#include <yajl/yajl_parse.h>

static inline void require(int cond)
{
    if (!cond)
        abort();
}

static inline void require_json(const char *p, size_t n)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    yajl_status st;

    require(h != NULL);
    st = yajl_parse(h, (const unsigned char *)p, n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    require(st == yajl_status_ok);
}

#endif
