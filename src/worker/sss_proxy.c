/*
 * The backend proxy's events (see sss_proxy.h and PROXY.md).
 *
 * A struct pcall is one call: its event, its whole JSON body (built when
 * the event happened: socket name, user, session and the rest are copied,
 * so it outlives its connection), and what its answer feeds (an ask's
 * struct sss_reply). A socket's calls wait in its struct sss_proxy_sock in
 * order; only the head is handed to sss_httpc, and the next starts when it
 * ended. The sock lives while its connection does or a call of it is left.
 *
 * An answer is judged once for every event (a 2xx status and a JSON object
 * body, read with sss_json_each), then handed to the event's rule; anything
 * else is a failure with a reason (enum sss_proxy_fail), counted per event
 * in the worker's shared counters.
 *
 * Bound: --proxy-queue counts every call that waits, for a connection (in
 * sss_httpc's queue) or behind an earlier call of its socket (held here); a
 * call that would wait when that many do fails at once. A held call that
 * moves on to sss_httpc's queue keeps the total as it was, so sss_httpc's
 * own bound (the same number) never refuses it.
 */
#include "sss_proxy.h"
#include "sss_alloc.h"
#include "sss_app.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_decide.h"
#include "sss_dynbuf.h"
#include "sss_httpc.h"
#include "sss_json.h"
#include "sss_log.h"
#include "sss_shm.h"
#include "sss_worker.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define WARN_EVERY_MS 10000 /* a failing backend is logged at warn at most this often */

static_assert(SSS_SHM_PROXY_EVENTS == SSS_PROXY_EVENTS, "shm counts every proxy event");
static_assert(SSS_SHM_PROXY_REASONS == SSS_PROXY_FAIL_COUNT, "shm counts every failure reason");
static_assert(SSS_PROXY_FAIL_REFUSED == (int)SSS_HTTPC_FAIL_REFUSED &&
                  SSS_PROXY_FAIL_NOMEM == (int)SSS_HTTPC_FAIL_NOMEM &&
                  SSS_PROXY_FAIL_QUEUE == (int)SSS_HTTPC_FAIL_QUEUE &&
                  SSS_PROXY_FAIL_STATUS == (int)SSS_HTTPC_FAIL_COUNT,
              "the proxy's reasons start with sss_httpc's, in its order");

struct pcall {
    struct sss_proxy *p;
    struct sss_proxy_sock *sock; /* its socket's FIFO, or NULL */
    TAILQ_ENTRY(pcall) q;        /* in sock->calls */
    LIST_ENTRY(pcall) all;       /* in p->calls */
    struct sss_httpc_call *hc;   /* handed to the client: its handle until the callback */
    uint8_t ev;                  /* enum sss_proxy_event */
    uint8_t held;                /* counted in p->held (waits behind an earlier call) */
    uint8_t ending;              /* call_end runs: never started again */
    struct sss_reply *reply;     /* ask: answered exactly once */
    struct sss_decision *d;      /* connect, subscribe: answered exactly once */
    int64_t start_ms;
    size_t len;
    char body[]; /* JSON, len bytes */
};

TAILQ_HEAD(pcall_q, pcall);

struct sss_proxy_sock {
    struct sss_proxy *p;
    struct sss_conn *conn; /* borrowed; NULL once it went away */
    struct pcall_q calls;  /* in event order; the head may be in flight */
    int running;           /* sock_run or a call's end is on the stack: not freed under it */
    LIST_ENTRY(sss_proxy_sock) all;
};

struct sss_proxy {
    struct sss_worker *w;
    const struct sss_cfg *cfg;
    struct sss_httpc *hc;    /* owned */
    struct sss_proxy_io *io; /* owned */
    struct sss_counters *ctr; /* borrowed: this worker's, in shared memory */
    unsigned mask;           /* 1 << enum sss_proxy_event of the events it calls */
    long held;               /* calls waiting behind an earlier call of their socket */
    long queue_max;          /* --proxy-queue */
    long live;               /* calls not finished */
    int64_t last_warn_ms;
    char extra[192];         /* "X-SSS-Host: <host id>\r\n" */
    LIST_HEAD(, pcall) calls;
    LIST_HEAD(, sss_proxy_sock) socks;
};

static const char *const PROXY_ERROR = "Proxy error";

/* ---- answers ---- */

/*
 * The members of an answer object the events read. Views (msg, err) are
 * valid during the callback; strings are copied, cut at their cap (the
 * flag says so), control bytes made spaces.
 */
struct answer {
    struct sss_proto_span msg; /* ask: raw JSON, ptr NULL when absent */
    struct sss_proto_span err; /* ask: raw JSON of "err" */
    enum sss_json_type err_type;
    /* connect and subscribe: the type of each member present (-1 absent) */
    int user_t, session_t, status_t, reason_t, result_t;
    long status;
    uint8_t user_long, session_long;
    char user[SSS_USER_MAX + 1];
    char session[SSS_SESSION_MAX + 1];
    char reason[SSS_REASON_MAX * 4 + 1]; /* cut again by sss_decide_* */
};

/* Copy a string member into dst (cap bytes); 1 when it had to be cut. */
static int copy_str(char *dst, size_t cap, const struct sss_json_item *it)
{
    size_t n = it->str_len < cap - 1 ? it->str_len : cap - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)it->str[i];

        dst[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    dst[n] = '\0';
    return it->str_len > n;
}

static int key_is(const struct sss_json_item *it, const char *k)
{
    size_t n = strlen(k);

    return it->key_len == n && memcmp(it->key, k, n) == 0;
}

static int answer_item(void *data, const struct sss_json_item *it)
{
    struct answer *a = data;

    if (!it->key)
        return 0;
    if (key_is(it, "msg")) {
        a->msg = sss_proto_span_of(it->raw, it->raw_len);
    } else if (key_is(it, "err")) {
        a->err = sss_proto_span_of(it->raw, it->raw_len);
        a->err_type = it->type;
    } else if (key_is(it, "user")) {
        a->user_t = (int)it->type;
        if (it->type == SSS_JSON_STRING)
            a->user_long = (uint8_t)copy_str(a->user, sizeof(a->user), it);
    } else if (key_is(it, "session")) {
        a->session_t = (int)it->type;
        if (it->type == SSS_JSON_STRING)
            a->session_long = (uint8_t)copy_str(a->session, sizeof(a->session), it);
    } else if (key_is(it, "reason")) {
        a->reason_t = (int)it->type;
        if (it->type == SSS_JSON_STRING)
            (void)copy_str(a->reason, sizeof(a->reason), it);
    } else if (key_is(it, "status")) {
        char num[24], *end;
        size_t n = it->raw_len < sizeof(num) - 1 ? it->raw_len : sizeof(num) - 1;

        a->status_t = (int)it->type;
        memcpy(num, it->raw, n);
        num[n] = '\0';
        a->status = it->type == SSS_JSON_NUMBER ? strtol(num, &end, 10) : 0;
        if (it->type == SSS_JSON_NUMBER && *end)
            a->status_t = -2; /* not an integer */
    } else if (key_is(it, "result")) {
        a->result_t = (int)it->type;
    }
    return 0;
}

/*
 * Judge an HTTP answer (fail NULL) or sss_httpc's failure: -1 for a 2xx
 * with a JSON object body (a filled), else the reason. why gets the text an
 * ask's error RESPONSE carries.
 */
static int judge(int status, const char *body, size_t len, const char *fail, struct answer *a,
                 char *why, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->user_t = a->session_t = a->status_t = a->reason_t = a->result_t = -1;
    if (fail) {
        int f;

        for (f = 0; f < SSS_HTTPC_FAIL_COUNT; f++)
            if (strcmp(fail, sss_httpc_fail_text((enum sss_httpc_fail)f)) == 0)
                break;
        snprintf(why, cap, "%s", fail);
        return f < SSS_HTTPC_FAIL_COUNT ? f : SSS_PROXY_FAIL_BAD_HTTP;
    }
    if (status < 200 || status > 299) {
        snprintf(why, cap, "the backend answered %d", status);
        return SSS_PROXY_FAIL_STATUS;
    }
    if (sss_json_each(body, len, SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH, SSS_JSON_STRICT,
                      answer_item, a) != 0) {
        snprintf(why, cap, "the backend's answer is not a JSON object");
        return SSS_PROXY_FAIL_BODY;
    }
    return -1;
}

/* An "err" object's name and message (copied). */
struct err_fields {
    char name[256];
    char message[1024];
    int bad;
};

static int err_item(void *data, const struct sss_json_item *it)
{
    struct err_fields *e = data;
    int is_name = key_is(it, "name"), is_msg = key_is(it, "message");

    if (!is_name && !is_msg)
        return 0;
    if (it->type != SSS_JSON_STRING) {
        e->bad = 1;
        return 0;
    }
    if (is_name)
        (void)copy_str(e->name, sizeof(e->name), it);
    else
        (void)copy_str(e->message, sizeof(e->message), it);
    return 0;
}

/* ---- counting ---- */

static void count_end(struct pcall *call, int fail, const char *why)
{
    struct sss_proxy *p = call->p;
    struct sss_proxy_counters *k = &p->ctr->proxy[call->ev];
    int64_t ms = p->w->now_ms - call->start_ms;

    sss_ctr_add(k, latency_ms, (uint64_t)(ms > 0 ? ms : 0));
    sss_ctr_add(k, latency_count, 1);
    if (fail < 0)
        return;
    sss_ctr_add(k, failures[fail], 1);
    sss_log_debug("proxy", "call failed event=%s reason=%s: %s", sss_proxy_event_name(call->ev),
                  sss_proxy_fail_name(fail), why);
    if (p->w->now_ms - p->last_warn_ms >= WARN_EVERY_MS || !p->last_warn_ms) {
        p->last_warn_ms = p->w->now_ms;
        sss_log_warn("proxy", "backend call failed event=%s reason=%s: %s (counted in /metrics; "
                              "logged at most every %ds)",
                     sss_proxy_event_name(call->ev), sss_proxy_fail_name(fail), why,
                     WARN_EVERY_MS / 1000);
    }
}

/* ---- the events' rules ---- */

/* An ask's answer: {"err":{...}} is the error RESPONSE, else {"msg":...} the RESPONSE. */
static int ask_answered(struct pcall *call, const struct answer *a, char *why, size_t cap)
{
    if (a->err.ptr) {
        struct err_fields e;

        memset(&e, 0, sizeof(e));
        snprintf(e.name, sizeof(e.name), "Error");
        if (a->err_type != SSS_JSON_OBJECT ||
            sss_json_each(a->err.ptr, a->err.len, SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH,
                          SSS_JSON_STRICT, err_item, &e) != 0 ||
            e.bad) {
            snprintf(why, cap, "the backend's err is not {\"name\": string, \"message\": string}");
            return SSS_PROXY_FAIL_BODY;
        }
        (void)sss_reply_err(call->reply, e.name, e.message);
        call->reply = NULL;
        return -1;
    }
    if (!a->msg.ptr) {
        snprintf(why, cap, "the backend's answer has neither msg nor err");
        return SSS_PROXY_FAIL_BODY;
    }
    if (sss_reply_ok(call->reply, a->msg.ptr, a->msg.len) == SSS_APP_EJSON) {
        snprintf(why, cap, "the backend's msg is not JSON the server takes");
        return SSS_PROXY_FAIL_BODY;
    }
    call->reply = NULL;
    return -1;
}

static const char *const UNAVAILABLE = "proxy unavailable";

/* A member that must be absent, null or of type t. */
static int type_ok(int got, enum sss_json_type t)
{
    return got < 0 || got == SSS_JSON_NULL || got == (int)t;
}

/*
 * A connect's answer: {"status": 401|403, "reason"} refuses; else
 * {"user", "session"} (both optional) upgrades.
 */
static int connect_answered(struct pcall *call, const struct answer *a, char *why, size_t cap)
{
    struct sss_session_out out;
    int rc;

    if (!type_ok(a->user_t, SSS_JSON_STRING) || !type_ok(a->session_t, SSS_JSON_STRING) ||
        !type_ok(a->reason_t, SSS_JSON_STRING) || !type_ok(a->status_t, SSS_JSON_NUMBER) ||
        (a->status_t == SSS_JSON_NUMBER && a->status != 401 && a->status != 403) ||
        a->user_long || a->session_long) {
        snprintf(why, cap, "the backend's connect answer is not {\"user\", \"session\"} or "
                           "{\"status\": 401 or 403, \"reason\"}");
        return SSS_PROXY_FAIL_BODY;
    }
    memset(&out, 0, sizeof(out));
    if (a->status_t == SSS_JSON_NUMBER) {
        out.status = (int)a->status;
        out.reason = a->reason_t == SSS_JSON_STRING ? a->reason : "refused";
    } else {
        memcpy(out.user, a->user, sizeof(out.user));
        memcpy(out.session, a->session, sizeof(out.session));
    }
    rc = sss_decide_session(call->d, &out);
    call->d = NULL;
    if (rc == SSS_APP_ECHANNEL) {
        /* Refused already, with 500 "session parser error". */
        snprintf(why, cap, "the backend named an invalid user or session");
        return SSS_PROXY_FAIL_BODY;
    }
    return -1;
}

/* A subscribe's answer: {"result": true} allows; {"result": false, "reason"} refuses. */
static int subscribe_answered(struct pcall *call, const struct answer *a, char *why, size_t cap)
{
    if ((a->result_t != SSS_JSON_TRUE && a->result_t != SSS_JSON_FALSE) ||
        !type_ok(a->reason_t, SSS_JSON_STRING)) {
        snprintf(why, cap, "the backend's subscribe answer has no boolean result");
        return SSS_PROXY_FAIL_BODY;
    }
    (void)sss_decide_subscribe(call->d, a->result_t == SSS_JSON_TRUE,
                               a->reason_t == SSS_JSON_STRING ? a->reason
                                                              : "refused by the backend");
    call->d = NULL;
    return -1;
}

/* The event's failure rule, for what is still unanswered. */
static void failure_rule(struct pcall *call, const char *why)
{
    if (call->reply) {
        (void)sss_reply_err(call->reply, PROXY_ERROR, why);
        call->reply = NULL;
    }
    if (call->d && call->ev == SSS_PROXY_CONNECT)
        (void)sss_decision__refuse_session(call->d, 503, UNAVAILABLE);
    else if (call->d)
        (void)sss_decide_subscribe(call->d, 0, UNAVAILABLE);
    call->d = NULL;
}

/* ---- calls ---- */

static void sock_run(struct sss_proxy_sock *sock);

static void sock_free(struct sss_proxy_sock *sock)
{
    LIST_REMOVE(sock, all);
    sss_free(sock);
}

/*
 * The call ended (answered, failed, or failed at once): apply its event's
 * rule, count, free. Its socket's next call is the caller's business.
 */
static void call_end(struct pcall *call, int status, const char *body, size_t len,
                     const char *fail)
{
    struct sss_proxy *p = call->p;
    struct answer a;
    char why[256];
    int reason;

    /* The rules below answer the client, which may end its connection and
     * queue its close call behind this one: it must not start again. */
    call->ending = 1;
    call->hc = NULL;
    reason = judge(status, body, len, fail, &a, why, sizeof(why));
    if (reason < 0 && call->ev == SSS_PROXY_ASK)
        reason = ask_answered(call, &a, why, sizeof(why));
    else if (reason < 0 && call->ev == SSS_PROXY_CONNECT)
        reason = connect_answered(call, &a, why, sizeof(why));
    else if (reason < 0 && call->ev == SSS_PROXY_SUBSCRIBE)
        reason = subscribe_answered(call, &a, why, sizeof(why));
    if (reason >= 0)
        failure_rule(call, why);
    count_end(call, reason, why);
    if (call->sock)
        TAILQ_REMOVE(&call->sock->calls, call, q);
    if (call->held)
        p->held--;
    LIST_REMOVE(call, all);
    p->live--;
    sss_free(call);
}

/* A call that never reaches the client fails now (counted as made). */
static void call_fail_now(struct pcall *call, enum sss_httpc_fail f)
{
    call->start_ms = call->p->w->now_ms;
    sss_ctr_add(&call->p->ctr->proxy[call->ev], calls, 1);
    call_end(call, 0, NULL, 0, sss_httpc_fail_text(f));
}

/* sss_httpc's callback: the call ended; its socket's next one starts. */
static void on_answer(void *data, int status, const char *body, size_t len, const char *fail)
{
    struct pcall *call = data;
    struct sss_proxy_sock *sock = call->sock;

    if (!sock) {
        call_end(call, status, body, len, fail);
        return;
    }
    sock->running++;
    call_end(call, status, body, len, fail);
    sock->running--;
    sock_run(sock);
}

/* Hand call to the client. Returns 0, or < 0 when it failed at once (and ended). */
static int call_start(struct pcall *call)
{
    struct sss_proxy *p = call->p;
    char path[32];
    int rc;

    if (call->held) {
        call->held = 0;
        p->held--;
    }
    call->start_ms = p->w->now_ms;
    sss_ctr_add(&p->ctr->proxy[call->ev], calls, 1);
    snprintf(path, sizeof(path), "/%s", sss_proxy_event_name(call->ev));
    rc = sss_httpc_call(p->hc, path, p->extra, call->body, call->len, on_answer, call,
                        p->w->now_ms, &call->hc);
    if (rc == 0)
        return 0;
    call_end(call, 0, NULL, 0,
             sss_httpc_fail_text(rc == SSS_EFULL ? SSS_HTTPC_FAIL_QUEUE : SSS_HTTPC_FAIL_NOMEM));
    return rc;
}

/*
 * Start the socket's head call unless one is in flight (or ending up the
 * stack); free the sock once nothing holds it: no call, no connection, no
 * sock_run or call end under way for it.
 */
static void sock_run(struct sss_proxy_sock *sock)
{
    struct pcall *call;

    sock->running++;
    while ((call = TAILQ_FIRST(&sock->calls)) != NULL && !call->hc && !call->ending)
        if (call_start(call) == 0)
            break;
    sock->running--;
    if (!sock->running && TAILQ_EMPTY(&sock->calls) && !sock->conn)
        sock_free(sock);
}

/* A new call of event ev with body b (copied, and b freed either way); NULL on ENOMEM. */
static struct pcall *call_new(struct sss_proxy *p, int ev, struct sss_dynbuf *b)
{
    struct pcall *call = b->oom ? NULL : sss_malloc(sizeof(*call) + b->len + 1);

    if (call) {
        memset(call, 0, sizeof(*call));
        call->p = p;
        call->ev = (uint8_t)ev;
        call->len = b->len;
        memcpy(call->body, b->data, b->len);
        call->body[b->len] = '\0';
        LIST_INSERT_HEAD(&p->calls, call, all);
        p->live++;
    }
    sss_dynbuf_fini(b);
    return call;
}

/*
 * Queue call behind c's earlier calls (or start it now). A call that finds
 * no room, or no memory for c's FIFO, fails at once (its rule applies).
 */
static void sock_push(struct sss_proxy *p, struct sss_conn *c, struct pcall *call)
{
    struct sss_proxy_sock *sock = c->proxy;
    int busy;

    if (!sock) {
        sock = sss_calloc(1, sizeof(*sock));
        if (!sock) {
            call_fail_now(call, SSS_HTTPC_FAIL_NOMEM);
            return;
        }
        sock->p = p;
        sock->conn = c;
        TAILQ_INIT(&sock->calls);
        LIST_INSERT_HEAD(&p->socks, sock, all);
        c->proxy = sock;
    }
    busy = !TAILQ_EMPTY(&sock->calls);
    if ((busy || sss_httpc_would_wait(p->hc)) &&
        p->held + sss_httpc_queued(p->hc) >= p->queue_max) {
        call_fail_now(call, SSS_HTTPC_FAIL_QUEUE);
        return;
    }
    if (busy) {
        call->held = 1;
        p->held++;
    }
    call->sock = sock;
    TAILQ_INSERT_TAIL(&sock->calls, call, q);
    sock_run(sock);
}

/* ---- bodies ---- */

/* {"socket":..,"user":..,"session":.. (the rest, then "}", is the caller's). */
static void body_start(struct sss_dynbuf *b, const struct sss_conn *c)
{
    char name[SSS_SOCKET_NAME_MAX + 1];

    if (sss_socket_name((const struct sss_socket *)c, name, sizeof(name)) < 0)
        name[0] = '\0';
    sss_dynbuf_append(b, "{\"socket\":", 10);
    sss_proto_encode_string(b, name);
    sss_dynbuf_append(b, ",\"user\":", 8);
    sss_proto_encode_string(b, c->user);
    sss_dynbuf_append(b, ",\"session\":", 11);
    sss_proto_encode_string(b, c->session);
}

/* ask and tell: ...,"topic":..,"msg":..} */
static void body_topic_msg(struct sss_dynbuf *b, const char *topic, struct sss_proto_span msg)
{
    sss_dynbuf_append(b, ",\"topic\":", 9);
    sss_proto_encode_string(b, topic);
    sss_dynbuf_append(b, ",\"msg\":", 7);
    if (msg.ptr)
        sss_dynbuf_append(b, msg.ptr, msg.len);
    else
        sss_dynbuf_append(b, "null", 4);
    sss_dynbuf_append(b, "}", 1);
}

static int wants(const struct sss_conn *c, int ev)
{
    const struct sss_proxy *p = c->w->proxy;

    return p && (p->mask & (1u << ev));
}

/* ---- the events ---- */

int sss_proxy_ask(struct sss_conn *c, const char *topic, struct sss_proto_span id,
                  struct sss_proto_span msg)
{
    struct sss_proxy *p = c->w->proxy;
    struct sss_dynbuf b = SSS_DYNBUF_INIT;
    struct sss_reply *r;
    struct pcall *call;

    if (!wants(c, SSS_PROXY_ASK))
        return 0;
    r = sss_app__reply_new(c, id);
    if (!r)
        return -ENOMEM;
    body_start(&b, c);
    body_topic_msg(&b, topic, msg);
    call = call_new(p, SSS_PROXY_ASK, &b);
    if (!call) {
        (void)sss_reply_err(r, PROXY_ERROR, "out of memory");
        return 1;
    }
    call->reply = r;
    sock_push(p, c, call);
    sss_proxy__io_pump(p->io);
    return 1;
}

int sss_proxy_tell(struct sss_conn *c, const char *topic, struct sss_proto_span msg)
{
    struct sss_proxy *p = c->w->proxy;
    struct sss_dynbuf b = SSS_DYNBUF_INIT;
    struct pcall *call;

    if (!wants(c, SSS_PROXY_TELL))
        return 0;
    body_start(&b, c);
    body_topic_msg(&b, topic, msg);
    call = call_new(p, SSS_PROXY_TELL, &b);
    if (!call) {
        sss_log_debug("proxy", "tell dropped: out of memory");
        return 1;
    }
    sock_push(p, c, call);
    sss_proxy__io_pump(p->io);
    return 1;
}

int sss_proxy_wants(const struct sss_worker *w, int ev)
{
    return w->proxy && (w->proxy->mask & (1u << ev));
}

/* "name":"value" of a header the client sent (value ""; absent), after a first one. */
static void header_member(struct sss_dynbuf *b, int *n, const char *name, const char *value)
{
    if (!value || !value[0])
        return;
    if ((*n)++)
        sss_dynbuf_append(b, ",", 1);
    sss_proto_encode_string(b, name);
    sss_dynbuf_append(b, ":", 1);
    sss_proto_encode_string(b, value);
}

int sss_proxy_connect(struct sss_worker *w, const struct sss_request *req, struct sss_decision *d)
{
    struct sss_proxy *p = w->proxy;
    struct sss_dynbuf b = SSS_DYNBUF_INIT;
    struct pcall *call;
    int n = 0;

    if (!sss_proxy_wants(w, SSS_PROXY_CONNECT))
        return 0;
    sss_dynbuf_append(&b, "{\"target\":", 10);
    sss_proto_encode_string(&b, req->target ? req->target : "");
    sss_dynbuf_append(&b, ",\"headers\":{", 12);
    header_member(&b, &n, "cookie", req->cookie);
    header_member(&b, &n, "authorization", req->authorization);
    header_member(&b, &n, "origin", req->origin);
    header_member(&b, &n, "user-agent", req->user_agent);
    header_member(&b, &n, "x-forwarded-for", req->forwarded_for);
    sss_dynbuf_append(&b, "},\"remote\":", 11);
    sss_proto_encode_string(&b, req->remote ? req->remote : "");
    sss_dynbuf_append(&b, "}", 1);
    call = call_new(p, SSS_PROXY_CONNECT, &b);
    if (!call) {
        (void)sss_decision__refuse_session(d, 503, UNAVAILABLE);
        return 1;
    }
    call->d = d;
    /* No socket yet, so no order to keep: it waits only for a connection. */
    if (sss_httpc_would_wait(p->hc) && p->held + sss_httpc_queued(p->hc) >= p->queue_max)
        call_fail_now(call, SSS_HTTPC_FAIL_QUEUE);
    else
        (void)call_start(call);
    sss_proxy__io_pump(p->io);
    return 1;
}

int sss_proxy_subscribe(struct sss_conn *c, const char *channel, struct sss_proto_span query,
                        struct sss_decision *d)
{
    struct sss_proxy *p = c->w->proxy;
    struct sss_dynbuf b = SSS_DYNBUF_INIT;
    struct pcall *call;

    if (!wants(c, SSS_PROXY_SUBSCRIBE))
        return 0;
    body_start(&b, c);
    sss_dynbuf_append(&b, ",\"channel\":", 11);
    sss_proto_encode_string(&b, channel);
    sss_dynbuf_append(&b, ",\"query\":", 9);
    if (query.ptr && query.len)
        sss_dynbuf_append(&b, query.ptr, query.len);
    else
        sss_dynbuf_append(&b, "null", 4);
    sss_dynbuf_append(&b, "}", 1);
    call = call_new(p, SSS_PROXY_SUBSCRIBE, &b);
    if (!call) {
        (void)sss_decide_subscribe(d, 0, UNAVAILABLE);
        return 1;
    }
    call->d = d;
    sock_push(p, c, call);
    sss_proxy__io_pump(p->io);
    return 1;
}

void sss_proxy_closed(struct sss_conn *c, int begun)
{
    struct sss_proxy *p = c->w->proxy;
    struct sss_proxy_sock *sock;

    if (!p)
        return;
    if (begun && wants(c, SSS_PROXY_CLOSE)) {
        struct sss_dynbuf b = SSS_DYNBUF_INIT;
        struct pcall *call;

        body_start(&b, c);
        sss_dynbuf_printf(&b, ",\"code\":%u}", (unsigned)sss_conn_close_code(c));
        call = call_new(p, SSS_PROXY_CLOSE, &b);
        if (call)
            sock_push(p, c, call);
        else
            sss_log_debug("proxy", "close call dropped: out of memory");
    }
    sock = c->proxy;
    if (sock) {
        c->proxy = NULL;
        sock->conn = NULL;
        if (TAILQ_EMPTY(&sock->calls) && !sock->running)
            sock_free(sock); /* else the last call's end frees it */
    }
    sss_proxy__io_pump(p->io);
}

void sss_proxy_tick(struct sss_proxy *p, int64_t now_ms)
{
    sss_proxy__io_tick(p->io, now_ms);
}

long sss_proxy_pending(const struct sss_proxy *p)
{
    return p ? p->live : 0;
}

/* ---- life ---- */

int sss_proxy_create(struct sss_worker *w, struct sss_proxy **out)
{
    const struct sss_cfg *cfg = w->cfg;
    struct sss_httpc_config hcfg;
    struct sss_proxy *p;
    int rc;

    *out = NULL;
    if (!cfg->proxy_mask || !cfg->proxy_url[0])
        return 0;
    p = sss_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->w = w;
    p->cfg = cfg;
    p->ctr = w->ctr;
    p->mask = cfg->proxy_mask;
    p->queue_max = cfg->proxy_queue;
    LIST_INIT(&p->calls);
    LIST_INIT(&p->socks);
    if ((size_t)snprintf(p->extra, sizeof(p->extra), "X-SSS-Host: %s\r\n", cfg->host_id) >=
        sizeof(p->extra)) {
        sss_log_error("proxy", "--host-id is too long for the X-SSS-Host header");
        sss_free(p);
        return SSS_EINVAL;
    }
    sss_httpc_config_init(&hcfg);
    hcfg.host = cfg->proxy_host;
    hcfg.port = cfg->proxy_port;
    hcfg.prefix = cfg->proxy_prefix;
    hcfg.connections = cfg->proxy_connections;
    hcfg.queue_max = cfg->proxy_queue;
    hcfg.max_body = cfg->max_message_size;
    hcfg.timeout_ms = cfg->proxy_timeout_ms;
    p->hc = sss_httpc_create(&hcfg);
    if (!p->hc) {
        sss_log_error("proxy", "cannot make the HTTP client of --proxy-url %s", cfg->proxy_url);
        sss_free(p);
        return SSS_EINVAL;
    }
    rc = sss_proxy__io_create(w, p->hc, cfg->proxy_host, cfg->proxy_port, &p->io);
    if (rc < 0) {
        sss_httpc_destroy(p->hc);
        sss_free(p);
        return rc;
    }
    sss_log_info("proxy", "calling %s events=%s connections=%d timeout_ms=%lld", cfg->proxy_url,
                 cfg->proxy_events, cfg->proxy_connections, (long long)cfg->proxy_timeout_ms);
    *out = p;
    return 0;
}

void sss_proxy_destroy(struct sss_proxy *p)
{
    struct pcall *call;
    struct sss_proxy_sock *sock;

    if (!p)
        return;
    sss_proxy__io_destroy(p->io);
    sss_httpc_destroy(p->hc); /* no callback: the calls are freed below */
    while ((call = LIST_FIRST(&p->calls)) != NULL) {
        LIST_REMOVE(call, all);
        sss_free(call); /* an ask's reply is sss_app_fini's */
    }
    while ((sock = LIST_FIRST(&p->socks)) != NULL) {
        if (sock->conn)
            sock->conn->proxy = NULL;
        sock_free(sock);
    }
    sss_free(p);
}
