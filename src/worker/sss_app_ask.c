/*
 * libsss's pending asks (include/sss/sss.h: sss_ask_fn, sss_reply_*): an
 * ASK that a module's handler (or the backend proxy) answers now or later.
 *
 * A handler keeps a struct sss_reply * for as long as it likes, and may
 * answer after the ask timed out or after its client left. So that such a
 * late answer is a harmless no-op while the ask's memory is still freed at
 * once, the pointer handed out is not the ask's address but a handle: a
 * number, unique in the worker process for its life (a 64-bit counter),
 * looked up in the worker's map (asks_by_handle). A handle that is not there
 * any more (answered, timed out, connection closed) answers SSS_APP_EGONE;
 * it is never dereferenced.
 *
 * Bounds: a connection holds at most --max-pending-asks asks (the session
 * answers one more with an error RESPONSE), each with its client's id
 * copied inline (at most SSS_PROTO_ID_MAX bytes: the decoder refuses longer
 * ones). An ask leaves at its answer, at its --ask-timeout (the Timeout
 * RESPONSE) and when its connection closes. Every ask gets the same
 * timeout, so the worker's list in arrival order is in deadline order and
 * the tick looks only at the asks that are due.
 *
 * The one process-wide pointer of libsss (`asks_app`, the app of the worker
 * this process runs, set at sss_app_start) is what a handle is looked up
 * in: sss_reply_ok is given nothing else.
 */
#include "sss_app.h"
#include "sss_alloc.h"
#include "sss_backend.h"
#include "sss_conn.h"
#include "sss_log.h"
#include "sss_worker.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

struct sss_ask {
    uint64_t handle;          /* its key in asks_by_handle (the struct sss_reply * handed out) */
    struct sss_conn *c;       /* whose ask: c's list holds it, so c outlives it */
    int64_t deadline_ms;
    uint8_t busy;             /* sss_reply_history completes it */
    uint8_t id_len;
    char id[SSS_PROTO_ID_MAX]; /* the client's raw id (a JSON number or string), or none */
    TAILQ_ENTRY(sss_ask) link;  /* the worker's, oldest first */
    LIST_ENTRY(sss_ask) c_link; /* its connection's */
};

static_assert(SSS_PROTO_ID_MAX <= UINT8_MAX, "id_len holds any id");

/* The app of the worker this process runs (NULL in the master and after the worker's end). */
static struct sss_app *asks_app;

static struct sss_reply *handle_of(const struct sss_ask *a)
{
    return (struct sss_reply *)(uintptr_t)a->handle;
}

/* The pending ask of a handle, or NULL when it is not pending any more. */
static struct sss_ask *ask_of(const struct sss_reply *r)
{
    uint64_t h = (uint64_t)(uintptr_t)r;

    if (!asks_app || !r)
        return NULL;
    return sss_map_get(&asks_app->asks_by_handle, (const char *)&h, sizeof(h));
}

/* Forget a: off every list, freed. Its handle answers SSS_APP_EGONE from now on. */
static void ask_free(struct sss_app *app, struct sss_ask *a)
{
    (void)sss_map_del(&app->asks_by_handle, (const char *)&a->handle, sizeof(a->handle));
    TAILQ_REMOVE(&app->pending, a, link);
    LIST_REMOVE(a, c_link);
    assert(a->c->nasks > 0);
    a->c->nasks--;
    sss_ctr_add(app->w->ctr, asks_pending, -1);
    sss_free(a);
}

/* Send a's RESPONSE (msg json, or err) unless its connection is closing. */
static int ask_send(struct sss_ask *a, const char *json, size_t len,
                    const struct sss_proto_fail *err)
{
    struct sss_conn *c = a->c;
    struct sss_proto_span id = {a->id_len ? a->id : NULL, a->id_len}, msg = {json, len};
    struct sss_proto_out out;
    char tmp[1024];
    struct sss_buf *b;
    int rc;

    if (c->dead || c->closing)
        return SSS_APP_EGONE;
    sss_proto_out_init(&out, tmp, sizeof(tmp));
    rc = err ? sss_proto_encode_response_err(&out, id, err)
             : sss_proto_encode_response(&out, id, msg);
    b = sss_app__frame_of(c, &out, rc);
    if (!b)
        return rc < 0 ? rc : -ENOMEM;
    sss_conn_send(c, b);
    return 0;
}

/*
 * The ask r names, if it may be answered now: 0, SSS_APP_EGONE (answered,
 * timed out, or its connection closed) or SSS_APP_ESTATE (its history is
 * being read).
 */
static int ask_open(struct sss_reply *r, struct sss_ask **a)
{
    *a = ask_of(r);
    if (!*a)
        return SSS_APP_EGONE;
    return (*a)->busy ? SSS_APP_ESTATE : 0;
}

int sss_reply_ok(struct sss_reply *r, const char *json, size_t len)
{
    struct sss_ask *a;
    int rc = ask_open(r, &a);

    if (rc)
        return rc;
    if (!sss_app_json_valid(json, len))
        return SSS_APP_EJSON;
    rc = ask_send(a, json, len, NULL);
    ask_free(asks_app, a);
    return rc;
}

int sss_reply_err(struct sss_reply *r, const char *name, const char *message)
{
    struct sss_proto_fail f = {name ? name : "Error", message ? message : ""};
    struct sss_ask *a;
    int rc = ask_open(r, &a);

    if (rc)
        return rc;
    rc = ask_send(a, NULL, 0, &f);
    ask_free(asks_app, a);
    return rc;
}

int sss_reply_history(struct sss_reply *r, const char *channel, unsigned limit)
{
    struct sss_ask *a;
    int rc = ask_open(r, &a);

    if (rc)
        return rc;
    if (!channel || !sss_proto_channel_valid(channel, strlen(channel)))
        return SSS_APP_ECHANNEL;
    a->busy = 1; /* answered by the history's completion */
    rc = sss_backend_history(&asks_app->w->rpc, r, channel, limit);
    if (rc < 0)
        a->busy = 0;
    return rc;
}

void sss_app__history_done(struct sss_reply *r, const char *json, size_t len, int rc)
{
    struct sss_proto_fail f = {"History unavailable", "the channel's history could not be read"};
    struct sss_ask *a = ask_of(r);

    if (!a)
        return; /* timed out or its client left meanwhile */
    a->busy = 0;
    if (rc == 0)
        (void)ask_send(a, json, len, NULL);
    else
        (void)ask_send(a, NULL, 0, &f);
    ask_free(asks_app, a);
}

struct sss_reply *sss_app__reply_new(struct sss_conn *c, struct sss_proto_span id)
{
    struct sss_worker *w = c->w;
    struct sss_app *app = w->app;
    struct sss_ask *a;

    if (!app)
        return NULL;
    assert(id.len <= SSS_PROTO_ID_MAX);
    a = sss_calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->handle = app->ask_next++;
    if (sss_map_put(&app->asks_by_handle, (const char *)&a->handle, sizeof(a->handle), a) < 0) {
        sss_free(a);
        return NULL;
    }
    a->c = c;
    if (id.ptr && id.len) {
        memcpy(a->id, id.ptr, id.len);
        a->id_len = (uint8_t)id.len;
    }
    a->deadline_ms = w->now_ms + w->cfg->ask_timeout_ms;
    assert(TAILQ_EMPTY(&app->pending) ||
           TAILQ_LAST(&app->pending, sss_ask_list)->deadline_ms <= a->deadline_ms);
    TAILQ_INSERT_TAIL(&app->pending, a, link);
    LIST_INSERT_HEAD(&c->asks, a, c_link);
    c->nasks++;
    sss_ctr_add(w->ctr, asks_pending, 1);
    return handle_of(a);
}

int sss_app_ask(struct sss_conn *c, const char *topic, struct sss_proto_span id,
                struct sss_proto_span msg)
{
    sss_ask_fn fn;
    void *data;
    struct sss_reply *r;

    if (!sss_app__ask_handler(c->w->app, topic, &fn, &data))
        return 0;
    r = sss_app__reply_new(c, id);
    if (!r)
        return -ENOMEM;
    fn((struct sss_socket *)c, msg.ptr ? msg.ptr : "null", msg.ptr ? msg.len : 4, r, data);
    return 1;
}

void sss_app_tick(struct sss_worker *w, int64_t now)
{
    struct sss_proto_fail f = {"Timeout", "the server did not answer in time"};
    struct sss_app *app = w->app;
    struct sss_ask *a;

    /* Oldest first is deadline first: stop at the first not due. */
    while ((a = TAILQ_FIRST(&app->pending)) && now >= a->deadline_ms) {
        (void)ask_send(a, NULL, 0, &f);
        sss_ctr_add(w->ctr, asks_timed_out, 1);
        ask_free(app, a); /* the handler may still answer: a no-op then */
    }
}

void sss_app_conn_closed(struct sss_conn *c)
{
    struct sss_ask *a;

    if (!c->w->app)
        return;
    while ((a = LIST_FIRST(&c->asks)))
        ask_free(c->w->app, a);
}

void sss_app__asks_start(struct sss_app *app)
{
    sss_map_init(&app->asks_by_handle);
    TAILQ_INIT(&app->pending);
    app->ask_next = 1;
    asks_app = app;
}

void sss_app__asks_fini(struct sss_app *app)
{
    struct sss_ask *a;

    /* The connections may be gone already: only the worker's list is walked. */
    while ((a = TAILQ_FIRST(&app->pending))) {
        TAILQ_REMOVE(&app->pending, a, link);
        sss_free(a);
    }
    sss_map_fini(&app->asks_by_handle);
    asks_app = NULL;
}
