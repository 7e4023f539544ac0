/*
 * Internals of the C client, shared by its files; nothing here is
 * exported (the library hides every symbol but sss_client_*). The job of
 * each file:
 *   sss_client.c            the public calls: create, connect, close,
 *                           subscribe, ask, publish, tell, status
 *   sss_client_session.c    the session: status changes, subscriptions and
 *                           requests in flight, BEGIN, SUBSCRIBE and SYNC and
 *                           their replies, a lost connection and the redial
 *   sss_client_transport.c  the transport: non-blocking TCP connect, our own
 *                           HTTP upgrade (random key, Accept checked), then
 *                           wslay's client context on the socket (it masks
 *                           every frame with getrandom bytes), and the pump
 *                           (sss_client_process) with its timers
 *   sss_client_tls.c        the byte stream under the upgrade and wslay:
 *                           the socket itself (ws://), or TLS over it
 *                           (wss://, src/tls's memory BIOs)
 *   sss_client_msg.c        decoding a text frame (src/proto) and handing it
 *                           on; fields of server messages read by sss_json;
 *                           uids compared
 *   sss_client_retry.c      what a failure is (clients/README.md's table):
 *                           its code, transient or permanent, the backoff,
 *                           retry_attempts, and the final report
 * Everything runs on the caller's thread, inside sss_client_* calls.
 *
 * Callbacks may call back in (subscribe, unsubscribe, close, connect, ...).
 * So a subscription is never freed while sss_client_process dispatches
 * (c->busy): it is marked dead and freed on the way out; a loop that calls
 * out checks c->gen (bumped when the socket goes) or the status afterwards.
 */
#ifndef SSS_CLIENT_INT_H
#define SSS_CLIENT_INT_H

#include "sss/sss_client.h"
#include "sss_proto.h"
#include "sss_tls.h"

#include <stdbool.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#define REQ_DROPPED "Connection dropped"
#define REQ_CLOSED "Connection closed"

enum sss_client_req_kind { REQ_ASK, REQ_PUBLISH };

struct sss_client_req {
    struct sss_client_req *next;
    int64_t id;
    enum sss_client_req_kind kind;
    sss_client_reply_cb cb;
    void *data;
    char what[SSS_PROTO_TOPIC_MAX + 32]; /* e.g. ask "echo", for "Connection dropped" */
};

struct sss_client_sub {
    struct sss_client_sub *next;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    char *query; /* owned raw JSON, NULL: null */
    bool sent;   /* SUBSCRIBE or SYNC sent on this connection */
    bool known;  /* the server confirmed it (a reply said true): it may go in SYNC */
    bool dead;   /* removed while callbacks ran: freed by sss_client__gc */
    int64_t sub_id; /* the id of the SUBSCRIBE in flight (its reply must carry it) */
    bool has_uid;
    char last_uid[SSS_PROTO_LASTUID_MAX + 1];
    sss_client_feed_cb on_feed;
    void *data;
    sss_client_reply_cb reply; /* the SUBSCRIBE (or SYNC) answer not given yet */
    void *reply_data;
};

/* The TLS of a wss:// client's socket (sss_client_tls.c). */
#define SSS_CLIENT_TLS_PLAIN 65536 /* decrypted bytes held for the reader, at most */
#define SSS_CLIENT_TLS_WIRE 16384  /* ciphertext taken from OpenSSL for one send() */

struct sss_client_tls {
    struct sss_tls t;  /* initialised while on */
    bool on;           /* t is set up for the current socket */
    bool held;         /* ciphertext waits inside OpenSSL: the plain buffer was full */
    bool closed;       /* the server sent close_notify */
    int first;         /* the first byte the server sent, -1 before it */
    char why[192];     /* why the handshake failed, "" when it did not */
    size_t plain_off, plain_len;
    size_t wire_off, wire_len;
    uint8_t plain[SSS_CLIENT_TLS_PLAIN];
    uint8_t wire[SSS_CLIENT_TLS_WIRE];
};

struct sss_client {
    struct sss_client_opts o;
    char *url, *session, *host, *port, *path; /* owned copies */
    char *ca_file, *ca_path;                  /* owned copies of o.tls_ca_file, o.tls_ca_path */
    bool host_ip;                             /* host is an IPv4 or IPv6 address */
    struct ssl_ctx_st *tls_ctx; /* wss://: made at the first dial, then kept (owned reference) */
    struct sss_client_tls *tls; /* wss://: owned; NULL for ws:// */
    enum sss_client_status status;
    int fd;
    bool connected; /* the TCP connect of fd finished */
    /* Upgrade. */
    char key[32]; /* Sec-WebSocket-Key sent */
    struct sss_proto_out hs_out; /* the upgrade request */
    size_t hs_out_sent;
    char **headers; /* owned copy of o.headers */
    struct addrinfo *ai, *ai_next; /* the host's addresses; the next to try */
    char *hs_in; /* o.max_handshake_size bytes */
    size_t hs_in_len, hs_in_off; /* after the upgrade: leftover frame bytes at off..len */
    bool upgraded;
    wslay_event_context_ptr ws;
    /* Liveness and timers. */
    int64_t deadline;    /* connect/upgrade, BEGIN or SYNC deadline, or 0 */
    int64_t dial_at;     /* CONNECTING or WAITING without a socket: when to dial, or 0 */
    int64_t last_rx;     /* last byte received */
    bool hb;             /* BEGIN's prot.hb */
    int64_t hb_timeout;  /* hbInterval + hbThreshold */
    int attempts;        /* failures since the last READY (a drop from READY is one) */
    bool auth_retried;   /* the 401 redial with fresh headers was made */
    bool ever_ready;     /* BEGIN done once: later connects SYNC */
    const char *err_code;  /* the last failure's code (a static string), or NULL */
    char err_detail[256];
    /* Reentrancy: callbacks may call back in. */
    int busy;            /* inside sss_client_process: subscriptions are not freed */
    uint64_t gen;        /* bumped each time the socket is closed */
    const char *fail_code; /* a failure found inside wslay's callbacks, acted on after */
    char fail_detail[128];
    /* Set inside wslay callbacks, acted on after them. */
    int close_code;      /* close frame received (0: none) */
    bool eof, booted;
    bool in_recv;    /* inside wslay_event_recv: the context must stay */
    bool close_now;  /* sss_client_close was called from a callback */
    int64_t now;
    /* Protocol. */
    int64_t next_id, sync_id;
    struct sss_client_sub *subs;
    struct sss_client_req *reqs;
    struct sss_proto_decoder dec;
    struct sss_proto_msg msg, rec;
    struct sss_proto_out out;
};

/* ---- sss_client_session.c ---- */

/* Set the status and tell on_status when it changed. */
void sss_client__set_status(struct sss_client *c, enum sss_client_status s);
/* BOOTED, CLOSED or FAILED: nothing more happens without sss_client_connect. */
bool sss_client__final_status(enum sss_client_status s);
/* READY with a live connection (not one closed from a callback): requests may go. */
bool sss_client__ready(const struct sss_client *c);
/* Call on_error (channel may be NULL). */
void sss_client__report(struct sss_client *c, const char *channel, const char *name,
                        const char *m);
/* The live subscription to channel, or NULL. */
struct sss_client_sub *sss_client__find_sub(const struct sss_client *c, const char *channel);
/* Answer a subscription's pending reply once (name NULL: success with its lastUid). */
void sss_client__sub_answer(struct sss_client *c, struct sss_client_sub *s, const char *name,
                            const char *message);
/* Drop a subscription: freed now, or marked dead while c->busy. */
void sss_client__sub_remove(struct sss_client *c, struct sss_client_sub *s);
/* Free the dead subscriptions (only when not busy). */
void sss_client__gc(struct sss_client *c);
/* Answer every pending subscribe reply with name (message: detail). */
void sss_client__fail_sub_replies(struct sss_client *c, const char *name, const char *detail);
/* Unlink the request with this id and give it to the caller (who frees it), or NULL. */
struct sss_client_req *sss_client__take_req(struct sss_client *c, int64_t id);
/* Answer every request in flight with the error name and free them. */
void sss_client__fail_reqs(struct sss_client *c, const char *name);
/* A new request with the next id, not linked yet; NULL when out of memory. */
struct sss_client_req *sss_client__new_req(struct sss_client *c, enum sss_client_req_kind kind,
                                          sss_client_reply_cb cb, void *data, const char *verb,
                                          const char *name);
/* id as a raw JSON number in buf. */
struct sss_proto_span sss_client__id_span(int64_t id, char *buf, size_t cap);
/* A raw JSON message; NULL is null. */
struct sss_proto_span sss_client__msg_span(const char *msg);
/* Send a SUBSCRIBE for s. 0, -ENOMEM or SSS_CLIENT_ENOTREADY. */
int sss_client__send_subscribe(struct sss_client *c, struct sss_client_sub *s);
/* The upgrade is done: send BEGIN, or SYNC after the first READY. 0 or a negative code. */
int sss_client__begin(struct sss_client *c);
/* The connection is gone: requests fail, in-flight SUBSCRIBEs are cancelled and unsent. */
void sss_client__conn_lost(struct sss_client *c);
/* The replies of the session. */
void sss_client__on_begin_reply(struct sss_client *c, const struct sss_proto_msg *m);
void sss_client__on_subscribe_reply(struct sss_client *c, const struct sss_proto_msg *m);
void sss_client__on_sync_reply(struct sss_client *c, const struct sss_proto_msg *m);

/* ---- sss_client_retry.c ---- */

/*
 * The attempt or connection failed with code (SSS_CLIENT_*; detail says
 * more): close it, then redial after the backoff or stop (FAILED, CLOSED or
 * BOOTED) and report, as clients/README.md's table says.
 */
void sss_client__fail(struct sss_client *c, const char *code, const char *detail);
/* The code of a close code received from the server. */
const char *sss_client__close_code(int code);
/* The code of an HTTP status refusing the upgrade. */
const char *sss_client__http_code(int status);

/* ---- sss_client_transport.c ---- */

/* Dial now (status CONNECTING): headers, resolve, connect. 0 or a negative code;
 * a failed attempt goes through sss_client__fail and still returns 0. */
int sss_client__dial(struct sss_client *c);
/* 0 when line is "Name: value" with a token name and no CR/LF, else SSS_CLIENT_EHEADER. */
int sss_client__header_line_ok(const char *line);
/* Queue c->out as one message (text, or binary with msgpack). 0, -ENOMEM or
 * SSS_CLIENT_ENOTREADY. */
int sss_client__send_out(struct sss_client *c);

/* ---- sss_client_msgpack.c: the encoding of the connection ---- */

/* The sub-protocol to offer and expect: "sss.v1.msgpack" or "sss.v1.json". */
const char *sss_client__protocol(const struct sss_client *c);
/* Queue the JSON message json (len bytes) as its MessagePack form, in a binary frame. */
int sss_client__send_msgpack(struct sss_client *c, const char *json, size_t len);
/* A data message from the server: text (JSON, or the heartbeat h) or, with
 * msgpack, binary; transcoded to JSON and handed to sss_client__on_frame. */
void sss_client__on_message(struct sss_client *c, bool binary, const uint8_t *data, size_t len);
/* Close the socket and forget the connection's state (not the session's). */
void sss_client__close_socket(struct sss_client *c);
/* Send what wslay has queued, best effort, then close (the close frame may be queued). */
void sss_client__flush_close(struct sss_client *c);

/* ---- sss_client_tls.c: the byte stream (the socket, or TLS over it) ---- */

/* wss://: make the TLS context once (verification as the options say). 0, or
 * SSS_ETLS with err naming the file or OpenSSL's reason. */
int sss_client__tls_prepare(struct sss_client *c, char *err, size_t cap);
/* The TCP connect finished: start TLS on c->fd (ws://: nothing). 0, -ENOMEM,
 * or SSS_ETLS (the host name is refused). */
int sss_client__tls_start(struct sss_client *c);
/* Before the socket closes: close_notify (or the alert of a failure) sent
 * best effort, the TLS state of the socket dropped. */
void sss_client__tls_stop(struct sss_client *c);
/* Why the TLS handshake failed, or NULL when it did not (then a failure is
 * the network's). */
const char *sss_client__tls_failure(const struct sss_client *c);
/* Send len bytes (a prefix of them may go). Returns how many were taken, or
 * -1 with errno (EAGAIN: try again when writable; EPROTO: TLS failed). */
ssize_t sss_client__io_send(struct sss_client *c, const void *data, size_t len);
/* Read up to len bytes. Returns how many, 0 at the end of the stream, or
 * -1 with errno (EAGAIN: nothing yet; EPROTO: TLS failed). */
ssize_t sss_client__io_recv(struct sss_client *c, void *buf, size_t len);
/* Move ciphertext waiting in OpenSSL to the socket. 0, or -errno. */
int sss_client__io_flush(struct sss_client *c);
/* Whether bytes wait to be written to the socket (below what wslay queues). */
bool sss_client__io_want_write(const struct sss_client *c);
/* Whether bytes already read from the socket wait to be read (decrypted or
 * held in OpenSSL): then process must run again without waiting for poll. */
bool sss_client__io_buffered(const struct sss_client *c);

/* ---- sss_client_msg.c ---- */

/* Decode one text frame from the server and act on it. */
void sss_client__on_frame(struct sss_client *c, const char *buf, size_t len);
/* A raw JSON integer id (what we sent); -1 when it is not one. */
int64_t sss_client__span_id(struct sss_proto_span sp);
/* Members of a raw JSON object obj (absent obj: absent member). */
bool sss_client__get_string(struct sss_proto_span obj, const char *key, char *out, size_t cap);
int64_t sss_client__get_int(struct sss_proto_span obj, const char *key, int64_t dflt);
bool sss_client__get_true(struct sss_proto_span obj, const char *key);
/* Deliver each FEED of a SYNC reply's raw records array, in order. */
void sss_client__deliver_records(struct sss_client *c, struct sss_proto_span recs);
/* Order of uids "<a>-<b>": <0, 0, >0; 2 when either does not parse (then only equality counts). */
int sss_client__uid_cmp(const char *a, const char *b);
/* Set s's lastUid to uid unless that goes backwards; false when it would (or is equal). */
bool sss_client__advance_uid(struct sss_client_sub *s, const char *uid, size_t len);

/*
 * Hand a reader what waits in src between *off and end: at most len bytes
 * into buf, *off moved past them. Returns how many (0 when nothing waits).
 */
static inline size_t sss_client__take(void *buf, size_t len, const void *src, size_t *off,
                                      size_t end)
{
    size_t k = end - *off < len ? end - *off : len;

    memcpy(buf, (const char *)src + *off, k);
    *off += k;
    return k;
}

#endif
