/*
 * deflate_choice: zlib or libdeflate for sss-server's permessage-deflate
 * (issue 13). Compresses the server's own FEED frames, built by src/proto
 * (sss_proto_encode_feed, and sss_msgpack_from_json for sss.v1.msgpack), the
 * way the server sends them: one whole message at a time with no context
 * takeover, at --deflate-level (1 unless given).
 *
 *   zlib:       sss_deflate_compress (src/ws/sss_deflate.c), the server's
 *               code: one raw deflate stream per window size, deflateReset
 *               and one deflate(Z_SYNC_FLUSH) per message, tail dropped.
 *   libdeflate: libdeflate_deflate_compress on a compressor made once: one
 *               whole-buffer call per message (a final block, which RFC 7692
 *               allows with server_no_context_takeover; checked here by
 *               inflating it as a client would, tail appended).
 *
 * The message's "msg" is a chat-like object {"user":..,"text":..,"ts":..}
 * whose text is sss-bench's --payload text, grown until the JSON FEED has
 * the size asked. 64 different messages per size are cycled through, so no
 * cache helps. Prints one table row per (size, encoding, library): ns per
 * message (the best of 5 runs of at least 0.2 s each), compressed bytes and
 * the ratio. A benchmark: it prints numbers and never asserts.
 *
 *   deflate_choice [LEVEL]
 */
#include "sb.h"
#include "sss_deflate.h"
#include "sss_msgpack.h"
#include "sss_proto.h"

#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NMSG 64

struct msgs {
    char *p[NMSG];
    size_t len[NMSG];
};

/* NMSG FEEDs whose JSON text is about size bytes; msgpack: the same, transcoded. */
static int make_feeds(struct msgs *m, size_t size, int msgpack)
{
    static char text[65536];
    char obj[70000];

    for (int i = 0; i < NMSG; i++) {
        struct sss_dynbuf out, mp;
        struct sss_uid uid = {1, 41 + (uint64_t)i};
        size_t tl = size > 125 ? size - 119 : 6;
        struct sss_proto_span msg;
        int n;

        /* the payload's header names its sequence: every message differs from the start */
        sb_payload_encode(text, sizeof(text), tl, 7, (uint64_t)i + 1, 1764750000000000000ULL,
                          SB_PAYLOAD_TEXT);
        n = snprintf(obj, sizeof(obj), "{\"user\":\"alice-%d\",\"text\":\"%.*s\",\"ts\":%llu}",
                     i % 7, (int)tl, text, 1764750000000ULL + (unsigned long long)i * 1371);
        msg.ptr = obj;
        msg.len = (size_t)n;
        sss_proto_out_init(&out, NULL, 0);
        if (sss_proto_encode_feed(&out, "chat-room-42", "message", msg, &uid) < 0)
            return -1;
        if (msgpack) {
            sss_dynbuf_init(&mp, NULL, 0);
            if (sss_msgpack_from_json(&mp, out.data, out.len) < 0)
                return -1;
            sss_proto_out_fini(&out);
            out = mp;
        }
        m->p[i] = malloc(out.len);
        if (!m->p[i])
            return -1;
        memcpy(m->p[i], out.data, out.len);
        m->len[i] = out.len;
        sss_dynbuf_fini(&out);
    }
    return 0;
}

static double now_s(void)
{
    return (double)sb_now_ns() / 1e9;
}

/* Inflate what a library made, as a client does (raw, 00 00 ff ff appended): 0 if it is in. */
static int check_inflate(const uint8_t *z, size_t zl, const char *in, size_t len)
{
    static uint8_t buf[70000], out[70000];
    z_stream s;
    int ok;

    memset(&s, 0, sizeof(s));
    if (inflateInit2(&s, -15) != Z_OK || zl + 4 > sizeof(buf))
        return -1;
    memcpy(buf, z, zl);
    memcpy(buf + zl, "\x00\x00\xff\xff", 4);
    s.next_in = buf;
    s.avail_in = (uInt)zl + 4;
    s.next_out = out;
    s.avail_out = sizeof(out);
    ok = inflate(&s, Z_SYNC_FLUSH);
    ok = (ok == Z_OK || ok == Z_STREAM_END) && s.total_out == len && !memcmp(out, in, len);
    inflateEnd(&s);
    return ok ? 0 : -1;
}

struct result {
    double ns;       /* per message, best run */
    double in, out;  /* mean bytes per message */
    int bad;         /* messages that did not inflate back */
};

/* One compressor under test: in -> *out (valid until the next call); 0 when it failed. */
typedef size_t (*compress_fn)(void *ctx, const char *in, size_t len, const uint8_t **out);

/* Every message compressed and inflated back once (sizes, failures), then
 * the best of 5 runs of 0.2 s compressing them in turn (time per message). */
static void measure(const struct msgs *m, compress_fn f, void *ctx, struct result *r)
{
    double best = 1e30, tin = 0, tout = 0;
    const uint8_t *z;

    memset(r, 0, sizeof(*r));
    for (int i = 0; i < NMSG; i++) {
        size_t zl = f(ctx, m->p[i], m->len[i], &z);

        if (!zl || check_inflate(z, zl, m->p[i], m->len[i]) < 0)
            r->bad++;
        tin += (double)m->len[i];
        tout += (double)zl;
    }
    for (int rep = 0; rep < 5; rep++) {
        long n = 0;
        double t0 = now_s(), t;

        do {
            for (int i = 0; i < NMSG; i++)
                if (!f(ctx, m->p[i], m->len[i], &z))
                    r->bad++;
            n += NMSG;
        } while ((t = now_s() - t0) < 0.2);
        if (t / (double)n < best)
            best = t / (double)n;
    }
    r->ns = best * 1e9;
    r->in = tin / NMSG;
    r->out = tout / NMSG;
}

/* zlib through the server's own sss_deflate_compress. */
struct zlib_ctx {
    struct sss_deflate_tx tx;
    struct sss_dynbuf out;
};

static size_t zlib_compress(void *ctx, const char *in, size_t len, const uint8_t **out)
{
    struct zlib_ctx *z = ctx;

    if (sss_deflate_compress(&z->tx, 15, in, len, &z->out) < 0)
        return 0;
    *out = (const uint8_t *)z->out.data;
    return z->out.len;
}

static void run_zlib(const struct msgs *m, int level, struct result *r)
{
    struct zlib_ctx z;

    sss_deflate_tx_init(&z.tx, level, 0);
    sss_dynbuf_init(&z.out, NULL, 0);
    measure(m, zlib_compress, &z, r);
    sss_dynbuf_fini(&z.out);
    sss_deflate_tx_fini(&z.tx);
}

static size_t libdeflate_compress(void *ctx, const char *in, size_t len, const uint8_t **out)
{
    static uint8_t buf[70000];

    *out = buf;
    return libdeflate_deflate_compress(ctx, in, len, buf, sizeof(buf));
}

static void run_libdeflate(const struct msgs *m, int level, struct result *r)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);

    if (!c) {
        memset(r, 0, sizeof(*r));
        r->bad = NMSG;
        return;
    }
    measure(m, libdeflate_compress, c, r);
    libdeflate_free_compressor(c);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {256, 512, 1024, 2048, 4096, 16384};
    int level = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1;

    if (level < 1 || level > 9) {
        fprintf(stderr, "usage: deflate_choice [LEVEL 1..9]\n");
        return 1;
    }
    printf("level %d, zlib %s, libdeflate %s; %d different FEEDs per row, no context takeover\n\n",
           level, zlibVersion(), LIBDEFLATE_VERSION_STRING, NMSG);
    printf("| FEED | encoding | bytes | zlib ns/msg | zlib bytes (ratio) | libdeflate ns/msg | "
           "libdeflate bytes (ratio) | libdeflate / zlib time |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int mp = 0; mp < 2; mp++) {
            struct msgs m;
            struct result z, d;

            if (make_feeds(&m, sizes[s], mp) < 0) {
                fprintf(stderr, "deflate_choice: could not build the FEEDs\n");
                return 1;
            }
            run_zlib(&m, level, &z);
            run_libdeflate(&m, level, &d);
            printf("| %zu B | %s | %.0f | %.0f | %.0f (%.3f) | %.0f | %.0f (%.3f) | ×%.2f |%s\n",
                   sizes[s], mp ? "msgpack" : "JSON", z.in, z.ns, z.out, z.out / z.in, d.ns, d.out,
                   d.out / d.in, d.ns / z.ns,
                   z.bad || d.bad ? " (some did not inflate back!)" : "");
            for (int i = 0; i < NMSG; i++)
                free(m.p[i]);
        }
    }
    return 0;
}
