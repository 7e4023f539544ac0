/*
 * Unit test of the WebSocket client layer: headers of every length class,
 * masking, the reader on frames split at every byte and merged many per
 * read, fragmented messages with a ping inside, protocol errors, and the
 * upgrade answer check (RFC 6455's own example key); permessage-deflate:
 * the offer, the check of the 101's answer, RSV1 where it may and may not
 * be, and the inflate of messages deflated here by zlib (fresh context per
 * message, kept context, a bomb over the limit, data that is not deflate).
 */
#include "sb_ws.h"
#include "sb_check.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A server frame (never masked). */
static size_t server_frame(uint8_t *dst, int fin, int op, const void *p, size_t len)
{
    size_t h = 2;

    dst[0] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        dst[1] = (uint8_t)len;
    } else if (len < 65536) {
        dst[1] = 126;
        dst[2] = (uint8_t)(len >> 8);
        dst[3] = (uint8_t)len;
        h = 4;
    } else {
        dst[1] = 127;
        for (int i = 0; i < 8; i++)
            dst[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(dst + h, p, len);
    return h + len;
}

struct got {
    int n;
    int op[64];
    size_t len[64];
    uint8_t data[64][256];
    size_t big_len;
};

static int collect(void *arg, int op, uint8_t *data, size_t len)
{
    struct got *g = arg;

    if (g->n < 64) {
        g->op[g->n] = op;
        g->len[g->n] = len;
        memcpy(g->data[g->n], data, len < 256 ? len : 256);
        if (len > 256)
            g->big_len = len;
        g->n++;
    }
    return 0;
}

static uint8_t stream[300000], big[70000];

/* Deflate n bytes at p as one permessage-deflate message (a sync flush, the trailing 00 00 ff
 * ff removed) with the stream z; returns its length. */
static size_t deflate_msg(z_stream *z, const void *p, size_t n, uint8_t *out, size_t cap)
{
    size_t len;

    z->next_in = (Bytef *)(uintptr_t)p;
    z->avail_in = (uInt)n;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in)
        return 0;
    len = cap - z->avail_out;
    return len >= 4 && memcmp(out + len - 4, "\x00\x00\xff\xff", 4) == 0 ? len - 4 : 0;
}

static void test_deflate(void)
{
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    const char *acc = "HTTP/1.1 101 Switching Protocols\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    char req[512], head[512], err[200];
    struct sb_ws_deflate d;
    static const struct {
        const char *ext; /* NULL: no Sec-WebSocket-Extensions */
        int offered, ok, no_takeover, bits;
        const char *why; /* in err when refused */
    } answers[] = {
        {"permessage-deflate; server_no_context_takeover", 1, 1, 1, 15, NULL},
        {"permessage-deflate;server_no_context_takeover;client_no_context_takeover", 1, 1, 1, 15,
         NULL},
        {"PerMessage-Deflate; server_max_window_bits=10", 1, 1, 0, 10, NULL},
        {"permessage-deflate; server_max_window_bits=\"12\"; client_max_window_bits=15", 1, 1, 0,
         12, NULL},
        {"permessage-deflate", 1, 1, 0, 15, NULL},
        {NULL, 0, 1, 0, 15, NULL},
        {NULL, 1, 0, 0, 0, "does not agree to permessage-deflate"},
        {"permessage-deflate", 0, 0, 0, 0, "not offered"},
        {"x-webkit-deflate-frame", 1, 0, 0, 0, "not offered"},
        {"permessage-deflate; server_max_window_bits=16", 1, 0, 0, 0, "bad or repeated"},
        {"permessage-deflate; server_max_window_bits=7", 1, 0, 0, 0, "bad or repeated"},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", 1, 0, 0, 0,
         "bad or repeated"},
        {"permessage-deflate; mystery", 1, 0, 0, 0, "bad or repeated parameter \"mystery\""},
        {"permessage-deflate, permessage-deflate", 1, 0, 0, 0, "more than one"},
    };

    CHECK(sb_ws_request(req, sizeof(req), "h", 1, "/", key, NULL, SB_WS_DEFLATE_OFFER) > 0);
    CHECK(strstr(req, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                      "client_no_context_takeover\r\n") != NULL);
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        int n = snprintf(head, sizeof(head), "%s%s%s%s\r\n", acc,
                         answers[i].ext ? "Sec-WebSocket-Extensions: " : "",
                         answers[i].ext ? answers[i].ext : "", answers[i].ext ? "\r\n" : "");
        int hl = sb_ws_response(head, (size_t)n, key, NULL, err, sizeof(err));
        int rc;

        CHECK(hl == n);
        err[0] = 0;
        rc = sb_ws_deflate_answer(head, (size_t)hl, answers[i].offered, &d, err, sizeof(err));
        if (answers[i].ok) {
            CHECK(rc == 0);
            CHECK(d.on == (answers[i].ext != NULL));
            CHECK(d.server_no_takeover == answers[i].no_takeover);
            CHECK(d.server_window_bits == answers[i].bits);
        } else {
            CHECK(rc == -1);
            CHECK(strstr(err, answers[i].why) != NULL);
        }
    }

    /* RSV1: a compressed message's first frame only, and only once deflate is on. */
    {
        static uint8_t in[64];
        struct sb_wsr r;
        struct got g;
        size_t n;

        memset(&g, 0, sizeof(g));
        sb_wsr_init(&r, 1 << 20);
        n = server_frame(in, 1, SB_WS_TEXT, "abc", 3);
        in[0] |= 0x40;
        CHECK(sb_wsr_feed(&r, in, n, collect, &g) == -1); /* not negotiated */
        r.deflate = 1;
        CHECK(sb_wsr_feed(&r, in, n, collect, &g) == 0);
        CHECK(g.n == 1 && g.op[0] == (SB_WS_TEXT | SB_WS_DEFLATED));
        /* fragmented: RSV1 on the first, the continuation clear; the message is flagged */
        n = server_frame(in, 0, SB_WS_BINARY, "ab", 2);
        in[0] |= 0x40;
        n += server_frame(in + n, 1, SB_WS_CONT, "c", 1);
        CHECK(sb_wsr_feed(&r, in, n, collect, &g) == 0);
        CHECK(g.n == 2 && g.op[1] == (SB_WS_BINARY | SB_WS_DEFLATED) && g.len[1] == 3);
        /* RSV1 on a continuation, on a control frame; RSV2; RSV3 */
        n = server_frame(in, 0, SB_WS_TEXT, "ab", 2);
        n += server_frame(in + n, 1, SB_WS_CONT, "c", 1);
        in[4] |= 0x40;
        CHECK(sb_wsr_feed(&r, in, n, collect, &g) == -1);
        n = server_frame(in, 1, SB_WS_PING, "", 0);
        in[0] |= 0x40;
        CHECK(sb_wsr_feed(&r, in, n, collect, &g) == -1);
        for (int bit = 0x20; bit >= 0x10; bit >>= 4) {
            n = server_frame(in, 1, SB_WS_TEXT, "a", 1);
            in[0] |= (uint8_t)bit;
            CHECK(sb_wsr_feed(&r, in, n, collect, &g) == -1);
        }
        sb_wsr_fini(&r);
    }

    /* Inflate: messages made by zlib, as a server with and without context takeover makes them. */
    {
        static uint8_t comp[70000];
        static char text[40000];
        struct sb_inflate shared = {0}, own = {0};
        struct sb_buf out = {0};
        z_stream zs, zk;
        size_t n;

        for (size_t i = 0; i < sizeof(text); i++)
            text[i] = "the quick brown fox jumps over the lazy dog "[i % 44];
        memset(&zs, 0, sizeof(zs));
        memset(&zk, 0, sizeof(zk));
        CHECK(deflateInit2(&zs, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        CHECK(deflateInit2(&zk, 6, Z_DEFLATED, -10, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        for (int m = 0; m < 3; m++) {
            size_t len = m == 0 ? 300 : m == 1 ? 1 : sizeof(text);

            /* server_no_context_takeover: the server resets its stream per message */
            deflateReset(&zs);
            n = deflate_msg(&zs, text, len, comp, sizeof(comp));
            CHECK(n > 0 && sb_inflate_msg(&shared, 1, comp, n, &out, 1 << 20) == 0);
            CHECK(out.len == len && memcmp(out.p, text, len) == 0 && out.p[len] == 0);
            /* context takeover: later messages refer back to earlier ones */
            n = deflate_msg(&zk, text, len, comp, sizeof(comp));
            CHECK(n > 0 && sb_inflate_msg(&own, 0, comp, n, &out, 1 << 20) == 0);
            CHECK(out.len == len && memcmp(out.p, text, len) == 0);
        }
        /* a message that refers back, inflated with a fresh context, fails or differs */
        n = deflate_msg(&zk, text, 300, comp, sizeof(comp));
        CHECK(n < 30); /* all of it a back-reference */
        CHECK(sb_inflate_msg(&shared, 1, comp, n, &out, 1 << 20) == -1 || out.len != 300 ||
              memcmp(out.p, text, 300) != 0);
        /* a bomb: 40,000 bytes inflated against a limit of 10,000 */
        deflateReset(&zs);
        n = deflate_msg(&zs, text, sizeof(text), comp, sizeof(comp));
        CHECK(n > 0 && n < 10000);
        CHECK(sb_inflate_msg(&shared, 1, comp, n, &out, 10000) == -1);
        CHECK(sb_inflate_msg(&shared, 1, comp, n, &out, sizeof(text)) == 0 &&
              out.len == sizeof(text)); /* exactly at the limit */
        /* not deflate data (a reserved block type) */
        comp[0] = 0x07;
        CHECK(sb_inflate_msg(&shared, 1, comp, 8, &out, 1 << 20) == -1);
        /* after a failure the shared stream still works */
        deflateReset(&zs);
        n = deflate_msg(&zs, "hello", 5, comp, sizeof(comp));
        CHECK(sb_inflate_msg(&shared, 1, comp, n, &out, 1 << 20) == 0 && out.len == 5 &&
              memcmp(out.p, "hello", 5) == 0);
        deflateEnd(&zs);
        deflateEnd(&zk);
        sb_inflate_fini(&shared);
        sb_inflate_fini(&own);
        sb_buf_free(&out);
    }
}

int main(void)
{
    struct sb_ws_hdr h;
    struct sb_wsr r;
    struct got g;
    size_t n = 0, lens[] = {0, 1, 125, 126, 127, 65535, 65536, 69999};
    uint8_t f[70100], p[70000];
    uint64_t rng = 12345;

    /* Client frames: header of each length class, masked payload that unmasks back. */
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i], fl;
        int hl;

        for (size_t k = 0; k < len; k++)
            p[k] = (uint8_t)(k * 31 + i);
        fl = sb_ws_frame(f, SB_WS_TEXT, p, len, 0xa1b2c3d4u);
        hl = sb_ws_header(f, fl, &h);
        CHECK(hl > 0 && sb_ws_header(f, (size_t)hl - 1, &h) == 0); /* incomplete header */
        hl = sb_ws_header(f, fl, &h);
        CHECK(hl > 0 && h.fin && h.op == SB_WS_TEXT && h.masked && h.len == len);
        CHECK(fl == (size_t)hl + len);
        sb_ws_mask(f + hl, len, h.mask);
        CHECK(len == 0 || memcmp(f + hl, p, len) == 0);
    }
    /* Masking at odd lengths matches the byte-wise definition. */
    for (size_t len = 0; len < 40; len++) {
        uint8_t a[40], b[40], m[4] = {1, 2, 3, 250};
        uint32_t mask;

        memcpy(&mask, m, 4);
        for (size_t k = 0; k < len; k++)
            a[k] = b[k] = (uint8_t)(k * 7);
        sb_ws_mask(a, len, mask);
        for (size_t k = 0; k < len; k++)
            CHECK(a[k] == (b[k] ^ m[k % 4]));
    }

    /* A stream: text, ping, binary of 300 bytes, a fragmented text with a ping inside,
     * a 16-bit-length text, a 64-bit-length text, close. */
    n += server_frame(stream + n, 1, SB_WS_TEXT, "hello", 5);
    n += server_frame(stream + n, 1, SB_WS_PING, "pp", 2);
    memset(p, 'b', 300);
    n += server_frame(stream + n, 1, SB_WS_BINARY, p, 300);
    n += server_frame(stream + n, 0, SB_WS_TEXT, "frag", 4);
    n += server_frame(stream + n, 1, SB_WS_PING, "", 0);
    n += server_frame(stream + n, 0, SB_WS_CONT, "men", 3);
    n += server_frame(stream + n, 1, SB_WS_CONT, "ted", 3);
    memset(p, 'm', 1000);
    n += server_frame(stream + n, 1, SB_WS_TEXT, p, 1000);
    memset(big, 'B', sizeof(big));
    n += server_frame(stream + n, 1, SB_WS_TEXT, big, sizeof(big));
    n += server_frame(stream + n, 1, SB_WS_CLOSE, "\x03\xe8" "bye", 5);

    /* Fed at once, and split at every chunk size from 1 byte up. */
    for (size_t chunk = 1; chunk <= n; chunk = chunk < 64 ? chunk + 1 : chunk * 3) {
        memset(&g, 0, sizeof(g));
        sb_wsr_init(&r, 1 << 20);
        for (size_t off = 0; off < n; off += chunk) {
            size_t k = n - off < chunk ? n - off : chunk;
            uint8_t *copy = malloc(k); /* a fresh buffer each time, as the kernel hands out */

            memcpy(copy, stream + off, k);
            CHECK(sb_wsr_feed(&r, copy, k, collect, &g) == 0);
            memset(copy, 0xee, k); /* the reader must not keep pointers into it */
            free(copy);
        }
        CHECK(g.n == 8);
        CHECK(g.op[0] == SB_WS_TEXT && g.len[0] == 5 && memcmp(g.data[0], "hello", 5) == 0);
        CHECK(g.op[1] == SB_WS_PING && g.len[1] == 2);
        CHECK(g.op[2] == SB_WS_BINARY && g.len[2] == 300 && g.data[2][255] == 'b');
        CHECK(g.op[3] == SB_WS_PING && g.len[3] == 0);
        CHECK(g.op[4] == SB_WS_TEXT && g.len[4] == 10 && memcmp(g.data[4], "fragmented", 10) == 0);
        CHECK(g.op[5] == SB_WS_TEXT && g.len[5] == 1000 && g.data[5][255] == 'm');
        CHECK(g.op[6] == SB_WS_TEXT && g.len[6] == sizeof(big) && g.data[6][0] == 'B');
        CHECK(g.op[7] == SB_WS_CLOSE && g.len[7] == 5 && g.data[7][1] == 0xe8);
        CHECK(r.carry.len == 0 && r.frag_op == 0);
        sb_wsr_fini(&r);
        if (chunk >= n)
            break;
    }

    /* Errors: continuation of nothing, reserved bits, masked server frame, a control frame
     * too long or fragmented, a new message inside a fragmented one, an oversized message. */
    {
        uint8_t bad[][8] = {
            {0x80, 0x01, 'x'},             /* CONT fin without a start */
            {0xc1, 0x01, 'x'},             /* RSV1 */
            {0x81, 0x81, 1, 2, 3, 4, 'x'}, /* masked */
            {0x89, 126, 0, 126},           /* ping of 126 */
            {0x09, 0x00},                  /* fragmented ping */
            {0x83, 0x00},                  /* opcode 3 */
        };
        size_t blen[] = {3, 3, 7, 4, 2, 2};

        for (size_t i = 0; i < sizeof(blen) / sizeof(blen[0]); i++) {
            memset(&g, 0, sizeof(g));
            sb_wsr_init(&r, 1 << 20);
            CHECK(sb_wsr_feed(&r, bad[i], blen[i], collect, &g) == -1);
            CHECK(g.n == 0);
            sb_wsr_fini(&r);
        }
        n = server_frame(stream, 0, SB_WS_TEXT, "a", 1);
        n += server_frame(stream + n, 1, SB_WS_TEXT, "b", 1);
        sb_wsr_init(&r, 1 << 20);
        CHECK(sb_wsr_feed(&r, stream, n, collect, &g) == -1);
        sb_wsr_fini(&r);
        n = server_frame(stream, 1, SB_WS_TEXT, p, 1000);
        sb_wsr_init(&r, 999);
        CHECK(sb_wsr_feed(&r, stream, 4, collect, &g) == -1); /* refused from the header */
        sb_wsr_fini(&r);
    }

    /* The upgrade. */
    {
        char acc[29], key[25], req[512], err[200];
        const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nsec-websocket-accept:  "
                         "s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n\x81\x02hi";
        const char *wrong = "HTTP/1.1 101 Switching Protocols\r\n"
                            "Sec-WebSocket-Accept: AAAALMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        const char *none = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        const char *refused = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nfull";
        int hl;

        sb_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", acc);
        CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
        hl = sb_ws_response(ok, strlen(ok), "dGhlIHNhbXBsZSBub25jZQ==", NULL, err, sizeof(err));
        CHECK(hl > 0 && (size_t)hl == strlen(ok) - 4);
        CHECK(sb_ws_response(ok, 40, "dGhlIHNhbXBsZSBub25jZQ==", NULL, err, sizeof(err)) == 0);
        CHECK(sb_ws_response(wrong, strlen(wrong), "dGhlIHNhbXBsZSBub25jZQ==", NULL, err,
                             sizeof(err)) == -1);
        CHECK(strstr(err, "Accept") != NULL);
        CHECK(sb_ws_response(none, strlen(none), "dGhlIHNhbXBsZSBub25jZQ==", NULL, err,
                             sizeof(err)) == -1);
        CHECK(sb_ws_response(refused, strlen(refused), "x", NULL, err, sizeof(err)) == -1);
        CHECK(strstr(err, "503 Service Unavailable") != NULL);
        sb_ws_key(key, &rng);
        CHECK(strlen(key) == 24 && key[22] == '=' && key[23] == '=');
        CHECK(sb_ws_request(req, sizeof(req), "127.0.0.1", 8080, "/x?y=1", key, NULL, NULL) > 0);
        CHECK(strstr(req, "GET /x?y=1 HTTP/1.1\r\n") == req);
        CHECK(strstr(req, "Host: 127.0.0.1:8080\r\n") && strstr(req, key));
        CHECK(sb_ws_request(req, 20, "127.0.0.1", 8080, "/", key, NULL, NULL) == 0);
        CHECK(strstr(req, "Sec-WebSocket-Protocol") == NULL);
    }
    /* A sub-protocol: offered in the request, and the 101 must name it. */
    {
        char err[200], req[512];
        const char *key = "dGhlIHNhbXBsZSBub25jZQ==", *mp = "sss.v1.msgpack";
        const char *agreed = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                             "Sec-WebSocket-Protocol:  sss.v1.msgpack \r\n\r\n";
        const char *json = "HTTP/1.1 101 Switching Protocols\r\n"
                           "sec-websocket-protocol: sss.v1.json\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        const char *silent = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

        CHECK(sb_ws_request(req, sizeof(req), "h", 1, "/", key, mp, NULL) > 0);
        CHECK(strstr(req, "\r\nSec-WebSocket-Protocol: sss.v1.msgpack\r\n") != NULL);
        CHECK(sb_ws_response(agreed, strlen(agreed), key, mp, err, sizeof(err)) ==
              (int)strlen(agreed));
        CHECK(sb_ws_response(json, strlen(json), key, mp, err, sizeof(err)) == -1);
        CHECK(strstr(err, "sss.v1.msgpack") && strstr(err, "\"sss.v1.json\""));
        CHECK(sb_ws_response(silent, strlen(silent), key, mp, err, sizeof(err)) == -1);
        CHECK(strstr(err, "sub-protocol sss.v1.msgpack") != NULL);
        /* nothing offered: whatever the 101 names is not checked */
        CHECK(sb_ws_response(json, strlen(json), key, NULL, err, sizeof(err)) ==
              (int)strlen(json));
    }
    test_deflate();
    return sb_check_done("test_sb_ws");
}
