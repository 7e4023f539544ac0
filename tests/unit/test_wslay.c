/*
 * Tests of the glue to wslay (src/ws/sss_wslay.c) without sockets: a
 * client's masked frames fed in byte by byte come out as one message; a
 * ping is answered with a pong through the write callback before the next
 * message; a frame-layer violation (an unmasked frame) stops reading and
 * wslay's close goes out; our close then the client's ends the connection; the context is
 * parked only at a frame boundary, and made again on the next bytes; whole
 * small data frames are read without a context, in order with what wslay
 * reads, and what they may not take (a split frame, bad UTF-8, past the
 * size limit, a control frame) goes to wslay, which answers it.
 */
#include "sss_test.h"
#include "sss_wslay.h"

#include <stdio.h>
#include <string.h>

struct sink {
    uint8_t out[4096]; /* what wslay wrote */
    size_t out_len;
    char msg[1024]; /* the last message */
    int nmsg, opcode;
    char log[1024]; /* every message: "<opcode>:<first bytes>|" */
    int contexts;   /* wslay contexts made */
};

static int sink_write(void *data, const uint8_t *bytes, size_t len)
{
    struct sink *s = data;

    if (s->out_len + len > sizeof(s->out))
        return -1;
    memcpy(s->out + s->out_len, bytes, len);
    s->out_len += len;
    return 0;
}

static void sink_message(void *data, int opcode, const uint8_t *msg, size_t len)
{
    struct sink *s = data;

    s->nmsg++;
    s->opcode = opcode;
    memcpy(s->msg, msg, len < sizeof(s->msg) - 1 ? len : sizeof(s->msg) - 1);
    s->msg[len < sizeof(s->msg) - 1 ? len : sizeof(s->msg) - 1] = '\0';
    snprintf(s->log + strlen(s->log), sizeof(s->log) - strlen(s->log), "%d:%.8s|", opcode,
             s->msg);
}

static void sink_contexts(void *data, int delta)
{
    struct sink *s = data;

    if (delta > 0)
        s->contexts++;
}

static const struct sss_wslay_io sink_io = {
    .write = sink_write, .message = sink_message, .contexts = sink_contexts};

/* A client frame (masked) of opcode with payload p into buf; returns its length. */
static size_t client_frame(uint8_t *buf, int fin, int opcode, const char *p, size_t len)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    size_t n = 0;

    buf[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        buf[n++] = (uint8_t)(0x80 | len);
    } else { /* len < 65536 here */
        buf[n++] = 0x80 | 126;
        buf[n++] = (uint8_t)(len >> 8);
        buf[n++] = (uint8_t)len;
    }
    memcpy(buf + n, mask, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        buf[n++] = (uint8_t)p[i] ^ mask[i % 4];
    return n;
}

/* A fresh wslay glue, messages up to max_msg, writing to an empty sink s. */
static void start_max(struct sss_wslay *ws, struct sink *s, size_t max_msg)
{
    memset(s, 0, sizeof(*s));
    sss_wslay_init(ws, &sink_io, s, max_msg);
}

static void start(struct sss_wslay *ws, struct sink *s)
{
    start_max(ws, s, 1 << 16);
}

static void test_wslay_message_and_ping(void)
{
    struct sss_wslay ws;
    struct sink s;
    uint8_t buf[256];
    size_t n;

    start(&ws, &s);
    n = client_frame(buf, 1, WSLAY_TEXT_FRAME, "hello", 5);
    for (size_t i = 0; i < n; i++) /* byte by byte: wslay keeps the partial frame */
        CHECK_EQ_INT(sss_wslay_recv(&ws, buf + i, 1), 0);
    CHECK_EQ_INT(s.nmsg, 1);
    CHECK_EQ_INT(s.opcode, WSLAY_TEXT_FRAME);
    CHECK_EQ_STR(s.msg, "hello");
    /* A ping, then a message: the pong is written before the message is handed on. */
    n = client_frame(buf, 1, WSLAY_PING, "p", 1);
    n += client_frame(buf + n, 1, WSLAY_BINARY_FRAME, "b", 1);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_INT(s.nmsg, 2);
    CHECK_EQ_INT(s.opcode, WSLAY_BINARY_FRAME);
    CHECK_EQ_INT(s.out_len, 3);
    CHECK_EQ_INT(s.out[0], 0x80 | WSLAY_PONG);
    CHECK_EQ_INT(s.out[2], 'p');
    CHECK_EQ_INT(sss_wslay_pump(&ws), 0);
    sss_wslay_fini(&ws);
}

static void test_wslay_violation(void)
{
    struct sss_wslay ws;
    struct sink s;
    uint8_t buf[16] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}; /* unmasked: not allowed */

    start(&ws, &s);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, 7), 0);
    CHECK_EQ_INT(s.nmsg, 0);
    CHECK(sss_wslay_failed(&ws)); /* the connection counts a protocol close */
    CHECK_EQ_INT(sss_wslay_pump(&ws), 1);
    CHECK(s.out_len >= 4 && (s.out[0] & 0x0f) == WSLAY_CONNECTION_CLOSE);
    CHECK(s.out[2] == 0x03 && s.out[3] == 0xea); /* 1002 */
    sss_wslay_fini(&ws);
}

static void test_wslay_close(void)
{
    struct sss_wslay ws;
    struct sink s;
    uint8_t buf[64];
    const char code[2] = {0x03, (char)0xe8}; /* 1000 */
    size_t n;

    start(&ws, &s);
    CHECK_EQ_INT(sss_wslay_close(&ws, 4008, "slow"), 0);
    CHECK_EQ_INT(sss_wslay_pump(&ws), 0); /* our close went out; the client's is awaited */
    CHECK(sss_wslay_close_sent(&ws));
    CHECK(s.out_len == 8 && s.out[2] == 0x0f && s.out[3] == 0xa8); /* 4008 */
    n = client_frame(buf, 1, WSLAY_CONNECTION_CLOSE, code, 2);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_INT(sss_wslay_pump(&ws), 1); /* both closes exchanged */
    CHECK(!sss_wslay_failed(&ws));
    sss_wslay_fini(&ws);
}

static void test_wslay_park(void)
{
    struct sss_wslay ws;
    struct sink s;
    uint8_t buf[64];
    size_t n;

    start(&ws, &s);
    CHECK_EQ_INT(sss_wslay_park(&ws), 0); /* no context yet */
    n = client_frame(buf, 0, WSLAY_TEXT_FRAME, "he", 2); /* a fragment: not idle */
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_INT(sss_wslay_park(&ws), 0);
    n = client_frame(buf, 1, WSLAY_CONTINUATION_FRAME, "y", 1);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_STR(s.msg, "hey");
    CHECK_EQ_INT(sss_wslay_park(&ws), 1);
    CHECK(ws.ctx == NULL);
    n = client_frame(buf, 1, WSLAY_TEXT_FRAME, "again", 5);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, 3), 0); /* part of a frame: a fresh context */
    CHECK(ws.ctx != NULL);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf + 3, n - 3), 0);
    CHECK_EQ_STR(s.msg, "again");
    CHECK_EQ_INT(s.nmsg, 2);
    CHECK_EQ_INT(s.contexts, 2);
    sss_wslay_fini(&ws);
}

/* The close code of the close frame wslay wrote into s (0: none). */
static int close_written(const struct sink *s)
{
    return s->out_len >= 4 && (s->out[0] & 0x0f) == WSLAY_CONNECTION_CLOSE
               ? s->out[2] << 8 | s->out[3]
               : 0;
}

static void test_wslay_whole_frames(void)
{
    static char big[300];
    struct sss_wslay ws;
    struct sink s;
    uint8_t buf[1024];
    size_t n;

    memset(big, 'B', sizeof(big));
    start(&ws, &s);
    /* Three whole frames in one read, one with a 16-bit length: no context. */
    n = client_frame(buf, 1, WSLAY_TEXT_FRAME, "a", 1);
    n += client_frame(buf + n, 1, WSLAY_BINARY_FRAME, big, sizeof(big));
    n += client_frame(buf + n, 1, WSLAY_TEXT_FRAME, "", 0);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_STR(s.log, "1:a|2:BBBBBBBB|1:|");
    CHECK_EQ_INT(s.contexts, 0);
    CHECK(ws.ctx == NULL);
    CHECK_EQ_INT(s.out_len, 0);
    /* A ping between two: wslay takes it and what follows, in order, the pong first. */
    s.log[0] = '\0';
    n = client_frame(buf, 1, WSLAY_TEXT_FRAME, "x", 1);
    n += client_frame(buf + n, 1, WSLAY_PING, "p", 1);
    n += client_frame(buf + n, 1, WSLAY_TEXT_FRAME, "y", 1);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_STR(s.log, "1:x|1:y|");
    CHECK_EQ_INT(s.contexts, 1);
    CHECK(s.out_len == 3 && s.out[0] == (0x80 | WSLAY_PONG));
    CHECK_EQ_INT(sss_wslay_park(&ws), 1);
    /* A whole frame followed by part of the next: the part goes to wslay. */
    s.log[0] = '\0';
    n = client_frame(buf, 1, WSLAY_TEXT_FRAME, "one", 3);
    n += client_frame(buf + n, 1, WSLAY_TEXT_FRAME, "two", 3);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n - 2), 0);
    CHECK_EQ_STR(s.log, "1:one|");
    CHECK(ws.ctx != NULL);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf + n - 2, 2), 0);
    CHECK_EQ_STR(s.log, "1:one|1:two|");
    sss_wslay_fini(&ws);
}

static void test_wslay_whole_frames_refused(void)
{
    struct sss_wslay ws;
    struct sink s;
    uint8_t buf[256];
    size_t n;

    /* Invalid UTF-8 in a whole text frame: wslay's 1007, no message. */
    start(&ws, &s);
    n = client_frame(buf, 1, WSLAY_TEXT_FRAME, "ok", 2);
    n += client_frame(buf + n, 1, WSLAY_TEXT_FRAME, "\xc0\xaf", 2);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_STR(s.log, "1:ok|");
    CHECK_EQ_INT(sss_wslay_pump(&ws), 1);
    CHECK_EQ_INT(close_written(&s), 1007);
    sss_wslay_fini(&ws);
    /* Past the size limit: wslay's 1009. */
    start_max(&ws, &s, 4);
    n = client_frame(buf, 1, WSLAY_BINARY_FRAME, "four", 4);
    n += client_frame(buf + n, 1, WSLAY_BINARY_FRAME, "fives", 5);
    CHECK_EQ_INT(sss_wslay_recv(&ws, buf, n), 0);
    CHECK_EQ_STR(s.log, "2:four|");
    (void)sss_wslay_pump(&ws);
    CHECK_EQ_INT(close_written(&s), 1009);
    sss_wslay_fini(&ws);
    /* RSV1 without permessage-deflate: wslay's 1002. */
    start(&ws, &s);
    n = client_frame(buf, 1, WSLAY_TEXT_FRAME, "z", 1);
    buf[0] |= 0x40;
    (void)sss_wslay_recv(&ws, buf, n);
    (void)sss_wslay_pump(&ws);
    CHECK_EQ_INT(s.nmsg, 0);
    CHECK_EQ_INT(close_written(&s), 1002);
    sss_wslay_fini(&ws);
}

int main(void)
{
    test_wslay_message_and_ping();
    test_wslay_violation();
    test_wslay_close();
    test_wslay_park();
    test_wslay_whole_frames();
    test_wslay_whole_frames_refused();
    return sss_test_done();
}
