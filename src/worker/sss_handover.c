/*
 * An upgrade's hand-over, the worker's side (sss_handover.h).
 */
#include "sss_handover.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_log.h"
#include "sss_rpc.h"
#include "sss_loop.h"
#include "sss_session.h"
#include "sss_upgrade.h"
#include "sss_worker.h"
#include "sss_ws.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* One old worker connected to us (new side). */
struct ho_link {
    struct sss_loop_ev ev; /* first: its multishot poll */
    struct sss_handover *h;
    int fd;
    uint8_t armed;   /* the poll is in the kernel */
    uint8_t closing; /* cancelled: free at its last completion */
    long adopted;
    LIST_ENTRY(ho_link) link;
};

struct sss_handover {
    struct sss_worker *w;
    /* new side */
    struct sss_loop_ev listen_ev; /* the listening socket's multishot poll */
    int listen_fd;
    uint8_t listen_armed;
    LIST_HEAD(, ho_link) links;
    uint8_t *buf; /* one record (SSS_UPGRADE_REC_MAX) */
    /* old side */
    uint8_t exporting;
    int sock;
    int64_t deadline_ms;
    long handed;
    struct sss_dynbuf rec;
};

static struct sss_handover *handover_of(struct sss_worker *w)
{
    if (!w->handover) {
        struct sss_handover *h = sss_calloc(1, sizeof(*h));

        if (!h)
            return NULL;
        h->w = w;
        h->listen_fd = h->sock = -1;
        LIST_INIT(&h->links);
        w->handover = h;
    }
    return w->handover;
}

/* ---- the new worker: adopt ---- */

static void adopt_one(struct sss_handover *h, struct ho_link *l, size_t len, int fd)
{
    struct sss_worker *w = h->w;
    struct sss_upgrade_conn u;
    struct sss_deflate_params dp = {0, 0, 0, 0};
    struct sss_conn *c;
    int type = 0;
    socklen_t tl = sizeof(type);

    if (sss_upgrade_rec_parse(h->buf, len, &u) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
        sss_log_warn("upgrade", "a hand-over record or socket is not valid: closing that socket");
        close(fd);
        return;
    }
    if (w->draining || !(c = sss_conn_create(w, fd))) {
        close(fd);
        return;
    }
    if (u.flags & SSS_UPGRADE_DEFLATE) {
        dp.on = 1;
        dp.server_bits = u.server_bits;
        dp.client_bits = u.client_bits;
        dp.client_no_takeover = !!(u.flags & SSS_UPGRADE_CLIENT_NO_TAKEOVER);
    }
    /* The record's strings are not NUL-terminated: each is copied by its length. */
    if (sss_conn_set_user(c, u.user, u.user_len) < 0 ||
        sss_conn_set_session(c, u.session, u.session_len) < 0 ||
        sss_conn_adopt(c, &dp, u.subprotocol, u.encoding) < 0) {
        sss_conn_kill(c);
        return;
    }
    sss_worker__arm_recv(w, c);
    if (c->client && sss_session_adopt(c, &u) < 0)
        sss_conn_close(c, SSS_WS_CLOSE_GOING_AWAY, "server restarting", 0);
    l->adopted++;
    sss_log_debug("upgrade", "adopted fd=%d subscriptions=%u", fd, u.nsubs);
}

static void link_close(struct ho_link *l)
{
    if (l->closing)
        return;
    l->closing = 1;
    sss_log_info("upgrade", "adopted %ld connection(s) from an old worker", l->adopted);
    if (l->armed)
        sss_loop_cancel(l->h->w, &l->ev);
    close(l->fd);
    l->fd = -1;
    if (!l->armed) {
        LIST_REMOVE(l, link);
        sss_free(l);
    }
}

static void link_on_cqe(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct ho_link *l = (struct ho_link *)ev;
    struct sss_handover *h = l->h;

    if (!(cqe->flags & IORING_CQE_F_MORE))
        l->armed = 0;
    if (l->closing) {
        if (!l->armed) {
            LIST_REMOVE(l, link);
            sss_free(l);
        }
        return;
    }
    for (;;) {
        int fd;
        ssize_t n = sss_upgrade_recv(l->fd, h->buf, SSS_UPGRADE_REC_MAX, &fd);

        if (n == -EAGAIN)
            break;
        if (n == -EMSGSIZE) {
            sss_log_warn("upgrade", "a hand-over record is over %d bytes: dropped",
                         SSS_UPGRADE_REC_MAX);
            continue;
        }
        if (n <= 0) { /* the old worker is done */
            link_close(l);
            return;
        }
        if (fd < 0) {
            sss_log_warn("upgrade", "a hand-over record came without its socket: dropped");
            continue;
        }
        adopt_one(h, l, (size_t)n, fd);
    }
    if (!l->armed) {
        sss_loop_poll(h->w, &l->ev, l->fd, POLLIN);
        l->armed = 1;
    }
}

static void listen_on_cqe(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct sss_handover *h = (struct sss_handover *)((char *)ev - offsetof(struct sss_handover,
                                                                           listen_ev));
    int fd;

    if (!(cqe->flags & IORING_CQE_F_MORE))
        h->listen_armed = 0;
    if (h->listen_fd < 0)
        return;
    while ((fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct ho_link *l;

        if (sss_upgrade_peer_ok(fd) != 1) {
            sss_log_warn("upgrade", "a hand-over peer runs as another user: refused");
            close(fd);
            continue;
        }
        l = sss_calloc(1, sizeof(*l));
        if (!l) {
            close(fd);
            continue;
        }
        l->ev.on_cqe = link_on_cqe;
        l->h = h;
        l->fd = fd;
        LIST_INSERT_HEAD(&h->links, l, link);
        sss_loop_poll(h->w, &l->ev, fd, POLLIN);
        l->armed = 1;
    }
    if (!h->listen_armed) {
        sss_loop_poll(h->w, &h->listen_ev, h->listen_fd, POLLIN);
        h->listen_armed = 1;
    }
}

int sss_handover_adopt_start(struct sss_worker *w, int listen_fd)
{
    struct sss_handover *h = handover_of(w);

    if (!h) {
        close(listen_fd);
        return -ENOMEM;
    }
    h->buf = sss_malloc(SSS_UPGRADE_REC_MAX);
    if (!h->buf) {
        close(listen_fd);
        return -ENOMEM;
    }
    h->listen_fd = listen_fd;
    h->listen_ev.on_cqe = listen_on_cqe;
    sss_loop_poll(w, &h->listen_ev, listen_fd, POLLIN);
    h->listen_armed = 1;
    return 0;
}

/* ---- the old worker: export ---- */

int sss_handover_exporting(const struct sss_worker *w)
{
    return w->handover && w->handover->exporting;
}

void sss_handover_export_start(struct sss_worker *w, uint64_t arg)
{
    pid_t master = (pid_t)(arg >> 32);
    int target = (int)(arg & 0xffffffffu), sock;
    struct sss_handover *h;
    struct timeval tv = {2, 0};

    if (w->draining || sss_handover_exporting(w) || master <= 0)
        return;
    h = handover_of(w);
    sock = h ? sss_upgrade_connect(master, target) : -ENOMEM;
    if (sock < 0) {
        sss_log_error("upgrade", "cannot reach new worker %d of master pid=%d: %s; draining",
                      target, (int)master, strerror(-sock));
        sss_worker__start_drain(w);
        return;
    }
    /* A new worker that stopped reading must not hold this loop for long. */
    (void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    h->sock = sock;
    h->exporting = 1;
    h->deadline_ms = w->now_ms + w->cfg->upgrade_timeout_ms;
    sss_worker__stop_accepting(w);
    /* Bytes the client sends from now on wait in the socket for the new worker. */
    for (struct sss_conn *c = LIST_FIRST(&w->conns); c; c = LIST_NEXT(c, link)) {
        if (c->recv_armed && !c->dead) {
            struct io_uring_sqe *sqe = sss_worker__sqe(w);

            io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c | SSS_OP_RECV, 0);
            io_uring_sqe_set_data64(sqe, SSS_OP_IGNORE);
        }
    }
    sss_log_info("upgrade", "handing %ld connection(s) over to worker %d of master pid=%d",
                 w->nconns, target, (int)master);
}

/* 1: c can go now; 0: not yet (something in flight); -1: never (drained with 1001). */
static int ready(struct sss_worker *w, struct sss_conn *c)
{
    if (c->state != SSS_CONN_WS || c->tls || c->closing || c->want_close || c->file ||
        w->cfg->proxy_mask)
        return -1;
    /* The inflater's dictionary (context takeover) cannot leave zlib. */
    if (c->ws.deflate && c->ws.inflater.takeover && c->ws.inflater.z)
        return -1;
    if (c->recv_armed || c->send_inflight || c->qlen || c->in_dirty || c->tls_out)
        return 0;
    /* A frame part-read lives in wslay's context: only a parked one is between frames. */
    if (c->ws.ctx && !sss_wslay_park(&c->ws))
        return -1;
    return 1;
}

void sss_handover_step(struct sss_worker *w)
{
    struct sss_handover *h = w->handover;
    long waiting = 0, left = 0;
    /* No answer of the scaler left to come: the floors are final. */
    int settled = w->cfg->echo || sss_rpc_pending(&w->rpc) == 0;

    if (!h || !h->exporting)
        return;
    for (struct sss_conn *c = LIST_FIRST(&w->conns), *next; c; c = next) {
        int r;

        next = LIST_NEXT(c, link);
        if (c->dead)
            continue;
        r = ready(w, c);
        if (r == 1 && !settled)
            r = 0;
        if (r == 1 && c->client)
            r = sss_session_export(c, &h->rec);
        else if (r == 1)
            r = sss_upgrade_rec_begin(&h->rec, &(struct sss_upgrade_conn){0}) == 0 &&
                        sss_upgrade_rec_end(&h->rec, 0) == 0
                    ? 1
                    : -1;
        if (r == 0)
            waiting++;
        if (r <= 0)
            continue;
        if (sss_upgrade_send(h->sock, h->rec.data, h->rec.len, c->fd) < 0) {
            sss_log_warn("upgrade", "hand-over failed: %s; draining the rest", strerror(errno));
            waiting = 0;
            break;
        }
        sss_conn_release(c);
        h->handed++;
    }
    if (waiting && w->now_ms < h->deadline_ms)
        return;
    for (struct sss_conn *c = LIST_FIRST(&w->conns); c; c = LIST_NEXT(c, link)) {
        if (c->dead)
            continue;
        left++;
        /* Staying here: it reads again (the client's answer to our close). */
        if (!c->recv_armed)
            sss_worker__arm_recv(w, c);
    }
    h->exporting = 0;
    close(h->sock);
    h->sock = -1;
    sss_dynbuf_fini(&h->rec);
    sss_log_info("upgrade", "handed over %ld connection(s), draining %ld with 1001%s", h->handed,
                 left, waiting ? " (--upgrade-timeout)" : "");
    sss_worker__start_drain(w);
}

void sss_handover_destroy(struct sss_worker *w)
{
    struct sss_handover *h = w->handover;

    if (!h)
        return;
    while (!LIST_EMPTY(&h->links)) {
        struct ho_link *l = LIST_FIRST(&h->links);

        LIST_REMOVE(l, link);
        if (l->fd >= 0)
            close(l->fd);
        sss_free(l);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    if (h->sock >= 0)
        close(h->sock);
    sss_dynbuf_fini(&h->rec);
    sss_free(h->buf);
    sss_free(h);
    w->handover = NULL;
}
