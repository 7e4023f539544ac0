/* Unit tests of permessage-deflate (src/ws/sss_deflate.c): the offer parser,
 * compressing once per frame, bounded inflating, UTF-8. */
#include "sss_deflate.h"
#include "sss_err.h"
#include "sss_ws.h"
#include "sss_test.h"

#include <stdlib.h>
#include <string.h>

static int nego(const char *offers, struct sss_deflate_params *p, char *answer)
{
    return sss_deflate_negotiate(offers, strlen(offers), p, answer);
}

static void test_negotiate(void)
{
    struct sss_deflate_params p;
    char a[SSS_DEFLATE_EXT_MAX];

    CHECK_EQ_INT(nego("permessage-deflate", &p, a), 1);
    CHECK_EQ_STR(a, "permessage-deflate; server_no_context_takeover");
    CHECK(p.on && p.server_bits == 15 && p.client_bits == 15 && !p.client_no_takeover);

    /* What browsers send. */
    CHECK_EQ_INT(nego("permessage-deflate; client_max_window_bits", &p, a), 1);
    CHECK_EQ_STR(a, "permessage-deflate; server_no_context_takeover");
    CHECK_EQ_INT(p.client_bits, 15);

    CHECK_EQ_INT(nego("Permessage-Deflate ; client_no_context_takeover ; "
                      "server_max_window_bits=\"10\"; client_max_window_bits=9",
                      &p, a),
                 1);
    CHECK_EQ_STR(a, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                    "server_max_window_bits=10; client_max_window_bits=9");
    CHECK(p.server_bits == 10 && p.client_bits == 9 && p.client_no_takeover);

    /* Refused offers are skipped: the next acceptable one wins. */
    CHECK_EQ_INT(nego("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8, "
                      "permessage-deflate; unknown=1, permessage-deflate; "
                      "server_no_context_takeover",
                      &p, a),
                 1);
    CHECK_EQ_STR(a, "permessage-deflate; server_no_context_takeover");
    CHECK_EQ_INT(p.server_bits, 15);

    /* Each refused alone. */
    static const char *const bad[] = {
        "",
        "x-webkit-deflate-frame",
        "permessage-deflate; server_max_window_bits",      /* a value is required */
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=8",    /* zlib has no 8-bit raw window */
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=010",
        "permessage-deflate; client_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; mystery",
        "permessage-deflatex",
        "permessage-deflate; server_max_window_bits=\"1,5\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p.on = 7;
        CHECK_EQ_INT(nego(bad[i], &p, a), 0);
        CHECK(p.on == 0 && a[0] == '\0');
    }
}

/* Compress a frame and inflate it back; the cache gives one compression per frame. */
static void test_frame_roundtrip(void)
{
    struct sss_deflate_tx tx;
    struct sss_deflate_params p = {1, 15, 15, 0};
    struct sss_deflate_rx rx;
    struct sss_dynbuf out = SSS_DYNBUF_INIT;
    char msg[3000];
    struct sss_buf *src, *a, *b, *small;

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (char)('a' + i % 7);
    sss_deflate_tx_init(&tx, 1, 256);
    src = sss_ws_frame(SSS_WS_TEXT, msg, sizeof(msg));
    a = sss_deflate_frame(&tx, sss_buf_ref(src), 15);
    b = sss_deflate_frame(&tx, sss_buf_ref(src), 15);
    CHECK(a == b && a != src);
    CHECK_EQ_INT((int)tx.compressed, 1);
    CHECK(a->data[0] == (0x80 | 0x40 | SSS_WS_TEXT));
    CHECK(a->len < 100);
    sss_deflate_rx_init(&rx, &p);
    CHECK_EQ_INT(sss_deflate_inflate(&rx, a->data + 2, a->len - 2, 1 << 20, &out), 0);
    CHECK(out.len == sizeof(msg) && memcmp(out.data, msg, sizeof(msg)) == 0);
    CHECK(sss_deflate_rx_holding(&rx)); /* context takeover: the window is kept */
    /* A second message with takeover still inflates (no-context messages are valid streams). */
    CHECK_EQ_INT(sss_deflate_inflate(&rx, a->data + 2, a->len - 2, 1 << 20, &out), 0);
    CHECK_EQ_INT((int)out.len, (int)sizeof(msg));
    sss_deflate_rx_fini(&rx);

    /* Another window is another compression. */
    sss_buf_unref(sss_deflate_frame(&tx, sss_buf_ref(src), 10));
    CHECK_EQ_INT((int)tx.compressed, 2);

    /* Under --deflate-min-size, and control frames, go as they are. */
    small = sss_ws_frame(SSS_WS_TEXT, msg, 255);
    CHECK(sss_deflate_frame(&tx, small, 15) == small);
    sss_buf_unref(small);
    small = sss_ws_frame(SSS_WS_PING, msg, 100);
    tx.min_size = 0;
    CHECK(sss_deflate_frame(&tx, small, 15) == small);
    sss_buf_unref(small);
    CHECK_EQ_INT((int)tx.compressed, 2);

    sss_buf_unref(a);
    sss_buf_unref(b);
    sss_buf_unref(src);
    sss_deflate_tx_fini(&tx);
    sss_dynbuf_fini(&out);
}

/* A bomb stops at the limit; without takeover no zlib state stays; garbage is refused. */
static void test_inflate_bounds(void)
{
    struct sss_deflate_tx tx;
    struct sss_deflate_params p = {1, 15, 15, 1};
    struct sss_deflate_rx rx;
    struct sss_dynbuf z = SSS_DYNBUF_INIT, out = SSS_DYNBUF_INIT;
    size_t n = 1 << 20;
    char *zeros = calloc(1, n);

    sss_deflate_tx_init(&tx, 9, 0);
    CHECK(zeros != NULL);
    CHECK_EQ_INT(sss_deflate_compress(&tx, 15, zeros, n, &z), 0);
    CHECK(z.len < 2048);
    sss_deflate_rx_init(&rx, &p);
    CHECK_EQ_INT(sss_deflate_inflate(&rx, z.data, z.len, 65536, &out), SSS_ELIMIT);
    CHECK(out.len <= 65536 + 1);
    CHECK(!sss_deflate_rx_holding(&rx));
    /* Exactly at the limit passes. */
    CHECK_EQ_INT(sss_deflate_inflate(&rx, z.data, z.len, n, &out), 0);
    CHECK_EQ_INT((int)out.len, (int)n);
    CHECK(!sss_deflate_rx_holding(&rx)); /* client_no_context_takeover: gone after the message */
    CHECK_EQ_INT(sss_deflate_inflate(&rx, "\xff\xff\xff\xff", 4, n, &out), SSS_EPROTO);
    CHECK(!sss_deflate_rx_holding(&rx));
    CHECK_EQ_INT(sss_deflate_compress(&tx, 8, zeros, 10, &z), SSS_EINVAL);
    sss_deflate_rx_fini(&rx);
    sss_deflate_tx_fini(&tx);
    sss_dynbuf_fini(&z);
    sss_dynbuf_fini(&out);
    free(zeros);
}

static void test_utf8(void)
{
    CHECK(sss_deflate_utf8_valid((const uint8_t *)"", 0));
    CHECK(sss_deflate_utf8_valid((const uint8_t *)"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    CHECK(!sss_deflate_utf8_valid((const uint8_t *)"\xc3", 1));
    CHECK(!sss_deflate_utf8_valid((const uint8_t *)"\xc0\x80", 2));     /* overlong */
    CHECK(!sss_deflate_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */
    CHECK(!sss_deflate_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!sss_deflate_utf8_valid((const uint8_t *)"\xff", 1));
}

int main(void)
{
    test_negotiate();
    test_frame_roundtrip();
    test_inflate_bounds();
    test_utf8();
    return sss_test_done();
}
