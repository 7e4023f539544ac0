/*
 * A worker process: one thread, one io_uring ring, its own SO_REUSEPORT
 * listener, and every connection the kernel hands that listener. It sleeps
 * only in io_uring_submit_and_wait; everything it does is a completion:
 *
 *   accept (multishot)  -> a new struct sss_conn, then a multishot recv on it
 *   recv (multishot)    -> bytes in a provided buffer: HTTP upgrade, then wslay
 *   send (sendmsg)      -> one per connection in flight, covering every frame
 *                          queued for it when the loop turn ended
 *   timeout             -> the tick: handshake timeouts, idle pings, deadlines
 *   read on a signalfd  -> SIGTERM/SIGINT: drain (close 1001 to everyone)
 *   anything else       -> a struct sss_loop_ev's on_cqe (sss_loop.h): libsss's
 *                          timers and fd watches, the backend proxy's connections
 *
 * Below this file nothing knows that processes exist: the master gives a
 * worker its id, its listening socket and the shared memory, then calls
 * sss_worker_run in the child.
 */
#ifndef SSS_WORKER_H
#define SSS_WORKER_H

#include <liburing.h>
#include <signal.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/signalfd.h>

#include "sss_cfg.h"
#include "sss_deflate.h"
#include "sss_fanout.h"
#include "sss_handshake.h"
#include "sss_http.h"
#include "sss_jwt.h"
#include "sss_rpc.h"
#include "sss_session.h"
#include "sss_shm.h"
#include "sss_wake.h"

struct sss_conn;
struct sss_app;
struct sss_proxy;
struct sss_timer;
struct sss_watch;
struct sss_decision;
struct sss_handover;

struct ssl_ctx_st; /* OpenSSL's SSL_CTX (src/tls/sss_tls.h) */

struct sss_worker {
    int id;                     /* 0..n-1, shown in log lines as w<id> */
    const struct sss_cfg *cfg;  /* borrowed from the master */
    struct sss_counters *ctr;   /* borrowed: this worker's slot in shared memory */
    struct sss_shm *shm;        /* borrowed: the host segment */
    struct io_uring ring;       /* owned */
    int listen_fd;              /* owned after fork; -1 once draining */
    int signal_fd;              /* owned */
    struct signalfd_siginfo siginfo; /* target of the pending signalfd read */
    struct __kernel_timespec tick;   /* target of the pending timeout */

    struct io_uring_buf_ring *br; /* provided receive buffers (owned mapping) */
    uint8_t *bufs;                /* io_buffers x io_buffer_size bytes */
    size_t br_size;               /* bytes of the br mapping */
    unsigned nbufs;

    struct sss_http_policy policy;
    struct sss_handshake_cfg handshake; /* what an opening request gets (src/http) */
    struct sss_jwt_rules jwt_rules;     /* --jwt-issuer, --jwt-audience, ... (handshake's) */
    /* --tls-cert: the context new connections are made with (one reference,
     * replaced on SIGHUP; each connection holds its own), or NULL: plain TCP */
    struct ssl_ctx_st *tls_ctx;
    LIST_HEAD(, sss_conn) conns;    /* every live connection */
    TAILQ_HEAD(, sss_conn) hs;      /* handshaking, oldest first */
    SLIST_HEAD(, sss_conn) dirty;   /* connections with bytes to send this turn */
    long nconns;
    unsigned parked_since_trim;     /* wslay contexts given up since the last malloc_trim */
    struct sss_deflate_tx deflate;  /* --deflate: compresses each outgoing message once */

    const struct sss_conn_handler *handler; /* what upgraded connections serve */
    void *handler_data;                     /* its data: &session, or NULL (echo) */
    /* The protocol, in --echo mode unused: requests to the scaler (src/rpc),
     * the bus and the channel index (sss_fanout), the client sessions
     * (sss_session). Each owns its state. */
    struct sss_rpc rpc;
    struct sss_fanout fanout;
    struct sss_session session;
    struct sss_wake *wake;          /* ours: the scaler wakes us through it */
    uint64_t wake_count;            /* target of the pending eventfd read */
    struct sss_app *app;            /* the application's handlers (inherited from the master) */
    struct sss_proxy *proxy;        /* the backend proxy (sss_proxy.h; owned), or NULL */
    struct sss_handover *handover;  /* an upgrade's hand-over (sss_handover.h; owned), or NULL */
    /* libsss's timers and fd watches until their last completion (sss_app_loop.c; owned) */
    LIST_HEAD(, sss_timer) timers;
    LIST_HEAD(, sss_watch) watches;
    LIST_HEAD(, sss_decision) decisions; /* deferred decisions not yet freed (sss_decide.h) */

    int accept_armed;
    int draining;
    int64_t drain_deadline_ms;
    int64_t now_ms;      /* cached at each loop turn */
    int64_t next_sweep_ms;
    int64_t last_emfile_log_ms;
};

/*
 * Run worker `id` in the current (child) process until it is drained.
 * listen_fd is its own listening socket; adopt_fd, when not -1, the
 * hand-over socket on which old workers of an upgrade give it their
 * connections (sss_handover.h). Returns the process exit status.
 */
int sss_worker_run(const struct sss_cfg *cfg, int id, int listen_fd, int adopt_fd,
                   struct sss_shm *shm, struct sss_app *app);

/* ---- shared between sss_worker.c and sss_conn.c (double underscore: internal) ---- */

/* user_data tags of our submissions; the low bits of an aligned pointer carry them. */
enum sss_op {
    SSS_OP_IGNORE = 0, /* cancels: nothing to do on completion */
    SSS_OP_ACCEPT = 1,
    SSS_OP_RECV = 2,
    SSS_OP_SEND = 3,
    SSS_OP_TIMER = 4,
    SSS_OP_SIGNAL = 5,
    SSS_OP_WAKE = 6, /* the eventfd read: the scaler has something for us */
    SSS_OP_EVENT = 7, /* a struct sss_loop_ev: its on_cqe handles it (sss_loop.h) */
};
#define SSS_OP_MASK 7ULL

/* Receive on c (multishot, provided buffers). */
void sss_worker__arm_recv(struct sss_worker *w, struct sss_conn *c);
/* Accept no more: cancel the accept and close the listener. */
void sss_worker__stop_accepting(struct sss_worker *w);
/* Drain as on SIGTERM: close 1001 to every connection, then end. */
void sss_worker__start_drain(struct sss_worker *w);

/* A free submission queue entry, submitting what is queued if the ring is full. */
struct io_uring_sqe *sss_worker__sqe(struct sss_worker *w);

#endif
