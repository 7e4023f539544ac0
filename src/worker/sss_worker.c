/*
 * The worker's io_uring loop (see sss_worker.h for what each completion
 * means). One loop turn: submit every connection's pending frames as one
 * sendmsg each, sleep in io_uring until something completes, handle the
 * completions. Under load a turn costs one io_uring_enter, whatever the
 * number of messages.
 */
#include "sss_worker.h"
#include "sss_alloc.h"
#include "sss_conn.h"
#include "sss_ws.h"
#include "sss_app.h"
#include "sss_decide.h"
#include "sss_handover.h"
#include "sss_log.h"
#include "sss_loop.h"
#include "sss_proxy.h"
#include "sss_time.h"
#include "sss_tls.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SSS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SSS_ASAN 1
#endif
#endif
#ifndef SSS_ASAN
#define SSS_ASAN 0
#endif
#if SSS_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#define BUF_GROUP 0
#define TICK_MS 200
#define SWEEP_MS 1000
#define TRIM_AFTER_PARKS 256 /* parked wslay contexts between two malloc_trim calls */

struct io_uring_sqe *sss_worker__sqe(struct sss_worker *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

    while (!sqe) {
        /* The submission queue is full: hand what it holds to the kernel. */
        int rc = io_uring_submit(&w->ring);

        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            sss_log_error("worker", "io_uring_submit: %s", strerror(-rc));
        sqe = io_uring_get_sqe(&w->ring);
    }
    return sqe;
}

static void arm_accept(struct sss_worker *w)
{
    struct io_uring_sqe *sqe;

    if (w->accept_armed || w->listen_fd < 0)
        return;
    sqe = sss_worker__sqe(w);
    io_uring_prep_multishot_accept(sqe, w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, SSS_OP_ACCEPT);
    w->accept_armed = 1;
}

static void arm_recv(struct sss_worker *w, struct sss_conn *c)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | SSS_OP_RECV);
    c->recv_armed = 1;
}

void sss_worker__arm_recv(struct sss_worker *w, struct sss_conn *c)
{
    arm_recv(w, c);
}

static void arm_timer(struct sss_worker *w)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    w->tick.tv_sec = 0;
    w->tick.tv_nsec = TICK_MS * 1000000L;
    io_uring_prep_timeout(sqe, &w->tick, 0, 0);
    io_uring_sqe_set_data64(sqe, SSS_OP_TIMER);
}

static void arm_signal(struct sss_worker *w)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    io_uring_prep_read(sqe, w->signal_fd, &w->siginfo, sizeof(w->siginfo), 0);
    io_uring_sqe_set_data64(sqe, SSS_OP_SIGNAL);
}

static void arm_wake(struct sss_worker *w)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    io_uring_prep_read(sqe, sss_wake_fd(w->wake), &w->wake_count, sizeof(w->wake_count), 0);
    io_uring_sqe_set_data64(sqe, SSS_OP_WAKE);
}

static int setup_ring(struct sss_worker *w)
{
    struct io_uring_params p;
    int rc;

    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = (unsigned)w->cfg->ring_entries * 8;
    rc = io_uring_queue_init_params((unsigned)w->cfg->ring_entries, &w->ring, &p);
    if (rc == -EINVAL) {
        /* An older kernel: the same loop works without the task-run hints. */
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = (unsigned)w->cfg->ring_entries * 8;
        rc = io_uring_queue_init_params((unsigned)w->cfg->ring_entries, &w->ring, &p);
    }
    if (rc < 0) {
        sss_log_error("worker", "io_uring_queue_init: %s", strerror(-rc));
        return rc;
    }
    if (!(p.features & IORING_FEAT_NODROP))
        sss_log_warn("worker", "kernel may drop completions under overload (no FEAT_NODROP)");
    return 0;
}

/* liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves and register it. */
static int setup_buffers(struct sss_worker *w)
{
    struct io_uring_buf_reg reg;
    size_t bsize = w->cfg->io_buffer_size;
    unsigned n = (unsigned)w->cfg->io_buffers;
    int rc;

    w->nbufs = n;
    w->br_size = n * sizeof(struct io_uring_buf);
    w->br = mmap(NULL, w->br_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (w->br == MAP_FAILED) {
        w->br = NULL;
        return -errno;
    }
    w->bufs = sss_malloc(n * bsize);
    if (!w->bufs)
        return -ENOMEM;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)w->br;
    reg.ring_entries = n;
    reg.bgid = BUF_GROUP;
    rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
    if (rc < 0) {
        sss_log_error("worker", "io_uring_register_buf_ring: %s", strerror(-rc));
        return rc;
    }
    io_uring_buf_ring_init(w->br);
    for (unsigned i = 0; i < n; i++)
        io_uring_buf_ring_add(w->br, w->bufs + i * bsize, (unsigned)bsize, (unsigned short)i,
                              io_uring_buf_ring_mask(n), (int)i);
    io_uring_buf_ring_advance(w->br, (int)n);
    return 0;
}

static void return_buffer(struct sss_worker *w, unsigned bid)
{
    size_t bsize = w->cfg->io_buffer_size;

    io_uring_buf_ring_add(w->br, w->bufs + bid * bsize, (unsigned)bsize, (unsigned short)bid,
                          io_uring_buf_ring_mask(w->nbufs), 0);
    io_uring_buf_ring_advance(w->br, 1);
}

static int setup_signals(struct sss_worker *w)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2); /* an upgrade: hand the connections over */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    w->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (w->signal_fd < 0)
        return -errno;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void sss_worker__stop_accepting(struct sss_worker *w)
{
    struct io_uring_sqe *sqe;

    if (w->accept_armed) {
        sqe = sss_worker__sqe(w);
        io_uring_prep_cancel64(sqe, SSS_OP_ACCEPT, 0);
        io_uring_sqe_set_data64(sqe, SSS_OP_IGNORE);
    }
    if (w->listen_fd >= 0) {
        /* Connections still in this listener's queue are reset by the kernel
         * (the master closed its copy of the socket before signalling us),
         * or, in an upgrade, accepted by the new worker that shares it. */
        close(w->listen_fd);
        w->listen_fd = -1;
    }
}

static void start_drain(struct sss_worker *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    w->drain_deadline_ms = w->now_ms + w->cfg->drain_timeout_ms;
    sss_log_info("worker", "draining connections=%ld timeout_ms=%lld", w->nconns,
                 (long long)w->cfg->drain_timeout_ms);
    sss_worker__stop_accepting(w);
    for (struct sss_conn *c = LIST_FIRST(&w->conns), *next; c; c = next) {
        next = LIST_NEXT(c, link);
        sss_conn_close(c, SSS_WS_CLOSE_GOING_AWAY, "server shutting down", w->drain_deadline_ms);
    }
}

void sss_worker__start_drain(struct sss_worker *w)
{
    start_drain(w);
}

static void on_accept(struct sss_worker *w, struct io_uring_cqe *cqe)
{
    const struct sss_cfg *cfg = w->cfg;
    struct sss_conn *c;
    int one = 1;

    if (!(cqe->flags & IORING_CQE_F_MORE))
        w->accept_armed = 0;
    if (cqe->res < 0) {
        if (cqe->res == -ECANCELED || w->draining)
            return;
        if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOBUFS ||
            cqe->res == -ENOMEM) {
            /* Out of descriptors: leave the rest in the backlog and retry at the next tick. */
            if (w->now_ms - w->last_emfile_log_ms > 10000) {
                sss_log_warn("worker", "accept: %s connections=%ld (limit reached; retrying)",
                             strerror(-cqe->res), w->nconns);
                w->last_emfile_log_ms = w->now_ms;
            }
            return;
        }
        sss_log_warn("worker", "accept: %s", strerror(-cqe->res));
        return;
    }
    if (w->draining) {
        close(cqe->res);
        return;
    }
    setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = sss_conn_create(w, cqe->res);
    if (!c) {
        close(cqe->res);
        return;
    }
    /* Over the host's connection limit, or close to this process's
     * open-file limit: read the request, then answer 503. */
    if (sss_shm_total_conns(w->shm) > cfg->max_connections || w->nconns > cfg->fd_limit - 64) {
        c->reject = 1;
        sss_log_debug("worker", "over the connection limit: will answer 503 fd=%d", c->fd);
    }
    arm_recv(w, c);
    if (!w->accept_armed && !w->draining)
        arm_accept(w);
}

static void on_recv(struct sss_worker *w, struct sss_conn *c, struct io_uring_cqe *cqe)
{
    int more = cqe->flags & IORING_CQE_F_MORE;

    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

        if (cqe->res > 0)
            sss_conn_on_data(c, w->bufs + bid * w->cfg->io_buffer_size, (size_t)cqe->res);
        return_buffer(w, bid);
    }
    if (more)
        return;
    c->recv_armed = 0;
    if (c->dead) {
        sss_conn_maybe_free(c);
        return;
    }
    if (cqe->res == -ENOBUFS) {
        /* Every receive buffer was in use: the multishot ended; arm it again. */
        arm_recv(w, c);
        return;
    }
    if (cqe->res > 0) {
        arm_recv(w, c); /* the kernel may end a multishot at any time */
        return;
    }
    if (cqe->res == -ECANCELED && sss_handover_exporting(w))
        return; /* an upgrade: the socket goes to the new process */
    if (cqe->res < 0 && cqe->res != -ECONNRESET && cqe->res != -ECANCELED)
        sss_log_debug("worker", "recv fd=%d: %s", c->fd, strerror(-cqe->res));
    sss_conn_on_eof(c);
}

static void on_tick(struct sss_worker *w)
{
    int64_t now = w->now_ms;

    /* Handshakes are kept oldest first, so only the head can be late. */
    for (struct sss_conn *c; (c = TAILQ_FIRST(&w->hs)) &&
                             now - c->opened_ms >= w->cfg->handshake_timeout_ms;) {
        sss_log_debug("worker", "handshake timeout fd=%d", c->fd);
        sss_conn_kill(c);
    }
    if (now >= w->next_sweep_ms || w->draining) {
        /* Heartbeats shorter than two sweeps are checked at every tick, so
         * that an `h` is never more than a tick late. */
        int64_t hb = w->cfg->heartbeat_interval_ms;

        w->next_sweep_ms = now + (hb && hb < 2 * SWEEP_MS ? TICK_MS : SWEEP_MS);
        for (struct sss_conn *c = LIST_FIRST(&w->conns), *next; c; c = next) {
            next = LIST_NEXT(c, link);
            sss_conn_tick(c, now);
            if (!c->dead)
                w->parked_since_trim += (unsigned)sss_conn_park_ws(c, now);
        }
        /* Freed contexts are holes in the heap: give their pages back once
         * enough of them piled up (glibc madvises whole free pages). */
        if (w->parked_since_trim >= TRIM_AFTER_PARKS) {
            malloc_trim(0);
            w->parked_since_trim = 0;
        }
    }
    if (w->app)
        sss_app_tick(w, now);
    sss_decision_tick(w, now);
    if (w->proxy)
        sss_proxy_tick(w->proxy, now);
    if (w->handler->periodic)
        w->handler->periodic(w->handler_data, now);
    if (!w->accept_armed && !w->draining)
        arm_accept(w);
    arm_timer(w);
}

/*
 * --tls-cert and --tls-key, read again (SIGHUP): new handshakes use the new
 * context; connections made with the old one keep their reference to it.
 * A file that does not load leaves the old certificate in use.
 */
static void tls_reload(struct sss_worker *w)
{
    struct ssl_ctx_st *ctx;
    char err[512];

    if (sss_tls_server_ctx(w->cfg->tls_cert, w->cfg->tls_key, &ctx, err, sizeof(err)) < 0) {
        sss_log_error("worker", "tls reload failed, the old certificate stays: %s", err);
        return;
    }
    sss_tls_ctx_unref(w->tls_ctx);
    w->tls_ctx = ctx;
    sss_log_info("worker", "tls certificate reloaded cert=%s", w->cfg->tls_cert);
}

static void on_signal(struct sss_worker *w, struct io_uring_cqe *cqe)
{
    if (cqe->res == (int)sizeof(w->siginfo)) {
        int sig = (int)w->siginfo.ssi_signo;

        if (sig == SIGTERM || sig == SIGINT)
            start_drain(w);
        else if (sig == SIGUSR2 && w->siginfo.ssi_code == SI_QUEUE)
            sss_handover_export_start(w, w->siginfo.ssi_ptr); /* from the master */
        else if (sig == SIGHUP && w->tls_ctx)
            tls_reload(w);
        else
            sss_log_info("worker", "ignoring signal %d (%s)", sig, strsignal(sig));
    }
    arm_signal(w);
}

static void handle_cqe(struct sss_worker *w, struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    struct sss_conn *c = (struct sss_conn *)(uintptr_t)(ud & ~SSS_OP_MASK);

    switch ((enum sss_op)(ud & SSS_OP_MASK)) {
    case SSS_OP_ACCEPT:
        on_accept(w, cqe);
        break;
    case SSS_OP_RECV:
        on_recv(w, c, cqe);
        break;
    case SSS_OP_SEND:
        sss_conn_on_sent(c, cqe->res);
        break;
    case SSS_OP_TIMER:
        on_tick(w);
        break;
    case SSS_OP_SIGNAL:
        on_signal(w, cqe);
        break;
    case SSS_OP_WAKE:
        arm_wake(w); /* the records themselves are read at the end of the turn */
        break;
    case SSS_OP_EVENT: {
        struct sss_loop_ev *ev = (struct sss_loop_ev *)(uintptr_t)(ud & ~SSS_OP_MASK);

        ev->on_cqe(ev, cqe);
        break;
    }
    case SSS_OP_IGNORE:
        break;
    }
}

/* Submit one sendmsg per connection that queued frames during this turn. */
static void flush_dirty(struct sss_worker *w)
{
    struct sss_conn *c;

    while ((c = SLIST_FIRST(&w->dirty))) {
        SLIST_REMOVE_HEAD(&w->dirty, dirty_link);
        sss_conn_flush(c);
    }
}

static void worker_fini(struct sss_worker *w)
{
    io_uring_queue_exit(&w->ring);
    if (w->br)
        munmap(w->br, w->br_size);
    sss_free(w->bufs);
    if (w->signal_fd >= 0)
        close(w->signal_fd);
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    sss_tls_ctx_unref(w->tls_ctx);
    w->tls_ctx = NULL;
    sss_deflate_tx_fini(&w->deflate);
}

/*
 * The protocol's three parts over this worker's shared memory: the request
 * table on its mailboxes, the session, the fan-out on the bus; then HELLO
 * tells the scaler who reads the mailbox now.
 */
static int proto_init(struct sss_worker *w)
{
    struct sss_shm *shm = w->shm;
    struct sss_fanout_hooks hooks;
    int rc;

    w->wake = sss_shm_wake(shm, (unsigned)w->id);
    sss_rpc_init(&w->rpc, sss_shm_ring_to_worker(shm, (unsigned)w->id),
                 sss_shm_ring_to_scaler(shm, (unsigned)w->id), sss_shm_wake(shm, shm->hdr->nprocs),
                 w->cfg->mailbox_size);
    rc = sss_session_init(&w->session, w->cfg, w->app, &w->rpc, &w->fanout, w->ctr,
                          &shm->hdr->scaler_gen, &shm->hdr->engine_flags, &w->now_ms);
    if (rc < 0)
        return rc;
    sss_session_fanout_hooks(&w->session, &hooks);
    rc = sss_fanout_init(&w->fanout, sss_shm_bus(shm), w->id, &w->rpc, w->ctr, &hooks);
    if (rc < 0)
        return rc;
    sss_rpc_hello(&w->rpc);
    return 0;
}

/* Requests first (a SYNC's are shared with its state), then what they point into. */
static void proto_fini(struct sss_worker *w)
{
    sss_rpc_fini(&w->rpc);
    sss_fanout_fini(&w->fanout);
    sss_session_fini(&w->session);
}

/* Not inlined: its frame must be gone when sss_worker_run checks for leaks. */
__attribute__((noinline)) static int run(const struct sss_cfg *cfg, int id, int listen_fd,
                                         int adopt_fd, struct sss_shm *shm, struct sss_app *app)
{
    struct sss_worker w;
    char role[16];
    int rc;

    memset(&w, 0, sizeof(w));
    TAILQ_INIT(&w.hs); /* the other lists start empty as zeroes */
    w.id = id;
    w.cfg = cfg;
    w.shm = shm;
    w.ctr = sss_shm_counters(shm, (unsigned)id);
    w.listen_fd = listen_fd;
    w.signal_fd = -1;
    w.app = app;
    if (app)
        sss_app_start(app, &w);
    w.policy.path = cfg->path;
    w.policy.origins = cfg->origin_count ? cfg->origins : NULL;
    w.policy.max_size = cfg->max_handshake_size;
    sss_deflate_tx_init(&w.deflate, cfg->deflate_level, cfg->deflate_min_size);
    /* The one place the mode is chosen: what connections serve once upgraded. */
    w.handler = cfg->echo ? &sss_echo_handler : &sss_session_handler;
    w.handler_data = cfg->echo ? NULL : &w.session;
    w.policy.subprotocols = w.handler->subprotocols;
    w.handshake.policy = &w.policy;
    w.handshake.statics.dirfd = cfg->static_fd;
    w.handshake.statics.max_file = cfg->static_max_file;
    w.handshake.statics.dotfiles = cfg->static_dotfiles;
    w.handshake.statics.csp = cfg->static_csp;
    w.handshake.jwt_secret = cfg->jwt_secret;
    w.jwt_rules.issuer = cfg->jwt_issuer;
    w.jwt_rules.audience = cfg->jwt_audience;
    w.jwt_rules.leeway_s = cfg->jwt_leeway_ms / 1000;
    w.jwt_rules.require_exp = cfg->jwt_require_exp;
    w.handshake.jwt_rules = &w.jwt_rules;
    w.handshake.jwt_cookie = cfg->jwt_cookie;
    w.handshake.on_session = app ? app->on_session : NULL;
    w.handshake.session_data = app ? app->session_data : NULL;
    /* A module's parser wins; else the backend proxy's connect call decides later. */
    w.handshake.session_later =
        app && (app->on_session_later ||
                (!app->on_session && (cfg->proxy_mask & (1u << SSS_PROXY_CONNECT))));
    snprintf(role, sizeof(role), "w%d", id);
    sss_log_setup((enum sss_log_level)cfg->log_level, role);
    atomic_store_explicit(&w.ctr->pid, (int)getpid(), memory_order_relaxed);

    if (cfg->tls_cert[0]) {
        char err[512];

        if (sss_tls_server_ctx(cfg->tls_cert, cfg->tls_key, &w.tls_ctx, err, sizeof(err)) < 0) {
            sss_log_error("worker", "--tls-cert: %s", err);
            return 1;
        }
    }
    if ((rc = setup_signals(&w)) < 0 || (rc = setup_ring(&w)) < 0 ||
        (rc = setup_buffers(&w)) < 0 || (!cfg->echo && (rc = proto_init(&w)) < 0) ||
        (!cfg->echo && (rc = sss_proxy_create(&w, &w.proxy)) < 0)) {
        sss_log_error("worker", "setup failed: %s", sss_strerror(rc));
        worker_fini(&w);
        if (adopt_fd >= 0)
            close(adopt_fd);
        return 1;
    }
    w.now_ms = sss_now_ms();
    w.next_sweep_ms = w.now_ms + SWEEP_MS;
    arm_signal(&w);
    arm_timer(&w);
    arm_accept(&w);
    if (w.wake)
        arm_wake(&w);
    if (adopt_fd >= 0 && (rc = sss_handover_adopt_start(&w, adopt_fd)) < 0)
        sss_log_error("worker", "upgrade hand-over socket: %s", sss_strerror(rc));
    sss_log_info("worker", "started pid=%d", (int)getpid());

    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;

        int wait = 1;

        /* An upgrade: what finished sending goes before new frames queue. */
        if (w.handover)
            sss_handover_step(&w);
        /* Shared memory first: FEEDs and replies become frames to send.
         * One bounded batch per turn, so that a busy bus never starves
         * the sockets; what is left makes the turn not wait below. */
        if (w.handler->poll)
            (void)w.handler->poll(w.handler_data);
        if (w.handler->flush)
            w.handler->flush(w.handler_data);
        flush_dirty(&w);
        if (w.wake) {
            /* Say we sleep, then look once more: a producer that wrote
             * before seeing the flag is caught by this re-check. */
            sss_wake_prepare_sleep(w.wake);
            if (w.handler->readable && w.handler->readable(w.handler_data))
                wait = 0;
        }
        rc = wait ? io_uring_submit_and_wait(&w.ring, 1) : io_uring_submit(&w.ring);
        if (w.wake)
            sss_wake_cancel_sleep(w.wake);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
            sss_log_error("worker", "io_uring_submit_and_wait: %s", strerror(-rc));
            break;
        }
        w.now_ms = sss_now_ms();
        io_uring_for_each_cqe(&w.ring, head, cqe)
        {
            handle_cqe(&w, cqe);
            n++;
        }
        io_uring_cq_advance(&w.ring, n);
        /* Drained: no connection left, and the backend heard of their closes. */
        if (w.draining && ((w.nconns == 0 && !sss_proxy_pending(w.proxy)) ||
                           w.now_ms >= w.drain_deadline_ms))
            break;
    }
    if (w.nconns)
        sss_log_warn("worker", "drain timeout with %ld connections left", w.nconns);
    if (!cfg->echo)
        proto_fini(&w);
    if (app) {
        sss_app_fini(&w);
        app->w = NULL;
    }
    sss_decision_fini(&w);
    sss_log_info("worker", "exiting");
    worker_fini(&w);
    /* After the ring: the kernel held the proxy's buffers until then. */
    sss_proxy_destroy(w.proxy);
    sss_handover_destroy(&w);
    return 0;
}

int sss_worker_run(const struct sss_cfg *cfg, int id, int listen_fd, int adopt_fd,
                   struct sss_shm *shm, struct sss_app *app)
{
    int status = run(cfg, id, listen_fd, adopt_fd, shm, app);

#if SSS_ASAN
    /* The master ends a worker with _exit, which skips LeakSanitizer's check
     * at exit: run it here, once run's frame (struct sss_worker and what
     * only it points to) is gone. A report ends up in the log. */
    __lsan_do_recoverable_leak_check();
#endif
    return status;
}
