/*
 * Reference-counted byte buffers for outgoing data. A frame is built once
 * into one sss_buf and every connection's send queue that carries it holds a
 * reference until the kernel has taken the bytes (h2o's shared chunks). The
 * count is not atomic: a buffer never leaves the worker that made it.
 */
#ifndef SSS_BUF_H
#define SSS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct sss_buf {
    uint32_t ref;
    uint32_t len; /* bytes used */
    uint32_t cap; /* bytes available in data */
    uint8_t data[];
};

/* A buffer with room for cap bytes, len 0 and one reference; NULL on ENOMEM. */
struct sss_buf *sss_buf_new(size_t cap);

static inline struct sss_buf *sss_buf_ref(struct sss_buf *b)
{
    b->ref++;
    return b;
}

/* Drop one reference; frees the buffer with the last. */
void sss_buf_unref(struct sss_buf *b);

#endif
