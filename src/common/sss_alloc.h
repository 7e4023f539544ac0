/*
 * All allocations of sss go through these, so that a test build can make the
 * Nth allocation fail (SSS_FAIL_ALLOC=N in the environment, read once by
 * sss_alloc_init) and check that every caller copes. They behave exactly like
 * malloc, calloc, realloc and free otherwise.
 */
#ifndef SSS_ALLOC_H
#define SSS_ALLOC_H

#include <stddef.h>

void sss_alloc_init(void);
void *sss_malloc(size_t size);
void *sss_calloc(size_t n, size_t size);
void *sss_realloc(void *p, size_t size);
void sss_free(void *p);
/* Duplicate len bytes and add a NUL; NULL on failure. */
char *sss_strndup(const char *s, size_t len);

#endif
