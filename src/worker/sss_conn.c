/*
 * A client connection inside a worker (see sss_conn.h): the upgrade, the
 * send queue and the close paths.
 *
 * wslay (through src/ws/sss_wslay.c) is used for what it does well, parsing
 * frames (masking, UTF-8, fragmentation, control frames, size limit) and
 * answering control frames. Its frames are appended to our send queue whole,
 * so they never interleave with ours. Data frames we send are built by
 * sss_ws_frame and queued by reference. What to do with the opening request
 * (a static file, a refusal, or the upgrade and who the client is) comes
 * from src/http/sss_handshake.c; what an upgraded connection serves, from
 * the worker's connection handler.
 *
 * With --tls-cert, src/tls/sss_tls.c sits between the socket and all of
 * this: each recv completion's ciphertext is decrypted and the plaintext
 * goes where plain bytes go; at flush the queued frames are encrypted (at
 * most TLS_BATCH ahead of the socket, so a slow reader's backlog stays in
 * the queue, where --max-send-queue sees it) and the ciphertext is sent.
 * May include: common, proto, http, ws, tls, shm, sss_worker, sss_app.
 */
#include "sss_conn.h"
#include "sss_alloc.h"
#include "sss_app.h"
#include "sss_decide.h"
#include "sss_proxy.h"
#include "sss_handshake.h"
#include "sss_log.h"
#include "sss_loop.h"
#include "sss_static.h"
#include "sss_time.h"
#include "sss_tls.h"
#include "sss_wire.h"
#include "sss_worker.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CLOSE_GRACE_MS 5000 /* wait for the client's close reply at most this long */
#define HARD_CAP_FACTOR 16  /* ... and never grow past this many times it */
#define CTRL_BUF_SIZE 256   /* private buffer for small frames and HTTP answers */
#define PARK_AFTER_MS 1000  /* a connection silent this long gives up its wslay context */
#define TLS_BATCH 65536     /* plaintext encrypted ahead of the socket, at most (about) */

static const char no_ident[] = ""; /* c->user and c->session when there is none */

/*
 * A connection is on the handshake list (--handshake-timeout) from
 * sss_conn_create until it leaves SSS_CONN_HTTP, or until its request is
 * read and waits for the application's decision: that wait is the server's,
 * bounded by --decision-timeout (which answers 503), not the client's.
 */
static void hs_unlink(struct sss_conn *c)
{
    if (c->hs_listed) {
        TAILQ_REMOVE(&c->w->hs, c, hs_link);
        c->hs_listed = 0;
    }
}

static void mark_dirty(struct sss_conn *c)
{
    if (!c->in_dirty && !c->dead) {
        c->in_dirty = 1;
        SLIST_INSERT_HEAD(&c->w->dirty, c, dirty_link);
    }
}

/* ---- the send queue ---- */

static int q_grow(struct sss_conn *c)
{
    uint32_t ncap = c->qcap < 8 ? 8 : c->qcap * 2;
    struct sss_outq_ent *n = sss_malloc(ncap * sizeof(*n));

    if (!n)
        return -ENOMEM;
    for (uint32_t i = 0; i < c->qlen; i++)
        n[i] = c->q[(c->qhead + i) % c->qcap];
    if (c->q != c->qi)
        sss_free(c->q);
    c->q = n;
    c->qcap = ncap;
    c->qhead = 0;
    return 0;
}

static struct sss_outq_ent *q_at(struct sss_conn *c, uint32_t i)
{
    return &c->q[(c->qhead + i) % c->qcap];
}

static void note_high_water(struct sss_conn *c)
{
    struct sss_counters *ctr = c->w->ctr;

    if ((uint64_t)c->qbytes > atomic_load_explicit(&ctr->sendq_high, memory_order_relaxed))
        atomic_store_explicit(&ctr->sendq_high, c->qbytes, memory_order_relaxed);
}

/*
 * Drop every queued frame that no sendmsg in flight refers to, so that a
 * close frame can go out at once; used when the queue overflowed.
 */
static void q_drop_unsent(struct sss_conn *c)
{
    uint32_t keep = c->send_inflight ? c->iov_ents : 0;

    if (!c->send_inflight && c->qlen && q_at(c, 0)->off)
        keep = 1; /* a frame already partly on the wire must be finished */
    while (c->qlen > keep) {
        struct sss_outq_ent *e = q_at(c, c->qlen - 1);

        c->qbytes -= e->b->len - e->off;
        sss_buf_unref(e->b);
        c->qlen--;
    }
}

static void conn_overflow(struct sss_conn *c);

/* Append b (the caller's reference) to the queue, whatever its state. */
static int q_push(struct sss_conn *c, struct sss_buf *b)
{
    if (c->qlen == c->qcap && q_grow(c) < 0) {
        sss_buf_unref(b);
        return -ENOMEM;
    }
    c->q[(c->qhead + c->qlen++) % c->qcap] = (struct sss_outq_ent){b, 0};
    c->qbytes += b->len;
    mark_dirty(c);
    return 0;
}

/*
 * Queue a frame, taking over the caller's reference to b. Past
 * --max-send-queue (with something already queued: one frame always fits)
 * the connection is too slow: its queue is dropped and it gets close 4008.
 */
static int queue_buf(struct sss_conn *c, struct sss_buf *b)
{
    struct sss_outq_ent *e;

    if (c->dead || c->want_close || c->closing) {
        sss_buf_unref(b);
        return -EPIPE;
    }
    /* A burst may queue past the limit for a while (the frames are shared,
     * so it costs little); a reader past it that takes no byte for
     * --slow-grace is slow (check_slow), and one that reaches the hard cap
     * is slow at once. */
    if (c->qbytes && c->qbytes + b->len > c->w->cfg->max_send_queue * HARD_CAP_FACTOR) {
        sss_buf_unref(b);
        conn_overflow(c);
        return SSS_EFULL;
    }
    if (c->qlen == c->qcap && q_grow(c) < 0) {
        sss_buf_unref(b);
        return -ENOMEM;
    }
    e = &c->q[(c->qhead + c->qlen++) % c->qcap];
    e->b = b;
    e->off = 0;
    c->qbytes += b->len;
    if (c->qbytes > c->w->cfg->max_send_queue && !c->over_since_ms)
        c->over_since_ms = c->w->now_ms ? c->w->now_ms : 1;
    note_high_water(c);
    mark_dirty(c);
    return 0;
}

/* Past --max-send-queue with no progress for the grace: too slow, close 4008. */
static void check_slow(struct sss_conn *c)
{
    if (c->qbytes <= c->w->cfg->max_send_queue) {
        c->over_since_ms = 0;
        return;
    }
    if (c->over_since_ms && c->w->now_ms - c->over_since_ms >= c->w->cfg->slow_grace_ms)
        conn_overflow(c);
}

void sss_conn_send(struct sss_conn *c, struct sss_buf *b)
{
    if (c->deflate_bits) {
        uint64_t before = c->w->deflate.compressed;

        b = sss_deflate_frame(&c->w->deflate, b, c->deflate_bits);
        sss_ctr_add(c->w->ctr, deflated, c->w->deflate.compressed - before);
    }
    if (queue_buf(c, b) == 0)
        sss_ctr_add(c->w->ctr, frames_out, 1);
}

/* Copy small bytes (HTTP answers, wslay's control frames) into a private tail buffer. */
static int queue_copy(struct sss_conn *c, const void *data, size_t len)
{
    struct sss_outq_ent *tail = c->qlen ? q_at(c, c->qlen - 1) : NULL;
    struct sss_buf *b;

    if (c->dead)
        return -EPIPE;
    /* Appending to a private buffer is safe even while it is being sent:
     * the sendmsg covers only the bytes it had, and the completion's
     * accounting sends the rest. */
    if (tail && tail->b->ref == 1 && tail->b->cap - tail->b->len >= len) {
        memcpy(tail->b->data + tail->b->len, data, len);
        tail->b->len += (uint32_t)len;
        c->qbytes += len;
        mark_dirty(c);
        return 0;
    }
    b = sss_buf_new(len > CTRL_BUF_SIZE ? len : CTRL_BUF_SIZE);
    if (!b)
        return -ENOMEM;
    memcpy(b->data, data, len);
    b->len = (uint32_t)len;
    /* Control frames bypass the queue limit: they are small and a close must get out. */
    return q_push(c, b);
}

/* ---- a static file's body, one chunk at a time ---- */

/*
 * The body of a --static answer. One buffer of SSS_STATIC_CHUNK bytes is
 * read into with io_uring, queued by reference, and read into again only
 * once the send queue is empty (its reference came back): a client that
 * does not read holds one chunk, not the file.
 */
struct sss_conn_file {
    struct sss_loop_ev ev; /* the read's completion (first) */
    struct sss_conn *c;    /* owner */
    int fd;
    uint8_t reading;       /* a read is in the kernel (it owns buf's bytes) */
    uint64_t off, left;    /* next byte to read, bytes still to read */
    struct sss_buf *buf;   /* one reference held */
};

static void file_free(struct sss_conn *c)
{
    struct sss_conn_file *f = c->file;

    if (!f)
        return;
    assert(!f->reading);
    close(f->fd);
    sss_buf_unref(f->buf);
    sss_free(f);
    c->file = NULL;
}

static void file_on_read(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct sss_conn_file *f = (struct sss_conn_file *)ev;
    struct sss_conn *c = f->c;

    f->reading = 0;
    if (c->dead) {
        sss_conn_maybe_free(c);
        return;
    }
    if (cqe->res <= 0) {
        /* An error, or the file shrank: the Content-Length cannot be kept. */
        sss_log_debug("conn", "static read fd=%d: %s", c->fd,
                      cqe->res < 0 ? strerror(-cqe->res) : "the file shrank");
        sss_conn_kill(c);
        return;
    }
    f->buf->len = (uint32_t)cqe->res;
    f->off += (uint64_t)cqe->res;
    f->left -= (uint64_t)cqe->res;
    (void)q_push(c, sss_buf_ref(f->buf));
}

/*
 * The send queue is empty: read the next chunk. Returns 1 while the body
 * is not all sent (a read is in the kernel), 0 when it is.
 */
static int file_next(struct sss_conn *c)
{
    struct sss_conn_file *f = c->file;
    struct io_uring_sqe *sqe;
    size_t n;

    if (f->reading)
        return 1;
    if (f->left == 0)
        return 0;
    assert(f->buf->ref == 1); /* the queue gave its reference back */
    n = f->left < f->buf->cap ? (size_t)f->left : f->buf->cap;
    sqe = sss_worker__sqe(c->w);
    io_uring_prep_read(sqe, f->fd, f->buf->data, (unsigned)n, f->off);
    sss_loop_tag(sqe, &f->ev);
    f->reading = 1;
    return 1;
}

/* Take over the body of a static answer (fd, size bytes); 0 or -ENOMEM (fd closed). */
static int file_start(struct sss_conn *c, int fd, size_t size)
{
    struct sss_conn_file *f = sss_calloc(1, sizeof(*f));

    if (f)
        f->buf = sss_buf_new(size < SSS_STATIC_CHUNK ? (size ? size : 1) : SSS_STATIC_CHUNK);
    if (!f || !f->buf) {
        sss_free(f);
        close(fd);
        return -ENOMEM;
    }
    f->ev.on_cqe = file_on_read;
    f->c = c;
    f->fd = fd;
    f->left = size;
    c->file = f;
    return 0;
}

/* ---- sends ---- */

/* Submit a send(2) of len bytes at p, which cover ents queue entries. */
static void send_one(struct sss_conn *c, const void *p, size_t len, uint32_t ents)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(c->w);

    io_uring_prep_send(sqe, c->fd, p, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | SSS_OP_SEND);
    c->iov_ents = ents;
    c->send_inflight = 1;
}

/* Drop every queued frame (TLS failed: they can never be encrypted). */
static void q_drop_all(struct sss_conn *c)
{
    while (c->qlen) {
        struct sss_outq_ent *e = q_at(c, 0);

        c->qbytes -= e->b->len - e->off;
        sss_buf_unref(e->b);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
}

/*
 * TLS: encrypt queued frames while less than TLS_BATCH of ciphertext
 * waits, then send the ciphertext from a buffer of its own (OpenSSL may
 * write into its output BIO at any time, even while a send is in flight).
 * A frame is encrypted whole, so the queue never holds half of one.
 */
static void tls_flush(struct sss_conn *c)
{
    int file_busy = 0;
    size_t n;

    while (c->qlen && !c->tls->failed && sss_tls_pending(c->tls) < TLS_BATCH) {
        struct sss_outq_ent *e = q_at(c, 0);
        size_t len = e->b->len - e->off;

        if (sss_tls_write(c->tls, e->b->data + e->off, len) < 0)
            break;
        c->qbytes -= len;
        sss_buf_unref(e->b);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    if (c->tls->failed)
        q_drop_all(c);
    if (c->qlen == 0 && c->file && !c->tls->failed)
        file_busy = file_next(c); /* its chunk came back when it was encrypted */
    if (!c->tls_out) {
        n = sss_tls_pending(c->tls);
        if (!n && c->want_close && !c->qlen && !file_busy) {
            sss_tls_shutdown(c->tls); /* close_notify, then the socket */
            n = sss_tls_pending(c->tls);
            if (!n) {
                sss_conn_kill(c);
                return;
            }
        }
        if (!n)
            return;
        c->tls_out = sss_buf_new(n < TLS_BATCH * 2 ? n : TLS_BATCH * 2);
        if (!c->tls_out) {
            sss_conn_kill(c);
            return;
        }
        c->tls_out->len = (uint32_t)sss_tls_take(c->tls, c->tls_out->data, c->tls_out->cap);
        c->tls_off = 0;
    }
    send_one(c, c->tls_out->data + c->tls_off, c->tls_out->len - c->tls_off,
             0); /* no queue entry is in this send */
}

/* TLS: res bytes of tls_out left. */
static void tls_sent(struct sss_conn *c, size_t res)
{
    c->tls_off += (uint32_t)res;
    if (c->tls_off >= c->tls_out->len) {
        sss_buf_unref(c->tls_out);
        c->tls_out = NULL;
        c->tls_off = 0;
    }
}

void sss_conn_flush(struct sss_conn *c)
{
    struct io_uring_sqe *sqe;
    struct sss_conn_sendv *sv;
    uint32_t n;

    c->in_dirty = 0;
    if (c->dead) {
        sss_conn_maybe_free(c);
        return;
    }
    if (c->send_inflight)
        return;
    if (c->tls) {
        tls_flush(c);
        return;
    }
    if (c->qlen == 0) {
        if (c->file && file_next(c))
            return;
        if (c->want_close)
            sss_conn_kill(c);
        return;
    }
    if (c->qlen == 1) {
        /* One frame (most sends under fan-out to many channels): send(2)
         * needs no msghdr for the kernel to copy in. */
        struct sss_outq_ent *e = q_at(c, 0);

        send_one(c, e->b->data + e->off, e->b->len - e->off, 1);
        return;
    }
    n = c->qlen < SSS_CONN_IOV ? c->qlen : SSS_CONN_IOV;
    sv = sss_malloc(sizeof(*sv) + n * sizeof(sv->iov[0]));
    if (!sv) {
        struct sss_outq_ent *e = q_at(c, 0); /* no memory for a vector: one frame at a time */

        send_one(c, e->b->data + e->off, e->b->len - e->off, 1);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct sss_outq_ent *e = q_at(c, i);

        sv->iov[i].iov_base = e->b->data + e->off;
        sv->iov[i].iov_len = e->b->len - e->off;
    }
    memset(&sv->msg, 0, sizeof(sv->msg));
    sv->msg.msg_iov = sv->iov;
    sv->msg.msg_iovlen = n;
    c->sv = sv;
    c->iov_ents = n;
    sqe = sss_worker__sqe(c->w);
    io_uring_prep_sendmsg(sqe, c->fd, &sv->msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | SSS_OP_SEND);
    c->send_inflight = 1;
}

void sss_conn_on_sent(struct sss_conn *c, int res)
{
    size_t left = res > 0 ? (size_t)res : 0;

    c->send_inflight = 0;
    c->iov_ents = 0;
    sss_free(c->sv);
    c->sv = NULL;
    if (res < 0) {
        sss_log_debug("conn", "send failed fd=%d: %s", c->fd, strerror(-res));
        if (c->dead)
            sss_conn_maybe_free(c);
        else
            sss_conn_kill(c); /* frees c when nothing else of it is in the kernel */
        return;
    }
    sss_ctr_add(c->w->ctr, bytes_out, (uint64_t)res);
    if (c->tls) {
        tls_sent(c, left);
        left = 0; /* the queue's bytes left it when they were encrypted */
    }
    while (left && c->qlen) {
        struct sss_outq_ent *e = q_at(c, 0);
        size_t avail = e->b->len - e->off;

        if (left < avail) {
            e->off += (uint32_t)left;
            c->qbytes -= left;
            break;
        }
        left -= avail;
        c->qbytes -= avail;
        sss_buf_unref(e->b);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    if (c->dead) {
        sss_conn_maybe_free(c);
        return;
    }
    /* The client took bytes: its grace starts again (a reader that keeps
     * reading is never cut off by a burst, only by the hard cap). */
    if (res > 0 && c->over_since_ms)
        c->over_since_ms = c->w->now_ms;
    check_slow(c);
    if (c->qlen || c->want_close || c->tls_out || (c->tls && sss_tls_pending(c->tls)))
        mark_dirty(c);
}

/* ---- wslay (src/ws/sss_wslay.c) ---- */

static int ws_write(void *data, const uint8_t *bytes, size_t len)
{
    return queue_copy(data, bytes, len);
}

static void ws_message(void *data, int opcode, const uint8_t *msg, size_t len)
{
    struct sss_conn *c = data;

    if (c->want_close)
        return; /* no data may follow our close frame */
    sss_ctr_add(c->w->ctr, frames_in, 1);
    if (c->w->handler->message)
        c->w->handler->message(c->w->handler_data, c, opcode, msg, len);
}

static void ws_contexts(void *data, int delta)
{
    struct sss_conn *c = data;

    sss_ctr_add(c->w->ctr, ws_contexts, delta);
}

static const struct sss_wslay_io ws_io = {
    .write = ws_write,
    .message = ws_message,
    .contexts = ws_contexts,
};

int sss_conn_park_ws(struct sss_conn *c, int64_t now)
{
    if (c->state != SSS_CONN_WS || c->closing || c->want_close || c->dead ||
        now - c->last_rx_ms < PARK_AFTER_MS)
        return 0;
    if (!c->qlen && !c->send_inflight && c->q != c->qi) {
        /* Nothing to send: back to the entries in the struct. */
        sss_free(c->q);
        c->q = c->qi;
        c->qcap = SSS_CONN_QINLINE;
        c->qhead = 0;
    }
    return sss_wslay_park(&c->ws);
}

/* Let wslay write what it queued (pongs, closes) into our send queue. */
static void ws_pump(struct sss_conn *c)
{
    if (sss_wslay_pump(&c->ws) != 0) {
        c->want_close = 1; /* done, or writing failed */
        mark_dirty(c);
    }
}

static void conn_overflow(struct sss_conn *c)
{
    if (c->want_close || c->dead || c->closing)
        return; /* a close is on its way: its frame must not be dropped */
    sss_log_debug("conn", "send queue over %zu bytes fd=%d: closing 4008",
                  c->w->cfg->max_send_queue, c->fd);
    sss_ctr_add(c->w->ctr, closes_slow, 1);
    q_drop_unsent(c);
    sss_conn_close(c, SSS_WS_CLOSE_TOO_SLOW, "send queue overflow", 0);
}

static void feed_ws(struct sss_conn *c, const uint8_t *data, size_t len)
{
    int rc = sss_wslay_recv(&c->ws, data, len);

    if (rc == -ENOMEM) {
        sss_conn_kill(c); /* no memory even for a close frame's context */
        return;
    }
    if (c->dead)
        return;
    if (rc < 0) {
        sss_log_debug("conn", "websocket error fd=%d rc=%d", c->fd, rc);
        sss_ctr_add(c->w->ctr, closes_proto, 1);
        c->want_close = 1;
        mark_dirty(c);
        return;
    }
    if (sss_wslay_failed(&c->ws))
        sss_ctr_add(c->w->ctr, closes_proto, 1);
    ws_pump(c);
    /* wslay's context (about 8.5 KB) lives only while a frame is part-read
     * or wslay has a frame of its own to write: at a frame boundary it goes,
     * and the next bytes make a fresh one. So an idle connection, and one
     * in a connection storm between its messages, holds none. */
    if (!c->dead && !c->want_close && !c->closing)
        (void)sss_wslay_park(&c->ws);
}

/* ---- the upgrade ---- */

static int upgrade(struct sss_conn *c, const struct sss_http_upgrade *up)
{
    struct sss_worker *w = c->w;
    char resp[640];
    struct sss_http_upgrade answer = *up;
    struct sss_deflate_params dp = {0, 0, 0, 0};
    size_t n;

    if (w->cfg->deflate && up->extensions[0])
        (void)sss_deflate_negotiate(up->extensions, strlen(up->extensions), &dp,
                                    answer.extensions_answer);
    n = sss_http_response(&answer, resp, sizeof(resp));
    if (n == 0)
        return -ENOMEM;
    c->deflate_bits = dp.on ? dp.server_bits : 0;
    sss_wslay_deflate(&c->ws, &dp);
    c->subprotocol = up->protocol[0] != '\0';
    c->encoding = (uint8_t)sss_wire_encoding_of(up->protocol);
    if (w->handler->open && w->handler->open(w->handler_data, c) < 0)
        return -ENOMEM;
    c->opened = 1;
    if (queue_copy(c, resp, n) < 0)
        return -ENOMEM;
    hs_unlink(c);
    c->state = SSS_CONN_WS;
    sss_ctr_add(w->ctr, ws_open, 1);
    sss_ctr_add(w->ctr, upgrades, 1);
    sss_log_debug("conn", "upgraded fd=%d target=%s protocol=%s", c->fd, up->target,
                  up->protocol[0] ? up->protocol : "-");
    return 0;
}

static void reject(struct sss_conn *c, int status, const char *reason,
                   const struct sss_http_upgrade *up)
{
    char resp[512];
    size_t n = up ? sss_http_response(up, resp, sizeof(resp))
                  : sss_http_error(status, reason, resp, sizeof(resp));

    sss_ctr_add(c->w->ctr, http_rejects, 1);
    sss_log_debug("conn", "upgrade refused fd=%d status=%d reason=\"%s\"", c->fd, status, reason);
    if (n)
        (void)queue_copy(c, resp, n);
    c->want_close = 1;
    mark_dirty(c);
}

/*
 * The upgrade is decided: upgrade, then feed wslay the WebSocket bytes that
 * came in the same packets as the request head and extra (whatever of a
 * completion did not fit the request buffer).
 */
static void finish_upgrade(struct sss_conn *c, const struct sss_handshake *hs,
                           const uint8_t *extra, size_t extra_len)
{
    if (sss_conn_set_user(c, hs->auth.user, strlen(hs->auth.user)) < 0 ||
        sss_conn_set_session(c, hs->auth.session, strlen(hs->auth.session)) < 0 ||
        upgrade(c, &hs->up) < 0) {
        reject(c, 500, "out of memory", NULL);
        return;
    }
    if (c->req.len > hs->up.consumed)
        feed_ws(c, (const uint8_t *)c->req.data + hs->up.consumed, c->req.len - hs->up.consumed);
    if (!c->dead && extra_len)
        feed_ws(c, extra, extra_len);
    sss_dynbuf_fini(&c->req);
}

/* The peer's "ip:port" ("[ip6]:port"), or "" when unknown. */
static void peer_name(const struct sss_conn *c, char *dst, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];

    dst[0] = '\0';
    if (c->fd < 0 || getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

        if (inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip)))
            snprintf(dst, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

        if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip)))
            snprintf(dst, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    }
}

/* The session parser's answer (or the timeout's): continue as an UPGRADE or a REFUSE. */
static void session_decided(struct sss_decision *d, void *data)
{
    struct sss_conn *c = data;
    struct sss_handshake *hs = c->hs;

    c->decision = NULL;
    c->hs = NULL;
    if (d->timed_out)
        sss_log_debug("conn", "the session parser did not answer in time fd=%d", c->fd);
    if (sss_handshake_finish(hs, &d->auth) == SSS_HANDSHAKE_REFUSE)
        reject(c, hs->status, hs->reason, NULL);
    else
        finish_upgrade(c, hs, NULL, 0);
    sss_free(hs);
}

/*
 * DECIDE: keep the parsed request and ask the application's later parser,
 * which answers through the handle, maybe before it returns.
 */
static void ask_session(struct sss_conn *c, const struct sss_handshake *hs, const char *remote)
{
    struct sss_app *app = c->w->app;
    struct sss_request req;

    c->hs = sss_malloc(sizeof(*c->hs));
    c->decision = c->hs ? sss_decision_create(c->w, SSS_DECISION_SESSION, session_decided, c)
                        : NULL;
    if (!c->decision) {
        sss_free(c->hs);
        c->hs = NULL;
        reject(c, 500, "out of memory", NULL);
        return;
    }
    *c->hs = *hs;
    hs_unlink(c);
    sss_auth_request(&c->hs->up, remote, &req);
    if (app->on_session_later)
        app->on_session_later(&req, c->decision, app->session_later_data);
    else if (!sss_proxy_connect(c->w, &req, c->decision))
        (void)sss_decision__refuse_session(c->decision, 500, "no session parser");
}

static void on_http_data(struct sss_conn *c, const uint8_t *data, size_t len)
{
    struct sss_worker *w = c->w;
    size_t limit = w->cfg->max_handshake_size + 1; /* one byte over decides 431 */
    struct sss_handshake hs;
    char remote[64] = "";
    size_t take;

    if (c->want_close)
        return; /* answered already; ignore whatever else the client sends */
    take = limit - c->req.len < len ? limit - c->req.len : len;
    if (c->decision) {
        /* Deciding: nothing is parsed; a client may not send before the
         * 101, but what fits is kept for wslay all the same. */
        if (take < len || sss_dynbuf_append(&c->req, data, len) < 0) {
            sss_log_debug("conn", "bytes past the request while deciding fd=%d", c->fd);
            sss_conn_kill(c);
        }
        return;
    }
    if (sss_dynbuf_append(&c->req, data, take) < 0) {
        reject(c, 500, "out of memory", NULL);
        return;
    }
    if (w->handshake.on_session || w->handshake.session_later)
        peer_name(c, remote, sizeof(remote));
    switch (sss_handshake_decide(&w->handshake, c->req.data, c->req.len, c->reject, remote,
                                 &hs)) {
    case SSS_HANDSHAKE_MORE:
        return;
    case SSS_HANDSHAKE_STATIC:
        sss_log_debug("conn", "static GET fd=%d target=%s status=%d", c->fd, hs.up.target,
                      hs.status);
        if (hs.file.head && hs.file.fd >= 0 && file_start(c, hs.file.fd, hs.file.size) < 0) {
            sss_buf_unref(hs.file.head);
            hs.file.head = NULL;
        }
        if (hs.file.head)
            (void)queue_buf(c, hs.file.head);
        c->want_close = 1;
        mark_dirty(c);
        return;
    case SSS_HANDSHAKE_ANSWER:
        reject(c, hs.status, hs.reason, &hs.up);
        return;
    case SSS_HANDSHAKE_REFUSE:
        reject(c, hs.status, hs.reason, NULL);
        return;
    case SSS_HANDSHAKE_DECIDE:
        if (take < len) {
            sss_log_debug("conn", "bytes past the request while deciding fd=%d", c->fd);
            sss_conn_kill(c);
            return;
        }
        ask_session(c, &hs, remote);
        return;
    default:
        break;
    }
    finish_upgrade(c, &hs, data + take, len - take);
}

/* ---- lifetime ---- */

void sss_conn_init(struct sss_conn *c, struct sss_worker *w, int fd)
{
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->fd = fd;
    c->state = SSS_CONN_HTTP;
    c->user = c->session = no_ident;
    c->q = c->qi;
    c->qcap = SSS_CONN_QINLINE;
    sss_wslay_init(&c->ws, &ws_io, c, w->cfg->max_message_size);
    c->opened_ms = c->last_rx_ms = w->now_ms;
}

static int set_ident(const char **dst, const char *src, size_t len, size_t max)
{
    char *copy;

    if (len > max)
        return -EINVAL;
    if (len == 0) {
        copy = (char *)no_ident;
    } else {
        copy = sss_malloc(len + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, src, len);
        copy[len] = '\0';
    }
    if (*dst != no_ident)
        sss_free((void *)*dst);
    *dst = copy;
    return 0;
}

int sss_conn_set_user(struct sss_conn *c, const char *user, size_t len)
{
    return set_ident(&c->user, user, user ? len : 0, SSS_USER_MAX);
}

int sss_conn_set_session(struct sss_conn *c, const char *session, size_t len)
{
    return set_ident(&c->session, session, session ? len : 0, SSS_SESSION_MAX);
}

void sss_conn_fini(struct sss_conn *c)
{
    (void)set_ident(&c->user, NULL, 0, 0);
    (void)set_ident(&c->session, NULL, 0, 0);
    sss_wslay_fini(&c->ws);
    if (c->q != c->qi)
        sss_free(c->q);
    c->q = c->qi;
}

struct sss_conn *sss_conn_create(struct sss_worker *w, int fd)
{
    struct sss_conn *c = sss_calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    sss_conn_init(c, w, fd);
    if (w->tls_ctx) {
        c->tls = sss_malloc(sizeof(*c->tls));
        if (!c->tls || sss_tls_init(c->tls, w->tls_ctx, 1, NULL) < 0) {
            sss_free(c->tls);
            sss_wslay_fini(&c->ws);
            sss_free(c);
            return NULL;
        }
    }
    LIST_INSERT_HEAD(&w->conns, c, link);
    TAILQ_INSERT_TAIL(&w->hs, c, hs_link);
    c->hs_listed = 1;
    w->nconns++;
    sss_ctr_add(w->ctr, conns_open, 1);
    sss_ctr_add(w->ctr, conns_accepted, 1);
    return c;
}

/* Plain bytes from the client, straight from the socket or out of TLS. */
static int on_plain(void *data, const uint8_t *bytes, size_t len)
{
    struct sss_conn *c = data;

    if (c->state == SSS_CONN_HTTP)
        on_http_data(c, bytes, len);
    else if (!c->want_close)
        feed_ws(c, bytes, len);
    return c->dead; /* nothing more for a killed connection */
}

/*
 * Ciphertext: decrypt it into on_plain. Bad TLS input (not TLS at all, a
 * version under 1.2, a broken record) ends this connection only: its alert
 * goes out, then the socket is closed.
 */
static void on_tls_data(struct sss_conn *c, const uint8_t *data, size_t len)
{
    int rc = sss_tls_feed(c->tls, data, len, on_plain, c);

    if (c->dead)
        return;
    if (!c->tls_counted && sss_tls_established(c->tls)) {
        c->tls_counted = 1;
        sss_ctr_add(c->w->ctr, tls_handshakes, 1);
        if (sss_tls_resumed(c->tls))
            sss_ctr_add(c->w->ctr, tls_resumed, 1);
        sss_log_debug("conn", "tls established fd=%d version=%s%s", c->fd,
                      sss_tls_version(c->tls), sss_tls_resumed(c->tls) ? " resumed" : "");
    }
    if (rc == SSS_ETLS) {
        char why[160];

        sss_tls_last_error(why, sizeof(why));
        sss_log_debug("conn", "tls failed fd=%d: %s", c->fd, why);
        sss_ctr_add(c->w->ctr, tls_failures, 1);
        c->want_close = 1;
    } else if (rc == SSS_TLS_CLOSED) {
        sss_conn_on_eof(c); /* close_notify: as if the socket ended */
        return;
    }
    if (sss_tls_pending(c->tls) || c->want_close)
        mark_dirty(c);
}

void sss_conn_on_data(struct sss_conn *c, const uint8_t *data, size_t len)
{
    if (c->dead)
        return;
    c->last_rx_ms = c->w->now_ms;
    c->pinged = 0;
    sss_ctr_add(c->w->ctr, bytes_in, len);
    if (c->tls)
        on_tls_data(c, data, len);
    else
        (void)on_plain(c, data, len);
}

void sss_conn_on_eof(struct sss_conn *c)
{
    /* Nothing more will be read. A client that half-closed after its request
     * still gets the answer queued for it; otherwise the peer is gone. */
    if (c->state == SSS_CONN_HTTP && (c->qlen || c->file) && !c->dead) {
        c->want_close = 1;
        mark_dirty(c);
        return;
    }
    sss_conn_kill(c);
}

void sss_conn_close(struct sss_conn *c, uint16_t code, const char *reason, int64_t deadline_ms)
{
    if (c->dead)
        return;
    if (c->state != SSS_CONN_WS) {
        sss_conn_kill(c);
        return;
    }
    if (!c->closing && !sss_wslay_close_sent(&c->ws)) {
        if (!c->close_code && !sss_wslay_close_received(&c->ws))
            c->close_code = code; /* we close first */
        if (sss_wslay_close(&c->ws, code, reason) < 0) {
            sss_conn_kill(c);
            return;
        }
        ws_pump(c);
    }
    c->closing = 1;
    c->deadline_ms = deadline_ms ? deadline_ms : c->w->now_ms + CLOSE_GRACE_MS;
    mark_dirty(c);
}

void sss_conn_tick(struct sss_conn *c, int64_t now)
{
    const struct sss_cfg *cfg = c->w->cfg;
    int64_t silent = now - c->last_rx_ms;

    if (c->dead)
        return;
    if (c->deadline_ms && now >= c->deadline_ms) {
        sss_log_debug("conn", "close deadline passed fd=%d", c->fd);
        sss_conn_kill(c);
        return;
    }
    if (c->state == SSS_CONN_WS && !c->closing)
        check_slow(c);
    if (c->state != SSS_CONN_WS || c->want_close || sss_wslay_close_sent(&c->ws))
        return;
    if (cfg->idle_timeout_ms && silent >= cfg->idle_timeout_ms) {
        sss_log_debug("conn", "idle for %lld ms fd=%d: closing", (long long)silent, c->fd);
        sss_ctr_add(c->w->ctr, closes_idle, 1);
        sss_conn_close(c, SSS_WS_CLOSE_GOING_AWAY, "idle timeout", 0);
        return;
    }
    if (c->opened && c->w->handler->tick)
        c->w->handler->tick(c->w->handler_data, c, now);
    if (cfg->ping_interval_ms && silent >= cfg->ping_interval_ms && !c->pinged) {
        /* Built here, not by wslay: a parked connection stays parked. */
        static const uint8_t ping[2] = {0x80 | SSS_WS_PING, 0};

        c->pinged = 1;
        if (queue_copy(c, ping, sizeof(ping)) == 0)
            mark_dirty(c);
    }
}

uint16_t sss_conn_close_code(const struct sss_conn *c)
{
    return c->close_code ? c->close_code : sss_wslay_close_code(&c->ws);
}

void sss_conn_kill(struct sss_conn *c)
{
    struct sss_worker *w = c->w;
    struct io_uring_sqe *sqe;

    if (c->dead)
        return;
    hs_unlink(c);
    c->dead = 1;
    if (c->decision) {
        sss_log_debug("conn", "closed while deciding fd=%d", c->fd);
        sss_decision_drop(c->decision); /* its answer is a no-op now */
        c->decision = NULL;
    }
    sss_free(c->hs);
    c->hs = NULL;
    if (!c->released)
        shutdown(c->fd, SHUT_RDWR);
    if (c->recv_armed) {
        sqe = sss_worker__sqe(w);
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c | SSS_OP_RECV, 0);
        io_uring_sqe_set_data64(sqe, SSS_OP_IGNORE);
    }
    if (c->state == SSS_CONN_WS)
        sss_ctr_add(w->ctr, ws_open, -1);
    if (c->opened && w->handler->closed)
        w->handler->closed(w->handler_data, c);
    sss_app_conn_closed(c); /* its pending asks: a late answer is a no-op */
    sss_conn_maybe_free(c);
}

void sss_conn_release(struct sss_conn *c)
{
    c->released = 1;
    sss_conn_kill(c);
}

int sss_conn_adopt(struct sss_conn *c, const struct sss_deflate_params *dp, uint8_t subprotocol,
                   uint8_t encoding)
{
    struct sss_worker *w = c->w;

    if (c->tls) { /* a plain connection, whatever this process's --tls-cert */
        sss_tls_fini(c->tls);
        sss_free(c->tls);
        c->tls = NULL;
    }
    c->deflate_bits = dp->on ? dp->server_bits : 0;
    sss_wslay_deflate(&c->ws, dp);
    c->subprotocol = subprotocol;
    c->encoding = encoding;
    if (w->handler->open && w->handler->open(w->handler_data, c) < 0)
        return -ENOMEM;
    c->opened = 1;
    hs_unlink(c);
    c->state = SSS_CONN_WS;
    sss_ctr_add(w->ctr, ws_open, 1);
    return 0;
}

void sss_conn_maybe_free(struct sss_conn *c)
{
    struct sss_worker *w = c->w;

    if (!c->dead || c->recv_armed || c->send_inflight || c->in_dirty ||
        (c->file && c->file->reading))
        return;
    close(c->fd);
    file_free(c);
    LIST_REMOVE(c, link);
    while (c->qlen) {
        sss_buf_unref(q_at(c, 0)->b);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    sss_dynbuf_fini(&c->req);
    sss_conn_fini(c);
    if (c->tls) {
        sss_tls_fini(c->tls);
        sss_free(c->tls);
    }
    if (c->tls_out)
        sss_buf_unref(c->tls_out);
    w->nconns--;
    sss_ctr_add(w->ctr, conns_open, -1);
    sss_free(c);
}
