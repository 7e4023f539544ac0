/*
 * permessage-deflate (see sss_deflate.h): the offer parser, one compressor
 * per worker, one decompressor per connection that uses one.
 *
 * The parser follows RFC 7692 section 5 and 7.1: an offer is the extension
 * name then "; param[=value]" elements; a value may be a quoted string. Any
 * unknown, repeated or out-of-range parameter declines that offer only.
 * May include: libc, common, zlib.
 */
#include "sss_deflate.h"
#include "sss_alloc.h"
#include "sss_buf.h"
#include "sss_err.h"
#include "sss_ws.h"

#include <string.h>
#include <zlib.h>

/* ---- negotiation ---- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int lower_equal(const char *a, size_t n, const char *lit)
{
    size_t i;

    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = a[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c + ('a' - 'A'));
        if (c != lit[i])
            return 0;
    }
    return 1;
}

/* s (n bytes, trimmed, quotes removed) as a window size 8..15, or -1. */
static int window_bits(const char *s, size_t n)
{
    if (n == 2 && s[0] == '1' && s[1] >= '0' && s[1] <= '5')
        return 10 + (s[1] - '0');
    if (n == 1 && (s[0] == '8' || s[0] == '9'))
        return s[0] - '0';
    return -1;
}

/* Trim spaces at both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_ows((*s)[*n - 1]))
        (*n)--;
}

enum {
    P_SERVER_NCT = 1,
    P_CLIENT_NCT = 2,
    P_SERVER_BITS = 4,
    P_CLIENT_BITS = 8,
};

struct offer {
    unsigned seen;
    int server_bits; /* 0 = not offered */
    int client_bits; /* 0 = not offered; -1 = offered without a value */
};

/* One "name[=value]" element of an offer. Returns 0, or -1 to decline the offer. */
static int offer_param(struct offer *o, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n), *v = NULL;
    size_t name_len = eq ? (size_t)(eq - s) : n, vlen = 0;
    unsigned bit;
    int bits = -1;

    if (eq) {
        v = eq + 1;
        vlen = (size_t)(s + n - v);
        trim(&v, &vlen);
        if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
            v++;
            vlen -= 2;
        }
        bits = window_bits(v, vlen);
    }
    trim(&s, &name_len);
    if (lower_equal(s, name_len, "server_no_context_takeover"))
        bit = P_SERVER_NCT;
    else if (lower_equal(s, name_len, "client_no_context_takeover"))
        bit = P_CLIENT_NCT;
    else if (lower_equal(s, name_len, "server_max_window_bits"))
        bit = P_SERVER_BITS;
    else if (lower_equal(s, name_len, "client_max_window_bits"))
        bit = P_CLIENT_BITS;
    else
        return -1; /* unknown: RFC 7692 7.1 says decline */
    if (o->seen & bit)
        return -1;
    o->seen |= bit;
    switch (bit) {
    case P_SERVER_NCT:
    case P_CLIENT_NCT:
        return eq ? -1 : 0;
    case P_SERVER_BITS:
        /* zlib's raw deflate has no 8-bit window: decline rather than overrun the client's. */
        if (bits < 9)
            return -1;
        o->server_bits = bits;
        return 0;
    default:
        if (eq && bits < 0)
            return -1;
        o->client_bits = eq ? bits : -1;
        return 0;
    }
}

/* One offer (s, n: up to the next top-level comma). Returns 1 if it is ours and accepted. */
static int offer_accept(const char *s, size_t n, struct sss_deflate_params *p, char *answer)
{
    struct offer o = {0, 0, 0};
    const char *end = s + n, *semi;
    size_t name_len;
    int w;

    semi = memchr(s, ';', n);
    name_len = semi ? (size_t)(semi - s) : n;
    trim(&s, &name_len);
    if (!lower_equal(s, name_len, "permessage-deflate"))
        return 0;
    while (semi) {
        const char *q = semi + 1, *next = memchr(q, ';', (size_t)(end - q));
        size_t plen = (size_t)((next ? next : end) - q);

        if (offer_param(&o, q, plen) < 0)
            return 0;
        semi = next;
    }
    p->on = 1;
    p->server_bits = (uint8_t)(o.server_bits ? o.server_bits : 15);
    p->client_bits = (uint8_t)(o.client_bits > 0 ? o.client_bits : 15);
    p->client_no_takeover = (o.seen & P_CLIENT_NCT) != 0;
    w = snprintf(answer, SSS_DEFLATE_EXT_MAX, "permessage-deflate; server_no_context_takeover");
    if (p->client_no_takeover)
        w += snprintf(answer + w, SSS_DEFLATE_EXT_MAX - (size_t)w, "; client_no_context_takeover");
    if (o.server_bits)
        w += snprintf(answer + w, SSS_DEFLATE_EXT_MAX - (size_t)w, "; server_max_window_bits=%d",
                      o.server_bits);
    /* The client said how big its window will be: say we hold it to that. */
    if (o.client_bits > 0)
        (void)snprintf(answer + w, SSS_DEFLATE_EXT_MAX - (size_t)w, "; client_max_window_bits=%d",
                       o.client_bits);
    return 1;
}

int sss_deflate_negotiate(const char *offers, size_t len, struct sss_deflate_params *p,
                          char answer[SSS_DEFLATE_EXT_MAX])
{
    size_t i = 0, start = 0;
    int quoted = 0;

    memset(p, 0, sizeof(*p));
    answer[0] = '\0';
    for (i = 0; i <= len; i++) {
        if (i < len && offers[i] == '"')
            quoted = !quoted;
        if (i < len && (quoted || offers[i] != ','))
            continue;
        if (offer_accept(offers + start, i - start, p, answer))
            return 1;
        start = i + 1;
    }
    memset(p, 0, sizeof(*p));
    answer[0] = '\0';
    return 0;
}

/* ---- zlib through sss_alloc, so that a test build can fail any allocation ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return sss_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf address)
{
    (void)opaque;
    sss_free(address);
}

static z_stream *z_new(void)
{
    z_stream *z = sss_calloc(1, sizeof(*z));

    if (z) {
        z->zalloc = z_alloc;
        z->zfree = z_free;
    }
    return z;
}

/* ---- compressing ---- */

void sss_deflate_tx_init(struct sss_deflate_tx *tx, int level, size_t min_size)
{
    memset(tx, 0, sizeof(*tx));
    tx->level = level;
    tx->min_size = min_size;
}

void sss_deflate_tx_fini(struct sss_deflate_tx *tx)
{
    for (int i = 0; i < 4; i++) {
        if (tx->cache[i].src)
            sss_buf_unref(tx->cache[i].src);
        if (tx->cache[i].out)
            sss_buf_unref(tx->cache[i].out);
        tx->cache[i].src = tx->cache[i].out = NULL;
    }
    for (int i = 0; i < 16; i++) {
        if (tx->z[i]) {
            (void)deflateEnd(tx->z[i]);
            sss_free(tx->z[i]);
        }
        tx->z[i] = NULL;
    }
}

int sss_deflate_compress(struct sss_deflate_tx *tx, int bits, const void *in, size_t len,
                         struct sss_dynbuf *out)
{
    z_stream *z;
    int rc;

    if (bits < 9 || bits > 15)
        return SSS_EINVAL;
    z = tx->z[bits];
    if (!z) {
        z = z_new();
        if (!z)
            return -ENOMEM;
        if (deflateInit2(z, tx->level, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            sss_free(z);
            return -ENOMEM;
        }
        tx->z[bits] = z;
    } else if (deflateReset(z) != Z_OK) {
        return -ENOMEM;
    }
    sss_dynbuf_reset(out);
    /* Z_SYNC_FLUSH ends on an empty stored block, 00 00 ff ff, which we drop. */
    if (sss_dynbuf_reserve(out, deflateBound(z, len) + 16) < 0)
        return -ENOMEM;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    z->next_out = (Bytef *)out->data;
    z->avail_out = (uInt)(out->cap - 1);
    rc = deflate(z, Z_SYNC_FLUSH);
    if (rc != Z_OK || z->avail_in != 0 || z->avail_out == 0)
        return -ENOMEM; /* deflateBound guarantees room: only a broken stream gets here */
    out->len = z->total_out;
    if (out->len >= 4 && memcmp(out->data + out->len - 4, "\x00\x00\xff\xff", 4) == 0)
        out->len -= 4;
    out->data[out->len] = '\0';
    tx->compressed++;
    return 0;
}

struct sss_buf *sss_deflate_frame(struct sss_deflate_tx *tx, struct sss_buf *src, int bits)
{
    uint8_t b0 = src->data[0], l7 = src->data[1] & 0x7f;
    size_t hdr = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
    uint8_t op = b0 & 0x0f;
    char tmp[4096];
    struct sss_dynbuf z;
    struct sss_buf *out;
    unsigned i;

    if (src->len < 2 || (op != SSS_WS_TEXT && op != SSS_WS_BINARY) || (b0 & 0x70) ||
        src->len - hdr < tx->min_size || src->len - hdr == 0)
        return src;
    for (i = 0; i < 4; i++) {
        if (tx->cache[i].src == src && tx->cache[i].bits == bits) {
            sss_buf_unref(src);
            return sss_buf_ref(tx->cache[i].out);
        }
    }
    sss_dynbuf_init(&z, tmp, sizeof(tmp));
    if (sss_deflate_compress(tx, bits, src->data + hdr, src->len - hdr, &z) < 0 ||
        !(out = sss_ws_frame((enum sss_ws_opcode)op, z.data, z.len))) {
        sss_dynbuf_fini(&z);
        return src; /* uncompressed is always allowed */
    }
    sss_dynbuf_fini(&z);
    out->data[0] |= 0x40; /* RSV1: this message is compressed */
    i = tx->next++ % 4;
    if (tx->cache[i].src)
        sss_buf_unref(tx->cache[i].src);
    if (tx->cache[i].out)
        sss_buf_unref(tx->cache[i].out);
    tx->cache[i].src = src; /* the caller's reference, kept */
    tx->cache[i].out = out;
    tx->cache[i].bits = (uint8_t)bits;
    return sss_buf_ref(out);
}

/* ---- inflating ---- */

void sss_deflate_rx_init(struct sss_deflate_rx *rx, const struct sss_deflate_params *p)
{
    memset(rx, 0, sizeof(*rx));
    rx->bits = p->client_bits ? p->client_bits : 15;
    rx->takeover = !p->client_no_takeover;
}

static void rx_drop(struct sss_deflate_rx *rx)
{
    if (rx->z) {
        (void)inflateEnd(rx->z);
        sss_free(rx->z);
    }
    rx->z = NULL;
}

void sss_deflate_rx_fini(struct sss_deflate_rx *rx)
{
    rx_drop(rx);
}

int sss_deflate_rx_holding(const struct sss_deflate_rx *rx)
{
    return rx->z != NULL;
}

/* Inflate avail_in bytes of z into out, at most max in all. 0 or an error code. */
static int inflate_some(z_stream *z, size_t max, struct sss_dynbuf *out)
{
    while (z->avail_in) {
        size_t room;
        int rc;

        /* One byte past max is room enough to see a bomb, and lets the
         * empty tail block pass a message of exactly max bytes. */
        if (out->len > max)
            return SSS_ELIMIT;
        room = max + 1 - out->len < 16384 ? max + 1 - out->len : 16384;
        if (sss_dynbuf_reserve(out, room) < 0)
            return -ENOMEM;
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)room;
        rc = inflate(z, Z_SYNC_FLUSH);
        out->len += room - z->avail_out;
        if (rc == Z_MEM_ERROR)
            return -ENOMEM;
        if (rc == Z_STREAM_END && z->avail_in)
            return SSS_EPROTO; /* bytes after a final block */
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return SSS_EPROTO;
        if (rc == Z_BUF_ERROR && z->avail_out)
            return SSS_EPROTO; /* no progress with room to spare */
        if (rc == Z_STREAM_END)
            break;
    }
    return 0;
}

int sss_deflate_inflate(struct sss_deflate_rx *rx, const void *in, size_t len, size_t max,
                        struct sss_dynbuf *out)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *z = rx->z;
    int rc;

    sss_dynbuf_reset(out);
    if (!z) {
        z = z_new();
        if (!z)
            return -ENOMEM;
        /* A window of client_max_window_bits: what the client agreed to use. The
         * zlib minimum for raw inflate is 8, its maximum 15. */
        if (inflateInit2(z, -(int)rx->bits) != Z_OK) {
            sss_free(z);
            return -ENOMEM;
        }
        rx->z = z;
    }
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    rc = inflate_some(z, max, out);
    if (rc == 0) {
        z->next_in = (Bytef *)(uintptr_t)tail;
        z->avail_in = sizeof(tail);
        rc = inflate_some(z, max, out);
    }
    if (rc == 0 && out->len > max)
        rc = SSS_ELIMIT;
    if (rc < 0 || !rx->takeover)
        rx_drop(rx); /* no state between messages (or the connection is closing) */
    if (out->cap)
        out->data[out->len < out->cap ? out->len : out->cap - 1] = '\0';
    return rc;
}

/* ---- UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) ---- */

int sss_deflate_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint8_t lo = 0x80, hi = 0xbf;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return 0;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        if (len - i <= n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += n + 1;
    }
    return 1;
}
