/*
 * The HTTP API of a host (--api-listen, bearer key --api-key), served by the
 * scaler process inside its poll() loop: the scaler is the host's sequencer,
 * so a publish from the API goes straight to its engine, with no mailbox hop.
 *
 * A small non-blocking HTTP/1.1 server (llhttp for parsing, no threads):
 * at most SSS_API_MAX_CONNS connections, of which at most
 * --api-open-connections (and --api-max-per-address per client address)
 * have not shown the key yet; one more of those closes the oldest, and an
 * answer to a request without the key closes its connection, so a request
 * with the key always finds a slot (sss_api_server.c says how). Each
 * connection has a deadline of --handshake-timeout to send its whole
 * request (and again to take its answer), a request head of at most
 * --max-handshake-size (431 beyond), a body of at most --max-message-size +
 * 4 KiB (413 beyond), keep-alive and pipelining. A request with an Origin
 * not in --api-allowed-origins gets 403, a POST whose Content-Type is not
 * application/json 415. Routes (every error body is {"error":"reason"}):
 *
 *   POST /api/publish    {"channel":"c","topic":"t","msg":<any JSON>}
 *                        -> 200 {"uid":"E-O"}; 400 with the reason; 413 for a
 *                        msg over --max-message-size; 503 when the engine
 *                        refuses (too many channels, out of memory)
 *   POST /api/broadcast  {"topic":"t","msg":<any JSON>} -> 200 {}
 *   POST /api/boot       {"user":"alice","reason":"..."}: every connection of
 *                        the user gets BOOT and close 4001; or
 *                        {"channel":"c","reason":"..."}: every subscriber of
 *                        the channel gets BOOTCHANNEL and is unsubscribed (one
 *                        that offered no sub-protocol: BOOT, 4001) -> 200 {}
 *   POST /api/tell       {"socket":"<name>","topic":"t","msg":<any JSON>}: a
 *                        TELL to one socket (a name of sss_sockname.h) on
 *                        whichever host it is -> 200 {} when handed on; 404
 *                        when the socket is known to be gone (this host's, of
 *                        a worker process no longer running, or of an earlier
 *                        run); 400 with the reason; 413 as publish
 *   GET  /api/presence?channel=c  -> {"channel":"c","subscriptions":N,
 *                        "users":["alice",...],"users_total":M} (this host)
 *   GET  /api/stats      per-worker and total counters, the scaler's own
 *   GET  /metrics        Prometheus text exposition format 0.0.4
 *   GET  /healthz        200 "ok" (no key needed: load balancers probe it)
 *   other paths 404, other methods 405 (with Allow), a missing or wrong
 *   "Authorization: Bearer KEY" 401 (compared in constant time).
 *
 * msg is a raw span of the request body, passed on byte for byte: the body
 * is decoded by sss_proto_decode_as as if it were a PUBLISH (or TELL) frame,
 * so the API accepts exactly what the WebSocket protocol accepts, with the
 * same reasons. The boot body is read by sss_json_each (src/proto/sss_json.h),
 * the reader the decoder is built on: one JSON reader.
 *
 * Files: sss_api_server.c (HTTP/1.1: connections, parsing, answers),
 * sss_api_routes.c (the routes above), sss_api_metrics.c (/api/stats and
 * /metrics text); sss_api_server.h holds what they share.
 */
#ifndef SSS_API_H
#define SSS_API_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sss_api_metrics.h"
#include "sss_cfg.h"
#include "sss_err.h"
#include "sss_proto.h"
#include "sss_shm.h"
#include "sss_sockname.h"

#define SSS_API_MAX_CONNS SSS_API_CONNS             /* open API connections at once */
#define SSS_API_MAX_POLLFDS (SSS_API_MAX_CONNS + 1) /* the listener and every connection */
#define SSS_API_BODY_SLACK 4096                     /* body limit: max-message-size + this */

/*
 * What the API asks of its host (the scaler). Called from sss_api_handle,
 * never re-entered. Lent buffers die when the call returns.
 */
struct sss_api_handlers {
    /* Sequence one publish. buf holds channel, topic and msg back to back
     * (chan_len + topic_len + msg_len bytes). Returns 0 when the answer will
     * come through sss_api_publish_done(ticket) (perhaps before returning),
     * or a negative code now. Codes: SSS_ELIMIT (too many channels),
     * SSS_EFULL, -ENOMEM, SSS_EUNAVAIL, SSS_EUNKNOWN give 503, others 500. */
    int (*publish)(void *data, uint64_t ticket, const char *buf, size_t chan_len,
                   size_t topic_len, size_t msg_len);
    /* Broadcast to every begun connection of every host. buf holds topic then
     * msg. Returns 0 or a negative code (as publish: 503 or 500). */
    int (*broadcast)(void *data, const char *buf, size_t topic_len, size_t msg_len);
    /* Fill the scaler's numbers. */
    void (*stats)(void *data, struct sss_api_scaler_stats *st);
    /* BOOT a user (SSS_HM_BOOT_USER) or a channel (SSS_HM_BOOT_CHANNEL) on every worker.
     * Returns 0 or a negative code. */
    int (*boot)(void *data, int kind, const char *name, size_t name_len, const char *reason,
                size_t reason_len);
    /* Who is subscribed to a channel (up to max_users named users): answered
     * through sss_api_presence_done(ticket), or a negative code now. */
    int (*presence)(void *data, uint64_t ticket, const char *chan, size_t len, size_t max_users);
    /* TELL the socket name names, wherever it is (name's host is borrowed).
     * buf holds topic then msg. Returns 0 when it was handed on, SSS_EGONE
     * when the socket is known to be gone (404), or a negative code (as
     * publish: SSS_EUNAVAIL, SSS_EFULL, -ENOMEM 503, others 500). */
    int (*tell)(void *data, const struct sss_sockname *name, const char *buf, size_t topic_len,
                size_t msg_len);
    void *data;
};

/* Named users a presence answer lists at most. */
#define SSS_API_PRESENCE_USERS 1000

struct sss_api;

/*
 * Listen on cfg->api_listen (HOST:PORT; port 0 lets the kernel pick) and log
 * "api listening on HOST:PORT" with the real port, and a warning when
 * cfg->api_key is empty (the API is then open to anyone who can connect).
 * cfg, shm and h are borrowed for the API's life. Returns the API, or NULL
 * with *err set: SSS_EINVAL (not HOST:PORT, or a host that does not
 * resolve), -ENOMEM, or -errno of socket/bind/listen. Blocks only to resolve
 * a host name (use a literal address to avoid it).
 */
struct sss_api *sss_api_create(const struct sss_cfg *cfg, struct sss_shm *shm,
                               const struct sss_api_handlers *h, int *err);

/* Close the listener and every connection (answers in flight are dropped). */
void sss_api_destroy(struct sss_api *api);

/*
 * Fill pfd (room for cap >= SSS_API_MAX_POLLFDS entries) with what the API
 * waits for; returns how many entries it used. The caller polls them (with
 * its own fds) and then hands exactly these entries to sss_api_handle.
 */
int sss_api_pollfds(struct sss_api *api, struct pollfd *pfd, int cap);

/*
 * Serve what poll() reported on the n entries sss_api_pollfds filled: accept,
 * read, parse, answer (calling the handlers), write. Never blocks.
 */
void sss_api_handle(struct sss_api *api, const struct pollfd *pfd, int n);

/* Close connections past their deadline (a slow or silent client). Call at
 * least once a second. */
void sss_api_tick(struct sss_api *api, int64_t now_ms);

/* The scaler's answer to a publish handed to h.publish with this ticket
 * (uid when rc is 0). A ticket whose connection went away is ignored. */
void sss_api_publish_done(struct sss_api *api, uint64_t ticket, int rc, const struct sss_uid *uid);

/* The answer to a presence request: count subscriptions, and nusers names. */
void sss_api_presence_done(struct sss_api *api, uint64_t ticket, int rc, int64_t count,
                           const char *const *users, size_t nusers);

/* ---- Pure helpers, exported for the unit tests ---- */

/*
 * Whether an Authorization value (len bytes, not NUL-terminated) is
 * "Bearer <key>" (scheme case-insensitive, one or more spaces). The key is
 * compared with OpenSSL's CRYPTO_memcmp, in time that depends only on the
 * key's length, never on where the first difference lies.
 */
bool sss_api_auth_ok(const char *value, size_t len, const char *key);

/*
 * Split "HOST:PORT", "[V6]:PORT" or ":PORT" (host "" = every address) into
 * host (NUL-terminated, brackets removed) and port. Returns 0 or SSS_EINVAL.
 */
int sss_api_parse_addr(const char *spec, char *host, size_t host_cap, int *port) SSS_WUR;

/*
 * Whether an Origin value (len bytes) is one of list's comma-separated
 * entries (spaces around an entry ignored, ASCII case-insensitive). An empty
 * list holds nothing.
 */
bool sss_api_origin_allowed(const char *list, const char *value, size_t len);

/*
 * Whether a Content-Type value (len bytes) is application/json, perhaps with
 * parameters ("application/json; charset=utf-8"), case-insensitive.
 */
bool sss_api_ctype_json(const char *value, size_t len);

#endif
