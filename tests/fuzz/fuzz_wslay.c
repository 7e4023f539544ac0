/*
 * libFuzzer target for the glue to wslay (src/ws/sss_wslay.c), comparing
 * its two ways of reading a client's frames: the same bytes go to one
 * sss_wslay that reads whole small data frames itself (whole_frames) and to
 * one that gives every frame to wslay (wslay_only). Both must hand on the
 * same messages in the same order, write the same bytes (pongs, closes),
 * return the same codes and end in the same close state.
 *
 * The first input byte picks the size limit (4 bytes to 64 KiB), whether
 * permessage-deflate is on, and how the rest is cut into reads (whole, or
 * pieces of 2 to 30 bytes); after each read both park their context when
 * they can, as a worker does.
 */
#include "fuzz_check.h"
#include "ws/sss_wslay.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    uint64_t msgs, out; /* FNV-1a of the messages (opcode, length, bytes) and of what was written */
    size_t nmsg, out_len;
};

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int seen_write(void *d, const uint8_t *bytes, size_t len)
{
    struct seen *s = d;

    s->out = fnv(s->out, bytes, len);
    s->out_len += len;
    return 0;
}

static void seen_message(void *d, int opcode, const uint8_t *msg, size_t len)
{
    struct seen *s = d;
    uint8_t head[9] = {(uint8_t)opcode};

    for (int i = 0; i < 8; i++)
        head[1 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    s->msgs = fnv(fnv(s->msgs, head, sizeof(head)), msg, len);
    s->nmsg++;
}

static const struct sss_wslay_io io = {.write = seen_write, .message = seen_message};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sss_wslay a, b;
    struct seen sa = {14695981039346656037ull, 14695981039346656037ull, 0, 0}, sb = sa;
    struct sss_deflate_params dp = {1, 15, 15, 1};
    size_t max_msg, piece, off = 1;

    if (size < 1)
        return 0;
    max_msg = (size_t)4 << (2 * (data[0] & 7)); /* 4 B .. 64 KiB */
    piece = (data[0] >> 4) ? (size_t)(data[0] >> 4) * 2 : size; /* 2..30 bytes, or all */
    sss_wslay_init(&a, &io, &sa, max_msg);
    sss_wslay_init(&b, &io, &sb, max_msg);
    b.wslay_only = 1;
    if (data[0] & 8) {
        sss_wslay_deflate(&a, &dp);
        sss_wslay_deflate(&b, &dp);
    }
    while (off < size) {
        size_t n = size - off < piece ? size - off : piece;
        int ra = sss_wslay_recv(&a, data + off, n), rb = sss_wslay_recv(&b, data + off, n);

        require(ra == rb);
        require(sss_wslay_pump(&a) == sss_wslay_pump(&b));
        (void)sss_wslay_park(&a);
        (void)sss_wslay_park(&b);
        /* Both at a clean frame boundary, or neither. */
        require((a.ctx == NULL) == (b.ctx == NULL));
        off += n;
        if (ra < 0)
            break;
    }
    require(sa.nmsg == sb.nmsg && sa.msgs == sb.msgs);
    require(sa.out_len == sb.out_len && sa.out == sb.out);
    require(sss_wslay_close_code(&a) == sss_wslay_close_code(&b));
    require(sss_wslay_failed(&a) == sss_wslay_failed(&b));
    sss_wslay_fini(&a);
    sss_wslay_fini(&b);
    return 0;
}
