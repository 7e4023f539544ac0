/*
 * libsss: the application API of Super Scaled Sockets.
 *
 * An application registers handlers on a struct sss_app: ask and tell
 * handlers per topic, a subscription parser, on-socket and on-close hooks.
 * `sss-server --app ./module.so` loads a shared object and calls its
 *
 *     int sss_module_init(struct sss_app *app);
 *
 * once, in the master, before the workers are forked; every worker then runs
 * the same handlers for its own connections. Handlers run inside the worker's
 * event loop: they must not block (no sleeping, no synchronous network I/O).
 *
 * Message bodies cross the API as JSON text: what a handler receives is the
 * client's raw JSON value (not NUL-terminated: use the length), and what it
 * sends must be one valid JSON value, which the library checks (SSS_APP_EJSON
 * otherwise). Use any JSON library you like.
 *
 * Lifetimes: a `struct sss_socket *` is lent to a handler and dies when the
 * handler returns; keep `sss_socket_id()` instead and act later through
 * sss_tell_id(). A reply handle is answered exactly once, now or later; an
 * ask not answered within --ask-timeout is answered with a Timeout error for
 * you, and answering a handle whose connection closed is a harmless no-op.
 *
 * All functions return 0 or a negative code (SSS_APP_E*, or -errno).
 */
#ifndef SSS_SSS_H
#define SSS_SSS_H

#include <stddef.h>
#include <stdint.h>

#include "sss_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSS_API_VERSION 1

enum sss_app_error {
    SSS_APP_EJSON = -2001,    /* a body that is not one valid JSON value */
    SSS_APP_ECHANNEL = -2002, /* an invalid channel name */
    SSS_APP_ETOPIC = -2003,   /* an empty or too long topic */
    SSS_APP_EGONE = -2004,    /* the connection or the reply is no longer there */
    SSS_APP_ESTATE = -2005,   /* called where it is not allowed (e.g. outside a worker) */
    SSS_APP_ETOOLONG = -2006, /* a user name or reason over its limit (sss_limits.h) */
};

struct sss_app;    /* the registration context (one per server) */
struct sss_socket; /* a client connection, lent to a handler */
struct sss_reply;  /* the answer to one ask */

/* An ask: answer through `reply` now (sss_reply_ok/err) or later (keep the pointer). */
typedef void (*sss_ask_fn)(struct sss_socket *s, const char *msg, size_t len,
                           struct sss_reply *reply, void *data);
/* A tell from a client: no answer. */
typedef void (*sss_tell_fn)(struct sss_socket *s, const char *msg, size_t len, void *data);
/*
 * May this socket subscribe to channel with this query (raw JSON, len 0 when
 * absent)? Return 0 to allow; anything else refuses, with *why (static text)
 * as the reason sent to the client.
 */
typedef int (*sss_subscribe_fn)(struct sss_socket *s, const char *channel, const char *query,
                                size_t query_len, const char **why, void *data);
/* A connection began (BEGIN or SYNC) / went away. */
typedef void (*sss_socket_fn)(struct sss_socket *s, void *data);
/* A subscription became live (its SUBSCRIBE reply, SYNC reply or session resume went out). */
typedef void (*sss_subscribed_fn)(struct sss_socket *s, const char *channel, void *data);

/*
 * What a session parser sees of the upgrade request (lent for the call:
 * copy what you need). Header values are "" when absent; Origin and
 * User-Agent are also "" when sent twice, and any of the three when longer
 * than the server keeps (Origin 255 bytes, User-Agent and X-Forwarded-For
 * 511); several X-Forwarded-For lines are joined by ", ".
 */
struct sss_request {
    const char *target;        /* request-target: path and query, as sent */
    const char *cookie;        /* the Cookie header(s), "" when absent */
    const char *authorization; /* the Authorization header, "" when absent */
    const char *remote;        /* the peer's address, "ip:port" ("[ip6]:port") */
    const char *origin;        /* the Origin header */
    const char *user_agent;    /* the User-Agent header */
    const char *forwarded_for; /* the X-Forwarded-For header(s) */
};

/* What it decides. Zeroed before the call: accept, anonymous, no session. */
struct sss_session_out {
    int status;         /* 0: accept; 401 or 403: refuse the upgrade with it */
    const char *reason; /* one line for a refusal (static text) */
    char user[SSS_USER_MAX + 1];       /* [A-Za-z0-9_-] names the user (its _u_<user> channel) */
    char session[SSS_SESSION_MAX + 1]; /* names a session to record and resume; "" = none */
};

/*
 * The session parser: runs for every upgrade, in place of the built-in one
 * (accept everyone, or --jwt-secret). Fill out; must not block.
 */
typedef void (*sss_session_fn)(const struct sss_request *req, struct sss_session_out *out,
                               void *data);

/*
 * Deferred answers: a session parser or a subscription parser that needs the
 * application's own services (a database, another server) answers later
 * through a decision handle, as an ask answers through its reply handle.
 *
 * The handler gets a handle d and answers it exactly once, before it returns
 * or later from another handler or a timer of the same worker, with
 * sss_decide_session or sss_decide_subscribe. The handle is dead after that
 * call, whatever it returned (as a reply handle is): never use it again. A
 * handle stays valid until it is answered, so answer every one, even late:
 *
 *   - a decision not answered within --decision-timeout (10s) is made for
 *     you: the upgrade is refused with 503 "application did not answer", the
 *     subscription with the reason "application did not answer";
 *   - answering after that, or after the client left (a client that closes,
 *     or an upgrade past --handshake-timeout, which closes it), is a harmless
 *     no-op that returns SSS_APP_EGONE.
 *
 * While a connection waits for a session decision nothing else of it is
 * read. While it waits for subscription decisions its next messages wait
 * too, in order (at most --max-waiting-messages; one more closes it with
 * 1008), so an UNSUBSCRIBE or PUBLISH sent after a SUBSCRIBE is acted on
 * after that SUBSCRIBE's answer. A SYNC's reply goes out once every entry is
 * decided, and a BEGIN reply that resumes a session once each of its
 * channels is. The client's own _u_<user> channel is never asked about.
 *
 * Registering the later form and the immediate one (sss_on_session,
 * sss_on_subscribe) for the same event: the later form wins.
 */
struct sss_decision; /* a pending decision, answered exactly once */

/* An upgrade to decide, now or later: sss_decide_session(d, ...). req is lent for the call. */
typedef void (*sss_session_later_fn)(const struct sss_request *req, struct sss_decision *d,
                                     void *data);
/*
 * A subscription to decide, now or later: sss_decide_subscribe(d, ...). s,
 * channel and query (raw JSON, query_len 0 when absent) are lent for the
 * call; keep sss_socket_id(s) to act on the socket later.
 */
typedef void (*sss_subscribe_later_fn)(struct sss_socket *s, const char *channel,
                                       const char *query, size_t query_len,
                                       struct sss_decision *d, void *data);

int sss_on_session_later(struct sss_app *app, sss_session_later_fn fn, void *data);
int sss_on_subscribe_later(struct sss_app *app, sss_subscribe_later_fn fn, void *data);

/*
 * Decide an upgrade as a session parser fills out (sss_session_out; out is
 * read during the call, and out->reason copied): status 0 upgrades, naming
 * out->user and out->session; 401 or 403 refuse with out->reason (another
 * non-zero status is 401); a user that is no valid channel name, or a
 * session with bytes outside 0x21..0x7e, refuses with 500 "session parser
 * error". Returns 0; SSS_APP_ECHANNEL when it refused for an invalid user
 * or session; SSS_APP_EGONE when nobody waits any more (timed out, client
 * gone): nothing happened; SSS_APP_ESTATE when d is NULL or a subscription's
 * handle (then d is untouched). d is dead after any other return.
 */
int sss_decide_session(struct sss_decision *d, const struct sss_session_out *out);

/*
 * Decide a subscription: allow non-zero subscribes it; 0 refuses it with
 * reason (copied, cut at SSS_REASON_MAX bytes; NULL: "refused by the
 * application"). Returns 0; SSS_APP_EGONE when nobody waits any more:
 * nothing happened; SSS_APP_ESTATE when d is NULL or a session's handle
 * (then d is untouched). d is dead after any other return.
 */
int sss_decide_subscribe(struct sss_decision *d, int allow, const char *reason);

int sss_on_ask(struct sss_app *app, const char *topic, sss_ask_fn fn, void *data);
int sss_on_tell(struct sss_app *app, const char *topic, sss_tell_fn fn, void *data);
int sss_on_subscribe(struct sss_app *app, sss_subscribe_fn fn, void *data);
int sss_on_socket(struct sss_app *app, sss_socket_fn fn, void *data);
int sss_on_close(struct sss_app *app, sss_socket_fn fn, void *data);
int sss_on_subscribed(struct sss_app *app, sss_subscribed_fn fn, void *data);
int sss_on_session(struct sss_app *app, sss_session_fn fn, void *data);

/* ---- inside handlers ---- */

/* The socket's id: unique on this host while the server runs. */
uint64_t sss_socket_id(const struct sss_socket *s);
/* The application that registered the handler. */
struct sss_app *sss_socket_app(const struct sss_socket *s);

/* Answer an ask with a JSON value / with an error {name, message}. Exactly once. */
int sss_reply_ok(struct sss_reply *r, const char *json, size_t len);
int sss_reply_err(struct sss_reply *r, const char *name, const char *message);

/* Send a TELL {"sys":6,"topic":..,"msg":json} to a socket (now, or later by id). */
int sss_tell(struct sss_socket *s, const char *topic, const char *json, size_t len);
int sss_tell_id(struct sss_app *app, uint64_t socket_id, const char *topic, const char *json,
                size_t len);

/*
 * Publish on a channel: every subscriber on every worker gets the FEED, in
 * uid order. sss_socket_publish skips the sending socket, which gets
 * UPDATESUB with the new uid instead (PROTOCOL.md).
 */
int sss_publish(struct sss_app *app, const char *channel, const char *topic, const char *json,
                size_t len);
int sss_socket_publish(struct sss_socket *s, const char *channel, const char *topic,
                       const char *json, size_t len);
/* A BROADCAST {"sys":11,..} to every connection of the host. */
int sss_broadcast(struct sss_app *app, const char *topic, const char *json, size_t len);
/* Send BOOT {"sys":9,"reason":..} and close the connection with 4001. A reason
 * over SSS_REASON_MAX bytes is refused (SSS_APP_ETOOLONG), as in the two below. */
int sss_boot(struct sss_socket *s, const char *reason);
/* The same for every connection of a user, on every worker. */
int sss_boot_user(struct sss_app *app, const char *user, const char *reason);
/* BOOTCHANNEL {"sys":10,..} to every subscriber of a channel, on every worker, who is unsubscribed. */
int sss_boot_channel(struct sss_app *app, const char *channel, const char *reason);
/* The user the session parser named ("" for an anonymous connection). */
const char *sss_socket_user(const struct sss_socket *s);

/*
 * Answer an ask with the channel's history: a JSON array of FEED objects
 * ({"sys":8,"channel":..,"topic":..,"msg":..,"uid":..}), oldest first, at
 * most `limit` (the newest ones). Completes the reply later, by itself.
 */
int sss_reply_history(struct sss_reply *r, const char *channel, unsigned limit);

/* ---- modules ---- */

/* What `sss-server --app module.so` calls once; return 0, or non-zero to stop the server. */
int sss_module_init(struct sss_app *app);

#ifdef __cplusplus
}
#endif

#endif
