/*
 * One client connection inside a worker: its socket, its upgrade request,
 * its wslay context once upgraded, and its send queue of shared frames.
 *
 * Life of a connection:
 *   HTTP   reading the upgrade request (handshake timeout, size limit);
 *          "deciding" while a session parser answers later (c->decision):
 *          nothing more is parsed, the handshake timeout still applies
 *   WS     upgraded; wslay parses frames, answers pings and closes
 *          or a static file: its head, then its body read one chunk at a
 *          time (the next once the previous left the send queue)
 *   then   want_close: flush what is queued, then kill
 *   dead   shutdown(2) done; the struct is freed once no submission of
 *          its own is still in the kernel (recv ended, send and file read
 *          completed)
 */
#ifndef SSS_CONN_H
#define SSS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <wslay/wslay.h>

#include "sss_dynbuf.h"
#include "sss_buf.h"
#include "sss_proto.h"
#include "sss_ws.h"
#include "sss_wslay.h"

struct sss_worker;
struct sss_client;
struct sss_decision;
struct sss_handshake;
struct sss_proxy_sock;
struct sss_conn_file;
struct sss_tls;

#define SSS_CONN_IOV 64 /* frames per sendmsg */
#define SSS_CONN_QINLINE 2 /* queue entries held in the struct (an array beyond) */

/*
 * The msghdr and iovecs of one sendmsg of several frames, allocated for as
 * many frames as it sends when it is submitted and freed at its completion,
 * so that a connection with nothing in flight holds none (a queue of one
 * frame is sent with send(2) and needs none either).
 */
struct sss_conn_sendv {
    struct msghdr msg;
    struct iovec iov[]; /* at most SSS_CONN_IOV */
};

struct sss_outq_ent {
    struct sss_buf *b; /* one reference held */
    uint32_t off;      /* bytes of b already sent */
};

enum sss_conn_state {
    SSS_CONN_HTTP = 0,
    SSS_CONN_WS,
};

struct sss_conn {
    struct sss_worker *w; /* borrowed */
    int fd;
    uint8_t state;           /* enum sss_conn_state */
    uint8_t recv_armed;      /* a multishot recv is in the kernel */
    uint8_t hs_listed;       /* on the worker's handshake list (hs_link) */
    uint8_t send_inflight;   /* a sendmsg is in the kernel */
    uint8_t in_dirty;        /* on the worker's dirty list */
    uint8_t want_close;      /* kill once the send queue is empty */
    uint8_t dead;            /* shutdown done; waiting for completions */
    uint8_t reject;          /* answer 503 whatever the request (over the limit) */
    uint8_t pinged;          /* a ping went out since the last bytes in */
    uint8_t closing;         /* we queued a close frame: no more data frames */
    uint8_t opened;          /* the handler's open succeeded: closed is owed */
    uint8_t released;        /* handed to a new process (upgrade): no shutdown, no close */
    /* The upgrade chose one of our sub-protocols (the client offered sss.v1.*):
     * the client knows the (ext) messages. 0 for a client that offered none,
     * as the original Super Scaled Sockets client does. */
    uint8_t subprotocol;
    uint8_t encoding;        /* enum sss_wire_encoding: how its messages go out and come in */
    uint8_t deflate_bits;    /* permessage-deflate: window of what we send; 0 = not negotiated */
    uint16_t close_code;     /* the code of our close when we closed first; 0 otherwise */
    int64_t opened_ms;
    int64_t last_rx_ms;
    int64_t deadline_ms;     /* kill at this time if still alive; 0 = none */
    int64_t over_since_ms;   /* the send queue passed --max-send-queue then; 0 = it is under */

    struct sss_dynbuf req; /* upgrade request bytes (owned), until upgraded */
    struct sss_conn_file *file;    /* a static file's body still to send (owned), or NULL */
    struct sss_decision *decision; /* deciding: the session decision awaited (the answerer's) */
    struct sss_handshake *hs;      /* deciding: the parsed request (owned) */

    struct sss_wslay ws; /* wslay's side once upgraded (its context only amid a frame) */

    /* TLS (--tls-cert): what the ring reads is fed to tls and its plaintext
     * to the HTTP or WebSocket side; queued frames are encrypted at flush
     * into tls_out, which the sendmsg sends. NULL for plain TCP. */
    struct sss_tls *tls;      /* owned */
    struct sss_buf *tls_out;  /* ciphertext being sent (owned), or NULL */
    uint32_t tls_off;         /* bytes of tls_out already sent */
    uint8_t tls_counted;      /* the handshake's end was counted */

    /* Ring of queued frames: qi while a couple of frames fit (an idle or
     * lightly used connection allocates none), else an array (owned). */
    struct sss_outq_ent *q;
    struct sss_outq_ent qi[SSS_CONN_QINLINE];
    uint32_t qhead, qlen, qcap;
    size_t qbytes;     /* unsent bytes in the queue */
    uint32_t iov_ents; /* queue entries covered by the send in flight */
    struct sss_conn_sendv *sv; /* of the sendmsg in flight (owned), or NULL */

    uint64_t id;              /* unique in this worker process, from 1; 0 until upgraded */
    /* Who the client is, set through sss_conn_set_user/_session: "" (a
     * constant) or a copy of its own (owned), so that an anonymous
     * connection carries two pointers, not two arrays. */
    const char *user;    /* from the session parser (JWT sub); "" = anonymous */
    const char *session; /* from the session parser or BEGIN; "" = none */
    struct sss_client *client; /* the protocol's state (sss_session.h); NULL in --echo mode */
    struct sss_proxy_sock *proxy; /* its backend calls in order (sss_proxy.c), or NULL */
    LIST_HEAD(, sss_ask) asks; /* its asks waiting for an answer (sss_app_ask.c) */
    uint32_t nasks;            /* ... how many: at most --max-pending-asks */

    LIST_ENTRY(sss_conn) link;        /* the worker's connections */
    TAILQ_ENTRY(sss_conn) hs_link;    /* the worker's handshakes under --handshake-timeout */
    SLIST_ENTRY(sss_conn) dirty_link; /* the worker's dirty list, while in_dirty */
};

/*
 * What a worker's connections serve once upgraded: the protocol
 * (sss_session_handler) or --echo (sss_echo_handler). The connection layer
 * calls the per-connection members, the worker's loop the others; data is
 * the worker's handler_data. A NULL member does nothing.
 */
struct sss_conn_handler {
    const char *const *subprotocols; /* offered in the upgrade (NULL-ended) */
    /* A connection was upgraded: 0, or < 0 to refuse it (500). */
    int (*open)(void *data, struct sss_conn *c);
    /* One complete message (opcode: WSLAY_TEXT_FRAME or WSLAY_BINARY_FRAME). */
    void (*message)(void *data, struct sss_conn *c, int opcode, const uint8_t *msg, size_t len);
    /* Periodic per-connection duty, from the worker's sweep (heartbeats). */
    void (*tick)(void *data, struct sss_conn *c, int64_t now_ms);
    /* An opened connection is going away (before it is freed). */
    void (*closed)(void *data, struct sss_conn *c);
    /* Each loop turn: read shared memory (a bounded batch); then, before
     * sleeping, whether more is there; at the turn's end, flush. */
    int (*poll)(void *data);
    int (*readable)(void *data);
    void (*flush)(void *data);
    /* Every tick (200 ms): timeouts of the handler's own. */
    void (*periodic)(void *data, int64_t now_ms);
};

/* --echo: every data message goes back as it came (sss_echo.c). */
extern const struct sss_conn_handler sss_echo_handler;

/*
 * Set up c (caller's storage) for socket fd in HTTP state, on no list of
 * the worker's: sss_conn_create does it for an accepted socket; a unit test
 * uses it for a connection that is never given to a ring.
 */
void sss_conn_init(struct sss_conn *c, struct sss_worker *w, int fd);

/* A new connection for an accepted socket; NULL on ENOMEM (caller closes fd). */
struct sss_conn *sss_conn_create(struct sss_worker *w, int fd);

/*
 * Set who the client is: a copy of len bytes of user (at most SSS_USER_MAX)
 * or of session (at most SSS_SESSION_MAX), NUL-terminated in the copy;
 * NULL or empty: none. Returns 0, -EINVAL (too long: unchanged) or -ENOMEM
 * (unchanged).
 */
int sss_conn_set_user(struct sss_conn *c, const char *user, size_t len);
int sss_conn_set_session(struct sss_conn *c, const char *session, size_t len);

/* Free what c owns besides its queued frames and socket (tests that never ring it). */
void sss_conn_fini(struct sss_conn *c);

/* Bytes arrived (one recv completion). */
void sss_conn_on_data(struct sss_conn *c, const uint8_t *data, size_t len);

/* The peer closed its side or the socket failed: no more bytes will come. */
void sss_conn_on_eof(struct sss_conn *c);

/* A sendmsg completed with res (bytes sent or -errno). */
void sss_conn_on_sent(struct sss_conn *c, int res);

/*
 * Start a WebSocket close with code and reason: flush, send the close, wait
 * (until deadline_ms) for the client's close, then kill. Connections still
 * in HTTP are simply killed.
 */
void sss_conn_close(struct sss_conn *c, uint16_t code, const char *reason, int64_t deadline_ms);

/* Periodic check (about once a second): idle pings, idle close, deadlines. */
/*
 * Give up what a connection silent for a while does not need: the array of
 * its send queue when the queue is empty, and the wslay context (about
 * 8.5 KB) if it is at a frame boundary with nothing of wslay's to write
 * (the end of each read gives it up already when it can; this is for the
 * rest); its next bytes make a fresh one. Returns 1 if a wslay context was
 * given up.
 */
int sss_conn_park_ws(struct sss_conn *c, int64_t now);

void sss_conn_tick(struct sss_conn *c, int64_t now_ms);

/*
 * The close code of c's end, for its close hook: ours when we closed
 * first, else the client's, else what wslay answered a broken frame with,
 * else 1006 (the connection just ended).
 */
uint16_t sss_conn_close_code(const struct sss_conn *c);

/*
 * An upgrade (sss_handover.c). Release: the socket was handed to another
 * process; forget c like a kill, without shutdown(2) or a close frame (the
 * caller made sure nothing of it is in the kernel: no recv, no send).
 * Adopt: c, just made for a socket handed over (sss_conn_create), is an
 * upgraded WebSocket already, with dp, subprotocol and encoding (enum
 * sss_wire_encoding) as negotiated by its first process; the handler's
 * open runs. 0, or -ENOMEM (kill it).
 */
struct sss_deflate_params;
void sss_conn_release(struct sss_conn *c);
int sss_conn_adopt(struct sss_conn *c, const struct sss_deflate_params *dp, uint8_t subprotocol,
                   uint8_t encoding);

/* Shut the socket down now; the struct goes when its completions are in. */
void sss_conn_kill(struct sss_conn *c);

/* Free the struct if it is dead and nothing of it is left in the kernel. */
void sss_conn_maybe_free(struct sss_conn *c);

/*
 * Queue a data frame for the client, taking over the caller's reference to
 * b (shared frames: pass sss_buf_ref(frame)). Past --max-send-queue the
 * connection is closed with 4008 instead. Never blocks.
 */
void sss_conn_send(struct sss_conn *c, struct sss_buf *b);

/* Build and submit the sendmsg for this connection's queue (loop turn end). */
void sss_conn_flush(struct sss_conn *c);

#endif
