/*
 * sss_conn's sends on a real socket and a real io_uring, driven the way the
 * worker's loop drives them (flush the dirty connections, submit, hand each
 * send's completion to sss_conn_on_sent), one step at a time from the test:
 * a socket with a tiny send buffer takes part of a frame per send, the
 * rest goes in the next send, frames queued meanwhile wait for it and go
 * in one sendmsg, and each byte arrives once and in order.
 */
#include "sss_test.h"

#include "sss_alloc.h"
#include "sss_buf.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_shm.h"
#include "sss_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG (256 * 1024) /* far more than the tiny socket buffer takes */

struct tc {
    struct sss_cfg cfg;
    struct sss_counters ctr;
    struct sss_worker w;
    int peer; /* the client's end */
};

static struct sss_conn *tc_init(struct tc *t)
{
    int sv[2], tiny = 4096;
    struct sss_conn *c = sss_calloc(1, sizeof(*c));

    memset(t, 0, sizeof(*t));
    sss_cfg_defaults(&t->cfg);
    t->w.cfg = &t->cfg;
    t->w.ctr = &t->ctr;
    t->w.now_ms = 1000;
    TAILQ_INIT(&t->w.hs);
    if (!c || io_uring_queue_init(64, &t->w.ring, 0) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny)) < 0)
        abort();
    t->peer = sv[1];
    if (fcntl(t->peer, F_SETFL, O_NONBLOCK) < 0)
        abort();
    sss_conn_init(c, &t->w, sv[0]);
    c->state = SSS_CONN_WS;
    LIST_INSERT_HEAD(&t->w.conns, c, link);
    t->w.nconns = 1;
    return c;
}

static void tc_fini(struct tc *t)
{
    struct sss_conn *c;

    while ((c = LIST_FIRST(&t->w.conns))) {
        c->dead = 1;
        sss_conn_maybe_free(c); /* frees its queue and closes its socket */
    }
    close(t->peer);
    io_uring_queue_exit(&t->w.ring);
}

/* A frame of len bytes, each (seed + i) & 0xff. */
static struct sss_buf *frame(size_t len, unsigned seed)
{
    struct sss_buf *b = sss_buf_new(len);

    if (!b)
        abort();
    for (size_t i = 0; i < len; i++)
        b->data[i] = (uint8_t)(seed + i);
    b->len = (uint32_t)len;
    return b;
}

/* The loop's flush: every dirty connection, as sss_worker.c's flush_dirty. */
static void tc_flush(struct tc *t)
{
    struct sss_conn *c;

    while ((c = SLIST_FIRST(&t->w.dirty))) {
        SLIST_REMOVE_HEAD(&t->w.dirty, dirty_link);
        sss_conn_flush(c);
    }
}

/* Submit, then hand every completion there is to the connection. */
static int tc_complete(struct tc *t)
{
    struct io_uring_cqe *cqe;
    int n = 0;

    CHECK(io_uring_submit(&t->w.ring) >= 0);
    while (io_uring_peek_cqe(&t->w.ring, &cqe) == 0) {
        uint64_t ud = io_uring_cqe_get_data64(cqe);

        CHECK_EQ_INT(ud & SSS_OP_MASK, SSS_OP_SEND);
        sss_conn_on_sent((struct sss_conn *)(uintptr_t)(ud & ~SSS_OP_MASK), cqe->res);
        io_uring_cqe_seen(&t->w.ring, cqe);
        n++;
    }
    return n;
}

/* Submit, wait for one completion, and hand it (and any other there is) over. */
static int tc_wait(struct tc *t)
{
    struct io_uring_cqe *cqe;

    CHECK(io_uring_submit_and_wait(&t->w.ring, 1) >= 0);
    CHECK(io_uring_peek_cqe(&t->w.ring, &cqe) == 0);
    return tc_complete(t);
}

/* What the client can read now, appended to got (at most cap in all). */
static size_t tc_read(struct tc *t, uint8_t *got, size_t have, size_t cap)
{
    for (;;) {
        ssize_t r = read(t->peer, got + have, cap - have);

        if (r <= 0)
            return have;
        have += (size_t)r;
    }
}

/* One loop turn's frames: one send for all of them at the turn's end, then nothing queued. */
static void test_one_send_per_turn(void)
{
    struct tc t;
    struct sss_conn *c = tc_init(&t);
    uint8_t got[64];
    size_t n;

    sss_conn_send(c, frame(40, 1));
    sss_conn_send(c, frame(20, 41));
    CHECK_EQ_INT(c->qlen, 2);
    CHECK_EQ_INT(c->send_inflight, 0); /* nothing goes out before the turn's end */
    tc_flush(&t);
    CHECK_EQ_INT(c->send_inflight, 1);
    CHECK_EQ_INT(io_uring_sq_ready(&t.w.ring), 1); /* one sendmsg for both */
    CHECK_EQ_INT(tc_wait(&t), 1);
    CHECK_EQ_INT(c->send_inflight, 0);
    CHECK_EQ_INT(c->qlen, 0);
    CHECK_EQ_INT(c->qbytes, 0);
    n = tc_read(&t, got, 0, sizeof(got));
    CHECK_EQ_INT(n, 60);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(got[i], (uint8_t)(1 + i));
    CHECK_EQ_INT(atomic_load(&t.ctr.bytes_out), 60);
    tc_fini(&t);
}

/*
 * A frame the socket takes only part of: the rest goes to the ring; frames
 * queued while it is in flight wait for it; each byte arrives once and in
 * order.
 */
static void test_partial_then_ring(void)
{
    struct tc t;
    struct sss_conn *c = tc_init(&t);
    const size_t total = BIG + 100 + 3000;
    uint8_t *got = malloc(total + 1), *want = malloc(total);
    size_t have = 0, off = 0;
    int turns = 0;

    if (!got || !want)
        abort();
    sss_conn_send(c, frame(BIG, 7));
    CHECK((uint64_t)atomic_load(&t.ctr.sendq_high) >= BIG);
    tc_flush(&t);
    CHECK_EQ_INT(c->send_inflight, 1);
    CHECK_EQ_INT(tc_wait(&t), 1); /* the socket took part of it */
    CHECK_EQ_INT(c->send_inflight, 0);
    CHECK_EQ_INT(c->qlen, 1);
    CHECK(c->q[c->qhead].off > 0 && c->q[c->qhead].off < BIG);
    CHECK_EQ_INT(c->qbytes, BIG - c->q[c->qhead].off);
    CHECK(c->in_dirty); /* the rest is for the next turn */
    tc_flush(&t);
    CHECK_EQ_INT(c->send_inflight, 1); /* the rest, from where the socket stopped */

    /* Queued while that send is in flight: they wait for it. */
    sss_conn_send(c, frame(100, 200));
    sss_conn_send(c, frame(3000, 50));
    tc_flush(&t);
    CHECK_EQ_INT(c->qlen, 3);
    CHECK_EQ_INT(io_uring_sq_ready(&t.w.ring), 1); /* still the one send */

    /* The loop: the client reads, completions come back, the flush writes. */
    while (have < total && turns++ < 100000) {
        struct pollfd p = {.fd = t.peer, .events = POLLIN};

        (void)tc_complete(&t);
        tc_flush(&t);
        CHECK(io_uring_submit(&t.w.ring) >= 0);
        int r = poll(&p, 1, 10000); /* a guard against a hang, not a timing */

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have = tc_read(&t, got, have, total + 1);
    }
    (void)tc_complete(&t);
    CHECK_EQ_INT(have, total);
    for (size_t i = 0; i < BIG; i++)
        want[off++] = (uint8_t)(7 + i);
    for (size_t i = 0; i < 100; i++)
        want[off++] = (uint8_t)(200 + i);
    for (size_t i = 0; i < 3000; i++)
        want[off++] = (uint8_t)(50 + i);
    CHECK(have == total && memcmp(got, want, total) == 0);
    CHECK_EQ_INT(c->qlen, 0);
    CHECK_EQ_INT(c->qbytes, 0);
    CHECK_EQ_INT(c->send_inflight, 0);
    CHECK_EQ_INT(atomic_load(&t.ctr.bytes_out), total);
    free(got);
    free(want);
    tc_fini(&t);
}

/* The client is gone: the send fails and the connection goes, nothing of it left behind. */
static void test_peer_gone(void)
{
    struct tc t;
    struct sss_conn *c = tc_init(&t);

    close(t.peer);
    t.peer = -1;
    sss_conn_send(c, frame(30, 3));
    tc_flush(&t);
    CHECK_EQ_INT(c->send_inflight, 1);
    CHECK_EQ_INT(tc_wait(&t), 1); /* -EPIPE: killed and freed */
    CHECK_EQ_INT(t.w.nconns, 0);
    CHECK(LIST_EMPTY(&t.w.conns));
    tc_fini(&t);
}

int main(void)
{
    test_one_send_per_turn();
    test_partial_then_ring();
    test_peer_gone();
    return sss_test_done();
}
