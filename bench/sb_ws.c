/* The WebSocket client layer of sb_ws.h. */
#include "sb_ws.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

uint8_t *sb_buf_reserve(struct sb_buf *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *p;

        while (cap < b->len + n)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "sss-bench: out of memory (%zu bytes)\n", cap);
            exit(1);
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

void sb_buf_free(struct sb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

uint64_t sb_rand(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int sb_ws_header(const uint8_t *p, size_t n, struct sb_ws_hdr *h)
{
    size_t need = 2;
    uint64_t len;

    if (n < 2)
        return 0;
    h->fin = p[0] >> 7;
    h->op = p[0] & 0x0f;
    h->masked = p[1] >> 7;
    h->rsv1 = (p[0] >> 6) & 1;
    if (p[0] & 0x30)
        return -1; /* RSV2 and RSV3: no extension that uses them is ever offered */
    switch (h->op) {
    case SB_WS_CONT:
    case SB_WS_TEXT:
    case SB_WS_BINARY:
        break;
    case SB_WS_CLOSE:
    case SB_WS_PING:
    case SB_WS_PONG:
        if (!h->fin || h->rsv1 || (p[1] & 0x7f) > 125)
            return -1;
        break;
    default:
        return -1;
    }
    len = p[1] & 0x7f;
    if (len == 126) {
        need = 4;
        if (n < need)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (len == 127) {
        need = 10;
        if (n < need)
            return 0;
        len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | p[i];
        if (len >> 63)
            return -1;
    }
    h->mask = 0;
    if (h->masked) {
        if (n < need + 4)
            return 0;
        memcpy(&h->mask, p + need, 4);
        need += 4;
    }
    h->len = len;
    return (int)need;
}

void sb_ws_mask(uint8_t *p, size_t n, uint32_t mask)
{
    uint8_t m[8];
    uint64_t m8, v;
    size_t i = 0;

    memcpy(m, &mask, 4);
    memcpy(m + 4, &mask, 4);
    memcpy(&m8, m, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        v ^= m8;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++)
        p[i] ^= m[i & 3];
}

size_t sb_ws_frame(uint8_t *dst, int op, const void *payload, size_t len, uint32_t mask)
{
    size_t h;

    dst[0] = (uint8_t)(0x80 | op);
    if (len < 126) {
        dst[1] = (uint8_t)(0x80 | len);
        h = 2;
    } else if (len < 65536) {
        dst[1] = 0x80 | 126;
        dst[2] = (uint8_t)(len >> 8);
        dst[3] = (uint8_t)len;
        h = 4;
    } else {
        dst[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            dst[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(dst + h, &mask, 4);
    h += 4;
    if (len)
        memcpy(dst + h, payload, len);
    sb_ws_mask(dst + h, len, mask);
    return h + len;
}

void sb_wsr_init(struct sb_wsr *r, uint64_t max_msg)
{
    memset(r, 0, sizeof(*r));
    r->max_msg = max_msg;
}

void sb_wsr_fini(struct sb_wsr *r)
{
    sb_buf_free(&r->carry);
    sb_buf_free(&r->frag);
}

/* One complete frame whose payload is pl. */
static int wsr_frame(struct sb_wsr *r, const struct sb_ws_hdr *h, uint8_t *pl, sb_ws_msg_fn fn,
                     void *arg)
{
    int rc;

    if (h->op >= SB_WS_CLOSE)
        return fn(arg, h->op, pl, (size_t)h->len);
    if (h->rsv1 && (!r->deflate || h->op == SB_WS_CONT))
        return -1; /* RSV1: only on a message's first frame, only with deflate (RFC 7692 6) */
    if (h->op != SB_WS_CONT) {
        int op = h->op | (h->rsv1 ? SB_WS_DEFLATED : 0);

        if (r->frag_op)
            return -1; /* a new message inside a fragmented one */
        if (h->fin)
            return fn(arg, op, pl, (size_t)h->len);
        r->frag_op = op;
        r->frag.len = 0;
    } else if (!r->frag_op) {
        return -1; /* a continuation of nothing */
    }
    if (r->frag.len + h->len > r->max_msg)
        return -1;
    memcpy(sb_buf_reserve(&r->frag, (size_t)h->len + 1), pl, (size_t)h->len);
    r->frag.len += (size_t)h->len;
    if (!h->fin)
        return 0;
    r->frag.p[r->frag.len] = 0;
    rc = fn(arg, r->frag_op, r->frag.p, r->frag.len);
    r->frag_op = 0;
    r->frag.len = 0;
    return rc;
}

int sb_wsr_feed(struct sb_wsr *r, uint8_t *in, size_t n, sb_ws_msg_fn fn, void *arg)
{
    uint8_t *p = in;
    size_t len = n, off = 0, rest;
    int rc = 0;

    if (r->carry.len) {
        memcpy(sb_buf_reserve(&r->carry, n), in, n);
        r->carry.len += n;
        p = r->carry.p;
        len = r->carry.len;
    }
    while (off < len) {
        struct sb_ws_hdr h;
        int hl = sb_ws_header(p + off, len - off, &h);

        if (hl < 0 || (hl > 0 && (h.masked || h.len > r->max_msg))) {
            rc = -1; /* servers never mask (RFC 6455 5.1) */
            break;
        }
        if (hl == 0 || len - off - (size_t)hl < h.len)
            break;
        off += (size_t)hl + (size_t)h.len;
        rc = wsr_frame(r, &h, p + off - h.len, fn, arg);
        if (rc)
            break;
    }
    if (rc) {
        r->carry.len = 0;
        return rc;
    }
    rest = len - off;
    if (p == r->carry.p) {
        memmove(r->carry.p, r->carry.p + off, rest);
        r->carry.len = rest;
    } else if (rest) {
        memcpy(sb_buf_reserve(&r->carry, rest), p + off, rest);
        r->carry.len = rest;
    }
    return 0;
}

void sb_ws_key(char key[25], uint64_t *rng)
{
    uint8_t raw[16];
    uint64_t a = sb_rand(rng), b = sb_rand(rng);

    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    EVP_EncodeBlock((unsigned char *)key, raw, 16);
}

void sb_ws_accept(const char *key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[128];
    unsigned char sha[SHA_DIGEST_LENGTH];
    int n = snprintf(buf, sizeof(buf), "%s%s", key, guid);

    SHA1((const unsigned char *)buf, (size_t)n, sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

size_t sb_ws_request(char *dst, size_t n, const char *host, int port, const char *path,
                     const char *key, const char *subprotocol, const char *extensions)
{
    int len = snprintf(dst, n,
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n%s%s%s%s%s%sUser-Agent: sss-bench\r\n\r\n",
                       path, host, port, key, subprotocol ? "Sec-WebSocket-Protocol: " : "",
                       subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "",
                       extensions ? "Sec-WebSocket-Extensions: " : "",
                       extensions ? extensions : "", extensions ? "\r\n" : "");

    return len < 0 || (size_t)len >= n ? 0 : (size_t)len;
}

/* The value of the header line at line (eol its end) named name (lower case, with ':'), or NULL;
 * *vl its length without surrounding blanks. */
static const char *header_value(const char *line, const char *eol, const char *name, size_t *vl)
{
    size_t nl = strlen(name), l;
    const char *v;

    if ((size_t)(eol - line) < nl || strncasecmp(line, name, nl) != 0)
        return NULL;
    v = line + nl;
    while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
    l = (size_t)(eol - v);
    while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
        l--;
    *vl = l;
    return v;
}

int sb_ws_response(const char *buf, size_t n, const char *key, const char *subprotocol, char *err,
                   size_t errn)
{
    const char *end = memmem(buf, n, "\r\n\r\n", 4), *line, *eol, *v, *proto = NULL;
    char want[29];
    size_t l, pl = 0;
    bool accepted = false;

    if (!end) {
        if (n > 16384) {
            snprintf(err, errn, "upgrade answer head longer than 16 KiB");
            return -1;
        }
        return 0;
    }
    eol = memchr(buf, '\r', (size_t)(end - buf) + 1);
    l = (size_t)(eol - buf);
    if (l < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) {
        if (l > 100)
            l = 100;
        for (size_t i = 0; i < l; i++)
            if (buf[i] < 32 || buf[i] > 126) {
                l = i;
                break;
            }
        snprintf(err, errn, "upgrade refused: \"%.*s\"", (int)l, buf);
        return -1;
    }
    sb_ws_accept(key, want);
    for (line = eol + 2; line < end; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(end - line) + 1);
        if ((v = header_value(line, eol, "sec-websocket-accept:", &l))) {
            if (l != 28 || memcmp(v, want, 28) != 0) {
                snprintf(err, errn, "wrong Sec-WebSocket-Accept in the 101");
                return -1;
            }
            accepted = true;
        } else if ((v = header_value(line, eol, "sec-websocket-protocol:", &l))) {
            proto = v;
            pl = l;
        }
    }
    if (!accepted) {
        snprintf(err, errn, "no Sec-WebSocket-Accept in the 101");
        return -1;
    }
    if (subprotocol && (!proto || pl != strlen(subprotocol) || memcmp(proto, subprotocol, pl))) {
        snprintf(err, errn, "the 101 does not agree to the sub-protocol %s (it names \"%.*s\")",
                 subprotocol, proto ? (int)(pl > 60 ? 60 : pl) : 0, proto ? proto : "");
        return -1;
    }
    return (int)(end - buf) + 4;
}

/* The next token of an extension header value from *p (to end), without blanks; its length in
 * *tl, the separator after it (';', ',' or 0 at the end) in *sep. */
static const char *ext_token(const char **p, const char *end, size_t *tl, char *sep)
{
    const char *s = *p, *t;

    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    t = s;
    while (s < end && *s != ';' && *s != ',')
        s++;
    *tl = (size_t)(s - t);
    while (*tl && (t[*tl - 1] == ' ' || t[*tl - 1] == '\t'))
        (*tl)--;
    *sep = s < end ? *s : 0;
    *p = s < end ? s + 1 : end;
    return t;
}

/* A window-bits value "=N" (quotes allowed) after a parameter name of nl bytes in t (tl). */
static int ext_bits(const char *t, size_t tl, size_t nl)
{
    int v = 0;
    size_t i = nl;

    if (i == tl)
        return 0; /* no value */
    if (t[i++] != '=')
        return -1;
    if (i < tl && t[i] == '"' && t[tl - 1] == '"' && tl - i >= 2) {
        i++;
        tl--;
    }
    if (i == tl || tl - i > 2)
        return -1;
    for (; i < tl; i++) {
        if (t[i] < '0' || t[i] > '9')
            return -1;
        v = v * 10 + (t[i] - '0');
    }
    return v >= 8 && v <= 15 ? v : -1;
}

#define EXT_IS(t, tl, lit) ((tl) >= sizeof(lit) - 1 && strncasecmp((t), lit, sizeof(lit) - 1) == 0)

int sb_ws_deflate_answer(const char *head, size_t n, int offered, struct sb_ws_deflate *d,
                         char *err, size_t errn)
{
    const char *end = head + n, *line = head, *eol, *v = NULL, *p, *vend;
    size_t vl = 0;
    int seen = 0; /* parameters named, one bit each */

    memset(d, 0, sizeof(*d));
    d->server_window_bits = 15;
    for (; line < end && (eol = memchr(line, '\r', (size_t)(end - line))); line = eol + 2) {
        const char *x = header_value(line, eol, "sec-websocket-extensions:", &vl);

        if (!x)
            continue;
        if (v) {
            snprintf(err, errn, "the 101 has two Sec-WebSocket-Extensions headers");
            return -1;
        }
        v = x;
    }
    if (!v || !vl) {
        if (offered) {
            snprintf(err, errn, "the 101 does not agree to permessage-deflate (is the server "
                                "running with compression on, e.g. sss-server --deflate?)");
            return -1;
        }
        return 0;
    }
    if (!offered) {
        snprintf(err, errn, "the 101 names an extension that was not offered: \"%.*s\"",
                 (int)(vl > 80 ? 80 : vl), v);
        return -1;
    }
    p = v;
    vend = v + vl;
    for (int first = 1;; first = 0) {
        size_t tl;
        char sep;
        const char *t = ext_token(&p, vend, &tl, &sep);

        if (first) {
            if (tl != 18 || strncasecmp(t, "permessage-deflate", 18) != 0) {
                snprintf(err, errn, "the 101 names an extension that was not offered: \"%.*s\"",
                         (int)(vl > 80 ? 80 : vl), v);
                return -1;
            }
        } else if (tl == 26 && strncasecmp(t, "server_no_context_takeover", 26) == 0 &&
                   !(seen & 1)) {
            seen |= 1;
            d->server_no_takeover = 1;
        } else if (tl == 26 && strncasecmp(t, "client_no_context_takeover", 26) == 0 &&
                   !(seen & 2)) {
            seen |= 2; /* offered by us: agreeing to it is allowed */
        } else if (EXT_IS(t, tl, "server_max_window_bits") && !(seen & 4) &&
                   ext_bits(t, tl, 22) > 0) {
            seen |= 4;
            d->server_window_bits = ext_bits(t, tl, 22);
        } else if (EXT_IS(t, tl, "client_max_window_bits") && !(seen & 8) &&
                   ext_bits(t, tl, 22) > 0) {
            seen |= 8; /* a limit on what we would compress: we compress nothing */
        } else {
            snprintf(err, errn, "the 101's permessage-deflate has a bad or repeated parameter "
                                "\"%.*s\"",
                     (int)(tl > 60 ? 60 : tl), t);
            return -1;
        }
        if (sep == ',') {
            snprintf(err, errn, "the 101 names more than one extension: \"%.*s\"",
                     (int)(vl > 80 ? 80 : vl), v);
            return -1;
        }
        if (!sep)
            break;
    }
    d->on = 1;
    return 0;
}

int sb_inflate_msg(struct sb_inflate *z, int reset, const uint8_t *in, size_t n,
                   struct sb_buf *out, uint64_t max)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *s = z->z;
    int rc = Z_OK;

    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s || inflateInit2(s, -15) != Z_OK) {
            fprintf(stderr, "sss-bench: out of memory (zlib inflate)\n");
            exit(1);
        }
        z->z = s;
    } else if (reset) {
        inflateReset(s);
    }
    out->len = 0;
    for (int part = 0; part < 2 && rc != Z_STREAM_END; part++) {
        s->next_in = (Bytef *)(uintptr_t)(part ? tail : in);
        s->avail_in = part ? 4 : (uInt)n;
        do {
            size_t room = n * 4 + 256;

            if (out->len >= max + 1) {
                inflateReset(s);
                return -1; /* more than max: stop before inflating further */
            }
            if (room > max + 1 - out->len)
                room = (size_t)(max + 1 - out->len);
            s->next_out = sb_buf_reserve(out, room + 1);
            s->avail_out = (uInt)room;
            rc = inflate(s, Z_SYNC_FLUSH);
            out->len += room - s->avail_out;
            if (rc == Z_STREAM_END)
                break;
            if (rc == Z_BUF_ERROR && !s->avail_in && s->avail_out)
                rc = Z_OK; /* nothing left to take */
            if (rc != Z_OK) {
                inflateReset(s);
                return -1;
            }
        } while (s->avail_out == 0 || s->avail_in);
    }
    if (out->len > max) {
        inflateReset(s);
        return -1;
    }
    sb_buf_reserve(out, 1)[0] = 0;
    if (rc == Z_STREAM_END)
        inflateReset(s); /* a final block ends the stream; the next message starts afresh */
    return 0;
}

void sb_inflate_fini(struct sb_inflate *z)
{
    if (z->z) {
        inflateEnd(z->z);
        free(z->z);
        z->z = NULL;
    }
}
