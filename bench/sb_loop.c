/*
 * One sss-bench worker process: its connections, its io_uring ring and the
 * phases of a run (see sb.h for how it talks to the parent).
 *
 * Per connection: one multishot recv on a provided-buffer ring (received
 * bytes are parsed in place, only an incomplete frame is copied aside), and
 * at most one send in flight carrying everything queued since the last one
 * (`out` is appended to while the kernel owns `fly`; they swap when the send
 * completes). One loop turn: run the phase logic (connect more, publish what
 * is due), submit every queued send, wait for completions (bounded by a
 * short timeout), handle them.
 *
 * Phases: wait for t_go -> connect (bounded in flight) until every
 * connection is ready or failed -> wait for t_start -> send until t_end ->
 * drain publish replies -> report published counts -> wait until every
 * process has stopped, then for the deliveries still on their way (bounded
 * by --tail) -> done.
 */
#include "sb.h"
#include "sb_loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <liburing.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sss_tls.h"

enum { OP_CONNECT = 1, OP_RECV, OP_SEND, OP_CANCEL };

enum sb_conn_state {
    CS_IDLE = 0,   /* not started */
    CS_CONNECTING, /* connect submitted */
    CS_UPGRADING,  /* upgrade request sent, waiting for the 101 */
    CS_OPEN,       /* WebSocket open, protocol setting up */
    CS_READY,      /* protocol set up */
    CS_CLOSED,
};

enum phase { PH_WAITGO, PH_CONNECT, PH_WAITSTART, PH_RUN, PH_DRAIN, PH_TAIL, PH_DONE };

struct sb_worker {
    int id;
    const struct sb_params *pp;
    struct sb_shared *sh;
    struct sb_result *res;
    uint64_t *published;        /* this process's row: [channels] */
    _Atomic uint32_t *members;  /* [channels], all processes */
    uint64_t *published_all;    /* [procs][channels] */
    _Atomic uint64_t *seen;     /* [publishers]: no-ack closed loop (sb_loop.h) */
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    uint8_t *bufs;
    unsigned nbufs, bufsz, br_added;
    struct sb_conn *conns;
    uint32_t nconns, next_start, inflight, nsettled;
    uint32_t *dirty;
    uint32_t ndirty;
    uint32_t *senders; /* indexes of the publishers, askers and echoers */
    uint64_t port_cursor; /* next source address/port pair (loopback) */
    uint32_t nsenders;
    char *scratch, *payload;
    size_t scratch_cap, payload_cap;
    uint64_t rng, now;
    enum phase phase;
    uint64_t t_start, t_measure, t_end, t_phase_deadline, t_next_scan;
    double pub_rate_ns; /* publishes per ns per publisher (paced) */
    long npub;          /* publishers over all processes */
    struct sb_chan_order order; /* which channel each publish goes to (--order) */
    bool acks;          /* the protocol answers every publish */
    struct sb_inflate inf; /* server_no_context_takeover: one raw inflate, reset per message */
    struct sb_buf inflated; /* the message being handled, inflated */
    bool expected_done;
};

static struct io_uring_sqe *get_sqe(struct sb_worker *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

    if (!sqe) {
        io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
        if (!sqe) {
            fprintf(stderr, "sss-bench: io_uring submission queue stuck\n");
            exit(1);
        }
    }
    return sqe;
}

static inline uint64_t ud(const struct sb_conn *c, int op)
{
    return (uint64_t)c->idx << 8 | (uint64_t)op;
}

static void keep_error(struct sb_worker *w, const char *msg)
{
    if (!w->res->error[0])
        snprintf(w->res->error, sizeof(w->res->error), "%s", msg);
}

static void mark_seen(struct sb_worker *w, const struct sb_conn *c, uint64_t pub, uint64_t seq);

static void mark_dirty(struct sb_worker *w, struct sb_conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        w->dirty[w->ndirty++] = c->idx;
    }
}

/* The connection is finished with: cancel its requests, the fd closes on the cancel's CQE. */
static void conn_close(struct sb_worker *w, struct sb_conn *c)
{
    struct io_uring_sqe *sqe;

    if (c->state == CS_CLOSED)
        return;
    if (c->state != CS_READY && c->state != CS_IDLE) {
        w->inflight--;
        w->nsettled++;
        w->res->conns_failed++;
    }
    c->state = CS_CLOSED;
    if (c->fd >= 0) {
        sqe = get_sqe(w);
        io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, ud(c, OP_CANCEL));
    }
}

int sb_fail(struct sb_worker *w, struct sb_conn *c, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->state == CS_READY)
        w->res->closed_early++;
    keep_error(w, msg);
    conn_close(w, c);
    return -1;
}

char *sb_scratch(struct sb_worker *w, size_t *cap)
{
    *cap = w->scratch_cap;
    return w->scratch;
}

static void send_message(struct sb_worker *w, struct sb_conn *c, int op, const void *data,
                         size_t len)
{
    uint8_t *p;

    if (c->state == CS_CLOSED)
        return;
    p = sb_buf_reserve(&c->out, len + 14);
    c->out.len += sb_ws_frame(p, op, data, len, (uint32_t)sb_rand(&w->rng));
    w->res->bytes_out += len;
    mark_dirty(w, c);
}

void sb_send_text(struct sb_worker *w, struct sb_conn *c, const void *data, size_t len)
{
    send_message(w, c, SB_WS_TEXT, data, len);
}

void sb_send_binary(struct sb_worker *w, struct sb_conn *c, const void *data, size_t len)
{
    send_message(w, c, SB_WS_BINARY, data, len);
}

static void send_frame(struct sb_worker *w, struct sb_conn *c, int op, const void *data,
                       size_t len)
{
    uint8_t *p = sb_buf_reserve(&c->out, len + 14);

    c->out.len += sb_ws_frame(p, op, data, len, (uint32_t)sb_rand(&w->rng));
    mark_dirty(w, c);
}

int sb_session_open(struct sb_worker *w, struct sb_conn *c, const char *subscribe,
                    uint32_t ready_state, uint32_t subscribe_state)
{
    if (c->role != SB_ROLE_SUB) {
        c->pstate = ready_state;
        sb_ready(w, c);
        return 0;
    }
    sb_send_tpl(w, c, subscribe, c->chan, "", 0, 0);
    c->pstate = subscribe_state;
    return 0;
}

int sb_subscribed(struct sb_worker *w, struct sb_conn *c, bool ok, const char *what,
                  const char *msg, size_t len, uint32_t ready_state)
{
    if (!ok)
        return sb_fail(w, c, "%s to bench-%ld refused: %.*s", what, c->chan,
                       (int)(len > 150 ? 150 : len), msg);
    c->pstate = ready_state;
    sb_ready(w, c);
    return 0;
}

void sb_send_tpl(struct sb_worker *w, struct sb_conn *c, const char *tpl, long channel,
                 const char *payload, size_t len, uint64_t id)
{
    size_t cap;
    char *s = sb_scratch(w, &cap), *p = s;

    for (; *tpl; tpl++) {
        if (tpl[0] != '%' || !tpl[1]) {
            *p++ = *tpl;
            continue;
        }
        switch (*++tpl) {
        case 'c':
            p += sb_channel_name(p, 64, channel);
            break;
        case 'p':
            p = sb_put(p, payload, len);
            break;
        case 'i':
            p = sb_put_u64(p, id);
            break;
        default:
            *p++ = '%';
            *p++ = *tpl;
        }
    }
    sb_send_text(w, c, s, (size_t)(p - s));
}

void sb_ready(struct sb_worker *w, struct sb_conn *c)
{
    if (c->state != CS_OPEN)
        return;
    c->state = CS_READY;
    w->inflight--;
    w->nsettled++;
    w->res->conns_ok++;
    w->res->t_ready_last = w->now;
    sb_hist_record(&w->res->conn, w->now - c->t_begin);
    if (c->role == SB_ROLE_SUB)
        atomic_fetch_add_explicit(&w->members[c->chan], 1, memory_order_relaxed);
}

/* Is now inside the measured window? (Another process may already publish before this
 * one has seen t_start: read the times straight from the mapping until they are set.) */
static inline bool in_window(struct sb_worker *w)
{
    if (__builtin_expect(!w->t_end, 0)) {
        uint64_t end = atomic_load_explicit(&w->sh->t_end, memory_order_acquire);

        if (!end)
            return false;
        w->t_measure = atomic_load_explicit(&w->sh->t_measure, memory_order_relaxed);
        w->t_end = end;
    }
    return w->now >= w->t_measure && w->now < w->t_end;
}

void sb_deliveries(struct sb_worker *w, struct sb_conn *c, const char *data, size_t len)
{
    const char *p = data, *end = data + len, *m;
    uint64_t pub, seq, t;
    size_t hl;

    /* memchr for the marker's first byte is far cheaper than memmem on short frames */
    while ((m = memchr(p, SB_MARK[0], (size_t)(end - p)))) {
        if ((size_t)(end - m) < SB_MARK_LEN || memcmp(m, SB_MARK, SB_MARK_LEN) != 0) {
            p = m + 1;
            continue;
        }
        hl = sb_payload_decode(m, (size_t)(end - m), &pub, &seq, &t);
        if (!hl) {
            w->res->bad_payloads++;
            p = m + SB_MARK_LEN;
            continue;
        }
        p = m + hl;
        w->res->delivered++;
        if (in_window(w)) {
            w->res->delivered_window++;
            sb_hist_record(&w->res->lat, w->now > t ? w->now - t : 0);
        }
        if (c->seqs && pub < (uint64_t)w->npub)
            sb_track_seq(w->res, &c->seqs[pub], seq);
        if (pub < (uint64_t)w->npub && seq > 0)
            mark_seen(w, c, pub, seq);
    }
}

/*
 * The closed loop: a subscriber (in any process) that receives publish number n of a
 * publisher raises that publisher's count of publishes seen to n + 1, and the publisher
 * keeps at most --window publishes beyond it, so the server is saturated without a
 * backlog growing inside it (a publish reply only says the server took the message, not
 * that it delivered it). Only the first subscriber to see a publish writes; the others
 * just read the shared word.
 */
static void mark_seen(struct sb_worker *w, const struct sb_conn *c, uint64_t pub, uint64_t seq)
{
    uint64_t n, cur;

    if (w->pp->proto->caps & SB_CAP_PUB_CHANNEL)
        n = seq - 1;
    else
        n = sb_order_publish(&w->order, pub, c->chan, seq);
    cur = atomic_load_explicit(&w->seen[pub], memory_order_relaxed);
    while (cur < n + 1 &&
           !atomic_compare_exchange_weak_explicit(&w->seen[pub], &cur, n + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Which channel publish number n (from 0) of publisher c goes to, and its sequence there. */
static long pub_channel(const struct sb_worker *w, const struct sb_conn *c, uint64_t n,
                        uint64_t *seq)
{
    if (w->pp->proto->caps & SB_CAP_PUB_CHANNEL) {
        *seq = n + 1;
        return c->chan;
    }
    return sb_order_channel(&w->order, (uint64_t)c->gid, n, seq);
}

void sb_pub_reply(struct sb_worker *w, struct sb_conn *c, bool ok, uint64_t id)
{
    uint64_t seq;

    if (id == 0 || id > c->nsent)
        id = c->nreplied + 1; /* replies come in order */
    c->nreplied++;
    if (ok) {
        w->res->acked++;
        w->published[pub_channel(w, c, id - 1, &seq)]++;
    } else {
        w->res->pub_errors++;
    }
}

void sb_answer(struct sb_worker *w, struct sb_conn *c, const char *data, size_t len)
{
    const char *m = memmem(data, len, SB_MARK, SB_MARK_LEN);
    uint64_t pub, seq, t;

    c->nreplied++;
    if (!m || !sb_payload_decode(m, (size_t)(data + len - m), &pub, &seq, &t) ||
        pub != (uint64_t)c->gid || seq > c->nsent) {
        w->res->bad_payloads++;
        return;
    }
    w->res->delivered++;
    if (in_window(w)) {
        w->res->delivered_window++;
        sb_hist_record(&w->res->lat, w->now > t ? w->now - t : 0);
    }
}

int sb_route(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    if (c->role == SB_ROLE_SUB)
        sb_deliveries(w, c, msg, len);
    else if (c->role == SB_ROLE_ASK || c->role == SB_ROLE_ECHO)
        sb_answer(w, c, msg, len);
    return 0;
}

/* ---- connections ---- */

/*
 * Large runs to a loopback server get their source address and port from the bench, not
 * the kernel: with tens of thousands of connections to one address the kernel's search
 * for a free ephemeral port (__inet_hash_connect) becomes the whole cost of a connection
 * storm. Each process walks its own slice of the ephemeral port range (pp->port_lo ..
 * port_hi, read from /proc/sys/net/ipv4/ip_local_port_range) over the source addresses
 * (127.0.0.1, or 127.0.0.2.. with --source-addrs), skipping pairs that are taken. Small
 * runs (pp->port_hi == 0) leave it to the kernel.
 */

static bool is_loopback(const struct sb_url *u)
{
    const struct sockaddr_in *a = (const struct sockaddr_in *)&u->addr;

    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
}

static int bind_loopback(struct sb_worker *w, int fd)
{
    uint32_t nsrc = w->pp->source_addrs > 0 ? (uint32_t)w->pp->source_addrs : 1;
    uint32_t base = w->pp->source_addrs > 0 ? 0x7f000002u : 0x7f000001u;
    uint32_t slice = (uint32_t)(w->pp->port_hi - w->pp->port_lo) / (uint32_t)w->pp->procs;
    uint32_t lo = (uint32_t)w->pp->port_lo + slice * (uint32_t)w->id;
    int one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (!w->port_cursor) /* a random start: pairs of a previous run may linger in TIME_WAIT */
        w->port_cursor = sb_rand(&w->rng) % ((uint64_t)slice * nsrc) + 1;
    for (int tries = 0; tries < 4096; tries++) {
        uint64_t k = w->port_cursor++;
        struct sockaddr_in src = {.sin_family = AF_INET};

        src.sin_addr.s_addr = htonl(base + (uint32_t)(k % nsrc));
        src.sin_port = htons((uint16_t)(lo + (uint32_t)((k / nsrc) % slice)));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0)
            return 0;
        if (errno != EADDRINUSE)
            return -1;
    }
    return -1;
}

static void start_conn(struct sb_worker *w, struct sb_conn *c)
{
    const struct sb_url *u = &w->pp->urls[c->url];
    struct io_uring_sqe *sqe;
    int one = 1, fd;

    if (!c->retries)
        c->t_begin = w->now;
    c->state = CS_CONNECTING;
    w->inflight++;
    fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sb_fail(w, c, "socket: %s", strerror(errno));
        return;
    }
    c->fd = fd;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Closing (at exit) resets the connection: no TIME_WAIT left on this side to block the
     * next run's source ports. */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){.l_onoff = 1, .l_linger = 0},
               sizeof(struct linger));
    if (w->pp->port_hi && u->addr.ss_family == AF_INET && is_loopback(u)) {
        if (bind_loopback(w, fd) < 0) {
            sb_fail(w, c, "no free source address/port for 127.0.0.%u: %s",
                    w->pp->source_addrs > 0 ? 2 : 1, strerror(errno));
            return;
        }
    } else if (w->pp->source_addrs > 0 && u->addr.ss_family == AF_INET) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        uint32_t a = 0x7f000002u + (uint32_t)((c->gid * 7 + c->role) % w->pp->source_addrs);

        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        src.sin_addr.s_addr = htonl(a);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            sb_fail(w, c, "bind 127.0.0.%u: %s", a & 0xff, strerror(errno));
            return;
        }
    }
    sqe = get_sqe(w);
    io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&u->addr, u->addrlen);
    io_uring_sqe_set_data64(sqe, ud(c, OP_CONNECT));
}

static void arm_recv(struct sb_worker *w, struct sb_conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(w);

    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
    c->recv_armed = 1;
}

static void on_connect(struct sb_worker *w, struct sb_conn *c, int res)
{
    const struct sb_url *u = &w->pp->urls[c->url];
    char pathbuf[600];
    const char *path = u->path;
    size_t n;
    uint8_t *p;

    if (res < 0) {
        if ((res == -EADDRNOTAVAIL || res == -EADDRINUSE) && c->retries < 64) {
            /* that source address/port pair is still taken towards this server: next one */
            close(c->fd);
            c->fd = -1;
            c->retries++;
            w->inflight--;
            start_conn(w, c);
            return;
        }
        {
            struct sockaddr_in src;
            socklen_t sl = sizeof(src);
            char from[64] = "";

            if (getsockname(c->fd, (struct sockaddr *)&src, &sl) == 0 && src.sin_family == AF_INET &&
                src.sin_port)
                snprintf(from, sizeof(from), " from %u.%u.%u.%u:%u",
                         ntohl(src.sin_addr.s_addr) >> 24, ntohl(src.sin_addr.s_addr) >> 16 & 255,
                         ntohl(src.sin_addr.s_addr) >> 8 & 255, ntohl(src.sin_addr.s_addr) & 255,
                         ntohs(src.sin_port));
            sb_fail(w, c, "connect to %s:%d%s: %s", u->host, u->port, from, strerror(-res));
        }
        return;
    }
    if (w->pp->proto->path)
        path = w->pp->proto->path(w, c, u, pathbuf, sizeof(pathbuf));
    else if (w->pp->proto->default_path && strcmp(path, "/") == 0)
        path = w->pp->proto->default_path;
    if (u->tls) {
        /* wss://: the upgrade request and everything after it goes into out as plaintext;
         * flush encrypts it (OpenSSL keeps it until the handshake is over) */
        c->tls = calloc(1, sizeof(*c->tls));
        if (!c->tls || sss_tls_init(c->tls, w->pp->tls_ctx, 0, u->host) != 0) {
            sb_fail(w, c, "TLS setup for %s:%d failed", u->host, u->port);
            return;
        }
    }
    sb_ws_key(c->key, &w->rng);
    p = sb_buf_reserve(&c->out, 2048);
    n = sb_ws_request((char *)p, 2048, u->host, u->port, path, c->key, w->pp->proto->subprotocol,
                      w->pp->deflate ? SB_WS_DEFLATE_OFFER : NULL);
    if (!n) {
        sb_fail(w, c, "upgrade request too long");
        return;
    }
    c->out.len += n;
    mark_dirty(w, c);
    c->state = CS_UPGRADING;
    arm_recv(w, c);
}

struct msg_ctx {
    struct sb_worker *w;
    struct sb_conn *c;
};

static int on_ws_message(void *arg, int op, uint8_t *data, size_t len)
{
    struct msg_ctx *m = arg;
    struct sb_worker *w = m->w;
    struct sb_conn *c = m->c;

    switch (op) {
    case SB_WS_PING:
        send_frame(w, c, SB_WS_PONG, data, len);
        return 0;
    case SB_WS_PONG:
        return 0;
    case SB_WS_CLOSE: {
        unsigned code = len >= 2 ? (unsigned)data[0] << 8 | data[1] : 1005;

        if (w->phase >= PH_TAIL && c->state == CS_READY) {
            conn_close(w, c);
            return 1;
        }
        sb_fail(w, c, "server closed the connection: code %u %.*s", code,
                len > 2 ? (int)(len - 2 > 100 ? 100 : len - 2) : 0, (const char *)data + 2);
        return 1;
    }
    default:
        w->res->bytes_in += len;
        if (op & SB_WS_DEFLATED) {
            struct sb_inflate *z = c->inf_reset ? &w->inf : &c->inf;

            if (sb_inflate_msg(z, c->inf_reset, data, len, &w->inflated, c->rd.max_msg) < 0) {
                w->res->proto_errors++;
                sb_fail(w, c, "a compressed message from %s:%d does not inflate (bad deflate "
                              "data, or over 64 MiB)",
                        w->pp->urls[c->url].host, w->pp->urls[c->url].port);
                return 1;
            }
            w->res->deflated_msgs++;
            w->res->inflated_bytes += w->inflated.len;
            data = w->inflated.p;
            len = w->inflated.len;
        }
        if (w->pp->proto->on_message(w, c, (char *)data, len) < 0)
            return 1;
        return c->state == CS_CLOSED;
    }
}

static void feed_ws(struct sb_worker *w, struct sb_conn *c, uint8_t *data, size_t len)
{
    struct msg_ctx m = {w, c};
    int rc = sb_wsr_feed(&c->rd, data, len, on_ws_message, &m);

    if (rc < 0 && c->state != CS_CLOSED) {
        w->res->proto_errors++;
        sb_fail(w, c, "WebSocket protocol error from %s:%d", w->pp->urls[c->url].host,
                w->pp->urls[c->url].port);
    }
}

/* Plaintext from the server (after TLS, if any). */
static void on_plain(struct sb_worker *w, struct sb_conn *c, uint8_t *data, size_t len)
{
    char err[200];
    struct sb_buf *hs = &c->rd.carry;
    struct sb_ws_deflate dfl;
    int hl;

    if (c->state == CS_CLOSED)
        return;
    if (c->state != CS_UPGRADING) {
        feed_ws(w, c, data, len);
        return;
    }
    /* The upgrade answer: gathered in the reader's carry buffer until complete. */
    memcpy(sb_buf_reserve(hs, len), data, len);
    hs->len += len;
    hl = sb_ws_response((const char *)hs->p, hs->len, c->key, w->pp->proto->subprotocol, err,
                        sizeof(err));
    if (hl == 0)
        return;
    if (hl < 0 || sb_ws_deflate_answer((const char *)hs->p, (size_t)hl, w->pp->deflate, &dfl,
                                       err, sizeof(err)) < 0) {
        sb_fail(w, c, "%s:%d: %s", w->pp->urls[c->url].host, w->pp->urls[c->url].port, err);
        return;
    }
    c->rd.deflate = dfl.on;
    c->inf_reset = (uint8_t)dfl.server_no_takeover;
    c->state = CS_OPEN;
    len = hs->len - (size_t)hl;
    if (len > w->payload_cap) {
        sb_fail(w, c, "too much data after the 101");
        return;
    }
    memcpy(w->payload, hs->p + hl, len); /* the payload buffer is free outside publishing */
    hs->len = 0;
    if (!w->pp->proto->on_open)
        sb_ready(w, c);
    else if (w->pp->proto->on_open(w, c) < 0)
        return;
    if (len)
        feed_ws(w, c, (uint8_t *)w->payload, len);
}

static int tls_plain(void *arg, const uint8_t *bytes, size_t len)
{
    struct msg_ctx *m = arg;

    /* sss_tls_feed lends its own writable buffer: the reader may change it in place */
    on_plain(m->w, m->c, (uint8_t *)(uintptr_t)bytes, len);
    return m->c->state == CS_CLOSED;
}

/* The server closed (EOF or TLS close_notify): expected once the run is over. */
static void peer_closed(struct sb_worker *w, struct sb_conn *c, const char *how)
{
    if (w->phase >= PH_TAIL && c->state == CS_READY)
        conn_close(w, c);
    else
        sb_fail(w, c, "%s:%d %s", w->pp->urls[c->url].host, w->pp->urls[c->url].port, how);
}

/* Bytes from the socket: through TLS for wss://. */
static void on_data(struct sb_worker *w, struct sb_conn *c, uint8_t *data, size_t len)
{
    struct msg_ctx m = {w, c};
    int rc;

    w->res->wire_in += len;
    if (in_window(w))
        w->res->wire_in_window += len;
    if (c->state == CS_CLOSED)
        return;
    if (!c->tls) {
        on_plain(w, c, data, len);
        return;
    }
    rc = sss_tls_feed(c->tls, data, len, tls_plain, &m);
    if (c->state == CS_CLOSED)
        return;
    if (rc == SSS_TLS_CLOSED) {
        peer_closed(w, c, "closed TLS (close_notify)");
    } else if (rc < 0) {
        long v = SSL_get_verify_result(c->tls->ssl);

        w->res->proto_errors++;
        if (v != X509_V_OK)
            sb_fail(w, c, "TLS with %s:%d: certificate verify failed: %s (--tls-ca FILE, or "
                          "--tls-no-verify)",
                    w->pp->urls[c->url].host, w->pp->urls[c->url].port,
                    X509_verify_cert_error_string(v));
        else
            sb_fail(w, c, "TLS with %s:%d failed (not a TLS server, or no common version)",
                    w->pp->urls[c->url].host, w->pp->urls[c->url].port);
    } else if (sss_tls_pending(c->tls)) {
        mark_dirty(w, c); /* handshake messages to send */
    }
}

static void on_recv(struct sb_worker *w, struct sb_conn *c, struct io_uring_cqe *cqe)
{
    int res = cqe->res;

    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        uint8_t *buf = w->bufs + (size_t)bid * w->bufsz;

        if (res > 0) {
            w->now = sb_now_ns();
            on_data(w, c, buf, (size_t)res);
        }
        io_uring_buf_ring_add(w->br, buf, w->bufsz, (unsigned short)bid,
                              io_uring_buf_ring_mask(w->nbufs), (int)w->br_added++);
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    c->recv_armed = 0;
    if (c->state == CS_CLOSED)
        return;
    if (res == -ENOBUFS) {
        w->res->enobufs++;
        mark_dirty(w, c); /* re-armed by flush, after the buffers went back */
    } else if (res == 0) {
        peer_closed(w, c, "closed the connection");
    } else if (res < 0) {
        sb_fail(w, c, "recv: %s", strerror(-res));
    } else {
        mark_dirty(w, c);
    }
}

static void on_send(struct sb_worker *w, struct sb_conn *c, int res)
{
    c->sending = 0;
    if (c->state == CS_CLOSED)
        return;
    if (res < 0) {
        sb_fail(w, c, "send: %s", strerror(-res));
        return;
    }
    w->res->wire_out += (size_t)res;
    c->fly_off += (size_t)res;
    if (c->fly_off >= c->fly.len)
        c->fly.len = 0;
    mark_dirty(w, c);
}

/* Submit what every dirty connection has queued, and re-arm stopped receives. */
static void flush(struct sb_worker *w)
{
    for (uint32_t i = 0; i < w->ndirty; i++) {
        struct sb_conn *c = &w->conns[w->dirty[i]];
        struct io_uring_sqe *sqe;

        c->dirty = 0;
        if (c->state == CS_CLOSED)
            continue;
        if (!c->recv_armed && c->state >= CS_UPGRADING)
            arm_recv(w, c);
        if (c->sending)
            continue;
        if (c->fly.len == 0 && c->tls) {
            /* encrypt what was queued since the last send; OpenSSL's output BIO keeps
             * the ciphertext until the socket takes it */
            size_t n;

            if (c->out.len && sss_tls_write(c->tls, c->out.p, c->out.len) != 0) {
                sb_fail(w, c, "TLS write failed");
                continue;
            }
            c->out.len = 0;
            n = sss_tls_pending(c->tls);
            if (n == 0)
                continue;
            c->fly.len = sss_tls_take(c->tls, sb_buf_reserve(&c->fly, n), n);
            c->fly_off = 0;
        } else if (c->fly.len == 0) {
            struct sb_buf t;

            if (c->out.len == 0)
                continue;
            t = c->fly;
            c->fly = c->out;
            c->out = t;
            c->out.len = 0;
            c->fly_off = 0;
        }
        sqe = get_sqe(w);
        io_uring_prep_send(sqe, c->fd, c->fly.p + c->fly_off, c->fly.len - c->fly_off,
                           MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
        c->sending = 1;
    }
    w->ndirty = 0;
}

/* ---- sending work ---- */

static void publish_some(struct sb_worker *w, struct sb_conn *c, uint64_t n)
{
    uint64_t t = sb_now_ns(), seq;

    if (n > c->limit - c->nsent)
        n = c->limit - c->nsent;
    while (n--) {
        long ch = pub_channel(w, c, c->nsent, &seq);
        size_t len = sb_payload_encode(w->payload, w->payload_cap, (size_t)w->pp->size,
                                       (uint64_t)c->gid, seq, t, w->pp->payload);

        c->nsent++;
        if (w->pp->proto->send_publish)
            w->pp->proto->send_publish(w, c, ch, w->payload, len,
                                       c->nsent + w->pp->proto->publish_id_base);
        else
            sb_send_tpl(w, c, w->pp->proto->publish, ch, w->payload, len,
                        c->nsent + w->pp->proto->publish_id_base);
        w->res->sent++;
        if (in_window(w))
            w->res->sent_window++;
        if (!w->acks)
            w->published[ch]++;
    }
}

static void ask_one(struct sb_worker *w, struct sb_conn *c)
{
    size_t len = sb_payload_encode(w->payload, w->payload_cap, (size_t)w->pp->size,
                                   (uint64_t)c->gid, c->nsent + 1, sb_now_ns(), w->pp->payload);

    c->nsent++;
    c->t_sent = w->now;
    if (c->role == SB_ROLE_ASK && w->pp->proto->send_ask)
        w->pp->proto->send_ask(w, c, w->payload, len, c->nsent + w->pp->proto->ask_id_base);
    else if (c->role == SB_ROLE_ASK)
        sb_send_tpl(w, c, w->pp->proto->ask, 0, w->payload, len,
                    c->nsent + w->pp->proto->ask_id_base);
    else if (w->pp->proto->echo)
        sb_send_tpl(w, c, w->pp->proto->echo, 0, w->payload, len, 0);
    else
        sb_send_text(w, c, w->payload, len);
    w->res->sent++;
    if (in_window(w))
        w->res->sent_window++;
}

#define SB_MAX_QUEUED (8u << 20) /* an open-loop publisher never queues more than this */

static void run_senders(struct sb_worker *w)
{
    const struct sb_params *pp = w->pp;

    for (uint32_t i = 0; i < w->nsenders; i++) {
        struct sb_conn *c = &w->conns[w->senders[i]];
        uint64_t due, n;

        if (c->state != CS_READY)
            continue;
        if (c->role == SB_ROLE_PUB) {
            if (c->nsent >= c->limit)
                continue;
            if (pp->rate > 0) {
                due = (uint64_t)((double)(w->now - w->t_start) * w->pub_rate_ns) + 1;
                if (due <= c->nsent)
                    continue;
                n = due - c->nsent;
                if (c->out.len + c->fly.len > SB_MAX_QUEUED) {
                    w->res->late_sends++;
                    continue;
                }
                if (n > 4096)
                    n = 4096;
                publish_some(w, c, n);
            } else {
                /* closed loop: publishes no subscriber has received yet (and, where the
                 * protocol replies, publishes not yet replied to) stay under --window */
                uint64_t seen = atomic_load_explicit(&w->seen[c->gid], memory_order_relaxed);

                n = c->nsent > seen ? c->nsent - seen : 0;
                if (w->acks && c->nsent - c->nreplied > n)
                    n = c->nsent - c->nreplied;
                if (n < (uint64_t)pp->window)
                    publish_some(w, c, (uint64_t)pp->window - n);
            }
        } else {
            while (c->nsent - c->nreplied < (uint64_t)pp->window)
                ask_one(w, c);
        }
    }
}

/*
 * How long the loop may sleep when nothing completes: until the next paced publish is due
 * (open loop), else a few milliseconds (phase changes are read from the mapping).
 */
static uint64_t wait_ns(struct sb_worker *w)
{
    uint64_t wait = 5000000, next;

    if (w->phase == PH_RUN && w->pp->rate > 0 && w->pub_rate_ns > 0) {
        for (uint32_t i = 0; i < w->nsenders; i++) {
            struct sb_conn *c = &w->conns[w->senders[i]];

            if (c->state != CS_READY || c->nsent >= c->limit)
                continue;
            /* publish number nsent (from 0) is due at t_start + nsent / rate */
            next = w->t_start + (uint64_t)((double)c->nsent / w->pub_rate_ns);
            if (next <= w->now)
                return 20000;
            if (next - w->now < wait)
                wait = next - w->now;
        }
        if (w->t_end > w->now && w->t_end - w->now < wait)
            wait = w->t_end - w->now;
    }
    return wait < 20000 ? 20000 : wait;
}

static bool senders_drained(struct sb_worker *w)
{
    for (uint32_t i = 0; i < w->nsenders; i++) {
        struct sb_conn *c = &w->conns[w->senders[i]];

        if (c->state != CS_READY)
            continue;
        if (c->role == SB_ROLE_PUB && !w->acks)
            continue;
        if (c->nreplied < c->nsent)
            return false;
    }
    return true;
}

static bool all_stopped(struct sb_worker *w)
{
    for (int p = 0; p < w->sh->procs; p++) {
        struct sb_result *r = sb_shared_result(w->sh, p);
        int st = atomic_load_explicit(&r->state, memory_order_acquire);

        if (st != SB_PS_FAILED && st < SB_PS_STOPPED)
            return false;
    }
    return true;
}

static void compute_expected(struct sb_worker *w)
{
    uint64_t e = 0;

    for (uint32_t i = 0; i < w->nconns; i++) {
        struct sb_conn *c = &w->conns[i];

        if (c->role != SB_ROLE_SUB || c->state != CS_READY)
            continue;
        for (int p = 0; p < w->sh->procs; p++)
            e += w->published_all[(size_t)p * (size_t)w->pp->channels + (size_t)c->chan];
    }
    w->res->expected_local = e;
    w->expected_done = true;
}

static bool tail_complete(struct sb_worker *w)
{
    if (w->pp->workload == SB_ASK || w->pp->workload == SB_ECHO)
        return senders_drained(w);
    if (!w->expected_done) {
        if (!all_stopped(w))
            return false;
        compute_expected(w);
    }
    return w->res->delivered >= w->res->expected_local;
}

static void scan_timeouts(struct sb_worker *w)
{
    uint64_t limit = (uint64_t)(w->pp->timeout * 1e9);

    for (uint32_t i = 0; i < w->next_start; i++) {
        struct sb_conn *c = &w->conns[i];

        if (c->state > CS_IDLE && c->state < CS_READY && w->now - c->t_begin > limit)
            sb_fail(w, c, "%s:%d: connection not ready within %.1f s (%s)",
                    w->pp->urls[c->url].host, w->pp->urls[c->url].port, w->pp->timeout,
                    c->state == CS_CONNECTING ? "TCP connect pending"
                    : c->state == CS_UPGRADING && c->tls && !sss_tls_established(c->tls)
                        ? "TLS handshake unanswered: is it a TLS port?"
                    : c->state == CS_UPGRADING ? "no 101 answer to the upgrade"
                                               : "protocol setup unanswered");
    }
}

/* The phase logic of one loop turn. */
static void drive(struct sb_worker *w)
{
    struct sb_shared *sh = w->sh;

    switch (w->phase) {
    case PH_WAITGO:
        if (!atomic_load_explicit(&sh->t_go, memory_order_acquire))
            break;
        w->phase = PH_CONNECT;
        __attribute__((fallthrough));
    case PH_CONNECT:
        while (w->next_start < w->nconns && w->inflight < (uint32_t)w->pp->concurrency)
            start_conn(w, &w->conns[w->next_start++]);
        if (w->now >= w->t_next_scan) {
            scan_timeouts(w);
            w->t_next_scan = w->now + 100000000ULL;
        }
        if (w->nsettled < w->nconns)
            break;
        atomic_store_explicit(&w->res->state, SB_PS_READY, memory_order_release);
        w->phase = PH_WAITSTART;
        __attribute__((fallthrough));
    case PH_WAITSTART:
        w->t_start = atomic_load_explicit(&sh->t_start, memory_order_acquire);
        if (!w->t_start || w->now < w->t_start)
            break;
        in_window(w); /* loads t_measure and t_end */
        w->phase = PH_RUN;
        __attribute__((fallthrough));
    case PH_RUN:
        if (w->now < w->t_end) {
            if (w->pp->workload != SB_CONNECT)
                run_senders(w);
            break;
        }
        w->phase = PH_DRAIN;
        w->t_phase_deadline = w->now + (uint64_t)(w->pp->tail * 1e9);
        __attribute__((fallthrough));
    case PH_DRAIN:
        if (w->acks && !senders_drained(w) && w->now < w->t_phase_deadline)
            break;
        atomic_store_explicit(&w->res->state, SB_PS_STOPPED, memory_order_release);
        w->phase = PH_TAIL;
        __attribute__((fallthrough));
    case PH_TAIL:
        if (w->pp->workload != SB_CONNECT && !tail_complete(w) && w->now < w->t_phase_deadline)
            break;
        if (w->pp->workload == SB_FANOUT || w->pp->workload == SB_CLUSTER)
            if (!w->expected_done && all_stopped(w))
                compute_expected(w);
        w->phase = PH_DONE;
        break;
    case PH_DONE:
        break;
    }
}

static void handle_cqe(struct sb_worker *w, struct io_uring_cqe *cqe)
{
    uint64_t d = io_uring_cqe_get_data64(cqe);
    struct sb_conn *c = &w->conns[d >> 8];

    switch ((int)(d & 0xff)) {
    case OP_CONNECT:
        if (c->state == CS_CONNECTING)
            on_connect(w, c, cqe->res);
        break;
    case OP_RECV:
        on_recv(w, c, cqe);
        break;
    case OP_SEND:
        on_send(w, c, cqe->res);
        break;
    case OP_CANCEL:
        if (c->fd >= 0) {
            close(c->fd);
            c->fd = -1;
        }
        if (c->tls) {
            sss_tls_fini(c->tls);
            free(c->tls);
            c->tls = NULL;
        }
        sb_inflate_fini(&c->inf);
        break;
    }
}

/* ---- setup ---- */

static int ring_setup(struct sb_worker *w)
{
    struct io_uring_params p;
    struct io_uring_buf_reg reg;
    size_t ringsz;
    int rc;

    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = 65536;
    rc = io_uring_queue_init_params(4096, &w->ring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = 65536;
        rc = io_uring_queue_init_params(4096, &w->ring, &p);
    }
    if (rc < 0) {
        snprintf(w->res->error, sizeof(w->res->error), "io_uring_queue_init: %s", strerror(-rc));
        return -1;
    }
    w->nbufs = 256;
    while (w->nbufs < 4096 && w->nbufs < w->nconns / 2)
        w->nbufs *= 2;
    w->bufsz = 16384;
    ringsz = w->nbufs * sizeof(struct io_uring_buf);
    w->br = mmap(NULL, ringsz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    w->bufs = malloc((size_t)w->nbufs * w->bufsz);
    if (w->br == MAP_FAILED || !w->bufs) {
        snprintf(w->res->error, sizeof(w->res->error), "out of memory for receive buffers");
        return -1;
    }
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)w->br;
    reg.ring_entries = w->nbufs;
    reg.bgid = 0;
    rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
    if (rc < 0) {
        snprintf(w->res->error, sizeof(w->res->error), "io_uring_register_buf_ring: %s",
                 strerror(-rc));
        return -1;
    }
    io_uring_buf_ring_init(w->br);
    for (unsigned i = 0; i < w->nbufs; i++)
        io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * w->bufsz, w->bufsz,
                              (unsigned short)i, io_uring_buf_ring_mask(w->nbufs), (int)i);
    io_uring_buf_ring_advance(w->br, (int)w->nbufs);
    return 0;
}

static void add_conn(struct sb_worker *w, int role, long gid, long chan, int url)
{
    struct sb_conn *c = &w->conns[w->nconns];

    memset(c, 0, sizeof(*c));
    c->idx = w->nconns++;
    c->fd = -1;
    c->role = (uint8_t)role;
    c->gid = gid;
    c->chan = chan;
    c->url = (uint8_t)url;
    c->limit = UINT64_MAX;
    if (role != SB_ROLE_SUB)
        w->senders[w->nsenders++] = c->idx;
    sb_wsr_init(&c->rd, 64u << 20);
}

/* This process's share: item i of every role goes to process i % procs. */
static int plan_conns(struct sb_worker *w)
{
    const struct sb_params *pp = w->pp;
    long P = sb_params_publishers(pp), S = 0, N = 0, k = w->id, np = pp->procs;
    int nu = pp->nurls, role = SB_ROLE_SUB;

    switch (pp->workload) {
    case SB_FANOUT:
    case SB_CLUSTER:
        S = pp->subscribers;
        break;
    case SB_CONNECT:
        S = pp->connections;
        P = 0;
        break;
    case SB_ASK:
        N = pp->askers;
        role = SB_ROLE_ASK;
        P = 0;
        break;
    case SB_ECHO:
        N = pp->connections;
        role = SB_ROLE_ECHO;
        P = 0;
        break;
    }
    w->npub = P;
    sb_order_init(&w->order, pp->order, pp->channels);
    w->conns = calloc((size_t)((S + P + N) / np + 2), sizeof(*w->conns));
    w->dirty = calloc((size_t)((S + P + N) / np + 2), sizeof(*w->dirty));
    w->senders = calloc((size_t)((P + N) / np + 2), sizeof(*w->senders));
    if (!w->conns || !w->dirty || !w->senders)
        return -1;
    for (long i = k; i < S; i += np) {
        int url = pp->workload == SB_CLUSTER ? 1 + (int)(i % (nu - 1)) : (int)(i % nu);

        add_conn(w, SB_ROLE_SUB, i, i % pp->channels, url);
        if (P > 0 && (uint64_t)P * (uint64_t)(S / np + 1) <= (16u << 20)) {
            w->conns[w->nconns - 1].seqs = calloc((size_t)P, sizeof(struct sb_seq));
            if (!w->conns[w->nconns - 1].seqs)
                return -1;
        }
    }
    for (long j = k; j < P; j += np) {
        add_conn(w, SB_ROLE_PUB, j, j % pp->channels,
                 pp->workload == SB_CLUSTER ? 0 : (int)(j % nu));
        if (pp->messages)
            w->conns[w->nconns - 1].limit =
                (uint64_t)(pp->messages / P + (j < pp->messages % P ? 1 : 0));
    }
    for (long i = k; i < N; i += np)
        add_conn(w, role, i, 0, (int)(i % nu));
    return 0;
}

int sb_worker_run(const struct sb_params *pp, struct sb_shared *sh, int id)
{
    struct sb_worker *w = calloc(1, sizeof(*w));
    struct sb_result *res = sb_shared_result(sh, id);
    struct __kernel_timespec ts;
    long P;

    if (!w)
        return 1;
    w->id = id;
    w->pp = pp;
    w->sh = sh;
    w->res = res;
    w->members = sb_shared_members(sh);
    w->published_all = sb_shared_published(sh, 0);
    w->published = sb_shared_published(sh, id);
    w->seen = sb_shared_seen(sh);
    w->acks = (pp->proto->caps & SB_CAP_PUB_ACK) != 0;
    w->rng = sb_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    w->payload_cap = (size_t)pp->size + 128;
    w->scratch_cap = (size_t)pp->size + 1024;
    w->payload = malloc(w->payload_cap > 65536 ? w->payload_cap : 65536);
    w->scratch = malloc(w->scratch_cap);
    if (w->payload_cap < 65536)
        w->payload_cap = 65536;
    sb_hist_init(&res->lat);
    sb_hist_init(&res->conn);
    if (!w->payload || !w->scratch || plan_conns(w) < 0) {
        snprintf(res->error, sizeof(res->error), "out of memory");
        atomic_store_explicit(&res->state, SB_PS_FAILED, memory_order_release);
        return 1;
    }
    P = w->npub;
    w->pub_rate_ns = P > 0 ? pp->rate / (double)P / 1e9 : 0;
    res->conns = w->nconns;
    if (ring_setup(w) < 0) {
        atomic_store_explicit(&res->state, SB_PS_FAILED, memory_order_release);
        return 1;
    }
    atomic_store_explicit(&res->state, SB_PS_STARTED, memory_order_release);
    while (w->phase != PH_DONE) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        int rc;

        if (atomic_load_explicit(&sh->abort, memory_order_relaxed))
            return 1;
        w->now = sb_now_ns();
        drive(w);
        if (w->phase == PH_DONE)
            break;
        flush(w);
        ts.tv_sec = 0;
        ts.tv_nsec = (long)wait_ns(w);
        rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
            snprintf(res->error, sizeof(res->error), "io_uring wait: %s", strerror(-rc));
            atomic_store_explicit(&res->state, SB_PS_FAILED, memory_order_release);
            return 1;
        }
        w->now = sb_now_ns();
        io_uring_for_each_cqe(&w->ring, head, cqe)
        {
            handle_cqe(w, cqe);
            n++;
        }
        io_uring_cq_advance(&w->ring, n);
        if (w->br_added) {
            io_uring_buf_ring_advance(w->br, (int)w->br_added);
            w->br_added = 0;
        }
    }
    sb_inflate_fini(&w->inf);
    sb_buf_free(&w->inflated);
    atomic_store_explicit(&res->state, SB_PS_DONE, memory_order_release);
    return 0;
}
