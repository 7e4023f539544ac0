/*
 * The C client of Super Scaled Sockets (libsss-client), wire protocol v1 in
 * JSON (docs/protocol.md). Same operations and reconnect semantics as the
 * JavaScript client (clients/js/README.md).
 *
 * Non-blocking and loop-agnostic: watch sss_client_fd() for
 * sss_client_events(), call sss_client_process() when it is ready or when
 * sss_client_next_timeout_ms() has passed. For scripts and tests,
 * sss_client_run_for() and sss_client_wait() run a poll() loop.
 *
 * Messages ("msg", "query") are raw JSON text, passed through as given and
 * handed back byte for byte as the server sent them (not NUL-terminated: use
 * the length). Strings handed to callbacks live until the callback returns.
 *
 * Callbacks may call every function here except sss_client_destroy() and the
 * loop calls (sss_client_process, sss_client_run_for, sss_client_wait,
 * sss_client_wait_ready). Every callback given to a call (a subscribe's,
 * ask's or publish's reply) runs exactly once: with the answer, or with an
 * error when it is cancelled (unsubscribe, a replaced subscribe, BOOTCHANNEL,
 * a lost connection, close, a final failure, destroy), so its data can always
 * be freed there.
 *
 * Failures follow clients/README.md: transient ones (a lost connection, a
 * timeout, 5xx) redial with backoff, permanent ones (401, 403, a failed TLS
 * handshake, close 1000, 1002, 1007, 1009, BOOT, retry_attempts spent) stop
 * with on_error(NULL,
 * code, detail) called once; sss_client_error_code() gives the code.
 *
 * One client is used by one thread. Host names are resolved with a blocking
 * getaddrinfo() at each (re)connect, inside sss_client_process (every address
 * it returns is tried in turn); a numeric address (IPv4, or IPv6 in brackets)
 * never blocks.
 *
 * wss:// URLs speak TLS 1.2 or 1.3 (OpenSSL, non-blocking, inside
 * sss_client_process, within connect_timeout_ms). The server's certificate
 * is verified against tls_ca_file / tls_ca_path or the system's trust store,
 * and its name against the URL's host (a DNS name, or an IP address).
 */
#ifndef SSS_CLIENT_H
#define SSS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SSS_CLIENT_API __attribute__((visibility("default")))

struct sss_client;

enum sss_client_status {
    SSS_CLIENT_IDLE = 0,       /* created, sss_client_connect not called yet */
    SSS_CLIENT_CONNECTING = 1, /* TCP connect and HTTP upgrade */
    SSS_CLIENT_BEGINNING = 2,  /* upgraded, BEGIN sent */
    SSS_CLIENT_SYNCING = 3,    /* reconnected, SYNC sent */
    SSS_CLIENT_READY = 4,      /* requests may be sent */
    SSS_CLIENT_WAITING = 5,    /* dropped; reconnecting after a backoff */
    SSS_CLIENT_BOOTED = 6,     /* BOOT or close 4001: final */
    SSS_CLIENT_CLOSED = 7,     /* sss_client_close or close 1000: final */
    SSS_CLIENT_FAILED = 8,     /* retry attempts ran out: final */
};

/* Errors of the client's own (the server's come as name/message strings). */
#define SSS_CLIENT_ENOTREADY (-2000) /* request while not READY: nothing was sent */
#define SSS_CLIENT_EURL (-2001)      /* url is not ws[s]://host[:port][/path] */
#define SSS_CLIENT_ECHANNEL (-2002)  /* channel name not allowed */
#define SSS_CLIENT_ETOPIC (-2003)    /* topic empty or too long */
#define SSS_CLIENT_EHEADER (-2004)   /* header not "Name: value", has CR/LF, or too long */
#define SSS_CLIENT_EJSON (-2005)     /* msgpack: msg or query is not JSON, so it has no
                                      * MessagePack form; nothing was sent */

/*
 * The codes of failures, stable strings shared with the JavaScript client
 * (clients/README.md has the table: which are transient, which permanent).
 */
#define SSS_CLIENT_CONNECT_FAILED "connect_failed"
#define SSS_CLIENT_CONNECT_TIMEOUT "connect_timeout"
#define SSS_CLIENT_UNAUTHORIZED "unauthorized"
#define SSS_CLIENT_FORBIDDEN "forbidden"
#define SSS_CLIENT_UPGRADE_FAILED "upgrade_failed"
#define SSS_CLIENT_UPGRADE_REFUSED "upgrade_refused"
#define SSS_CLIENT_TLS_FAILED "tls_failed"
#define SSS_CLIENT_BEGIN_TIMEOUT "begin_timeout"
#define SSS_CLIENT_SYNC_TIMEOUT "sync_timeout"
#define SSS_CLIENT_HEARTBEAT_TIMEOUT "heartbeat_timeout"
#define SSS_CLIENT_CLOSED_BY_SERVER "closed_by_server"
#define SSS_CLIENT_GOING_AWAY "going_away"
#define SSS_CLIENT_PROTOCOL_ERROR "protocol_error"
#define SSS_CLIENT_INVALID_PAYLOAD "invalid_payload"
#define SSS_CLIENT_MESSAGE_TOO_BIG "message_too_big"
#define SSS_CLIENT_POLICY_VIOLATION "policy_violation"
#define SSS_CLIENT_BOOTED_CODE "booted"
#define SSS_CLIENT_TOO_SLOW "too_slow"
#define SSS_CLIENT_CONNECTION_LOST "connection_lost"
#define SSS_CLIENT_TOKEN_FAILED "token_failed"
#define SSS_CLIENT_RETRIES_EXHAUSTED "retries_exhausted"

/* The extra headers of one upgrade request, filled by opts.get_headers. */
struct sss_client_headers;

/*
 * The reply to an ask, a publish or a subscribe: err_name NULL on success
 * (msg, len: the answer's raw JSON; for publish {"uid":"E-O"}; for subscribe
 * the reply's lastUid or "null"), else err_name and err_message say why (the
 * server's err, or the client's own: "Connection dropped", "Connection
 * closed", "Unable to sync", "Removed from channel", "Unsubscribed",
 * "Subscription replaced") and msg is NULL.
 */
typedef void (*sss_client_reply_cb)(struct sss_client *c, const char *err_name,
                                    const char *err_message, const char *msg, size_t len,
                                    void *data);
/* A FEED (live or from a SYNC's records), in uid order, once each. */
typedef void (*sss_client_feed_cb)(struct sss_client *c, const char *channel, const char *topic,
                                   const char *msg, size_t len, const char *uid, void *data);

struct sss_client_opts {
    /* ws://host[:port][/path[?query]] (port 80) or wss://... (TLS, port 443); host may be
     * [IPv6] (required) */
    const char *url;
    const char *session; /* (ext) session id to resume, sent in BEGIN; NULL: none */
    bool no_reconnect;   /* the first transient failure is final (retries_exhausted) */
    int retry_attempts;  /* attempts after a failure before FAILED; 0 = forever */
    int retry_interval_ms;     /* backoff base, default 1000 */
    int max_retry_interval_ms; /* backoff bound, default 30000 */
    int connect_timeout_ms;    /* TCP connect + upgrade, default 10000 */
    int begin_timeout_ms;      /* BEGIN sent -> its reply, default 10000 */
    int sync_timeout_ms;       /* SYNC sent -> its reply, default 10000 */
    size_t max_message_size;   /* bigger frames from the server: close 1009, default 16 MiB */
    int max_handshake_size;    /* upgrade request and answer bound, default 8192 (the server's) */
    /* Speak sss.v1.msgpack (binary frames) instead of sss.v1.json. Messages
     * and callbacks stay JSON text: msg, query and replies are transcoded at
     * the socket (a server's bin arrives as a base64 string). */
    bool msgpack;
    /*
     * wss:// only (ignored for ws://; copied by create). The CAs that may
     * sign the server's certificate: a PEM file and/or a directory of PEM
     * files named by their hash (`openssl rehash DIR`); neither: the system's
     * trust store. A file or directory that does not load fails the first
     * connect (tls_failed, the detail names it).
     */
    const char *tls_ca_file;
    const char *tls_ca_path;
    /*
     * wss:// only. FOR TESTS ONLY: accept any certificate for any name, so
     * that anyone on the path can read and change the traffic. Otherwise
     * (the default) the certificate must chain to a trusted CA and name the
     * URL's host, or the connect fails for good (tls_failed).
     */
    bool tls_insecure_skip_verify;
    /* Extra upgrade headers, each "Name: value", NULL-terminated (copied by create). */
    const char *const *headers;
    /*
     * Called before every (re)connect (inside sss_client_process) to add
     * headers for that attempt with sss_client_headers_add, e.g.
     * "Authorization: Bearer <token>", and return 0. A negative return
     * fails the attempt (token_failed, transient); 1 says there are no
     * credentials to try (final: unauthorized, without dialling). On an HTTP
     * 401 it is called again and the client redials at once, once; a second
     * 401 is final (unauthorized).
     */
    int (*get_headers)(struct sss_client *c, struct sss_client_headers *h, void *data);
    void *data;                /* passed to every callback below */
    void (*on_status)(struct sss_client *c, enum sss_client_status now,
                      enum sss_client_status old, void *data);
    /* FEEDs of subscriptions without their own callback (e.g. the user channel). */
    sss_client_feed_cb on_feed;
    void (*on_tell)(struct sss_client *c, const char *topic, const char *msg, size_t len,
                    void *data);
    void (*on_broadcast)(struct sss_client *c, const char *topic, const char *msg, size_t len,
                         void *data);
    /* BOOT: reason is raw JSON (usually a string). The client will not reconnect. */
    void (*on_boot)(struct sss_client *c, const char *reason, size_t len, void *data);
    /* Errors that belong to no request: channel is set for "Unable to sync" and
     * "Removed from channel"; NULL for ERROR frames and for the final failure,
     * whose name is its code (SSS_CLIENT_UNAUTHORIZED, ...; called once). */
    void (*on_error)(struct sss_client *c, const char *channel, const char *name,
                     const char *message, void *data);
    void (*on_drop)(struct sss_client *c, void *data);      /* connection lost */
    void (*on_reconnect)(struct sss_client *c, void *data); /* back and synced */
};

/* A client for o (copied), not connected yet. NULL on bad options or ENOMEM. */
SSS_CLIENT_API struct sss_client *sss_client_create(const struct sss_client_opts *o);
/* Close the socket at once, answer pending callbacks with "Connection closed", free all. */
SSS_CLIENT_API void sss_client_destroy(struct sss_client *c);
/*
 * Start connecting from IDLE or a final status (the dial happens in the next
 * sss_client_process; the subscriptions are kept). Returns 0 (also when
 * already connecting or connected).
 */
SSS_CLIENT_API int sss_client_connect(struct sss_client *c);
/* Close with 4000, answer pending callbacks with "Connection closed"; status CLOSED. */
SSS_CLIENT_API void sss_client_close(struct sss_client *c);
/*
 * Add "name: value" to the upgrade request being built (only inside
 * get_headers). 0, or SSS_CLIENT_EHEADER for a name that is not a token, a
 * value with CR or LF, or a request that would pass max_handshake_size.
 */
SSS_CLIENT_API int sss_client_headers_add(struct sss_client_headers *h, const char *name,
                                          const char *value);
/* The code of the last failure (transient or final), NULL before any since connect. */
SSS_CLIENT_API const char *sss_client_error_code(const struct sss_client *c);
/* Its detail, e.g. "HTTP 503" or, for retries_exhausted, the last transient code first. */
SSS_CLIENT_API const char *sss_client_error_detail(const struct sss_client *c);
SSS_CLIENT_API enum sss_client_status sss_client_status(const struct sss_client *c);
SSS_CLIENT_API const char *sss_client_status_name(enum sss_client_status s);
/* Text for the client's negative codes and -errno. */
SSS_CLIENT_API const char *sss_client_strerror(int code);

/* ---- Event-loop integration ---- */
/* The socket to watch, or -1 when there is none (waiting to reconnect). */
SSS_CLIENT_API int sss_client_fd(const struct sss_client *c);
/* POLLIN and/or POLLOUT, what the client waits for on its fd. */
SSS_CLIENT_API short sss_client_events(const struct sss_client *c);
/*
 * Do all the work that can be done now without blocking: connect, upgrade,
 * read and dispatch frames, write, timers. revents is what poll() said (it is
 * a hint; 0 is fine). now_ms is sss_client_now_ms(). Returns 0, or a negative
 * code for a failure of the client itself (not for a dropped connection).
 */
SSS_CLIENT_API int sss_client_process(struct sss_client *c, short revents, int64_t now_ms);
/* Ms until sss_client_process must run even without I/O (-1: no timer). */
SSS_CLIENT_API int64_t sss_client_next_timeout_ms(const struct sss_client *c, int64_t now_ms);
/* CLOCK_MONOTONIC in ms. */
SSS_CLIENT_API int64_t sss_client_now_ms(void);

/* ---- Blocking helpers (a poll() loop) ---- */
/* Run for timeout_ms. Returns 0 or a negative code. */
SSS_CLIENT_API int sss_client_run_for(struct sss_client *c, int timeout_ms);
/* Run until done(c, data) is true (0), or timeout_ms passes (-ETIMEDOUT). */
SSS_CLIENT_API int sss_client_wait(struct sss_client *c, bool (*done)(struct sss_client *c, void *data),
                                   void *data, int timeout_ms);
/* Run until READY (0), a final status (SSS_CLIENT_ENOTREADY) or timeout (-ETIMEDOUT). */
SSS_CLIENT_API int sss_client_wait_ready(struct sss_client *c, int timeout_ms);

/* ---- Operations ---- */
/*
 * Subscribe to channel with query (raw JSON or NULL for null). Works in any
 * status but a final one: sent now when READY, else at the next (re)connect.
 * FEEDs go to on_feed (NULL: the client's on_feed); reply (may be NULL) gets
 * the SUBSCRIBE reply. Subscribing again to a channel replaces its callbacks
 * (a reply still pending gets "Subscription replaced"). A subscription made
 * while not READY, or whose SUBSCRIBE was in flight at a drop, is sent as
 * SUBSCRIBE after the next BEGIN or SYNC reply; only channels the server
 * confirmed go in SYNC. Returns 0 or a negative code.
 */
SSS_CLIENT_API int sss_client_subscribe(struct sss_client *c, const char *channel,
                                        const char *query, sss_client_feed_cb on_feed,
                                        sss_client_reply_cb reply, void *data);
/* Forget channel and send UNSUBSCRIBE when connected; a pending reply gets "Unsubscribed".
 * 0 or SSS_CLIENT_ECHANNEL (not subscribed). */
SSS_CLIENT_API int sss_client_unsubscribe(struct sss_client *c, const char *channel);
/* ASK topic with msg (raw JSON, NULL for null). Needs READY. cb gets the RESPONSE. */
SSS_CLIENT_API int sss_client_ask(struct sss_client *c, const char *topic, const char *msg,
                                  sss_client_reply_cb cb, void *data);
/* TELL topic with msg (raw JSON, NULL for null). Needs READY. No reply. */
SSS_CLIENT_API int sss_client_tell(struct sss_client *c, const char *topic, const char *msg);
/* (ext) PUBLISH msg on channel under topic. Needs READY. cb gets {"uid":..} or the refusal. */
SSS_CLIENT_API int sss_client_publish(struct sss_client *c, const char *channel, const char *topic,
                                      const char *msg, sss_client_reply_cb cb, void *data);
/* The newest uid seen on channel (NUL-terminated), or NULL when none / not subscribed. */
SSS_CLIENT_API const char *sss_client_last_uid(const struct sss_client *c, const char *channel);

#ifdef __cplusplus
}
#endif

#endif
