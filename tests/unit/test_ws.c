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

int main(void)
{
    test_headers();
    test_frame();
    return sss_test_done();
}
