/*
 * Unit tests of sss_httpc, the proxy's HTTP/1.1 client.
 *
 * First by hand: the test plays the driver and the backend, feeding bytes
 * (every split of one answer, answers back to back, garbage, 1xx, EOF
 * bodies), connection results and time (a fake now_ms), and checks each
 * decision. Then over loopback: a tiny blocking driver (blocking connect and
 * send, poll for reads) against tests/unit/httpc_backend.py, a real
 * ThreadingHTTPServer, for keep-alive reuse, a backend closing between
 * calls, 500, a non-JSON answer, chunked, too large, a backend that never
 * answers (time still fake: nothing here waits on a clock) and a refused
 * connection.
 */
#include "proxy/sss_httpc.h"
#include "sss_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SSS_PYTHON
#define SSS_PYTHON "python3"
#endif

/* ---- what callbacks saw ---- */

struct result {
    int n;      /* callbacks */
    int status;
    size_t len;
    char body[8192];
    char fail[64];
};

static void on_done(void *data, int status, const char *body, size_t len, const char *fail)
{
    struct result *r = data;

    r->n++;
    r->status = status;
    r->len = len;
    r->body[0] = '\0';
    if (body)
        snprintf(r->body, sizeof(r->body), "%.*s", (int)(len < 8000 ? len : 8000), body);
    snprintf(r->fail, sizeof(r->fail), "%s", fail ? fail : "");
    if (!fail)
        CHECK(body && body[len] == '\0');
}

static void reset(struct result *r)
{
    memset(r, 0, sizeof(*r));
}

/* ---- by hand ---- */

static struct sss_httpc *make(int conns, int queue, size_t max_body)
{
    struct sss_httpc_config cfg;
    struct sss_httpc *c;

    sss_httpc_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 8080;
    cfg.prefix = "/hooks/";
    cfg.connections = conns;
    cfg.queue_max = queue;
    cfg.max_body = max_body;
    cfg.timeout_ms = 1000;
    c = sss_httpc_create(&cfg);
    CHECK(c != NULL);
    return c;
}

static struct sss_httpc_call *call(struct sss_httpc *c, const char *path, struct result *r,
                                   int64_t now)
{
    struct sss_httpc_call *h = NULL;
    int rc = sss_httpc_call(c, path, "X-SSS-Host: h1\r\n", "{}", 2, on_done, r, now, &h);

    CHECK_EQ_INT(rc, 0);
    return h;
}

/* Connect the slot the client wants connected; returns it. */
static int connect_ok(struct sss_httpc *c)
{
    int slot = sss_httpc_want_connect(c);

    CHECK(slot >= 0);
    if (slot >= 0)
        sss_httpc_connected(c, slot, 0);
    return slot;
}

/* Send what the client wants sent, all at once; returns the slot (or -1). */
static int send_all(struct sss_httpc *c, char *out, size_t cap)
{
    const void *p;
    size_t n;
    int slot = sss_httpc_want_send(c, &p, &n);

    if (slot < 0)
        return -1;
    if (out) {
        CHECK(n < cap);
        snprintf(out, cap, "%.*s", (int)n, (const char *)p);
    }
    sss_httpc_sent(c, slot, (ssize_t)n);
    return slot;
}

/* A call to path, on the connection the client opens for it, sent whole. */
static struct sss_httpc_call *call_sent(struct sss_httpc *c, const char *path, struct result *r)
{
    struct sss_httpc_call *h;

    reset(r);
    h = call(c, path, r, 0);
    connect_ok(c);
    send_all(c, NULL, 0);
    return h;
}

/* Two calls, a to /a then b to /b. */
static void call_two(struct sss_httpc *c, struct result *a, struct result *b)
{
    reset(a);
    reset(b);
    call(c, "/a", a, 0);
    call(c, "/b", b, 0);
}

static void feed(struct sss_httpc *c, int slot, const char *s)
{
    sss_httpc_received(c, slot, s, strlen(s));
}

static const char ANSWER[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 12\r\n\r\n{\"user\":\"a\"}";
static const char CHUNKED[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\n{\"use\r\n7;ext=1\r\nr\":\"a\"}\r\n0\r\nTrailer: t\r\n\r\n";

static void test_request(void)
{
    struct sss_httpc *c = make(2, 4, 1024);
    struct result r;
    char out[1024];
    int slot;

    reset(&r);
    call(c, "/connect", &r, 0);
    slot = connect_ok(c);
    CHECK_EQ_INT(slot, 0);
    CHECK_EQ_INT(sss_httpc_want_connect(c), -1);
    CHECK(sss_httpc_reading(c, 0));
    CHECK(!sss_httpc_idle(c, 0));
    CHECK_EQ_INT(send_all(c, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "POST /hooks/connect HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                      "Content-Type: application/json\r\nContent-Length: 2\r\n"
                      "Connection: keep-alive\r\nX-SSS-Host: h1\r\n\r\n{}");
    CHECK_EQ_INT(r.n, 0);
    feed(c, 0, ANSWER);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "{\"user\":\"a\"}");
    CHECK_EQ_STR(r.fail, "");
    CHECK(sss_httpc_idle(c, 0));
    CHECK_EQ_INT(sss_httpc_want_close(c), -1);
    CHECK_EQ_INT(sss_httpc_tick(c, 10), -1);
    sss_httpc_destroy(c);

    /* A Host header of our choosing, no prefix. */
    {
        struct sss_httpc_config cfg;

        sss_httpc_config_init(&cfg);
        cfg.host = "::1";
        cfg.host_header = "backend.example";
        c = sss_httpc_create(&cfg);
        CHECK(c != NULL);
        reset(&r);
        call(c, "/ask", &r, 0);
        connect_ok(c);
        send_all(c, out, sizeof(out));
        CHECK(strncmp(out, "POST /ask HTTP/1.1\r\nHost: backend.example\r\n", 43) == 0);
        sss_httpc_destroy(c);
        cfg.host_header = NULL;
        c = sss_httpc_create(&cfg);
        call(c, "/ask", &r, 0);
        connect_ok(c);
        send_all(c, out, sizeof(out));
        CHECK(strncmp(out, "POST /ask HTTP/1.1\r\nHost: [::1]\r\n", 33) == 0);
        sss_httpc_destroy(c);
    }
}

/* One answer cut in two at every byte, then fed a byte at a time. */
static void test_splits(const char *answer, const char *body)
{
    size_t n = strlen(answer);

    for (size_t k = 0; k <= n + 1; k++) {
        struct sss_httpc *c = make(1, 4, 1024);
        struct result r;

        call_sent(c, "/ask", &r);
        if (k <= n) {
            sss_httpc_received(c, 0, answer, k);
            CHECK_EQ_INT(r.n, k == n);
            sss_httpc_received(c, 0, answer + k, n - k);
        } else {
            for (size_t i = 0; i < n; i++)
                sss_httpc_received(c, 0, answer + i, 1);
        }
        CHECK_EQ_INT(r.n, 1);
        CHECK_EQ_INT(r.status, 200);
        CHECK_EQ_STR(r.body, body);
        CHECK(sss_httpc_idle(c, 0));
        CHECK_EQ_INT(sss_httpc_want_close(c), -1);
        sss_httpc_destroy(c);
    }
}

/* Two calls on one keep-alive connection, one after the other. */
static void test_keep_alive(void)
{
    struct sss_httpc *c = make(1, 4, 1024);
    struct result a, b;

    call_two(c, &a, &b);
    connect_ok(c);
    CHECK_EQ_INT(sss_httpc_want_connect(c), -1); /* b waits for the one connection */
    send_all(c, NULL, 0);
    feed(c, 0, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\"a\"");
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_STR(a.body, "\"a\"");
    CHECK_EQ_INT(b.n, 0);
    CHECK_EQ_INT(sss_httpc_want_close(c), -1);
    CHECK_EQ_INT(sss_httpc_want_connect(c), -1);
    CHECK_EQ_INT(send_all(c, NULL, 0), 0); /* b on the same connection */
    feed(c, 0, "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\n\"b\"");
    CHECK_EQ_INT(b.n, 1);
    CHECK_EQ_INT(b.status, 201);
    CHECK_EQ_STR(b.body, "\"b\"");
    CHECK_EQ_INT(sss_httpc_stats(c)->connects, 1);
    CHECK_EQ_INT(sss_httpc_stats(c)->answers, 2);
    sss_httpc_destroy(c);

    /* Two answers back to back in one read, to one call: the second was not asked for. */
    c = make(1, 4, 1024);
    reset(&b);
    call_sent(c, "/a", &a);
    feed(c, 0, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: "
               "1\r\n\r\n2");
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_STR(a.body, "1");
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    call(c, "/b", &b, 0);
    CHECK_EQ_INT(sss_httpc_want_connect(c), -1); /* the slot is closing */
    sss_httpc_closed(c, 0);
    CHECK_EQ_INT(connect_ok(c), 0);
    send_all(c, NULL, 0);
    feed(c, 0, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
    CHECK_EQ_STR(b.body, "2");
    /* Bytes on an idle connection: it is closed, not reused. */
    feed(c, 0, "H");
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    sss_httpc_destroy(c);
}

/* One call, one answer fed whole, then EOF when eof is set: what the callback got. */
static struct result one(const char *answer, bool eof, size_t max_body, bool *closed)
{
    struct sss_httpc *c = make(1, 4, max_body);
    struct result r;

    call_sent(c, "/ask", &r);
    feed(c, 0, answer);
    if (eof)
        sss_httpc_eof(c, 0, 0);
    CHECK_EQ_INT(r.n, 1);
    *closed = sss_httpc_want_close(c) == 0;
    sss_httpc_destroy(c);
    return r;
}

static void test_answers(void)
{
    struct result r;
    bool closed;

    r = one("garbage\r\n\r\n", false, 1024, &closed);
    CHECK_EQ_STR(r.fail, "bad answer");
    CHECK_EQ_INT(r.status, 0);
    CHECK(closed);
    r = one("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
            false, 1024, &closed);
    CHECK_EQ_STR(r.fail, "bad answer");
    CHECK(closed);
    r = one("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
            false, 1024, &closed);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "{}");
    CHECK(!closed);
    r = one("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops", false, 1024,
            &closed);
    CHECK_EQ_INT(r.status, 500);
    CHECK_EQ_STR(r.body, "oops");
    CHECK_EQ_STR(r.fail, "");
    r = one("HTTP/1.1 204 No Content\r\n\r\n", false, 1024, &closed);
    CHECK_EQ_INT(r.status, 204);
    CHECK_EQ_INT(r.len, 0);
    CHECK(!closed);
    /* No length: read to EOF, and the connection ends with it. */
    r = one("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"to\":\"eof\"}", true,
            1024, &closed);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, "{\"to\":\"eof\"}");
    CHECK(closed);
    r = one("HTTP/1.0 200 OK\r\n\r\nold", true, 1024, &closed);
    CHECK_EQ_STR(r.body, "old");
    CHECK(closed);
    /* Connection: close, and HTTP/1.0 without keep-alive, are honoured. */
    r = one("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", false, 1024,
            &closed);
    CHECK_EQ_STR(r.body, "{}");
    CHECK(closed);
    r = one("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", false, 1024, &closed);
    CHECK(closed);
    r = one("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", false,
            1024, &closed);
    CHECK(!closed);
    /* Too large: by its Content-Length, or as chunks arrive; exactly the limit is fine. */
    r = one("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", false, 10, &closed);
    CHECK_EQ_STR(r.fail, "answer too large");
    CHECK(closed);
    r = one("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", false, 10, &closed);
    CHECK_EQ_STR(r.body, "0123456789");
    r = one("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n67890\r\n",
            false, 10, &closed);
    CHECK_EQ_STR(r.fail, "answer too large");
    CHECK(closed);
    r = one("HTTP/1.1 200 OK\r\n\r\n0123456789A", false, 10, &closed);
    CHECK_EQ_STR(r.fail, "answer too large");
    /* Cut short. */
    r = one("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", true, 1024, &closed);
    CHECK_EQ_STR(r.fail, "closed mid-answer");
    CHECK(closed);
    r = one("HTTP/1.1 200 O", true, 1024, &closed);
    CHECK_EQ_STR(r.fail, "closed mid-answer");
    r = one("", true, 1024, &closed); /* a fresh connection: no retry */
    CHECK_EQ_STR(r.fail, "closed mid-answer");
}

/* A head bigger than SSS_HTTPC_MAX_HEAD is a bad answer. */
static void test_big_head(void)
{
    struct sss_httpc *c = make(1, 4, 1024);
    struct result r;
    char line[1024];

    call_sent(c, "/ask", &r);
    feed(c, 0, "HTTP/1.1 200 OK\r\n");
    memset(line, 'a', sizeof(line) - 3);
    memcpy(line, "X-A: ", 5);
    memcpy(line + sizeof(line) - 3, "\r\n", 3);
    for (int i = 0; i < 40 && r.n == 0; i++)
        feed(c, 0, line);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_STR(r.fail, "bad answer");
    sss_httpc_destroy(c);
}

/* Answer the call on slot, whatever it is. */
static void answer(struct sss_httpc *c, int slot)
{
    feed(c, slot, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
}

/* A client whose two connections have carried a call each (a to /a, b to /b) and are idle. */
static struct sss_httpc *two_idle(struct result *a, struct result *b)
{
    struct sss_httpc *c = make(2, 4, 1024);

    call_two(c, a, b);
    connect_ok(c);
    connect_ok(c);
    send_all(c, NULL, 0);
    send_all(c, NULL, 0);
    answer(c, 0);
    answer(c, 1);
    return c;
}

/* Slot 0, which the client asked to close, closes, then opens again for the waiting call. */
static void reopen_and_answer(struct sss_httpc *c)
{
    sss_httpc_closed(c, 0);
    CHECK_EQ_INT(connect_ok(c), 0);
    CHECK_EQ_INT(send_all(c, NULL, 0), 0);
    answer(c, 0);
}

static void test_retry(void)
{
    struct sss_httpc *c = make(1, 4, 1024);
    struct result a, b;

    /* The backend closed the idle connection as b went out on it: b goes out again. */
    reset(&b);
    call_sent(c, "/a", &a);
    answer(c, 0);
    CHECK_EQ_INT(a.n, 1);
    call(c, "/b", &b, 0);
    CHECK_EQ_INT(send_all(c, NULL, 0), 0);
    sss_httpc_eof(c, 0, 0);
    CHECK_EQ_INT(b.n, 0);
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    reopen_and_answer(c);
    CHECK_EQ_INT(b.n, 1);
    CHECK_EQ_INT(b.status, 200);
    CHECK_EQ_INT(sss_httpc_stats(c)->retries, 1);
    /* Once only: a call whose retry fails as well fails. */
    reset(&b);
    call(c, "/b", &b, 0);
    send_all(c, NULL, 0);
    sss_httpc_eof(c, 0, -ECONNRESET);
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    sss_httpc_closed(c, 0);
    connect_ok(c);
    send_all(c, NULL, 0);
    sss_httpc_eof(c, 0, 0);
    CHECK_EQ_INT(b.n, 1);
    CHECK_EQ_STR(b.fail, "closed mid-answer");
    CHECK_EQ_INT(sss_httpc_stats(c)->retries, 2);
    sss_httpc_destroy(c);

    /* The retry waits for a fresh connection rather than take another reused one. */
    c = two_idle(&a, &b);
    CHECK(sss_httpc_idle(c, 0) && sss_httpc_idle(c, 1));
    reset(&a);
    call(c, "/a", &a, 0);
    CHECK_EQ_INT(send_all(c, NULL, 0), 0);
    sss_httpc_sent(c, 0, -EPIPE); /* ignored: no send outstanding */
    sss_httpc_eof(c, 0, -ECONNRESET);
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    CHECK_EQ_INT(sss_httpc_want_send(c, &(const void *){NULL}, &(size_t){0}), -1);
    CHECK(sss_httpc_idle(c, 1));
    reopen_and_answer(c);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(a.status, 200);
    sss_httpc_destroy(c);

    /* ... while the calls behind it wait their turn (FIFO), then take what is idle. */
    c = two_idle(&a, &b);
    call_two(c, &a, &b);
    send_all(c, NULL, 0);
    send_all(c, NULL, 0);
    sss_httpc_eof(c, 0, 0); /* a is to be retried */
    answer(c, 1);           /* b answered: slot 1 is idle and reused */
    CHECK_EQ_INT(b.n, 1);
    reset(&b);
    call(c, "/b", &b, 0);
    CHECK(sss_httpc_idle(c, 1));
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    CHECK_EQ_INT(sss_httpc_want_close(c), -1);
    sss_httpc_closed(c, 0);
    CHECK_EQ_INT(connect_ok(c), 0);
    CHECK_EQ_INT(send_all(c, NULL, 0), 0);
    CHECK_EQ_INT(send_all(c, NULL, 0), 1);
    answer(c, 0);
    answer(c, 1);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(a.status, 200);
    CHECK_EQ_INT(b.status, 200);
    sss_httpc_destroy(c);

    /* The backend closes an idle connection: the next call opens a new one. */
    c = make(1, 4, 1024);
    call_sent(c, "/a", &a);
    answer(c, 0);
    sss_httpc_eof(c, 0, 0);
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    CHECK(!sss_httpc_reading(c, 0));
    sss_httpc_received(c, 0, "x", 1); /* ignored while closing */
    sss_httpc_closed(c, 0);
    reset(&a);
    call(c, "/a", &a, 0);
    CHECK_EQ_INT(connect_ok(c), 0);
    send_all(c, NULL, 0);
    answer(c, 0);
    CHECK_EQ_INT(a.status, 200);
    CHECK_EQ_INT(sss_httpc_stats(c)->retries, 0);
    CHECK_EQ_INT(sss_httpc_stats(c)->connects, 2);
    sss_httpc_destroy(c);
}

static void test_queue_and_time(void)
{
    struct sss_httpc *c = make(1, 1, 1024);
    struct result a, b, d;
    struct sss_httpc_call *h = (void *)1;

    reset(&a);
    reset(&b);
    reset(&d);
    call(c, "/a", &a, 1000);
    call(c, "/b", &b, 1100);
    CHECK_EQ_INT(sss_httpc_call(c, "/d", NULL, NULL, 0, on_done, &d, 1100, &h), SSS_EFULL);
    CHECK(h == NULL);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_INT(sss_httpc_stats(c)->failures[SSS_HTTPC_FAIL_QUEUE], 1);
    CHECK_EQ_INT(sss_httpc_tick(c, 1200), 2000);
    connect_ok(c);
    send_all(c, NULL, 0);
    CHECK_EQ_INT(sss_httpc_tick(c, 1999), 2000);
    CHECK_EQ_INT(a.n, 0);
    /* a's time is up: it fails and its connection goes; b goes next on a new one. */
    CHECK_EQ_INT(sss_httpc_tick(c, 2000), 2100);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_STR(a.fail, "timeout");
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    sss_httpc_closed(c, 0);
    CHECK_EQ_INT(connect_ok(c), 0);
    send_all(c, NULL, 0);
    sss_httpc_tick(c, 2050);
    answer(c, 0);
    CHECK_EQ_INT(b.status, 200);
    CHECK_EQ_INT(sss_httpc_tick(c, 2100), -1);
    CHECK_EQ_INT(sss_httpc_stats(c)->latency_ms, 1000 + 950);
    CHECK_EQ_INT(sss_httpc_stats(c)->calls, 3);
    CHECK_EQ_INT(sss_httpc_stats(c)->answers, 1);
    CHECK_EQ_INT(sss_httpc_stats(c)->failures[SSS_HTTPC_FAIL_TIMEOUT], 1);
    /* Timeouts of queued calls and of a call whose connect hangs. */
    reset(&a);
    reset(&b);
    call(c, "/a", &a, 3000);
    call(c, "/b", &b, 3000);
    CHECK_EQ_INT(sss_httpc_tick(c, 4000), -1);
    CHECK_EQ_STR(a.fail, "timeout");
    CHECK_EQ_STR(b.fail, "timeout");
    sss_httpc_destroy(c);

    c = make(1, 1, 1024);
    reset(&a);
    call(c, "/a", &a, 0);
    CHECK_EQ_INT(sss_httpc_want_connect(c), 0);
    sss_httpc_tick(c, 1000);
    CHECK_EQ_STR(a.fail, "timeout");
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    sss_httpc_connected(c, 0, 0); /* ignored: closing */
    sss_httpc_closed(c, 0);
    sss_httpc_destroy(c);
}

static void test_refused(void)
{
    struct sss_httpc *c = make(1, 4, 1024);
    struct result a, b;

    call_two(c, &a, &b);
    sss_httpc_connected(c, sss_httpc_want_connect(c), -ECONNREFUSED);
    CHECK_EQ_STR(a.fail, "connection refused");
    CHECK_EQ_INT(b.n, 0);
    sss_httpc_connected(c, sss_httpc_want_connect(c), -ENETUNREACH);
    CHECK_EQ_STR(b.fail, "connect failed");
    CHECK_EQ_INT(sss_httpc_want_connect(c), -1);
    CHECK_EQ_INT(sss_httpc_want_close(c), -1);
    CHECK_EQ_INT(sss_httpc_stats(c)->failures[SSS_HTTPC_FAIL_REFUSED], 1);
    CHECK_EQ_INT(sss_httpc_stats(c)->failures[SSS_HTTPC_FAIL_CONNECT], 1);
    sss_httpc_destroy(c);
}

static void test_cancel(void)
{
    struct sss_httpc *c = make(1, 4, 1024);
    struct sss_httpc_call *ha, *hb;
    struct result a, b;
    const void *p;
    size_t n;

    /* Queued: dropped. In flight: its answer is read and dropped; the connection stays. */
    reset(&a);
    reset(&b);
    ha = call(c, "/a", &a, 0);
    hb = call(c, "/b", &b, 0);
    sss_httpc_cancel(hb);
    connect_ok(c);
    send_all(c, NULL, 0);
    sss_httpc_cancel(ha);
    feed(c, 0, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
    feed(c, 0, "cde");
    CHECK_EQ_INT(a.n + b.n, 0);
    CHECK(sss_httpc_idle(c, 0));
    CHECK_EQ_INT(sss_httpc_stats(c)->cancelled, 2);
    CHECK_EQ_INT(sss_httpc_stats(c)->answers, 0);
    /* Cancelled before a byte went: the connection takes the next call at once. */
    ha = call(c, "/a", &a, 0);
    hb = call(c, "/b", &b, 0);
    sss_httpc_cancel(ha);
    CHECK_EQ_INT(send_all(c, NULL, 0), 0);
    answer(c, 0);
    CHECK_EQ_INT(a.n, 0);
    CHECK_EQ_INT(b.n, 1);
    /* Cancelled with a send outstanding, then timed out: closed; the buffer lives until sent. */
    ha = call(c, "/a", &a, 0);
    CHECK_EQ_INT(sss_httpc_want_send(c, &p, &n), 0);
    sss_httpc_cancel(ha);
    sss_httpc_tick(c, 5000);
    CHECK_EQ_INT(a.n, 0);
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    CHECK(memcmp(p, "POST /hooks/a ", 14) == 0);
    sss_httpc_sent(c, 0, (ssize_t)n);
    sss_httpc_closed(c, 0);
    /* Cancelled while connecting: the new connection is idle, for the next call. */
    ha = call(c, "/a", &a, 5000);
    CHECK_EQ_INT(sss_httpc_want_connect(c), 0);
    sss_httpc_cancel(ha);
    sss_httpc_connected(c, 0, 0);
    CHECK(sss_httpc_idle(c, 0));
    /* Cancelled before its connect was asked for. */
    sss_httpc_eof(c, 0, 0);
    CHECK_EQ_INT(sss_httpc_want_close(c), 0);
    sss_httpc_closed(c, 0);
    ha = call(c, "/a", &a, 5000);
    sss_httpc_cancel(ha);
    CHECK_EQ_INT(sss_httpc_want_connect(c), -1);
    CHECK_EQ_INT(a.n, 0);
    sss_httpc_destroy(c);
}

/* A callback that queues the next call: it takes the connection just freed. */
struct chain {
    struct sss_httpc *c;
    struct result r;
    int left;
};

static void on_chain(void *data, int status, const char *body, size_t len, const char *fail)
{
    struct chain *ch = data;
    struct sss_httpc_call *h;

    on_done(&ch->r, status, body, len, fail);
    if (ch->left-- > 0)
        CHECK_EQ_INT(sss_httpc_call(ch->c, "/next", NULL, "1", 1, on_chain, ch, 0, &h), 0);
}

static void test_reentrant(void)
{
    struct chain ch = {.c = make(1, 0, 1024), .left = 2};
    struct sss_httpc_call *h;
    const void *p;
    size_t n;

    CHECK_EQ_INT(sss_httpc_call(ch.c, "/first", NULL, NULL, 0, on_chain, &ch, 0, &h), 0);
    connect_ok(ch.c);
    for (int i = 0; i < 3; i++) {
        /* In two pieces: a short write. */
        CHECK_EQ_INT(sss_httpc_want_send(ch.c, &p, &n), 0);
        sss_httpc_sent(ch.c, 0, 3);
        CHECK_EQ_INT(sss_httpc_want_send(ch.c, &p, &n), 0);
        sss_httpc_sent(ch.c, 0, (ssize_t)n);
        feed(ch.c, 0, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
        CHECK_EQ_INT(ch.r.n, i + 1);
    }
    CHECK_EQ_INT(sss_httpc_stats(ch.c)->connects, 1);
    /* No queue at all: a call is taken only when a connection is free for it. */
    CHECK_EQ_INT(sss_httpc_call(ch.c, "/a", NULL, NULL, 0, on_done, &ch.r, 0, &h), 0);
    CHECK_EQ_INT(sss_httpc_call(ch.c, "/b", NULL, NULL, 0, on_done, &ch.r, 0, &h), SSS_EFULL);
    sss_httpc_destroy(ch.c);
}

static void test_invalid(void)
{
    struct sss_httpc *c = make(1, 4, 1024);
    struct sss_httpc_config cfg;
    struct sss_httpc_call *h;
    struct result r;
    static const char *const bad_extra[] = {"X: y", "X: y\n", "X: y\r\n\r\n", "\r\n", ": y\r\n",
                                            "X y\r\n", "X: a\rb\r\n", "X: \x01\r\n"};

    reset(&r);
    CHECK_EQ_INT(sss_httpc_call(c, "ask", NULL, NULL, 0, on_done, &r, 0, &h), SSS_EINVAL);
    CHECK_EQ_INT(sss_httpc_call(c, "/a b", NULL, NULL, 0, on_done, &r, 0, &h), SSS_EINVAL);
    CHECK_EQ_INT(sss_httpc_call(c, "/a\r\n", NULL, NULL, 0, on_done, &r, 0, &h), SSS_EINVAL);
    CHECK_EQ_INT(sss_httpc_call(c, "/a", NULL, NULL, 3, on_done, &r, 0, &h), SSS_EINVAL);
    for (size_t i = 0; i < sizeof(bad_extra) / sizeof(bad_extra[0]); i++)
        CHECK_EQ_INT(sss_httpc_call(c, "/a", bad_extra[i], NULL, 0, on_done, &r, 0, &h),
                     SSS_EINVAL);
    CHECK_EQ_INT(sss_httpc_call(c, "/a", "A: 1\r\nB:\t2\r\n", NULL, 0, on_done, &r, 0, &h), 0);
    CHECK_EQ_INT(sss_httpc_stats(c)->calls, 1);
    sss_httpc_destroy(c);
    sss_httpc_config_init(&cfg);
    CHECK(sss_httpc_create(&cfg) == NULL); /* no host */
    cfg.host = "h";
    cfg.connections = 0;
    CHECK(sss_httpc_create(&cfg) == NULL);
    cfg.connections = 1;
    cfg.prefix = "hooks";
    CHECK(sss_httpc_create(&cfg) == NULL);
    cfg.prefix = "/a b";
    CHECK(sss_httpc_create(&cfg) == NULL);
    cfg.prefix = "/";
    cfg.port = 0;
    CHECK(sss_httpc_create(&cfg) == NULL);
    cfg.port = 1;
    c = sss_httpc_create(&cfg);
    CHECK(c != NULL);
    sss_httpc_destroy(c);
    sss_httpc_destroy(NULL);
    CHECK_EQ_STR(sss_httpc_fail_text(SSS_HTTPC_FAIL_QUEUE), "queue full");
}

/* ---- over loopback, against httpc_backend.py ---- */

struct backend {
    pid_t pid;
    int in; /* its stdin: closing it stops it */
    int port;
};

static int backend_start(struct backend *b)
{
    int in[2], out[2];
    char line[32];
    ssize_t n, got = 0;
    const char *py = access(SSS_PYTHON, X_OK) == 0 ? SSS_PYTHON : "python3";

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return -1;
    b->pid = fork();
    if (b->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execlp(py, py, SSS_SOURCE_DIR "/tests/unit/httpc_backend.py", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    b->in = in[1];
    while (got < (ssize_t)sizeof(line) - 1 && (n = read(out[0], line + got, 1)) > 0) {
        if (line[got] == '\n')
            break;
        got += n;
    }
    line[got] = '\0';
    close(out[0]);
    b->port = (int)strtol(line, NULL, 10);
    return b->port > 0 ? 0 : -1;
}

static void backend_stop(struct backend *b)
{
    int status;

    close(b->in);
    waitpid(b->pid, &status, 0);
}

#define DRV_SLOTS 8

/* The blocking driver: blocking connect and send, poll() for reads, time from the test. */
struct drv {
    struct sss_httpc *c;
    int fd[DRV_SLOTS];
    int port;
    bool watch_idle; /* read idle connections too (to see the backend close them) */
};

static struct sss_httpc *drv_init(struct drv *d, int port, int conns, size_t max_body)
{
    struct sss_httpc_config cfg;

    sss_httpc_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.connections = conns;
    cfg.max_body = max_body;
    cfg.timeout_ms = 1000;
    d->c = sss_httpc_create(&cfg);
    d->port = port;
    d->watch_idle = true;
    for (int i = 0; i < DRV_SLOTS; i++)
        d->fd[i] = -1;
    CHECK(d->c != NULL);
    return d->c;
}

/* Do what the client asks (close, connect, send) until it asks nothing. */
static void drv_io(struct drv *d)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port)};
    bool again = true;
    const void *p;
    size_t n;
    int s;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (again) {
        again = false;
        while ((s = sss_httpc_want_close(d->c)) >= 0) {
            close(d->fd[s]);
            d->fd[s] = -1;
            sss_httpc_closed(d->c, s);
            again = true;
        }
        while ((s = sss_httpc_want_connect(d->c)) >= 0) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

            if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                rc = -errno;
            if (rc < 0 && fd >= 0)
                close(fd);
            else
                d->fd[s] = fd;
            sss_httpc_connected(d->c, s, rc);
            again = true;
        }
        while ((s = sss_httpc_want_send(d->c, &p, &n)) >= 0) {
            ssize_t w = send(d->fd[s], p, n, MSG_NOSIGNAL);

            sss_httpc_sent(d->c, s, w < 0 ? -errno : w);
            again = true;
        }
    }
}

/* One read on every readable slot; false when nothing became readable for 10 s (a hang). */
static bool drv_read(struct drv *d)
{
    struct pollfd pfd[DRV_SLOTS];
    int slot[DRV_SLOTS], n = 0, rc;
    char buf[65536];

    for (int i = 0; i < sss_httpc_slots(d->c); i++) {
        if (sss_httpc_reading(d->c, i) && (d->watch_idle || !sss_httpc_idle(d->c, i))) {
            pfd[n] = (struct pollfd){.fd = d->fd[i], .events = POLLIN};
            slot[n++] = i;
        }
    }
    if (n == 0)
        return false;
    rc = poll(pfd, (nfds_t)n, 10000);
    if (rc <= 0)
        return false;
    for (int k = 0; k < n; k++) {
        ssize_t got;

        if (!pfd[k].revents)
            continue;
        got = recv(pfd[k].fd, buf, sizeof(buf), 0);
        if (got > 0)
            sss_httpc_received(d->c, slot[k], buf, (size_t)got);
        else
            sss_httpc_eof(d->c, slot[k], got < 0 ? -errno : 0);
    }
    return true;
}

/* Run until *count callbacks have come. */
static void drv_until(struct drv *d, const int *count, int want)
{
    drv_io(d);
    while (*count < want) {
        if (!drv_read(d)) {
            CHECK(!"the driver hung");
            return;
        }
        drv_io(d);
    }
}

static void drv_fini(struct drv *d)
{
    drv_io(d);
    for (int i = 0; i < DRV_SLOTS; i++)
        if (d->fd[i] >= 0)
            close(d->fd[i]);
    sss_httpc_destroy(d->c);
}

/* One call through the driver; the result. */
static struct result drv_call(struct drv *d, const char *path)
{
    struct sss_httpc_call *h;
    struct result r;

    reset(&r);
    CHECK_EQ_INT(sss_httpc_call(d->c, path, "X-SSS-Host: h1\r\n", "{\"n\":1}", 7, on_done, &r,
                                0, &h),
                 0);
    drv_until(d, &r.n, 1);
    return r;
}

/* The client port a /echo answer names. */
static long echo_port(const struct result *r)
{
    const char *p = strstr(r->body, "\"port\":");

    return p ? strtol(p + 7, NULL, 10) : -1;
}

/*
 * The backend closes the connection after /bye. When the driver sees it
 * (watch_idle), the next call takes a new connection; when the next call goes
 * out before it is seen, that call is sent again.
 */
static void loopback_closed(int port, bool watch_idle)
{
    struct drv d;
    struct result r;

    drv_init(&d, port, 1, 65536);
    d.watch_idle = watch_idle;
    r = drv_call(&d, "/bye");
    CHECK_EQ_STR(r.body, "{\"bye\":true}");
    if (watch_idle) {
        while (sss_httpc_idle(d.c, 0) && drv_read(&d))
            drv_io(&d);
        CHECK(!sss_httpc_reading(d.c, 0));
    }
    r = drv_call(&d, "/echo");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(sss_httpc_stats(d.c)->connects, 2);
    CHECK_EQ_INT(sss_httpc_stats(d.c)->retries, watch_idle ? 0 : 1);
    drv_fini(&d);
}

/* What a call through the driver must get: a status (0: any), a body and a failure (NULL: any). */
struct expect {
    const char *path;
    int status;
    const char *body, *fail;
};

static void drv_calls(struct drv *d, const struct expect *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct result r = drv_call(d, e[i].path);

        if (e[i].status)
            CHECK_EQ_INT(r.status, e[i].status);
        if (e[i].body)
            CHECK_EQ_STR(r.body, e[i].body);
        if (e[i].fail)
            CHECK_EQ_STR(r.fail, e[i].fail);
    }
}

static void test_loopback(int port)
{
    static const struct expect answers[] = {
        {"/error", 500, "{\"error\":\"boom\"}", ""},
        {"/text", 200, "hello, not json", NULL},
        {"/chunked", 200, "{\"chunks\":[1,2,3]}", NULL},
        {"/continue", 200, "{\"after\":\"continue\"}", NULL},
    };
    /* Connection: close and an answer read to EOF: each closes; the next call reconnects.
     * Then too large, by Content-Length and by chunks. */
    static const struct expect closing[] = {
        {"/close", 0, "{\"closed\":true}", NULL},
        {"/eof", 200, "{\"to\":\"eof\"}", NULL},
        {"/echo", 200, NULL, NULL},
        {"/huge", 0, NULL, "answer too large"},
        {"/huge-chunked", 0, NULL, "answer too large"},
        {"/echo", 200, NULL, NULL},
    };
    struct drv d;
    struct result r, r2, many[5];
    struct sss_httpc_call *h;

    /* Keep-alive: two calls, one connection. */
    drv_init(&d, port, 2, 65536);
    r = drv_call(&d, "/echo");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.fail, "");
    CHECK(strstr(r.body, "\"got\":{\"n\":1},\"host\":\"h1\",\"ctype\":\"application/json\""));
    r2 = drv_call(&d, "/echo");
    CHECK_EQ_INT(r2.status, 200);
    CHECK(echo_port(&r) > 0 && echo_port(&r) == echo_port(&r2));
    CHECK_EQ_INT(sss_httpc_stats(d.c)->connects, 1);

    /* 500, a body that is not JSON, chunked, 100 Continue: answers all. */
    drv_calls(&d, answers, sizeof(answers) / sizeof(answers[0]));
    CHECK_EQ_INT(sss_httpc_stats(d.c)->connects, 1);

    /* Five calls on two connections at once. */
    for (int i = 0; i < 5; i++) {
        reset(&many[i]);
        CHECK_EQ_INT(sss_httpc_call(d.c, "/echo", NULL, "[]", 2, on_done, &many[i], 0, &h), 0);
    }
    for (int i = 0; i < 5; i++)
        drv_until(&d, &many[i].n, 1);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(many[i].status, 200);
    CHECK_EQ_INT(sss_httpc_stats(d.c)->connects, 2);

    drv_calls(&d, closing, sizeof(closing) / sizeof(closing[0]));
    drv_fini(&d);

    /* A big answer within the limit (its memory is not kept), then a small one. */
    drv_init(&d, port, 1, 4 << 20);
    r = drv_call(&d, "/huge");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.len, 2 << 20);
    r = drv_call(&d, "/huge-chunked");
    CHECK_EQ_INT(r.len, 2 << 20);
    r = drv_call(&d, "/echo");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(sss_httpc_stats(d.c)->connects, 1);
    drv_fini(&d);

    loopback_closed(port, true);
    loopback_closed(port, false);

    /* A backend that never answers: the (fake) clock runs out. */
    drv_init(&d, port, 1, 65536);
    reset(&r);
    CHECK_EQ_INT(sss_httpc_call(d.c, "/never", NULL, "{}", 2, on_done, &r, 0, &h), 0);
    drv_io(&d);
    CHECK(sss_httpc_reading(d.c, 0) && !sss_httpc_idle(d.c, 0));
    CHECK_EQ_INT(sss_httpc_tick(d.c, 999), 1000);
    CHECK_EQ_INT(r.n, 0);
    CHECK_EQ_INT(sss_httpc_tick(d.c, 1000), -1);
    CHECK_EQ_STR(r.fail, "timeout");
    CHECK_EQ_INT(sss_httpc_stats(d.c)->latency_ms, 1000);
    drv_io(&d);
    CHECK_EQ_INT(d.fd[0], -1);
    r = drv_call(&d, "/echo");
    CHECK_EQ_INT(r.status, 200);
    drv_fini(&d);
}

/* A port nobody listens on: bound, never listening, so the kernel refuses at once. */
static void test_loopback_refused(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct drv d;
    struct result r;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
          getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    drv_init(&d, ntohs(sa.sin_port), 1, 65536);
    r = drv_call(&d, "/echo");
    CHECK_EQ_STR(r.fail, "connection refused");
    CHECK_EQ_INT(r.status, 0);
    drv_fini(&d);
    close(fd);
}

int main(void)
{
    struct backend b;

    signal(SIGPIPE, SIG_IGN);
    test_request();
    test_splits(ANSWER, "{\"user\":\"a\"}");
    test_splits(CHUNKED, "{\"user\":\"a\"}");
    test_keep_alive();
    test_answers();
    test_big_head();
    test_retry();
    test_queue_and_time();
    test_refused();
    test_cancel();
    test_reentrant();
    test_invalid();
    test_loopback_refused();
    if (backend_start(&b) < 0) {
        fprintf(stderr, "test_httpc: cannot start %s httpc_backend.py\n", SSS_PYTHON);
        return sss_test_done() ? 1 : 77;
    }
    test_loopback(b.port);
    backend_stop(&b);
    return sss_test_done();
}
