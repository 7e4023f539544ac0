/*
 * sss_httpc: the HTTP/1.1 client of the backend proxy (PROXY.md), one per
 * backend per worker. Sans-IO: it builds requests, parses answers (llhttp),
 * keeps time and decides, but never touches a socket or a clock. A driver
 * (the worker's io_uring loop; a blocking loop in tests/unit/test_httpc.c)
 * owns the file descriptors and moves bytes:
 *
 *   slot = sss_httpc_want_connect(c)     open a connection for that slot,
 *   sss_httpc_connected(c, slot, res)      then report the result;
 *   slot = sss_httpc_want_send(c, &p, &n)  send up to n bytes at p,
 *   sss_httpc_sent(c, slot, res)           then report how many (or -errno);
 *   sss_httpc_received(c, slot, p, n)      what a read on an open slot gave,
 *   sss_httpc_eof(c, slot, err)            or its end (0) or error (-errno);
 *   slot = sss_httpc_want_close(c)         close that slot's descriptor,
 *   sss_httpc_closed(c, slot)              once no operation on it is pending;
 *   sss_httpc_tick(c, now_ms)              time, for deadlines and latency.
 * After any call into this module (sss_httpc_call and sss_httpc_cancel
 * included) the driver asks want_close, want_connect and want_send again
 * until each says -1. A slot is *open* from a successful connected() until
 * want_close() names it; the driver keeps a read going on every open slot
 * (sss_httpc_reading), so that a backend closing an idle connection is seen.
 *
 * Calls: sss_httpc_call queues a POST {prefix}{path} with a JSON body; each
 * connection carries one call at a time (no pipelining), so N connections
 * give N calls in flight and the others wait in a FIFO queue of bounded
 * length. Every accepted call ends in exactly one callback: an HTTP answer
 * (any final status; 1xx are skipped) or a failure, unless it is cancelled
 * first. A connection is reused when its answer was read to the end and
 * both sides keep it alive; otherwise it is closed (timeout, cancel while
 * the answer is in flight and not read to the end, "Connection: close", a
 * parse error, bytes nobody asked for). A call sent on a reused connection
 * that ends before the first byte of its answer (the backend closed the
 * idle connection as we wrote) is sent once more on a fresh connection.
 *
 * Buffers: the pointer want_send gives stays valid until sent() or closed()
 * for that slot, whatever happens to the call meanwhile (a cancelled or
 * timed-out call's request lives on while the kernel may read it).
 *
 * Not thread-safe: one worker owns a client. Callbacks run inside the
 * driver's calls (received, eof, sent, connected, tick); they may call
 * sss_httpc_call and sss_httpc_cancel but not the driver functions,
 * sss_httpc_tick or sss_httpc_destroy.
 */
#ifndef SSS_HTTPC_H
#define SSS_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sss_err.h"

#define SSS_HTTPC_CONNECTIONS 16    /* --proxy-connections default */
#define SSS_HTTPC_QUEUE 1024        /* calls waiting for a connection, default */
#define SSS_HTTPC_TIMEOUT_MS 5000   /* --proxy-timeout default */
#define SSS_HTTPC_MAX_BODY 1048576  /* --max-message-size default */
#define SSS_HTTPC_MAX_HEAD 16384    /* status lines and headers of one answer */

/* Why a call failed; sss_httpc_fail_text gives the reason the callback gets. */
enum sss_httpc_fail {
    SSS_HTTPC_FAIL_REFUSED,   /* "connection refused": connect gave ECONNREFUSED */
    SSS_HTTPC_FAIL_CONNECT,   /* "connect failed": any other connect error */
    SSS_HTTPC_FAIL_TIMEOUT,   /* "timeout": no whole answer within the timeout */
    SSS_HTTPC_FAIL_CLOSED,    /* "closed mid-answer": EOF or error before the answer ended */
    SSS_HTTPC_FAIL_TOO_LARGE, /* "answer too large": body over max_body */
    SSS_HTTPC_FAIL_BAD,       /* "bad answer": not HTTP/1.x (llhttp error), 101, head too big */
    SSS_HTTPC_FAIL_QUEUE,     /* "queue full": refused by sss_httpc_call, no callback */
    SSS_HTTPC_FAIL_NOMEM,     /* "out of memory": the answer's body could not be kept */
    SSS_HTTPC_FAIL_COUNT
};

/* What the caller reads for /metrics; counters only grow. */
struct sss_httpc_stats {
    uint64_t calls;       /* sss_httpc_call with valid arguments (queue full included) */
    uint64_t answers;     /* HTTP answers given to callbacks (any status) */
    uint64_t failures[SSS_HTTPC_FAIL_COUNT]; /* by reason (queue full included) */
    uint64_t cancelled;   /* sss_httpc_cancel of a live call */
    uint64_t latency_ms;  /* sum over answers and failures with a callback, call to callback */
    uint64_t retries;     /* calls sent again after a reused connection closed */
    uint64_t connects;    /* connections opened */
    uint64_t closes;      /* connections the driver was asked to close */
};

struct sss_httpc_config {
    const char *host;        /* the backend's address, for the driver; copied */
    int port;                /* 1..65535 */
    const char *prefix;      /* path prefix, "" or "/hooks" (a final '/' dropped); copied */
    const char *host_header; /* Host: value; NULL gives host[:port]; copied */
    int connections;         /* connection slots, 1..1024 */
    int queue_max;           /* calls waiting for a connection, 0.. */
    size_t max_body;         /* bigger answer bodies fail (SSS_HTTPC_FAIL_TOO_LARGE) */
    int64_t timeout_ms;      /* from sss_httpc_call to the whole answer, > 0 */
};

/*
 * Completion of a call. fail is NULL for an HTTP answer: status is its code
 * (200..999; what counts as success is the caller's business) and body its
 * body_len bytes, lent until the callback returns (NUL-terminated, not
 * counted). Otherwise fail is one of the reasons of enum sss_httpc_fail (a
 * static string), status 0, body NULL.
 */
typedef void sss_httpc_cb(void *data, int status, const char *body, size_t body_len,
                          const char *fail);

struct sss_httpc;
struct sss_httpc_call;

/* Fill cfg with the defaults above, no host, port 80, prefix "". */
void sss_httpc_config_init(struct sss_httpc_config *cfg);

/*
 * A client for one backend. Returns NULL when cfg is out of range (host
 * NULL or empty, port, connections, timeout, a prefix or Host value with
 * control bytes or spaces) or memory runs out. Allocates every slot now.
 */
struct sss_httpc *sss_httpc_create(const struct sss_httpc_config *cfg);

/*
 * Free the client, its queued and in-flight calls (their callbacks are not
 * called) and every request buffer. The driver has closed every slot's
 * descriptor and awaited its pending operations first.
 */
void sss_httpc_destroy(struct sss_httpc *c);

/* The backend, as configured (for the driver's connect). */
const char *sss_httpc_host(const struct sss_httpc *c);
int sss_httpc_port(const struct sss_httpc *c);
int sss_httpc_slots(const struct sss_httpc *c);

/*
 * Queue the call POST {prefix}{path}, with headers Host, Content-Type:
 * application/json, Content-Length, Connection: keep-alive, then extra (NULL
 * or "Name: value" lines each ended by "\r\n", e.g. "X-SSS-Host: h1\r\n"),
 * and body (len bytes, copied; may be NULL when len is 0). cb(data, ...)
 * runs once, later, never from inside this function. now_ms starts the
 * call's timeout (and is the clock for latency, as in sss_httpc_tick).
 *
 * Returns 0 and sets *call to a handle valid until the callback starts or
 * sss_httpc_cancel; SSS_EFULL when queue_max calls already wait (counted as
 * a "queue full" failure; the caller applies its failure rule at once);
 * SSS_EINVAL for a path not starting with '/' or holding bytes outside
 * 0x21..0x7e, or bad extra lines; -ENOMEM.
 */
int sss_httpc_call(struct sss_httpc *c, const char *path, const char *extra, const void *body,
                   size_t len, sss_httpc_cb *cb, void *data, int64_t now_ms,
                   struct sss_httpc_call **call) SSS_WUR;

/*
 * The caller no longer wants call's answer (its handle is invalid after
 * this): its callback is never called. A queued call is dropped; a call in
 * flight stays on its connection, whose answer is read and dropped so the
 * connection can be reused (within the call's timeout; else it is closed).
 */
void sss_httpc_cancel(struct sss_httpc_call *call);

/*
 * Time passes: fail the calls whose timeout ended (queued ones; in-flight
 * ones also get their connection closed) and take now_ms as the clock for
 * latencies. now_ms never goes back. Returns the earliest deadline still
 * pending (the driver wakes up then), or -1 when no call is pending.
 */
int64_t sss_httpc_tick(struct sss_httpc *c, int64_t now_ms);

/* Driver side: see the head of this file. Slots are 0..sss_httpc_slots - 1. */

/* A slot to connect (now CONNECTING), or -1. */
int sss_httpc_want_connect(struct sss_httpc *c);

/*
 * The connect of slot ended: res 0 (the slot is open) or -errno (the driver
 * has closed its descriptor; the slot's call fails with "connection refused"
 * for -ECONNREFUSED, "connect failed" otherwise). Ignored unless the slot is
 * connecting (a slot named by want_close meanwhile ignores it).
 */
void sss_httpc_connected(struct sss_httpc *c, int slot, int res);

/*
 * A slot with request bytes to send and no send outstanding: *p and *len
 * say which (*len > 0); the slot then has a send outstanding until sent().
 * Returns -1 when there is none.
 */
int sss_httpc_want_send(struct sss_httpc *c, const void **p, size_t *len);

/* The outstanding send of slot wrote res bytes (> 0) or failed (-errno; 0 counts as -EPIPE). */
void sss_httpc_sent(struct sss_httpc *c, int slot, ssize_t res);

/* Whether slot is open, so the driver reads it. */
bool sss_httpc_reading(const struct sss_httpc *c, int slot);

/* Whether slot is open with no call on it (what it reads now can only be its end). */
bool sss_httpc_idle(const struct sss_httpc *c, int slot);

/* Bytes read on slot (len > 0; data lent for the call). Ignored unless open. */
void sss_httpc_received(struct sss_httpc *c, int slot, const void *data, size_t len);

/* A read on slot found the end of the stream (err 0) or failed (-errno). Ignored unless open. */
void sss_httpc_eof(struct sss_httpc *c, int slot, int err);

/* A slot whose descriptor must be closed (now CLOSING: events for it are ignored), or -1. */
int sss_httpc_want_close(struct sss_httpc *c);

/* The descriptor of a CLOSING slot is closed and nothing on it is pending: the slot is free. */
void sss_httpc_closed(struct sss_httpc *c, int slot);

/* Calls waiting in the queue for a connection. */
int sss_httpc_queued(const struct sss_httpc *c);

/*
 * Whether a call made now would wait in the queue (others wait already, or
 * no slot is idle or free): what queue_max bounds. A caller that keeps
 * calls of its own waiting (in front of this client) bounds both together.
 */
bool sss_httpc_would_wait(const struct sss_httpc *c);

/* The counters; the pointer lives as long as c. */
const struct sss_httpc_stats *sss_httpc_stats(const struct sss_httpc *c);

/* The callback's reason for f ("timeout", ...). */
const char *sss_httpc_fail_text(enum sss_httpc_fail f);

#endif
