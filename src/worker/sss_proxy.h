/*
 * The backend proxy of a worker (PROXY.md): the clients' events as HTTP/JSON
 * calls to --proxy-url, their answers turned back into what the event
 * needs. Two files:
 *
 *   sss_proxy.c     the events: bodies, the per-socket order, the answers and
 *                   failure rules, the counters in shared memory;
 *   sss_proxy_io.c  the io_uring driver of sss_httpc (src/proxy): connect,
 *                   send, recv and close of each connection slot through the
 *                   loop's completion seam (sss_loop.h). It never blocks.
 *
 * Order: the calls of one socket are made one at a time, in the order its
 * events happened (struct sss_proxy_sock, a FIFO hung on the connection);
 * the close call of a socket joins that FIFO when the connection goes away
 * and is made after its earlier calls, after the connection is freed (a
 * queued call keeps its whole body, never a pointer to the connection).
 * A call whose client left is still made; its answer then finds nobody
 * (an ask's reply is a no-op on a closed connection).
 *
 * An ask's answer goes through a struct sss_reply (sss_app.h), so
 * --ask-timeout applies to it as to a module's asks: whichever comes first.
 * connect and subscribe answer a deferred decision (sss_decide.h), as a
 * module's later parsers do, so --decision-timeout applies to them too.
 * A module's handler wins: the session hooks call the proxy only for what
 * no handler of the module takes.
 * May include: what src/worker may, and src/proxy (sss_httpc).
 */
#ifndef SSS_PROXY_H
#define SSS_PROXY_H

#include <stdint.h>

#include "sss/sss.h"
#include "sss_proto.h"

struct sss_conn;
struct sss_decision;
struct sss_httpc;
struct sss_proxy;
struct sss_proxy_io;
struct sss_worker;

/*
 * The worker's proxy, when --proxy-url names a backend and --proxy-events
 * some event: resolves the backend's host (getaddrinfo, once: this may
 * block, at start only). Returns 0 with *out NULL when there is no proxy,
 * 0 with *out set, or a negative code (logged: the worker cannot start).
 */
int sss_proxy_create(struct sss_worker *w, struct sss_proxy **out);

/*
 * The worker ends (after its ring is gone): every call and connection is
 * freed, nothing is answered (pending asks are sss_app_fini's).
 */
void sss_proxy_destroy(struct sss_proxy *p);

/*
 * A client's ASK (TELL) whose topic no module handles: 1 when the proxy
 * took it (the RESPONSE comes later, or came already for a call that
 * failed at once), 0 when it does not make that event's calls (no proxy,
 * or the event is off), -ENOMEM (the caller answers the ask).
 */
int sss_proxy_ask(struct sss_conn *c, const char *topic, struct sss_proto_span id,
                  struct sss_proto_span msg);
int sss_proxy_tell(struct sss_conn *c, const char *topic, struct sss_proto_span msg);

/* Whether the worker's proxy makes the calls of event ev (enum sss_proxy_event). */
int sss_proxy_wants(const struct sss_worker *w, int ev);

/*
 * An upgrade no module's session parser decides (sss_decide.h: the proxy
 * answers d): POST /connect {"target", "headers", "remote"}; its answer
 * upgrades or refuses, a failure refuses with 503 "proxy unavailable".
 * req is lent for the call. Returns 1 when the proxy took d (maybe answered
 * already), 0 when it does not make connect calls.
 */
int sss_proxy_connect(struct sss_worker *w, const struct sss_request *req,
                      struct sss_decision *d);

/*
 * A subscription (a SUBSCRIBE, a SYNC entry, a resumed session's channel)
 * no module's parser decides: POST /subscribe {"socket", "user",
 * "session", "channel", "query"} in c's order; a failure refuses it with
 * "proxy unavailable". query is raw JSON (ptr NULL or len 0: null).
 * Returns 1 when the proxy took d (maybe answered already), 0 when it does
 * not make subscribe calls.
 */
int sss_proxy_subscribe(struct sss_conn *c, const char *channel, struct sss_proto_span query,
                        struct sss_decision *d);

/*
 * c goes away (from its close hook, before it is freed): begun says it had
 * begun (BEGIN or SYNC), which makes its close call. Its earlier calls go
 * on without it.
 */
void sss_proxy_closed(struct sss_conn *c, int begun);

/* The worker's tick: timeouts of calls. */
void sss_proxy_tick(struct sss_proxy *p, int64_t now_ms);

/* Calls not yet finished (a draining worker waits for them, up to its deadline). */
long sss_proxy_pending(const struct sss_proxy *p);

/* ---- between sss_proxy.c and sss_proxy_io.c ---- */

/* The driver of hc over the worker's ring; connects to the first address of host:port. */
int sss_proxy__io_create(struct sss_worker *w, struct sss_httpc *hc, const char *host, int port,
                         struct sss_proxy_io **out);
/* Close every descriptor and free the driver (the ring is gone: nothing is awaited). */
void sss_proxy__io_destroy(struct sss_proxy_io *io);
/*
 * Hand the client's wishes to the kernel (after sss_httpc_call or
 * sss_httpc_cancel): a no-op inside one of the client's callbacks, whose
 * driver call pumps when it returns.
 */
void sss_proxy__io_pump(struct sss_proxy_io *io);
/* sss_httpc_tick, then pump. */
void sss_proxy__io_tick(struct sss_proxy_io *io, int64_t now_ms);

#endif
