/*
 * Reading a whole file, for the tests that walk a folder of inputs (the
 * protocol vectors, the fuzzers' replayer). Header-only so that each can
 * take it without the counters of sss_test.h.
 */
#ifndef SSS_TEST_FILE_H
#define SSS_TEST_FILE_H

#include <stdio.h>

#include "sss_alloc.h"

/*
 * The whole file at path in a fresh sss_malloc'd buffer (the caller frees it
 * with sss_free), NUL-terminated after its *size bytes, so never NULL for an
 * empty file. NULL if it cannot be opened, read or allocated.
 */
static inline char *sss_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long end;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = sss_malloc((size_t)end + 1);
    if (!buf)
        goto out;
    if (fread(buf, 1, (size_t)end, f) != (size_t)end) {
        sss_free(buf);
        buf = NULL;
        goto out;
    }
    buf[end] = '\0';
    *size = (size_t)end;
out:
    fclose(f);
    return buf;
}

#endif
