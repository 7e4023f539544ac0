/* Unit tests of server frame building (src/ws/sss_ws.c). */
#include "sss_ws.h"
#include "sss_test.h"

static void test_headers(void)
{
    uint8_t h[SSS_WS_MAX_HEADER];

    CHECK_EQ_INT(sss_ws_frame_header(h, SSS_WS_TEXT, 0), 2);
    CHECK(h[0] == 0x81 && h[1] == 0);
    CHECK_EQ_INT(sss_ws_frame_header(h, SSS_WS_BINARY, 125), 2);
    CHECK(h[0] == 0x82 && h[1] == 125);
    CHECK_EQ_INT(sss_ws_frame_header(h, SSS_WS_TEXT, 126), 4);
    CHECK(h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK_EQ_INT(sss_ws_frame_header(h, SSS_WS_TEXT, 65535), 4);
    CHECK(h[2] == 0xff && h[3] == 0xff);
    CHECK_EQ_INT(sss_ws_frame_header(h, SSS_WS_TEXT, 65536), 10);
    CHECK(h[1] == 127 && h[2] == 0 && h[7] == 1 && h[8] == 0 && h[9] == 0);
    CHECK_EQ_INT(sss_ws_frame_header(h, SSS_WS_PING, 0x0102030405ULL), 10);
    CHECK(h[0] == 0x89 && h[5] == 1 && h[6] == 2 && h[9] == 5);
}

static void test_frame(void)
{
    struct sss_buf *b = sss_ws_frame(SSS_WS_TEXT, "hello", 5);

    CHECK(b != NULL);
    CHECK_EQ_INT(b->len, 7);
    CHECK(memcmp(b->data, "\x81\x05hello", 7) == 0);
    CHECK_EQ_INT(b->ref, 1);
    sss_buf_ref(b);
    sss_buf_unref(b);
    CHECK_EQ_INT(b->ref, 1);
    sss_buf_unref(b);
    b = sss_ws_frame(SSS_WS_BINARY, NULL, 0);
    CHECK(b && b->len == 2 && b->data[0] == 0x82);
    sss_buf_unref(b);
}

/* A masked client frame (mask 0) of opcode op, fin, with len payload bytes, into out. */
static size_t client_frame(uint8_t *out, int fin, int op, size_t len)
{
    size_t n = 0;

    out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        out[n++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memset(out + n, 0, 4 + len); /* mask, then payload */
    return n + 4 + len;
}

static void test_track(void)
{
    static uint8_t buf[200000];
    size_t n = 0, marks[8];
    int idle_at[8];
    int k = 0;

    /* text "ab" | text fin=0 (open) | ping (control inside) | cont fin=1 |
     * binary of 300 (16-bit length) | binary of 70000 (64-bit length) */
    n += client_frame(buf + n, 1, SSS_WS_TEXT, 2), marks[k] = n, idle_at[k++] = 1;
    n += client_frame(buf + n, 0, SSS_WS_TEXT, 5), marks[k] = n, idle_at[k++] = 0;
    n += client_frame(buf + n, 1, SSS_WS_PING, 3), marks[k] = n, idle_at[k++] = 0;
    n += client_frame(buf + n, 1, SSS_WS_CONT, 4), marks[k] = n, idle_at[k++] = 1;
    n += client_frame(buf + n, 1, SSS_WS_BINARY, 300), marks[k] = n, idle_at[k++] = 1;
    n += client_frame(buf + n, 1, SSS_WS_BINARY, 70000), marks[k] = n, idle_at[k++] = 1;
    /* Fed in one piece, and in pieces of every size from 1 to 9: idle exactly
     * at the frame boundaries that close no open message. */
    for (size_t step = 0; step < 10; step++) {
        struct sss_ws_track t;
        size_t off = 0;
        int m = 0, ok = 1;

        memset(&t, 0, sizeof(t));
        CHECK(sss_ws_track_idle(&t));
        while (off < n) {
            size_t len = step ? step : n;

            if (m < k && off + len > marks[m])
                len = marks[m] - off; /* stop at each mark to look */
            sss_ws_track_feed(&t, buf + off, len);
            off += len;
            if (m < k && off == marks[m]) {
                ok &= sss_ws_track_idle(&t) == idle_at[m];
                m++;
            } else {
                ok &= !sss_ws_track_idle(&t); /* inside a frame */
            }
        }
        CHECK(ok && m == k);
    }
}

int main(void)
{
    test_headers();
    test_frame();
    test_track();
    return sss_test_done();
}
