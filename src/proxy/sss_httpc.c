/*
 * The proxy's HTTP/1.1 client (see sss_httpc.h for the driver's contract).
 *
 * A slot is one connection to the backend:
 *
 *   FREE --pump--> WANT_CONNECT --want_connect--> CONNECTING --connected ok--> BUSY or IDLE
 *   IDLE --pump--> BUSY --answer, kept alive--> IDLE
 *   any open state --failure, timeout, not reusable--> WANT_CLOSE --want_close--> CLOSING
 *   CLOSING --closed--> FREE          (a failed connect goes straight back to FREE)
 *
 * A call is bound to a slot when it leaves the queue: to an IDLE slot, or to
 * a FREE one that is then connected for it, so a backend that refuses
 * connections fails each call at its own connect rather than at its timeout.
 * The queue is strict FIFO; a call being retried goes back to its front and
 * may only take a fresh connection (one that carried nothing yet), which its
 * own slot becomes once closed, so it never waits long.
 *
 * A call has a reference count: one for being live (queued, or being worked
 * on by a slot) and one while a send of its request is outstanding, because
 * the kernel may read that buffer until the driver reports the send (or the
 * slot's close). A cancelled call in flight stays on its slot with no
 * callback, so its answer is still read and dropped.
 *
 * llhttp parses answers. It pauses in on_message_complete, so the bytes after
 * a final answer are seen: on a connection with one call at a time they were
 * not asked for, and the connection is not reused. 1xx answers complete
 * without pausing and are skipped. Callbacks of the caller run last in each
 * entry point, once the slot is consistent, because they may queue new calls
 * (which may take that very slot) or cancel others.
 */
#include "sss_httpc.h"
#include "sss_alloc.h"
#include "sss_dynbuf.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include <llhttp.h>

#define SSS_HTTPC_KEEP_BODY 65536 /* body memory a slot keeps between answers */

enum slot_state {
    SLOT_FREE,         /* no connection */
    SLOT_WANT_CONNECT, /* bound to a call; the driver has not been told */
    SLOT_CONNECTING,   /* the driver connects */
    SLOT_IDLE,         /* open, no call */
    SLOT_BUSY,         /* open, a call in flight (maybe cancelled) */
    SLOT_WANT_CLOSE,   /* to be closed; the driver has not been told */
    SLOT_CLOSING,      /* the driver closes */
};

struct sss_httpc_call {
    struct sss_httpc *c;
    TAILQ_ENTRY(sss_httpc_call) link; /* the queue, while queued */
    sss_httpc_cb *cb;                 /* NULL once cancelled or called */
    void *data;
    int refs;                /* live + outstanding send */
    bool queued;
    bool retried;            /* sent again once already */
    bool fresh_only;         /* may only take a connection that carried nothing */
    int slot;                /* -1 when not on a slot */
    int64_t start_ms, deadline_ms;
    size_t req_len;
    char req[];              /* the whole request */
};

struct slot {
    struct sss_httpc *c;
    enum slot_state state;
    struct sss_httpc_call *call;    /* live call of this slot (may be cancelled) */
    struct sss_httpc_call *sending; /* a ref while a send is outstanding */
    llhttp_t parser;
    struct sss_dynbuf body;         /* the current answer's body */
    size_t sent;                    /* request bytes written */
    size_t got;                     /* answer bytes received for this call */
    size_t head;                    /* head bytes of this call's answers */
    size_t body_len;                /* body bytes of the current answer */
    bool used;                      /* carried a call before this one */
    bool done;                      /* the final answer is complete */
    bool keep_alive;                /* ... and llhttp says the connection may stay */
    int status;
    int fail;                       /* a failure our llhttp callbacks found, or -1 */
};

struct sss_httpc {
    char *host, *prefix, *host_header;
    int port;
    int nslots;
    int queue_max;
    size_t max_body;
    int64_t timeout_ms;
    int64_t now_ms;
    TAILQ_HEAD(, sss_httpc_call) queue; /* FIFO; retried calls go back near its front */
    int queued;
    struct sss_httpc_stats stats;
    llhttp_settings_t settings;
    struct slot *slots;
};

static const char *const fail_texts[SSS_HTTPC_FAIL_COUNT] = {
    [SSS_HTTPC_FAIL_REFUSED] = "connection refused",
    [SSS_HTTPC_FAIL_CONNECT] = "connect failed",
    [SSS_HTTPC_FAIL_TIMEOUT] = "timeout",
    [SSS_HTTPC_FAIL_CLOSED] = "closed mid-answer",
    [SSS_HTTPC_FAIL_TOO_LARGE] = "answer too large",
    [SSS_HTTPC_FAIL_BAD] = "bad answer",
    [SSS_HTTPC_FAIL_QUEUE] = "queue full",
    [SSS_HTTPC_FAIL_NOMEM] = "out of memory",
};

const char *sss_httpc_fail_text(enum sss_httpc_fail f)
{
    return (unsigned)f < SSS_HTTPC_FAIL_COUNT ? fail_texts[f] : "unknown";
}

/* ---- calls and the queue ---- */

static void call_unref(struct sss_httpc_call *call)
{
    assert(call->refs > 0);
    if (--call->refs == 0)
        sss_free(call);
}

static void queue_unlink(struct sss_httpc *c, struct sss_httpc_call *call)
{
    assert(call->queued);
    TAILQ_REMOVE(&c->queue, call, link);
    call->queued = false;
    c->queued--;
}

static void queue_append(struct sss_httpc *c, struct sss_httpc_call *call)
{
    TAILQ_INSERT_TAIL(&c->queue, call, link);
    call->queued = true;
    c->queued++;
}

/*
 * Put a call being retried back near the front: after the calls with an
 * earlier deadline (other retries), so the queue stays in deadline order and
 * sss_httpc_tick only looks at its head.
 */
static void queue_insert_retry(struct sss_httpc *c, struct sss_httpc_call *call)
{
    struct sss_httpc_call *n = TAILQ_FIRST(&c->queue);

    while (n && n->deadline_ms <= call->deadline_ms && n->retried)
        n = TAILQ_NEXT(n, link);
    if (n)
        TAILQ_INSERT_BEFORE(n, call, link);
    else
        TAILQ_INSERT_TAIL(&c->queue, call, link);
    call->queued = true;
    c->queued++;
}

/* Take the callback out of a live call (NULL when it was cancelled), counting the outcome. */
static sss_httpc_cb *call_finish(struct sss_httpc *c, struct sss_httpc_call *call, int fail,
                                 void **data)
{
    sss_httpc_cb *cb = call->cb;

    call->cb = NULL;
    *data = call->data;
    if (!cb)
        return NULL;
    if (fail >= 0)
        c->stats.failures[fail]++;
    else
        c->stats.answers++;
    if (c->now_ms > call->start_ms)
        c->stats.latency_ms += (uint64_t)(c->now_ms - call->start_ms);
    return cb;
}

/* Fail a call that no slot holds any more, and drop its live ref. */
static void call_fail(struct sss_httpc *c, struct sss_httpc_call *call, int fail)
{
    void *data;
    sss_httpc_cb *cb = call_finish(c, call, fail, &data);

    call->slot = -1;
    if (cb)
        cb(data, 0, NULL, 0, fail_texts[fail]);
    call_unref(call);
}

/* ---- slots ---- */

static void slot_bind(struct slot *s, struct sss_httpc_call *call, int index)
{
    s->call = call;
    call->slot = index;
    s->sent = 0;
    s->got = 0;
    s->head = 0;
    s->body_len = 0;
    s->done = false;
    s->keep_alive = false;
    s->status = 0;
    s->fail = -1;
}

/* The slot's connection goes: the driver is asked to close it. Its call is already dealt with. */
static void slot_close(struct sss_httpc *c, struct slot *s)
{
    assert(s->call == NULL);
    s->state = SLOT_WANT_CLOSE;
    c->stats.closes++;
}

/* Detach the live call of a slot (the caller then fails, requeues or answers it). */
static struct sss_httpc_call *slot_take(struct slot *s)
{
    struct sss_httpc_call *call = s->call;

    s->call = NULL;
    if (call)
        call->slot = -1;
    return call;
}

/* The slot a driver names. */
static struct slot *slot_at(struct sss_httpc *c, int slot)
{
    assert(slot >= 0 && slot < c->nslots);
    return &c->slots[slot];
}

/* The first slot in state from, now in state to (the driver was told); -1 when none. */
static int slot_hand_over(struct sss_httpc *c, enum slot_state from, enum slot_state to)
{
    for (int i = 0; i < c->nslots; i++) {
        if (c->slots[i].state == from) {
            c->slots[i].state = to;
            return i;
        }
    }
    return -1;
}

/* Drop the ref a send held: the driver reported it, or the connection is gone. */
static void slot_drop_send(struct slot *s)
{
    if (s->sending) {
        call_unref(s->sending);
        s->sending = NULL;
    }
}

/* A slot for a call leaving the queue: an idle connection, else a free slot; -1 when none. */
static int pick_slot(const struct sss_httpc *c, bool fresh_only)
{
    int i, free_slot = -1;

    for (i = 0; i < c->nslots; i++) {
        const struct slot *s = &c->slots[i];

        if (s->state == SLOT_IDLE && (!fresh_only || !s->used))
            return i;
        if (s->state == SLOT_FREE && free_slot < 0)
            free_slot = i;
    }
    return free_slot;
}

/*
 * Give queued calls to slots, in order. A call being retried at the head
 * waits for a fresh connection: at worst its own slot, once closed.
 */
static void pump(struct sss_httpc *c)
{
    struct sss_httpc_call *call;
    struct slot *s;
    int i;

    while ((call = TAILQ_FIRST(&c->queue)) != NULL && (i = pick_slot(c, call->fresh_only)) >= 0) {
        s = &c->slots[i];
        queue_unlink(c, call);
        slot_bind(s, call, i);
        s->state = s->state == SLOT_IDLE ? SLOT_BUSY : SLOT_WANT_CONNECT;
    }
}

/* ---- llhttp callbacks: they only record; the entry points act ---- */

static int on_message_begin(llhttp_t *p)
{
    struct slot *s = p->data;

    sss_dynbuf_reset(&s->body);
    s->body_len = 0;
    return 0;
}

static int count_head(struct slot *s, size_t n)
{
    s->head += n;
    if (s->head > SSS_HTTPC_MAX_HEAD) {
        s->fail = SSS_HTTPC_FAIL_BAD;
        return -1;
    }
    return 0;
}

static int on_head_data(llhttp_t *p, const char *at, size_t n)
{
    (void)at;
    return count_head(p->data, n);
}

static int on_headers_complete(llhttp_t *p)
{
    struct slot *s = p->data;
    int status = llhttp_get_status_code(p);

    /* 101 would switch protocols; below 100 is no HTTP status. */
    if (status < 100 || status == 101) {
        s->fail = SSS_HTTPC_FAIL_BAD;
        return -1;
    }
    if (status >= 200 && (p->flags & F_CONTENT_LENGTH) && p->content_length > s->c->max_body) {
        s->fail = SSS_HTTPC_FAIL_TOO_LARGE;
        return -1;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct slot *s = p->data;

    if (n > s->c->max_body - s->body_len) {
        s->fail = SSS_HTTPC_FAIL_TOO_LARGE;
        return -1;
    }
    s->body_len += n;
    /* A cancelled call's answer is only counted. */
    if (s->call && s->call->cb && sss_dynbuf_append(&s->body, at, n) < 0) {
        s->fail = SSS_HTTPC_FAIL_NOMEM;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct slot *s = p->data;
    int status = llhttp_get_status_code(p);

    if (status < 200)
        return 0; /* 1xx: the final answer follows */
    s->done = true;
    s->status = status;
    s->keep_alive = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED;
}

/* ---- ending a call on its slot ---- */

/*
 * The final answer of slot s is complete; extra says bytes followed it.
 * Reuse the connection when both sides keep it alive, nothing else came and
 * the whole request went out; else close it. Then the callback, last.
 */
static void slot_answered(struct sss_httpc *c, struct slot *s, bool extra)
{
    struct sss_httpc_call *call = slot_take(s);
    void *data;
    sss_httpc_cb *cb;

    if (s->keep_alive && !extra && !s->sending && s->sent == call->req_len) {
        s->state = SLOT_IDLE;
        s->used = true;
    } else {
        slot_close(c, s);
    }
    cb = call_finish(c, call, -1, &data);
    if (cb)
        cb(data, s->status, s->body.data ? s->body.data : "", s->body_len, NULL);
    call_unref(call);
    /* A big answer's memory is not kept for the next, usually small, one. */
    if (s->body.cap > SSS_HTTPC_KEEP_BODY)
        sss_dynbuf_fini(&s->body);
}

/*
 * The connection of busy slot s broke (EOF before the answer ended, a read
 * or send error, a parse error: fail) or its call timed out. A call that
 * saw no byte of answer on a reused connection goes back to the queue once.
 */
static void slot_broke(struct sss_httpc *c, struct slot *s, int fail)
{
    struct sss_httpc_call *call = slot_take(s);
    bool retry = fail == SSS_HTTPC_FAIL_CLOSED && call->cb && s->got == 0 && s->used &&
                 !call->retried;

    slot_close(c, s);
    if (retry) {
        call->retried = true;
        call->fresh_only = true;
        c->stats.retries++;
        queue_insert_retry(c, call);
        return;
    }
    call_fail(c, call, fail);
}

/* ---- the API ---- */

void sss_httpc_config_init(struct sss_httpc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 80;
    cfg->prefix = "";
    cfg->connections = SSS_HTTPC_CONNECTIONS;
    cfg->queue_max = SSS_HTTPC_QUEUE;
    cfg->max_body = SSS_HTTPC_MAX_BODY;
    cfg->timeout_ms = SSS_HTTPC_TIMEOUT_MS;
}

/* Printable ASCII without spaces: what a host, a prefix or a target may hold. */
static bool token_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

struct sss_httpc *sss_httpc_create(const struct sss_httpc_config *cfg)
{
    struct sss_httpc *c;
    size_t plen;
    int i;

    if (!cfg->host || !cfg->host[0] || !token_ok(cfg->host, strlen(cfg->host)) ||
        cfg->port < 1 || cfg->port > 65535 || cfg->connections < 1 || cfg->connections > 1024 ||
        cfg->queue_max < 0 || cfg->timeout_ms <= 0 || (cfg->prefix && cfg->prefix[0] &&
        (cfg->prefix[0] != '/' || !token_ok(cfg->prefix, strlen(cfg->prefix)))) ||
        (cfg->host_header && (!cfg->host_header[0] ||
                              !token_ok(cfg->host_header, strlen(cfg->host_header)))))
        return NULL;
    c = sss_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    TAILQ_INIT(&c->queue);
    c->port = cfg->port;
    c->nslots = cfg->connections;
    c->queue_max = cfg->queue_max;
    c->max_body = cfg->max_body;
    c->timeout_ms = cfg->timeout_ms;
    plen = cfg->prefix ? strlen(cfg->prefix) : 0;
    while (plen && cfg->prefix[plen - 1] == '/')
        plen--;
    c->host = sss_strndup(cfg->host, strlen(cfg->host));
    c->prefix = sss_strndup(plen ? cfg->prefix : "", plen);
    if (cfg->host_header) {
        c->host_header = sss_strndup(cfg->host_header, strlen(cfg->host_header));
    } else {
        /* RFC 9110 7.2: an IPv6 literal in brackets; the default port left out. */
        bool v6 = strchr(cfg->host, ':') != NULL;
        size_t n = strlen(cfg->host) + 16;

        c->host_header = sss_malloc(n);
        if (c->host_header && cfg->port == 80)
            snprintf(c->host_header, n, v6 ? "[%s]" : "%s", cfg->host);
        else if (c->host_header)
            snprintf(c->host_header, n, v6 ? "[%s]:%d" : "%s:%d", cfg->host, cfg->port);
    }
    c->slots = sss_calloc((size_t)c->nslots, sizeof(*c->slots));
    if (!c->host || !c->prefix || !c->host_header || !c->slots) {
        sss_httpc_destroy(c);
        return NULL;
    }
    llhttp_settings_init(&c->settings);
    c->settings.on_message_begin = on_message_begin;
    c->settings.on_status = on_head_data;
    c->settings.on_header_field = on_head_data;
    c->settings.on_header_value = on_head_data;
    c->settings.on_headers_complete = on_headers_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    for (i = 0; i < c->nslots; i++) {
        c->slots[i].c = c;
        sss_dynbuf_init(&c->slots[i].body, NULL, 0);
    }
    return c;
}

void sss_httpc_destroy(struct sss_httpc *c)
{
    int i;

    if (!c)
        return;
    while (!TAILQ_EMPTY(&c->queue)) {
        struct sss_httpc_call *call = TAILQ_FIRST(&c->queue);

        queue_unlink(c, call);
        call->cb = NULL;
        call_unref(call);
    }
    for (i = 0; c->slots && i < c->nslots; i++) {
        struct slot *s = &c->slots[i];

        slot_drop_send(s);
        if (s->call) {
            struct sss_httpc_call *call = slot_take(s);

            call->cb = NULL;
            call_unref(call);
        }
        sss_dynbuf_fini(&s->body);
    }
    sss_free(c->slots);
    sss_free(c->host);
    sss_free(c->prefix);
    sss_free(c->host_header);
    sss_free(c);
}

const char *sss_httpc_host(const struct sss_httpc *c)
{
    return c->host;
}

int sss_httpc_port(const struct sss_httpc *c)
{
    return c->port;
}

int sss_httpc_slots(const struct sss_httpc *c)
{
    return c->nslots;
}

int sss_httpc_queued(const struct sss_httpc *c)
{
    return c->queued;
}

bool sss_httpc_would_wait(const struct sss_httpc *c)
{
    return c->queued > 0 || pick_slot(c, false) < 0;
}

const struct sss_httpc_stats *sss_httpc_stats(const struct sss_httpc *c)
{
    return &c->stats;
}

/* NULL or "Name: value\r\n" lines: a name of token bytes, a value without CR, LF or NUL. */
static bool extra_ok(const char *extra)
{
    const char *p = extra;

    if (!extra)
        return true;
    while (*p) {
        const char *colon = p;

        while (*colon && *colon != ':' && *colon != '\r' && *colon != '\n')
            colon++;
        if (*colon != ':' || colon == p || !token_ok(p, (size_t)(colon - p)))
            return false;
        p = colon + 1;
        for (; *p && *p != '\r' && *p != '\n'; p++)
            if (((unsigned char)*p < 0x20 && *p != '\t') || (unsigned char)*p == 0x7f)
                return false;
        if (p[0] != '\r' || p[1] != '\n')
            return false;
        p += 2;
    }
    return true;
}

int sss_httpc_call(struct sss_httpc *c, const char *path, const char *extra, const void *body,
                   size_t len, sss_httpc_cb *cb, void *data, int64_t now_ms,
                   struct sss_httpc_call **out)
{
    static const char fmt[] = "POST %s%s HTTP/1.1\r\nHost: %s\r\n"
                              "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                              "Connection: keep-alive\r\n%s\r\n";
    struct sss_httpc_call *call;
    int head;

    *out = NULL;
    if (!path || path[0] != '/' || !token_ok(path, strlen(path)) || !extra_ok(extra) || !cb ||
        (len && !body))
        return SSS_EINVAL;
    if (now_ms > c->now_ms)
        c->now_ms = now_ms;
    c->stats.calls++;
    /* It would wait (behind others, or for a slot): the bound applies. */
    if (c->queued >= c->queue_max && (c->queued > 0 || pick_slot(c, false) < 0)) {
        c->stats.failures[SSS_HTTPC_FAIL_QUEUE]++;
        return SSS_EFULL;
    }
    head = snprintf(NULL, 0, fmt, c->prefix, path, c->host_header, len, extra ? extra : "");
    if (head < 0 || len > SIZE_MAX / 2)
        return SSS_EINVAL;
    call = sss_malloc(sizeof(*call) + (size_t)head + len + 1);
    if (!call)
        return -ENOMEM;
    memset(call, 0, sizeof(*call));
    call->c = c;
    call->cb = cb;
    call->data = data;
    call->refs = 1;
    call->slot = -1;
    call->start_ms = now_ms;
    call->deadline_ms = now_ms > INT64_MAX - c->timeout_ms ? INT64_MAX : now_ms + c->timeout_ms;
    snprintf(call->req, (size_t)head + 1, fmt, c->prefix, path, c->host_header, len,
             extra ? extra : "");
    if (len)
        memcpy(call->req + head, body, len);
    call->req_len = (size_t)head + len;
    queue_append(c, call);
    pump(c);
    *out = call;
    return 0;
}

void sss_httpc_cancel(struct sss_httpc_call *call)
{
    struct sss_httpc *c = call->c;
    struct slot *s;

    assert(call->cb);
    call->cb = NULL;
    c->stats.cancelled++;
    if (call->queued) {
        queue_unlink(c, call);
        call_unref(call);
        return;
    }
    assert(call->slot >= 0);
    s = &c->slots[call->slot];
    switch (s->state) {
    case SLOT_WANT_CONNECT:
        /* The driver has not heard of it: the slot is free again. */
        slot_take(s);
        call_unref(call);
        s->state = SLOT_FREE;
        pump(c);
        break;
    case SLOT_BUSY:
        /* Nothing of it went out: the connection is as good as idle. */
        if (s->sent == 0 && !s->sending && s->got == 0) {
            slot_take(s);
            call_unref(call);
            s->state = SLOT_IDLE;
            pump(c);
        }
        break;
    default:
        /* Connecting, or its answer to be read and dropped: it stays. */
        break;
    }
}

int64_t sss_httpc_tick(struct sss_httpc *c, int64_t now_ms)
{
    struct sss_httpc_call *call;
    int64_t next = -1;
    int i;

    if (now_ms > c->now_ms)
        c->now_ms = now_ms;
    while ((call = TAILQ_FIRST(&c->queue)) != NULL && call->deadline_ms <= c->now_ms) {
        queue_unlink(c, call);
        call_fail(c, call, SSS_HTTPC_FAIL_TIMEOUT);
    }
    for (i = 0; i < c->nslots; i++) {
        struct slot *s = &c->slots[i];

        if (s->call && s->call->deadline_ms <= c->now_ms) {
            if (s->state == SLOT_WANT_CONNECT) {
                s->state = SLOT_FREE;
                call_fail(c, slot_take(s), SSS_HTTPC_FAIL_TIMEOUT);
            } else {
                slot_broke(c, s, SSS_HTTPC_FAIL_TIMEOUT);
            }
        }
    }
    pump(c);
    if (!TAILQ_EMPTY(&c->queue))
        next = TAILQ_FIRST(&c->queue)->deadline_ms;
    for (i = 0; i < c->nslots; i++) {
        struct slot *s = &c->slots[i];

        if (s->call && (next < 0 || s->call->deadline_ms < next))
            next = s->call->deadline_ms;
    }
    return next;
}

int sss_httpc_want_connect(struct sss_httpc *c)
{
    return slot_hand_over(c, SLOT_WANT_CONNECT, SLOT_CONNECTING);
}

void sss_httpc_connected(struct sss_httpc *c, int slot, int res)
{
    struct slot *s = slot_at(c, slot);
    struct sss_httpc_call *call;

    if (s->state != SLOT_CONNECTING)
        return;
    call = s->call;
    if (res < 0) {
        s->state = SLOT_FREE;
        slot_take(s);
        pump(c);
        if (call)
            call_fail(c, call, res == -ECONNREFUSED ? SSS_HTTPC_FAIL_REFUSED
                                                    : SSS_HTTPC_FAIL_CONNECT);
        return;
    }
    c->stats.connects++;
    llhttp_init(&s->parser, HTTP_RESPONSE, &c->settings);
    s->parser.data = s;
    s->used = false;
    sss_dynbuf_reset(&s->body);
    if (call && !call->cb) {
        /* Cancelled while connecting: a fresh idle connection for the next call. */
        slot_take(s);
        call_unref(call);
        call = NULL;
    }
    s->state = call ? SLOT_BUSY : SLOT_IDLE;
    pump(c);
}

int sss_httpc_want_send(struct sss_httpc *c, const void **p, size_t *len)
{
    for (int i = 0; i < c->nslots; i++) {
        struct slot *s = &c->slots[i];

        if (s->state == SLOT_BUSY && !s->sending && s->sent < s->call->req_len) {
            s->sending = s->call;
            s->call->refs++;
            *p = s->call->req + s->sent;
            *len = s->call->req_len - s->sent;
            return i;
        }
    }
    return -1;
}

void sss_httpc_sent(struct sss_httpc *c, int slot, ssize_t res)
{
    struct slot *s = slot_at(c, slot);
    struct sss_httpc_call *call;

    call = s->sending;
    if (!call)
        return;
    s->sending = NULL;
    if (s->state == SLOT_BUSY && s->call == call) {
        if (res > 0) {
            assert((size_t)res <= call->req_len - s->sent);
            s->sent += (size_t)res;
        } else {
            slot_broke(c, s, SSS_HTTPC_FAIL_CLOSED);
        }
    }
    call_unref(call);
    pump(c);
}

bool sss_httpc_reading(const struct sss_httpc *c, int slot)
{
    enum slot_state st = c->slots[slot].state;

    return st == SLOT_IDLE || st == SLOT_BUSY;
}

bool sss_httpc_idle(const struct sss_httpc *c, int slot)
{
    return c->slots[slot].state == SLOT_IDLE;
}

void sss_httpc_received(struct sss_httpc *c, int slot, const void *data, size_t len)
{
    struct slot *s = slot_at(c, slot);
    llhttp_errno_t err;
    size_t used;

    if (len == 0 || (s->state != SLOT_IDLE && s->state != SLOT_BUSY))
        return;
    if (s->state == SLOT_IDLE) {
        /* Nobody asked: the connection cannot be trusted with the next call. */
        slot_close(c, s);
        pump(c);
        return;
    }
    s->got += len;
    err = llhttp_execute(&s->parser, data, len);
    if (s->done) {
        used = (size_t)(llhttp_get_error_pos(&s->parser) - (const char *)data);
        llhttp_resume(&s->parser);
        slot_answered(c, s, used < len);
    } else if (err != HPE_OK) {
        slot_broke(c, s, s->fail >= 0 ? s->fail : SSS_HTTPC_FAIL_BAD);
    }
    pump(c);
}

void sss_httpc_eof(struct sss_httpc *c, int slot, int err)
{
    struct slot *s = slot_at(c, slot);

    if (s->state == SLOT_IDLE) {
        slot_close(c, s);
    } else if (s->state == SLOT_BUSY) {
        /* An answer without a length ends here (llhttp_finish completes it). */
        if (err == 0 && s->got > 0 && llhttp_finish(&s->parser) != HPE_INVALID_EOF_STATE &&
            s->done) {
            s->keep_alive = false;
            slot_answered(c, s, false);
        } else {
            slot_broke(c, s, SSS_HTTPC_FAIL_CLOSED);
        }
    }
    pump(c);
}

int sss_httpc_want_close(struct sss_httpc *c)
{
    return slot_hand_over(c, SLOT_WANT_CLOSE, SLOT_CLOSING);
}

void sss_httpc_closed(struct sss_httpc *c, int slot)
{
    struct slot *s = slot_at(c, slot);

    if (s->state != SLOT_CLOSING)
        return;
    slot_drop_send(s);
    s->state = SLOT_FREE;
    s->used = false;
    pump(c);
}
