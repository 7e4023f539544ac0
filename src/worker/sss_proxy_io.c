/*
 * The io_uring driver of the proxy's HTTP client (sss_httpc.h is the
 * contract; sss_proxy.h the module). One struct pio_slot per sss_httpc
 * slot, with one struct sss_loop_ev per kind of submission (connect, send,
 * recv), so that each completion finds its slot and its kind:
 *
 *   want_connect  socket(2) non-blocking, IORING_OP_CONNECT to the address
 *                 resolved at start; its completion is connected(); an
 *                 -EINPROGRESS (a kernel that hands it back) waits for
 *                 POLLOUT on the same ev, then reads SO_ERROR
 *   want_send     one IORING_OP_SEND of what it names; completion: sent(),
 *                 and TCP_QUICKACK so the answer's head is acknowledged at once
 *   reading       one single-shot IORING_OP_RECV into the slot's buffer on
 *                 every open slot, armed again after each completion:
 *                 received() or eof()
 *   want_close    cancel what is still in the kernel (sss_loop_cancel),
 *                 wait for each completion, then close(2) and closed():
 *                 the buffers a submission names live until its completion
 *
 * Re-entrance: the client's callbacks (the proxy's events) run inside the
 * driver calls and may queue calls, but must not call the driver
 * functions; depth counts the driver calls in progress and pump() only
 * runs at depth 0, after the outermost one returned.
 */
#include "sss_alloc.h"
#include "sss_httpc.h"
#include "sss_log.h"
#include "sss_loop.h"
#include "sss_proxy.h"
#include "sss_worker.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIO_RECV_BUF 16384 /* bytes one recv may bring */

struct pio_slot {
    struct sss_loop_ev conn_ev; /* the connect (or its POLLOUT wait) */
    struct sss_loop_ev send_ev;
    struct sss_loop_ev recv_ev;
    struct sss_proxy_io *io;
    int index;
    int fd;              /* -1 when none */
    uint8_t connecting;  /* a connect or its poll is in the kernel */
    uint8_t polling;     /* ... the poll (after -EINPROGRESS) */
    uint8_t sending;     /* a send is in the kernel */
    uint8_t reading;     /* a recv is in the kernel */
    uint8_t closing;     /* want_close named it: waiting for the completions */
    char *buf;           /* PIO_RECV_BUF bytes (owned), made at the first connect */
};

struct sss_proxy_io {
    struct sss_worker *w;
    struct sss_httpc *hc; /* borrowed: the proxy's */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int nslots;
    int depth; /* driver calls in progress (see the head of this file) */
    struct pio_slot *slots;
};

#define SLOT_OF(ev, member) ((struct pio_slot *)((char *)(ev)-offsetof(struct pio_slot, member)))

static void pump(struct sss_proxy_io *io);

/* The descriptor goes once nothing of the slot is in the kernel; then the client may reuse it. */
static void maybe_closed(struct pio_slot *s)
{
    if (!s->closing || s->connecting || s->sending || s->reading)
        return;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->closing = 0;
    sss_httpc_closed(s->io->hc, s->index);
}

static void start_close(struct pio_slot *s)
{
    struct sss_worker *w = s->io->w;

    s->closing = 1;
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR); /* a recv waiting for bytes ends at once */
    if (s->connecting)
        sss_loop_cancel(w, &s->conn_ev);
    if (s->sending)
        sss_loop_cancel(w, &s->send_ev);
    if (s->reading)
        sss_loop_cancel(w, &s->recv_ev);
    maybe_closed(s);
}

/* A connect that ended: the slot is open, or its descriptor goes and the call fails. */
static void connect_done(struct pio_slot *s, int res)
{
    if (res < 0) {
        close(s->fd);
        s->fd = -1;
    }
    sss_httpc_connected(s->io->hc, s->index, res);
}

static void on_connect(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct pio_slot *s = SLOT_OF(ev, conn_ev);
    struct sss_proxy_io *io = s->io;
    int res = cqe->res;

    if (s->polling && (cqe->flags & IORING_CQE_F_MORE))
        return; /* not armed as multishot; kept for safety */
    s->connecting = 0;
    if (s->closing) {
        s->polling = 0;
        maybe_closed(s);
        pump(io);
        return;
    }
    io->depth++;
    if (s->polling) {
        /* POLLOUT (or an error) after -EINPROGRESS: the connect's result is SO_ERROR. */
        int err = 0;
        socklen_t len = sizeof(err);

        s->polling = 0;
        if (res >= 0 && getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        connect_done(s, res < 0 ? res : -err);
    } else if (res == -EINPROGRESS || res == -EALREADY) {
        struct io_uring_sqe *sqe = sss_worker__sqe(io->w);

        io_uring_prep_poll_add(sqe, s->fd, POLLOUT);
        sss_loop_tag(sqe, &s->conn_ev);
        s->connecting = 1;
        s->polling = 1;
    } else {
        connect_done(s, res);
    }
    io->depth--;
    pump(io);
}

static void start_connect(struct pio_slot *s)
{
    struct sss_proxy_io *io = s->io;
    struct io_uring_sqe *sqe;
    int one = 1;

    if (!s->buf)
        s->buf = sss_malloc(PIO_RECV_BUF);
    s->fd = s->buf ? socket(io->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
                   : -1;
    if (s->fd < 0) {
        int err = s->buf ? -errno : -ENOMEM;

        sss_log_debug("proxy", "socket: %s", strerror(-err));
        sss_httpc_connected(io->hc, s->index, err);
        return;
    }
    (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sqe = sss_worker__sqe(io->w);
    io_uring_prep_connect(sqe, s->fd, (const struct sockaddr *)&io->addr, io->addr_len);
    sss_loop_tag(sqe, &s->conn_ev);
    s->connecting = 1;
}

static void on_send(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct pio_slot *s = SLOT_OF(ev, send_ev);
    struct sss_proxy_io *io = s->io;

    s->sending = 0;
    /* Acknowledge the answer's first segment at once: a backend that writes
     * its head and body apart with Nagle on (Python's http.server) would
     * otherwise hold the body until our delayed ACK, 40 ms a call. */
    if (cqe->res > 0 && !s->closing) {
        int one = 1;

        (void)setsockopt(s->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
    io->depth++;
    /* Reported even while closing: the client then only drops its reference. */
    sss_httpc_sent(io->hc, s->index, cqe->res == -ECANCELED ? -EPIPE : cqe->res);
    io->depth--;
    maybe_closed(s);
    pump(io);
}

static void on_recv(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct pio_slot *s = SLOT_OF(ev, recv_ev);
    struct sss_proxy_io *io = s->io;
    int res = cqe->res;

    s->reading = 0;
    if (s->closing) {
        maybe_closed(s);
        pump(io);
        return;
    }
    io->depth++;
    if (res > 0)
        sss_httpc_received(io->hc, s->index, s->buf, (size_t)res);
    else if (res != -ECANCELED && res != -EAGAIN && res != -EINTR)
        sss_httpc_eof(io->hc, s->index, res);
    io->depth--;
    pump(io);
}

/* Everything the client wants, until it wants nothing more; then a recv on every open slot. */
static void pump(struct sss_proxy_io *io)
{
    struct sss_httpc *hc = io->hc;
    int progress = 1, i;

    if (io->depth)
        return;
    io->depth++;
    while (progress) {
        const void *p;
        size_t len;

        progress = 0;
        while ((i = sss_httpc_want_close(hc)) >= 0) {
            start_close(&io->slots[i]);
            progress = 1;
        }
        while ((i = sss_httpc_want_connect(hc)) >= 0) {
            start_connect(&io->slots[i]);
            progress = 1;
        }
        while ((i = sss_httpc_want_send(hc, &p, &len)) >= 0) {
            struct pio_slot *s = &io->slots[i];
            struct io_uring_sqe *sqe = sss_worker__sqe(io->w);

            io_uring_prep_send(sqe, s->fd, p, len, MSG_NOSIGNAL);
            sss_loop_tag(sqe, &s->send_ev);
            s->sending = 1;
            progress = 1;
        }
    }
    for (i = 0; i < io->nslots; i++) {
        struct pio_slot *s = &io->slots[i];

        if (!s->reading && !s->closing && s->fd >= 0 && sss_httpc_reading(hc, i)) {
            struct io_uring_sqe *sqe = sss_worker__sqe(io->w);

            io_uring_prep_recv(sqe, s->fd, s->buf, PIO_RECV_BUF, 0);
            sss_loop_tag(sqe, &s->recv_ev);
            s->reading = 1;
        }
    }
    io->depth--;
}

void sss_proxy__io_pump(struct sss_proxy_io *io)
{
    pump(io);
}

void sss_proxy__io_tick(struct sss_proxy_io *io, int64_t now_ms)
{
    if (io->depth)
        return;
    io->depth++;
    (void)sss_httpc_tick(io->hc, now_ms);
    io->depth--;
    pump(io);
}

int sss_proxy__io_create(struct sss_worker *w, struct sss_httpc *hc, const char *host, int port,
                         struct sss_proxy_io **out)
{
    struct addrinfo hints, *res = NULL;
    struct sss_proxy_io *io;
    char service[16];
    int rc;

    *out = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || !res) {
        sss_log_error("proxy", "cannot resolve the backend's host %s: %s", host,
                      rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return SSS_EINVAL;
    }
    io = sss_calloc(1, sizeof(*io));
    if (!io) {
        freeaddrinfo(res);
        return -ENOMEM;
    }
    io->w = w;
    io->hc = hc;
    memcpy(&io->addr, res->ai_addr, res->ai_addrlen);
    io->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    io->nslots = sss_httpc_slots(hc);
    io->slots = sss_calloc((size_t)io->nslots, sizeof(*io->slots));
    if (!io->slots) {
        sss_free(io);
        return -ENOMEM;
    }
    for (int i = 0; i < io->nslots; i++) {
        struct pio_slot *s = &io->slots[i];

        s->conn_ev.on_cqe = on_connect;
        s->send_ev.on_cqe = on_send;
        s->recv_ev.on_cqe = on_recv;
        s->io = io;
        s->index = i;
        s->fd = -1;
    }
    *out = io;
    return 0;
}

void sss_proxy__io_destroy(struct sss_proxy_io *io)
{
    if (!io)
        return;
    for (int i = 0; i < io->nslots; i++) {
        if (io->slots[i].fd >= 0)
            close(io->slots[i].fd);
        sss_free(io->slots[i].buf);
    }
    sss_free(io->slots);
    sss_free(io);
}
