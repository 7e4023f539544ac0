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
 * event loop: they must not block (no sleeping, no synchronous network I/O);
 * to wait for time or for a descriptor, use a timer or a watch (below).
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
    SSS_APP_ENAME = -2007,    /* not a socket name (sss_socket_name) */
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
 *   - answering after that, or after the client left, is a harmless no-op
 *     that returns SSS_APP_EGONE.
 *
 * While a connection waits for a session decision nothing else of it is
 * read, and --handshake-timeout (the client's time to send its request) no
 * longer applies: --decision-timeout bounds the wait. While it waits for subscription decisions its next messages wait
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
/*
 * The socket's name: unique across every host of the cluster for as long as
 * it lives, also across restarts of a host. "<socket id>.<run>@<host id>":
 * sss_socket_id() in decimal, '.', 8 lowercase hex digits naming this run of
 * the host, '@', --host-id (which may hold ':' or '@': the host id is
 * everything after the first '@'). Pass it to a backend, and back to
 * sss_tell_socket() or POST /api/tell on any host.
 * Writes it NUL-terminated into buf (size bytes; SSS_SOCKET_NAME_MAX + 1
 * always suffice) and returns its length, or -ENOSPC when buf is too small
 * (buf then holds "" if size > 0). Lent sockets only, like every call here.
 */
int sss_socket_name(const struct sss_socket *s, char *buf, size_t size);
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
 * TELL {"sys":6,..} the socket with this name (sss_socket_name), on whichever
 * worker and host it is, the way POST /api/tell does. Returns 0 when it was
 * sent (a socket of this worker) or handed on (another worker's or host's:
 * if its connection is gone by then, it is counted and dropped, unseen);
 * SSS_APP_EGONE when the socket is known to be gone (this worker's, closed;
 * this host's, of a worker process no longer running or an earlier run);
 * SSS_APP_ENAME, SSS_APP_ETOPIC, SSS_APP_EJSON for bad arguments; -EMSGSIZE
 * or -ENOMEM when it cannot be handed on.
 */
int sss_tell_socket(struct sss_app *app, const char *socket_name, const char *topic,
                    const char *json, size_t len);

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

/* ---- timers and fd watches: deferred work inside the worker's loop ---- */

/*
 * A module that answers later (an ask, a TELL to a socket kept by id) needs
 * something to wake it: a timer, or one of its own descriptors becoming
 * ready (a pipe or eventfd its own thread writes, a socket to a service it
 * talks to without blocking). Both run in the worker's event loop, like the
 * handlers, and are per worker process: call them from a handler (or from
 * a timer or watch callback), never from sss_module_init, which runs in the
 * master (SSS_APP_ESTATE there).
 *
 * A handle is valid from the call that made it until it is cancelled, or
 * until its callback returns for the last time (a timer fires once; a watch
 * lasts until cancelled, or until it reports SSS_WATCH_ENDED); afterwards it
 * is dead, memory the library freed: forget it (set your copy to NULL in the
 * callback). No callback ever runs after its cancel returned 0, even if the
 * timer had expired or the fd had become ready in the same loop turn. When
 * the worker exits, pending timers and watches are freed without calling
 * their callbacks.
 */
struct sss_timer; /* one pending timer (owned by the library) */
struct sss_watch; /* one watch on a module's fd (owned by the library) */

/* A timer fired: runs once, in the worker's loop. The handle is dead once it returns. */
typedef void (*sss_timer_fn)(void *data);

/*
 * Call fn(data) once, ms milliseconds from now (0: on the next loop turn,
 * never before this call returns). Any number may be pending. *out (may be
 * NULL for a timer that is never cancelled) gets the handle, or NULL when
 * the call fails. Returns 0, -EINVAL (ms < 0 or no fn), -ENOMEM, or
 * SSS_APP_ESTATE outside a worker (in sss_module_init).
 */
int sss_timer_after(struct sss_app *app, int64_t ms, sss_timer_fn fn, void *data,
                    struct sss_timer **out);
/*
 * Cancel a pending timer: its fn will not run. Returns 0, -EINVAL for NULL,
 * or SSS_APP_EGONE when called from the timer's own fn (it has fired). A
 * handle that fired (its fn returned) or was cancelled is dead: passing it
 * again is a use after free.
 */
int sss_timer_cancel(struct sss_timer *t);

/* What a watch waits for, and what its callback is told (revents). */
enum sss_watch_events {
    SSS_WATCH_READ = 1,  /* readable (POLLIN) */
    SSS_WATCH_WRITE = 2, /* writable (POLLOUT) */
    SSS_WATCH_ERROR = 4, /* revents only: an error or hang-up (POLLERR, POLLHUP, POLLNVAL) */
    SSS_WATCH_ENDED = 8, /* revents only: the kernel refused to watch fd any longer (e.g. it
                          * is no longer open): the last call, the handle dies after it */
};

/*
 * fd is ready: revents holds SSS_WATCH_READ / _WRITE / _ERROR (and _ENDED on
 * the last call of a watch that ended by itself). Readiness is reported when
 * it happens, and need not be reported again while it lasts: make fd
 * non-blocking and read (or write) until EAGAIN each time, or the rest may
 * wait for the next change.
 */
typedef void (*sss_watch_fn)(int fd, unsigned revents, void *data);

/*
 * Call fn(fd, revents, data) each time fd becomes ready for events
 * (SSS_WATCH_READ and/or SSS_WATCH_WRITE), until sss_watch_cancel. The
 * module owns fd: the library never reads, writes or closes it; cancel the
 * watch before closing fd (the kernel holds its own reference until then).
 * *out (may be NULL for a watch never cancelled) gets the handle, or NULL
 * when the call fails. Returns 0, -EINVAL (fd < 0, no fn, events empty or
 * with other bits), -ENOMEM, or SSS_APP_ESTATE outside a worker (in
 * sss_module_init).
 */
int sss_watch_fd(struct sss_app *app, int fd, unsigned events, sss_watch_fn fn, void *data,
                 struct sss_watch **out);
/*
 * Stop watching: fn will not run again (the call may come from inside fn).
 * Returns 0, -EINVAL for NULL, or SSS_APP_EGONE from inside the last call of
 * a watch that ended (SSS_WATCH_ENDED). After it returns 0 the handle is dead.
 */
int sss_watch_cancel(struct sss_watch *w);

/* ---- modules ---- */

/* What `sss-server --app module.so` calls once; return 0, or non-zero to stop the server. */
int sss_module_init(struct sss_app *app);

#ifdef __cplusplus
}
#endif

#endif
