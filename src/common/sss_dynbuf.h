/*
 * The one growable byte buffer of sss (after curl's dynbuf): the protocol
 * encoders' output (struct sss_proto_out is this type), the HTTP API's
 * requests, answers and scratch, and the Redis connection's send queue.
 * Outgoing WebSocket frames use sss_buf instead: fixed size, refcounted.
 *
 * A buffer starts empty (SSS_DYNBUF_INIT or all zero) or in caller storage,
 * and moves to the heap (owned) when that is too small, doubling. data holds
 * len bytes followed by a NUL whenever cap > 0 (so text can go to string
 * functions; the NUL is never counted). An allocation failure is sticky: oom
 * is set, later appends do nothing and return -ENOMEM until a reset.
 *
 * Header-only: the C client library compiles src/proto with sss_alloc.c as
 * its only other source, and the encoders need these.
 */
#ifndef SSS_DYNBUF_H
#define SSS_DYNBUF_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sss_alloc.h"

struct sss_dynbuf {
    char *data; /* len bytes and a NUL; NULL while cap is 0 */
    size_t len;
    size_t cap;   /* bytes at data, the NUL's room included */
    bool heap;    /* data is ours to free */
    bool oom;     /* an allocation failed since the last reset */
};

#define SSS_DYNBUF_INIT {NULL, 0, 0, false, false}

/* Start empty, in storage (cap bytes, borrowed until the buffer outgrows it; may be NULL). */
static inline void sss_dynbuf_init(struct sss_dynbuf *b, char *storage, size_t cap)
{
    b->data = storage;
    b->len = 0;
    b->cap = storage ? cap : 0;
    b->heap = false;
    b->oom = false;
    if (b->cap)
        b->data[0] = '\0';
}

/* Forget the content (keeps the memory) and clear an allocation failure. */
static inline void sss_dynbuf_reset(struct sss_dynbuf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->cap)
        b->data[0] = '\0';
}

/* Free the heap memory; the buffer is empty (and usable) afterwards. */
static inline void sss_dynbuf_fini(struct sss_dynbuf *b)
{
    if (b->heap)
        sss_free(b->data);
    sss_dynbuf_init(b, NULL, 0);
}

/*
 * Make room for n more bytes and the NUL. Returns 0, or -ENOMEM (and sets
 * oom) when that fails or the buffer already failed. After 0 the caller may
 * write up to n bytes at data + len, then add them with sss_dynbuf_commit.
 */
static inline int sss_dynbuf_reserve(struct sss_dynbuf *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->oom)
        return -ENOMEM;
    if (b->cap > b->len && b->cap - b->len > n)
        return 0;
    if (n > SIZE_MAX / 2 - b->len - 1)
        goto fail;
    cap = b->cap * 2;
    if (cap < b->len + n + 1)
        cap = b->len + n + 1;
    if (cap < 256)
        cap = 256;
    p = b->heap ? sss_realloc(b->data, cap) : sss_malloc(cap);
    if (!p)
        goto fail;
    if (!b->heap && b->len)
        memcpy(p, b->data, b->len);
    p[b->len] = '\0';
    b->data = p;
    b->cap = cap;
    b->heap = true;
    return 0;
fail:
    b->oom = true;
    return -ENOMEM;
}

/* Count n bytes written at data + len after a successful reserve. */
static inline void sss_dynbuf_commit(struct sss_dynbuf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

/* Append n bytes (p may be NULL when n is 0). Returns 0 or -ENOMEM. */
static inline int sss_dynbuf_append(struct sss_dynbuf *b, const void *p, size_t n)
{
    if (sss_dynbuf_reserve(b, n) < 0)
        return -ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    sss_dynbuf_commit(b, n);
    return 0;
}

/* Append printf-formatted text. Returns 0 or -ENOMEM (also for a format error). */
static inline int sss_dynbuf_printf(struct sss_dynbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int sss_dynbuf_printf(struct sss_dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (sss_dynbuf_reserve(b, 64) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        if (sss_dynbuf_reserve(b, (size_t)n) < 0)
            return -ENOMEM;
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    if (n < 0) {
        b->oom = true;
        b->data[b->len] = '\0';
        return -ENOMEM;
    }
    b->len += (size_t)n;
    return 0;
}

/* Drop the first n bytes (n <= len), sliding the rest to the front. */
static inline void sss_dynbuf_consume(struct sss_dynbuf *b, size_t n)
{
    if (!n)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

#endif
