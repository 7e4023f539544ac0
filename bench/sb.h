/*
 * sss-bench: the shared definitions of the load generator.
 *
 * One parent process parses the flags, forks --procs workers and merges what
 * they report. Each worker owns a share of the connections and one io_uring
 * ring (created after the fork). A connection goes: socket -> connect ->
 * HTTP upgrade -> protocol setup (proto_*.c) -> ready; then it publishes,
 * receives, asks or echoes according to its role. Workers and parent talk
 * only through one MAP_SHARED anonymous mapping (struct sb_shared): the
 * parent writes the phase times, each worker writes its own struct
 * sb_result and its per-channel publish counts.
 *
 * Nothing on the message path allocates: payloads are formatted into the
 * worker's scratch buffer, framed and masked straight into the connection's
 * send buffer (grown geometrically, never shrunk), and deliveries are found
 * with memmem on the marker SB_MARK.
 */
#ifndef SB_H
#define SB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sb_hist.h"
#include "sb_ws.h"

#define SB_MARK "~sb~"
#define SB_MARK_LEN 4
#define SB_MAX_URLS 16
#define SB_MAX_SERVER_PIDS 16

enum sb_workload { SB_FANOUT, SB_CONNECT, SB_ASK, SB_ECHO, SB_CLUSTER };

enum sb_role { SB_ROLE_SUB, SB_ROLE_PUB, SB_ROLE_ASK, SB_ROLE_ECHO };

/* Protocol capabilities (struct sb_proto.caps). */
#define SB_CAP_PUBSUB 0x01     /* fanout, cluster, connect */
#define SB_CAP_ASK 0x02        /* ask */
#define SB_CAP_ECHO 0x04       /* echo */
#define SB_CAP_PUB_ACK 0x08    /* every publish gets a reply (closed loop on replies) */
#define SB_CAP_PUB_CHANNEL 0x10 /* a publisher connection is bound to one channel (nchan) */

struct sb_url {
    char host[256];   /* as written, for the Host header (and TLS's SNI and name check) */
    char path[512];   /* path and query, starting with '/' */
    int port;
    bool tls;         /* wss:// */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* The message encoding of protocols that have two (--encoding). */
enum sb_encoding { SB_ENC_JSON = 0, SB_ENC_MSGPACK, SB_ENC_PROTOBUF };

/* --order: which channel each publish goes to (sb_order.c). */
enum sb_order { SB_ORDER_SWEEP = 0, SB_ORDER_SPREAD };

/* What pads a payload after its header (--payload). */
enum sb_payload_kind {
    SB_PAYLOAD_X = 0, /* 'x' repeated: compresses to almost nothing */
    SB_PAYLOAD_TEXT,  /* chat-like words, different in every message: compresses like prose */
};

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
struct sss_tls;    /* src/tls/sss_tls.h */

struct sb_params {
    enum sb_workload workload;
    const struct sb_proto *proto;
    enum sb_encoding encoding;
    enum sb_payload_kind payload;
    enum sb_order order;
    bool deflate; /* offer permessage-deflate (SB_WS_DEFLATE_OFFER) */
    struct ssl_ctx_st *tls_ctx; /* wss:// URLs: the client context (made before the fork) */
    struct sb_url urls[SB_MAX_URLS];
    int nurls;
    long subscribers, channels, publishers, connections, askers, window;
    long messages;    /* fanout: publishes in all, then stop (0: no limit) */
    double rate;      /* publishes/s in total, 0: closed loop */
    long size;        /* payload bytes */
    double duration, warmup, tail, hold, timeout; /* seconds */
    int procs;
    int source_addrs; /* 0: connect from the default address */
    int port_lo, port_hi; /* loopback source ports chosen by sss-bench (sb_loop.c); 0: kernel */
    long concurrency; /* connection attempts in flight per process */
    bool json_only;
    pid_t server_pids[SB_MAX_SERVER_PIDS];
    int nserver_pids;
};

/* What one worker process reports (lives in the shared mapping). */
enum sb_proc_state {
    SB_PS_INIT = 0,
    SB_PS_STARTED,   /* ring ready, waiting for the go */
    SB_PS_READY,     /* every connection set up (or failed) */
    SB_PS_STOPPED,   /* stopped sending; published counts final */
    SB_PS_DONE,      /* results final */
    SB_PS_FAILED = -1,
};

struct sb_result {
    _Atomic int state;
    char error[240]; /* first error, one line */
    uint64_t conns, conns_ok, conns_failed;
    uint64_t t_ready_last; /* CLOCK_MONOTONIC ns of the last connection ready */
    uint64_t sent, sent_window;           /* publishes / asks / echoes sent */
    uint64_t acked, pub_errors;           /* publish replies: ok / error */
    uint64_t delivered, delivered_window; /* deliveries (fanout) or answers (ask/echo) */
    uint64_t expected_local;
    uint64_t gaps, duplicates, reordered, bad_payloads;
    uint64_t closed_early, proto_errors, enobufs, late_sends;
    uint64_t bytes_in, bytes_out;   /* WebSocket payload bytes */
    uint64_t wire_in, wire_out;     /* bytes read from / written to the sockets (TLS included) */
    uint64_t wire_in_window;        /* of wire_in, read inside the measured window */
    uint64_t deflated_msgs;         /* messages received compressed (RSV1) */
    uint64_t inflated_bytes;        /* what they inflated to (bytes_in counts them compressed) */
    struct sb_hist lat;  /* latency of deliveries in the measured window */
    struct sb_hist conn; /* connect -> ready */
};

struct sb_shared {
    _Atomic uint64_t t_go;      /* parent: start connecting */
    _Atomic uint64_t t_start;   /* parent: start sending (warm-up begins) */
    _Atomic uint64_t t_measure; /* warm-up ends */
    _Atomic uint64_t t_end;     /* stop sending */
    _Atomic int abort;
    int procs;
    long channels;
    /* followed by: _Atomic uint32_t members[channels];
     *              struct sb_result res[procs];
     *              uint64_t published[procs][channels];
     *              _Atomic uint64_t seen[publishers]; */
};

struct sb_conn;
struct sb_worker;

/* The last sequence seen on one (publisher, channel) stream, and which of the 64 before
 * it arrived (bit i: last - 1 - i). */
struct sb_seq {
    uint64_t mask;
    uint64_t last; /* 0: none yet (sequences start at 1) */
};

/* Count seq of one stream into r's gaps, duplicates and reordered (sb_loop.c). */
void sb_track_seq(struct sb_result *r, struct sb_seq *s, uint64_t seq);

/* One protocol: each lives in its own proto_<name>.c. */
struct sb_proto {
    const char *name;
    enum sb_encoding encoding; /* --encoding that selects this table (with name) */
    unsigned caps;
    /* Offered in Sec-WebSocket-Protocol; the 101 must name it (NULL: none offered). */
    const char *subprotocol;
    /* Path to request for this connection (NULL: default_path or the URL's own path). */
    const char *(*path)(struct sb_worker *w, struct sb_conn *c, const struct sb_url *u, char *buf,
                        size_t n);
    /* Without path: what to request when the URL's path is "/" (NULL: "/"). */
    const char *default_path;
    /* After the 101: send what the protocol needs first. Returns 0 or -1 (sb_fail called).
     * NULL: nothing to send, the connection is ready at once. */
    int (*on_open)(struct sb_worker *w, struct sb_conn *c);
    /* One complete text or binary message. Returns 0 or -1 (sb_fail called).
     * sb_route where every message is a payload as it is. */
    int (*on_message)(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len);
    /*
     * The messages a publisher, asker and echoer send, as sb_send_tpl templates:
     * "%c" the channel, "%p" the payload, "%i" the publish or ask number n (from
     * 1) plus its id_base. echo NULL: the payload goes as it is.
     */
    const char *publish, *ask, *echo;
    uint64_t publish_id_base, ask_id_base;
    /* Instead of the publish / ask templates (binary encodings): queue publish or ask id. */
    void (*send_publish)(struct sb_worker *w, struct sb_conn *c, long channel,
                         const char *payload, size_t len, uint64_t id);
    void (*send_ask)(struct sb_worker *w, struct sb_conn *c, const char *payload, size_t len,
                     uint64_t id);
};

extern const struct sb_proto sb_proto_sss, sb_proto_sss_msgpack, sb_proto_echo,
    sb_proto_socketio, sb_proto_centrifugo, sb_proto_centrifugo_protobuf, sb_proto_nchan,
    sb_proto_uws;

/* One connection (owned by its worker's table). */
struct sb_conn {
    int fd;
    uint32_t idx;
    uint8_t state; /* SB_CS_* in sb_loop.c */
    uint8_t role;
    uint8_t url;
    uint8_t sending : 1, dirty : 1, recv_armed : 1, closing : 1;
    uint8_t retries;  /* connects retried from another source port */
    uint32_t pstate;  /* the protocol's own state */
    long gid;         /* index within its role, over all processes */
    long chan;        /* subscriber: its channel; nchan publisher: its channel */
    uint64_t t_begin; /* socket() time */
    struct sb_wsr rd;
    struct sb_buf out, fly; /* appended to / owned by the kernel */
    size_t fly_off;
    uint64_t nsent;         /* publishes / asks / echoes sent */
    uint64_t nreplied;      /* replies received to them */
    uint64_t t_sent;        /* ask: when the outstanding one left */
    uint64_t limit;         /* publisher: publishes to send at most (UINT64_MAX: no limit) */
    struct sb_seq *seqs;    /* subscriber: per publisher (NULL above 16M pairs a process) */
    struct sss_tls *tls;    /* wss://: the TLS session (owned); out holds plaintext then */
    struct sb_inflate inf;  /* deflate with server context takeover: made by the first
                             * compressed message, kept while the connection lives */
    uint8_t inf_reset;      /* server_no_context_takeover: inflate with the worker's stream */
    char key[32];           /* Sec-WebSocket-Key */
};

/* ---- called by the protocols (sb_loop.c) ---- */

/* Frame (masked) and queue one text message. */
void sb_send_text(struct sb_worker *w, struct sb_conn *c, const void *data, size_t len);
/* Frame (masked) and queue one binary message. */
void sb_send_binary(struct sb_worker *w, struct sb_conn *c, const void *data, size_t len);
/* The worker's scratch buffer for formatting one message (at least size + 1 KiB). */
char *sb_scratch(struct sb_worker *w, size_t *cap);
/* The connection finished its protocol setup. */
void sb_ready(struct sb_worker *w, struct sb_conn *c);
/*
 * The protocol's session is open: a publisher, asker or echoer is ready
 * (pstate = ready_state); a subscriber sends the template subscribe (see
 * sb_send_tpl; "%c" is its channel) and waits for the answer
 * (pstate = subscribe_state). Returns 0.
 */
int sb_session_open(struct sb_worker *w, struct sb_conn *c, const char *subscribe,
                    uint32_t ready_state, uint32_t subscribe_state);
/*
 * A subscriber's subscribe was answered: ok makes it ready (pstate = ready_state)
 * and returns 0; otherwise it fails with "<what> to bench-<chan> refused: <msg>"
 * and returns -1.
 */
int sb_subscribed(struct sb_worker *w, struct sb_conn *c, bool ok, const char *what,
                  const char *msg, size_t len, uint32_t ready_state);
/*
 * Frame and queue one text message made from the template tpl: "%c" stands
 * for the name of channel, "%p" for the len bytes of payload, "%i" for id in
 * decimal; every other byte is copied (tpl is a literal, payload is not read).
 */
void sb_send_tpl(struct sb_worker *w, struct sb_conn *c, const char *tpl, long channel,
                 const char *payload, size_t len, uint64_t id);
/* A protocol error: record it (first one kept), close the connection. Returns -1. */
int sb_fail(struct sb_worker *w, struct sb_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A subscriber received text that may hold one or more payloads: count each. */
void sb_deliveries(struct sb_worker *w, struct sb_conn *c, const char *data, size_t len);
/* A publisher got the reply to publish id (ok or refused); id 0: the oldest unanswered. */
void sb_pub_reply(struct sb_worker *w, struct sb_conn *c, bool ok, uint64_t id);
/* An asker / echoer got its answer back (data holds the payload). */
void sb_answer(struct sb_worker *w, struct sb_conn *c, const char *data, size_t len);
/*
 * A message that holds a payload, by the connection's role: a subscriber's
 * deliveries (sb_deliveries), an asker's or echoer's answer (sb_answer); a
 * publisher ignores it. Returns 0: an on_message for protocols whose messages
 * are the payloads, and their last step for the others.
 */
int sb_route(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len);
/* The channel name of index i ("bench-<i>"); returns its length. */
int sb_channel_name(char *buf, size_t n, long i);

/* ---- channel order of a fan-out's publishes (sb_order.c, --order) ---- */

struct sb_chan_order {
    uint64_t channels, stride, unstride; /* unstride: stride's inverse modulo channels */
};
void sb_order_init(struct sb_chan_order *o, enum sb_order kind, long channels);
/* The channel of publish n (from 0) of publisher gid, and its sequence there (n / C + 1). */
long sb_order_channel(const struct sb_chan_order *o, uint64_t gid, uint64_t n, uint64_t *seq);
/* The inverse: the publish number of publisher gid whose sequence on channel chan is seq. */
uint64_t sb_order_publish(const struct sb_chan_order *o, uint64_t gid, long chan, uint64_t seq);

/* ---- payloads (sb_payload.c) ---- */

/*
 * Write a payload of exactly max(size, header) printable bytes:
 * "~sb~<pub>:<seq>:<t_ns>:" then the padding of kind: 'x' repeated, or
 * chat-like lower-case words, spaces and punctuation drawn from a small
 * vocabulary by a generator seeded with (pub, seq), so every message differs
 * (never '"', '\\' or '~'). Returns its length, or 0 if cap is too small.
 */
size_t sb_payload_encode(char *dst, size_t cap, size_t size, uint64_t pub, uint64_t seq,
                         uint64_t t_ns, enum sb_payload_kind kind);
/*
 * Decode the payload whose marker starts at p (n bytes available). Returns
 * bytes of header read (> 0), or 0 when it is not a valid header.
 */
size_t sb_payload_decode(const char *p, size_t n, uint64_t *pub, uint64_t *seq, uint64_t *t_ns);

/* ---- small helpers ---- */
/* Append n bytes / a string literal / a decimal number at p; return the new end. */
static inline char *sb_put(char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define SB_PUTS(p, lit) sb_put((p), (lit), sizeof(lit) - 1)
char *sb_put_u64(char *p, uint64_t v);
uint64_t sb_now_ns(void);
/* Find "key": then parse an unsigned integer after optional spaces. -1 if absent. */
long long sb_json_uint(const char *s, size_t n, const char *key);

#endif
