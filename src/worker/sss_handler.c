/*
 * The protocol side of a worker (see sss_handler.h).
 *
 * Flows kept here (DESIGN.md 4 and 8):
 *   SUBSCRIBE  index the connection at once (pending), ask the scaler for the
 *              channel's last uid L, reply with L, then deliver held FEEDs > L.
 *   SYNC       same, with the history after each lastUid: the reply carries
 *              the records, then held FEEDs above the history's end follow.
 *   PUBLISH    (where --allow-client-publish allows) the scaler gives the uid;
 *              the reply carries it; the FEED comes back through the bus.
 *   bus lap    every local channel holds its FEEDs, fetches the history
 *              after the last uid it saw, delivers it, then releases; a
 *              channel whose history no longer reaches back closes its
 *              connections with 4008 so that their SYNC reports the gap.
 */
#include "sss_handler.h"
#include "sss_alloc.h"
#include "sss_app.h"
#include "sss_bus.h"
#include "sss_conn.h"
#include "sss_hostmsg.h"
#include "sss_log.h"
#include "sss_ring.h"
#include "sss_sub.h"
#include "sss_wake.h"
#include "sss_worker.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

#define BATCH 512 /* bus or mailbox records per poll */

static const char *const ERR_NAME = "Super Scaled Sockets Error";
static const char *const BUSY = "server busy or out of memory: try again";
#define PUB_RESTART_WAIT_MS 3000 /* a publish a dead scaler may have taken: wait this long */

enum req_kind { REQ_SUB = 1, REQ_SYNC, REQ_PUB, REQ_LAP, REQ_HIST, REQ_BEGIN, REQ_SESSION };

/* FEED texts collected from history (for a SYNC reply or a history answer). */
struct feed_list {
    struct sss_proto_out text; /* the FEEDs, back to back */
    uint32_t *len;             /* the length of each (owned) */
    size_t n, cap;
};

static void feed_list_init(struct feed_list *fl)
{
    sss_proto_out_init(&fl->text, NULL, 0);
    fl->len = NULL;
    fl->n = fl->cap = 0;
}

static void feed_list_fini(struct feed_list *fl)
{
    sss_proto_out_fini(&fl->text);
    sss_free(fl->len);
}

/* Append one FEED; on ENOMEM the list is marked (fl->text.oom) and stays as it was. */
static void feed_list_add(struct feed_list *fl, const char *chan, const char *topic,
                          size_t topic_len, struct sss_proto_span msg, const struct sss_uid *uid)
{
    char t[SSS_PROTO_TOPIC_MAX + 1];
    size_t before = fl->text.len;

    if (fl->n == fl->cap) {
        size_t ncap = fl->cap ? fl->cap * 2 : 16;
        uint32_t *nl = sss_realloc(fl->len, ncap * sizeof(*nl));

        if (!nl) {
            fl->text.oom = true;
            return;
        }
        fl->len = nl;
        fl->cap = ncap;
    }
    memcpy(t, topic, topic_len);
    t[topic_len] = '\0';
    if (sss_proto_encode_feed(&fl->text, chan, t, msg, uid) == 0)
        fl->len[fl->n++] = (uint32_t)(fl->text.len - before);
}

struct sync_entry {
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    uint8_t ok;         /* result[channel] */
    uint8_t subscribed; /* a pending subscription waits for this entry */
    uint8_t done;
    uint8_t dup; /* the same channel came earlier in this SYNC */
    uint8_t has_after;
    struct sss_uid after;
    struct sss_uid floor; /* where live FEEDs resume */
};

struct sync_state {
    uint64_t conn_id;
    char *id; /* the client's raw id (owned), NULL when absent */
    size_t id_len;
    int outstanding;
    int n;
    struct feed_list recs; /* the records of the reply */
    struct sync_entry e[];
};

struct req {
    uint64_t req; /* also the map key */
    enum req_kind kind;
    uint64_t conn_id;
    int64_t deadline_ms; /* REQ_PUB after a scaler restart: give up then (0: none) */
    char *id; /* REQ_PUB: the client's raw id (owned) */
    size_t id_len;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    uint8_t silent;          /* REQ_SUB of a resumed session: no SUBSCRIBE reply, and the
                              * BEGIN reply waits for it (c->begin_wait) */
    struct sync_state *sync; /* REQ_SYNC (shared by its entries) */
    int entry;
    /* REQ_HIST: an ask answered with the channel's history (sss_reply_history). */
    struct sss_reply *reply;
    unsigned limit;
    struct sss_uid sync_none; /* zero: "from the start" */
    struct feed_list hist;
};

/* ---- small helpers ---- */

static struct sss_worker *W(struct sss_conn *c)
{
    return c->w;
}

static struct sss_proto_span span_of(const char *p, size_t len)
{
    struct sss_proto_span s = {p, len};

    return s;
}

/* Send the JSON in w->json as one text frame to c. */
static void send_json(struct sss_conn *c)
{
    struct sss_worker *w = W(c);
    struct sss_buf *b;

    if (w->json.oom)
        return;
    b = sss_ws_frame(SSS_WS_TEXT, w->json.data, w->json.len);
    if (b)
        sss_conn_send(c, b);
}

static void send_error(struct sss_conn *c, const char *message, struct sss_proto_span id)
{
    struct sss_proto_fail f = {ERR_NAME, message};

    sss_proto_out_reset(&W(c)->json);
    if (sss_proto_encode_error(&W(c)->json, &f, id) == 0)
        send_json(c);
}

static struct sss_conn *conn_by_id(struct sss_worker *w, uint64_t id)
{
    return sss_map_get(&w->conns_by_id, (const char *)&id, sizeof(id));
}

static char *dup_span(struct sss_proto_span s, size_t *len)
{
    *len = s.len;
    return s.ptr ? sss_strndup(s.ptr, s.len) : NULL;
}

static struct req *req_new(struct sss_worker *w, enum req_kind kind, uint64_t conn_id)
{
    struct req *r = sss_calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->req = ((uint64_t)getpid() << 32) | (++w->req_counter & 0xffffffffu);
    r->kind = kind;
    r->conn_id = conn_id;
    if (sss_map_put(&w->reqs, (const char *)&r->req, sizeof(r->req), r) < 0) {
        sss_free(r);
        return NULL;
    }
    return r;
}

static void req_free(struct sss_worker *w, struct req *r)
{
    sss_map_del(&w->reqs, (const char *)&r->req, sizeof(r->req));
    if (r->kind == REQ_HIST)
        feed_list_fini(&r->hist);
    sss_free(r->id);
    sss_free(r);
}

/*
 * Send a record to the scaler. When the mailbox is full the record waits in
 * the outbox; past OUTBOX_FACTOR mailboxes' worth waiting (the scaler is
 * gone or far behind) new requests fail with SSS_EFULL instead of growing
 * the worker without bound, and the client is told to try again.
 */
#define OUTBOX_FACTOR 4
static int to_scaler(struct sss_worker *w, uint32_t type, const void *h, size_t hlen,
                     const void *p1, size_t l1, const void *p2, size_t l2)
{
    int rc;

    if (w->outbox.pending_bytes > w->cfg->mailbox_size * OUTBOX_FACTOR &&
        type != SSS_HM_PRESENCE && type != SSS_HM_SESSION && type != SSS_HM_HELLO &&
        type != SSS_HM_RESYNC)
        return SSS_EFULL; /* bookkeeping records still go: they keep counts right */
    rc = sss_hm_outbox_send(&w->outbox, type, h, hlen, p1, l1, p2, l2);

    if (rc >= 0)
        w->scaler_dirty = 1;
    return rc;
}

/* Tell the scaler one subscription more or less (GET /api/presence). */
static void presence(struct sss_conn *c, const char *chan, size_t len, int delta)
{
    struct sss_hm_presence q = {.delta = delta,
                                .chan_len = (uint16_t)len,
                                .user_len = (uint16_t)strlen(c->user)};

    (void)to_scaler(W(c), SSS_HM_PRESENCE, &q, sizeof(q), chan, len, c->user, q.user_len);
}

/* Tell the store what the connection's session did (nothing without a session). */
static void session_note(struct sss_conn *c, int op, const char *chan, size_t chan_len,
                         const struct sss_uid *uid)
{
    struct sss_hm_session q;
    char buf[128 + SSS_PROTO_CHANNEL_MAX + 121];
    size_t sl = strlen(c->session), ul = op == SSS_HM_SESSION_ONLINE ? strlen(c->user) : 0;

    if (!sl)
        return;
    memset(&q, 0, sizeof(q));
    q.op = (uint16_t)op;
    q.session_len = (uint16_t)sl;
    q.chan_len = (uint16_t)chan_len;
    q.user_len = (uint16_t)ul;
    if (uid && (uid->epoch || uid->offset)) {
        q.has_uid = 1;
        q.uid = *uid;
    }
    memcpy(buf, c->session, sl);
    if (chan_len)
        memcpy(buf + sl, chan, chan_len);
    if (ul)
        memcpy(buf + sl + chan_len, c->user, ul);
    (void)to_scaler(W(c), SSS_HM_SESSION, &q, sizeof(q), buf, sl + chan_len + ul, NULL, 0);
}

/*
 * The only ways a subscription leaves: keep the count, presence and the
 * session's record right. forget: the client left the channel (UNSUBSCRIBE,
 * BOOTCHANNEL); otherwise the connection is closing and the session keeps the
 * channel with the uid it reached.
 */
static void unsubscribe(struct sss_conn *c, struct sss_sub *s, int forget)
{
    if (forget)
        session_note(c, SSS_HM_SESSION_UNSUB, s->chan->name, s->chan->name_len, NULL);
    else if (!s->pending)
        session_note(c, SSS_HM_SESSION_SUB, s->chan->name, s->chan->name_len, &s->floor);
    presence(c, s->chan->name, s->chan->name_len, -1);
    sss_index_unsubscribe(&W(c)->index, &c->subs, s);
    c->nsubs--;
}

/* A subscription was created: presence, and the session's record. */
static void subscribed(struct sss_conn *c, const char *chan, size_t len)
{
    c->nsubs++;
    presence(c, chan, len, 1);
    session_note(c, SSS_HM_SESSION_SUB, chan, len, NULL);
}

static int ask_last_uid(struct sss_worker *w, struct req *r)
{
    struct sss_hm_last_uid q = {.req = r->req, .chan_len = (uint16_t)strlen(r->channel)};

    return to_scaler(w, SSS_HM_LAST_UID, &q, sizeof(q), r->channel, q.chan_len, NULL, 0);
}

static int ask_history(struct sss_worker *w, struct req *r, int has_after,
                       const struct sss_uid *after)
{
    struct sss_hm_history q = {.req = r->req};

    q.has_after = (uint32_t)has_after;
    if (has_after)
        q.after = *after;
    q.chan_len = (uint16_t)strlen(r->channel);
    return to_scaler(w, SSS_HM_HISTORY, &q, sizeof(q), r->channel, q.chan_len, NULL, 0);
}

/* ---- index callbacks ---- */

static void deliver(struct sss_conn *c, struct sss_buf *frame, void *data)
{
    (void)data;
    sss_conn_send(c, sss_buf_ref(frame));
}

static void held_changed(struct sss_conn *c, long delta, void *data)
{
    (void)data;
    c->held_bytes += delta;
    if (delta > 0 && (size_t)c->held_bytes > W(c)->cfg->max_send_queue) {
        /* The hold is bounded like the send queue: the client SYNCs again. */
        sss_ctr_add(W(c)->ctr, closes_slow, 1);
        sss_conn_close(c, SSS_WS_CLOSE_TOO_SLOW, "too many messages held", 0);
    }
}

/* ---- client messages ---- */

/* The server's rules, then the application's subscription parser. 1 allows; 0 sets *why. */
static int is_own_user_channel(const struct sss_conn *c, const char *name, size_t len)
{
    size_t ul = strlen(c->user);

    return ul && len == ul + 3 && memcmp(name, "_u_", 3) == 0 && memcmp(name + 3, c->user, ul) == 0;
}

static int subscribe_allowed(struct sss_conn *c, const char *name, size_t len,
                             struct sss_proto_span query, const char **why, int from_sync)
{
    struct sss_app *app = W(c)->app;

    if (from_sync && is_own_user_channel(c, name, len))
        return 1; /* the client's own user channel: always allowed back */
    if (sss_proto_channel_reserved(name, len)) {
        *why = "channels starting with _ belong to the server";
        return 0;
    }
    if (app && app->on_subscribe) {
        const char *reason = "refused by the application";

        if (app->on_subscribe((struct sss_socket *)c, name, query.ptr ? query.ptr : "",
                              query.ptr ? query.len : 0, &reason, app->subscribe_data) != 0) {
            *why = reason;
            return 0;
        }
    }
    return 1;
}

static void on_subscribe(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_worker *w = W(c);
    struct sss_proto_fail f = {"Subscription refused", NULL};
    struct sss_sub *s;
    struct req *r;
    int created;

    if (!subscribe_allowed(c, m->channel, m->channel_len, m->query, &f.message, 0))
        ;
    else if (!sss_index_find(c->subs, m->channel, m->channel_len) &&
             c->nsubs >= (uint32_t)w->cfg->max_subscriptions)
        f.message = "too many subscriptions on this connection";
    if (f.message) {
        sss_proto_out_reset(&w->json);
        if (sss_proto_encode_subscribe_reply(&w->json, m->id, m->channel, false, NULL, &f) == 0)
            send_json(c);
        return;
    }
    s = sss_index_subscribe(&w->index, c, &c->subs, m->channel, m->channel_len, &created);
    r = s ? req_new(w, REQ_SUB, c->id) : NULL;
    if (!r) {
        if (s && created)
            sss_index_unsubscribe(&w->index, &c->subs, s);
        send_error(c, BUSY, m->id);
        return;
    }
    if (created)
        subscribed(c, m->channel, m->channel_len);
    memcpy(r->channel, m->channel, m->channel_len + 1);
    r->id = dup_span(m->id, &r->id_len);
    if (ask_last_uid(w, r) < 0) {
        /* The scaler cannot be asked: refuse rather than hold for ever. */
        send_error(c, BUSY, m->id);
        req_free(w, r);
        if (created)
            unsubscribe(c, s, 1);
    }
}

static void on_unsubscribe(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_sub *s = sss_index_find(c->subs, m->channel, m->channel_len);

    if (s)
        unsubscribe(c, s, 1);
    if (m->id.ptr) {
        sss_proto_out_reset(&W(c)->json);
        if (sss_proto_encode_unsubscribe_reply(&W(c)->json, m->id, m->channel, s != NULL) == 0)
            send_json(c);
    }
}

/* The application's on-subscribed hook, once a subscription is live. */
static void subscribed_hook(struct sss_conn *c, const char *channel)
{
    struct sss_app *app = W(c)->app;

    if (app && app->on_subscribed && !c->dead)
        app->on_subscribed((struct sss_socket *)c, channel, app->subscribed_data);
}

static void send_begin_reply(struct sss_conn *c, const char *user_chan, const struct sss_uid *last)
{
    const struct sss_cfg *cfg = W(c)->cfg;
    struct sss_proto_begin_reply br;

    memset(&br, 0, sizeof(br));
    br.channel = user_chan;
    br.last_uid = last;
    br.session = c->session[0] ? c->session : NULL;
    br.hb = cfg->heartbeat_interval_ms > 0;
    br.hb_interval = (uint32_t)cfg->heartbeat_interval_ms;
    br.hb_threshold = (uint32_t)cfg->heartbeat_threshold_ms;
    sss_proto_out_reset(&W(c)->json);
    if (sss_proto_encode_begin_reply(&W(c)->json, &br) == 0)
        send_json(c);
}

static void sync_free(struct sync_state *st)
{
    feed_list_fini(&st->recs);
    sss_free(st->id);
    sss_free(st);
}

/* Every entry answered: send the reply, then let live FEEDs through. */
static void sync_finish(struct sss_worker *w, struct sync_state *st)
{
    struct sss_conn *c = conn_by_id(w, st->conn_id);
    struct sss_proto_sync_reply b;
    size_t off = 0;
    int rc;

    if (c && !c->dead) {
        sss_proto_out_reset(&w->json);
        rc = sss_proto_sync_reply_begin(&b, &w->json, span_of(st->id, st->id_len));
        for (int i = 0; rc == 0 && i < st->n; i++)
            if (!st->e[i].dup)
                rc = sss_proto_sync_reply_result(&b, st->e[i].channel, st->e[i].ok);
        for (size_t i = 0; rc == 0 && i < st->recs.n; i++) {
            rc = sss_proto_sync_reply_record(&b, st->recs.text.data + off, st->recs.len[i]);
            off += st->recs.len[i];
        }
        if (rc == 0 && sss_proto_sync_reply_end(&b) == 0 && !st->recs.text.oom)
            send_json(c);
        else
            sss_conn_close(c, 1011, "out of memory", 0);
        for (int i = 0; i < st->n; i++) {
            struct sss_sub *s;

            if (!st->e[i].subscribed)
                continue;
            s = sss_index_find(c->subs, st->e[i].channel, strlen(st->e[i].channel));
            if (s && s->pending) {
                sss_index_activate(&w->index, s, &st->e[i].floor);
                subscribed_hook(c, st->e[i].channel);
            }
        }
    }
    sync_free(st);
}

/* One answer the BEGIN reply waited for came; the last one sends it. */
static void begin_step_done(struct sss_conn *c)
{
    char chan[SSS_PROTO_CHANNEL_MAX + 1];

    if (!c->begin_wait || --c->begin_wait || c->begin_silent || c->dead)
        return;
    if (c->user[0]) {
        snprintf(chan, sizeof(chan), "_u_%s", c->user);
        send_begin_reply(c, chan, c->has_user_last ? &c->user_last : NULL);
    } else {
        send_begin_reply(c, NULL, NULL);
    }
}

/*
 * BEGIN's work (also done by a SYNC that comes first, silently): a named
 * user gets its _u_<user> channel and a named session its recorded
 * subscriptions back, all in the index before the BEGIN reply, which waits
 * for the scaler's answers (c->begin_wait) and carries the user channel's
 * last uid. m: the BEGIN (its "session") or the SYNC (its subscriptions).
 */
static void begin(struct sss_conn *c, int silent, const struct sss_proto_msg *m)
{
    struct sss_worker *w = W(c);
    struct sss_app *app = w->app;
    char chan[SSS_PROTO_CHANNEL_MAX + 1];
    int listed = 0, n;

    c->begun = 1;
    c->begin_silent = (uint8_t)silent;
    if (m->sys == SSS_PROTO_BEGIN && (m->has & SSS_PROTO_HAS_SESSION) && !c->session[0] &&
        m->session_len < sizeof(c->session))
        memcpy(c->session, m->session, m->session_len + 1); /* the token's session wins */
    if (app && app->on_socket)
        app->on_socket((struct sss_socket *)c, app->socket_data);
    if (c->session[0]) {
        struct req *r = req_new(w, REQ_SESSION, c->id);
        struct sss_hm_session_load q;

        session_note(c, SSS_HM_SESSION_ONLINE, NULL, 0, NULL);
        if (r) {
            memset(&q, 0, sizeof(q));
            q.req = r->req;
            q.session_len = (uint16_t)strlen(c->session);
            if (to_scaler(w, SSS_HM_SESSION_LOAD, &q, sizeof(q), c->session, q.session_len, NULL,
                          0) < 0)
                req_free(w, r);
            else
                c->begin_wait++;
        }
    }
    n = c->user[0] ? snprintf(chan, sizeof(chan), "_u_%s", c->user) : 0;
    for (size_t i = 0; n > 0 && m->sys == SSS_PROTO_SYNC && i < m->nsubs; i++)
        if (strcmp(m->subs[i].channel, chan) == 0)
            listed = 1; /* the SYNC brings it back itself, with its lastUid */
    if (n > 0 && (size_t)n < sizeof(chan) && !listed) {
        struct sss_sub *s;
        struct req *r;
        int created;

        s = sss_index_subscribe(&w->index, c, &c->subs, chan, (size_t)n, &created);
        r = s ? req_new(w, REQ_BEGIN, c->id) : NULL;
        if (!r) {
            sss_conn_close(c, 1011, "out of memory", 0);
            return;
        }
        if (created)
            subscribed(c, chan, (size_t)n);
        memcpy(r->channel, chan, (size_t)n + 1);
        if (ask_last_uid(w, r) < 0)
            req_free(w, r);
        else
            c->begin_wait++;
    }
    if (!c->begin_wait && !silent)
        send_begin_reply(c, NULL, NULL);
}

/* A channel of a resumed session: subscribed again, live from its last uid on. */
static void on_session_entry(struct sss_worker *w, const struct sss_hm_session_entry *e,
                             const char *chan, size_t len)
{
    struct req *r = sss_map_get(&w->reqs, (const char *)&e->req, sizeof(e->req)), *sr;
    struct sss_proto_span none = {NULL, 0};
    struct sss_conn *c;
    struct sss_sub *s;
    const char *why;
    int created;

    if (!r || r->kind != REQ_SESSION || e->chan_len != len || !len ||
        len > SSS_PROTO_CHANNEL_MAX || !sss_proto_channel_valid(chan, len))
        return;
    c = conn_by_id(w, r->conn_id);
    if (!c || c->dead || sss_index_find(c->subs, chan, len) ||
        c->nsubs >= (uint32_t)w->cfg->max_subscriptions ||
        !subscribe_allowed(c, chan, len, none, &why, 1))
        return;
    s = sss_index_subscribe(&w->index, c, &c->subs, chan, len, &created);
    sr = s ? req_new(w, REQ_SUB, c->id) : NULL;
    if (!sr) {
        if (s && created)
            sss_index_unsubscribe(&w->index, &c->subs, s);
        return;
    }
    subscribed(c, chan, len);
    memcpy(sr->channel, chan, len);
    sr->channel[len] = '\0';
    sr->silent = 1;
    /* The BEGIN reply waits until the channel's last uid is known: from then
     * on every publish reaches this connection (with Redis, once this host
     * listens to the channel). */
    if (ask_last_uid(w, sr) < 0)
        req_free(w, sr);
    else
        c->begin_wait++;
}

static void on_session_end(struct sss_worker *w, const struct sss_hm_session_end *e)
{
    struct req *r = sss_map_get(&w->reqs, (const char *)&e->req, sizeof(e->req));
    struct sss_conn *c;

    if (!r || r->kind != REQ_SESSION)
        return;
    c = conn_by_id(w, r->conn_id);
    if (c && !c->dead)
        begin_step_done(c);
    req_free(w, r);
}

static void on_sync(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_worker *w = W(c);
    struct sync_state *st;

    if (!c->begun)
        begin(c, 1, m);
    st = sss_calloc(1, sizeof(*st) + m->nsubs * sizeof(st->e[0]));
    if (!st) {
        send_error(c, BUSY, m->id);
        return;
    }
    st->conn_id = c->id;
    st->id = dup_span(m->id, &st->id_len);
    st->n = (int)m->nsubs;
    feed_list_init(&st->recs);
    for (size_t i = 0; i < m->nsubs; i++) {
        const struct sss_proto_sub *ps = &m->subs[i];
        struct sync_entry *e = &st->e[i];
        struct sss_sub *s;
        struct req *r;
        const char *why;
        int created, was_live = 0;

        memcpy(e->channel, ps->channel, ps->channel_len + 1);
        e->done = 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(st->e[j].channel, e->channel) == 0)
                e->dup = 1;
        if (e->dup)
            continue; /* listed twice: answered once, by its first entry */
        if (!subscribe_allowed(c, ps->channel, ps->channel_len, ps->query, &why, 1) ||
            (!sss_index_find(c->subs, ps->channel, ps->channel_len) &&
             c->nsubs >= (uint32_t)w->cfg->max_subscriptions))
            continue; /* refused: result false, not subscribed */
        if (ps->has_last_uid && sss_proto_uid_parse(&e->after, ps->last_uid, ps->last_uid_len) < 0)
            memset(&e->after, 0xff, sizeof(e->after)); /* not ours: surely a gap */
        e->has_after = ps->has_last_uid;
        s = sss_index_subscribe(&w->index, c, &c->subs, ps->channel, ps->channel_len, &created);
        if (!s)
            continue;
        if (created)
            subscribed(c, ps->channel, ps->channel_len);
        else if (!s->pending) {
            /* Already live here: hold it again while its history comes. */
            s->pending = 1;
            was_live = 1;
        }
        r = req_new(w, REQ_SYNC, c->id);
        if (r) {
            memcpy(r->channel, e->channel, ps->channel_len + 1);
            r->sync = st;
            r->entry = (int)i;
        }
        if (!r || ask_history(w, r, e->has_after, &e->after) < 0) {
            /* No history will come (out of memory, or the scaler is far
             * behind): result false, and nothing left pending for ever. */
            if (r)
                req_free(w, r);
            if (was_live)
                sss_index_activate(&w->index, s, &s->floor);
            else if (created)
                unsubscribe(c, s, 1);
            continue;
        }
        e->subscribed = 1;
        e->done = 0;
        st->outstanding++;
    }
    if (st->outstanding == 0)
        sync_finish(w, st);
}

static void on_publish(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_worker *w = W(c);
    struct sss_proto_fail f = {"Publish refused", NULL};
    struct sss_hm_publish q;
    struct req *r;

    if (!w->cfg->allow_client_publish[0] ||
        fnmatch(w->cfg->allow_client_publish, m->channel, 0) != 0)
        f.message = "clients may not publish on this channel";
    else if (sss_proto_channel_reserved(m->channel, m->channel_len))
        f.message = "channels starting with _ belong to the server";
    else if (!m->msg.ptr)
        f.message = "missing msg";
    if (f.message) {
        sss_proto_out_reset(&w->json);
        if (sss_proto_encode_response_err(&w->json, m->id, &f) == 0)
            send_json(c);
        return;
    }
    r = req_new(w, REQ_PUB, c->id);
    if (!r) {
        send_error(c, BUSY, m->id);
        return;
    }
    r->id = dup_span(m->id, &r->id_len);
    memset(&q, 0, sizeof(q));
    q.req = r->req;
    q.origin_conn = c->id;
    q.flags = SSS_HM_WANT_REPLY;
    q.chan_len = (uint16_t)m->channel_len;
    q.topic_len = (uint16_t)m->topic_len;
    q.msg_len = (uint32_t)m->msg.len;
    /* channel and topic are contiguous in no buffer: join them with msg. */
    {
        char head[SSS_PROTO_CHANNEL_MAX + SSS_PROTO_TOPIC_MAX];

        memcpy(head, m->channel, m->channel_len);
        memcpy(head + m->channel_len, m->topic, m->topic_len);
        if (to_scaler(w, SSS_HM_PUBLISH, &q, sizeof(q), head, m->channel_len + m->topic_len,
                      m->msg.ptr, m->msg.len) < 0) {
            send_error(c, BUSY, m->id);
            req_free(w, r);
        }
    }
}

static int rate_exceeded(struct sss_conn *c)
{
    struct sss_worker *w = W(c);
    int limit = w->cfg->max_message_rate;

    if (!limit)
        return 0;
    if (w->now_ms - c->rate_window_ms >= 1000) {
        c->rate_window_ms = w->now_ms;
        c->rate_count = 0;
    }
    return ++c->rate_count > (uint32_t)limit;
}

void sss_handler_message(struct sss_conn *c, int opcode, const uint8_t *data, size_t len)
{
    struct sss_worker *w = W(c);
    struct sss_proto_msg m;
    struct sss_proto_span none = {NULL, 0};
    int rc;

    if (rate_exceeded(c)) {
        sss_log_debug("handler", "rate limit conn=%llu", (unsigned long long)c->id);
        sss_conn_close(c, SSS_WS_CLOSE_POLICY, "message rate limit", 0);
        return;
    }
    if (opcode != WSLAY_TEXT_FRAME) {
        send_error(c, "binary frames are not part of sss.v1.json", none);
        return;
    }
    rc = sss_proto_decode(&w->dec, (const char *)data, len, &m);
    if (rc < 0) {
        if (m.sys == SSS_PROTO_SUBSCRIBE && m.error == SSS_PROTO_E_CHANNEL) {
            struct sss_proto_fail f = {"Subscription refused", "invalid channel name"};

            sss_proto_out_reset(&w->json);
            /* Name the channel asked for when the decoder could keep it. */
            if (sss_proto_encode_subscribe_reply(&w->json, m.id,
                                                 m.channel_len ? m.channel : "", false, NULL,
                                                 &f) == 0)
                send_json(c);
            return;
        }
        send_error(c, sss_proto_strerror(m.error), m.id);
        return;
    }
    if (m.sys == SSS_PROTO_HEARTBEAT)
        return; /* the answer to our h: its arrival already counted as activity */
    if (!c->begun && m.sys != SSS_PROTO_BEGIN && m.sys != SSS_PROTO_SYNC) {
        send_error(c, "BEGIN or SYNC must come first", m.id);
        return;
    }
    switch (m.sys) {
    case SSS_PROTO_BEGIN:
        if (c->begun)
            send_begin_reply(c, NULL, NULL); /* a second BEGIN: nothing more to do */
        else
            begin(c, 0, &m);
        break;
    case SSS_PROTO_SUBSCRIBE:
        on_subscribe(c, &m);
        break;
    case SSS_PROTO_UNSUBSCRIBE:
        on_unsubscribe(c, &m);
        break;
    case SSS_PROTO_SYNC:
        on_sync(c, &m);
        break;
    case SSS_PROTO_ASK: {
        struct sss_proto_fail f = {ERR_NAME, "Unknown request topic sent from client"};

        rc = sss_app_ask(c, m.topic, m.id, m.msg);
        if (rc > 0)
            break;
        if (rc < 0)
            f.message = "out of memory";
        sss_proto_out_reset(&w->json);
        if (sss_proto_encode_response_err(&w->json, m.id, &f) == 0)
            send_json(c);
        break;
    }
    case SSS_PROTO_TELL:
        if (sss_app_tell(c, m.topic, m.msg) == 0)
            sss_log_debug("handler", "tell with no handler topic=%s", m.topic);
        break;
    case SSS_PROTO_PUBLISH:
        on_publish(c, &m);
        break;
    default:
        send_error(c, "this message only goes from server to client", m.id);
    }
}

/* ---- replies from the scaler ---- */

static void on_published(struct sss_worker *w, const struct sss_hm_published *p)
{
    struct req *r = sss_map_get(&w->reqs, (const char *)&p->req, sizeof(p->req));
    struct sss_conn *c;

    if (!r || r->kind != REQ_PUB)
        return;
    c = conn_by_id(w, r->conn_id);
    if (c && !c->dead) {
        sss_proto_out_reset(&w->json);
        if (p->rc == 0) {
            if (sss_proto_encode_publish_reply(&w->json, span_of(r->id, r->id_len), &p->uid) == 0)
                send_json(c);
        } else {
            struct sss_proto_fail f = {"Publish failed", sss_strerror(p->rc)};

            if (sss_proto_encode_response_err(&w->json, span_of(r->id, r->id_len), &f) == 0)
                send_json(c);
        }
    }
    req_free(w, r);
}

static void on_last_uid(struct sss_worker *w, const struct sss_hm_last_uid_r *p)
{
    struct req *r = sss_map_get(&w->reqs, (const char *)&p->req, sizeof(p->req));
    struct sss_uid zero = {0, 0};
    struct sss_conn *c;
    struct sss_sub *s;

    if (!r || (r->kind != REQ_SUB && r->kind != REQ_BEGIN))
        return;
    c = conn_by_id(w, r->conn_id);
    s = c && !c->dead ? sss_index_find(c->subs, r->channel, strlen(r->channel)) : NULL;
    if (s && r->kind == REQ_BEGIN) {
        c->has_user_last = (uint8_t)p->has;
        if (p->has)
            c->user_last = p->uid;
        if (s->pending)
            sss_index_activate(&w->index, s, p->has ? &p->uid : &zero);
        begin_step_done(c);
    } else if (r->silent) {
        if (s && s->pending) {
            sss_index_activate(&w->index, s, p->has ? &p->uid : &zero);
            subscribed_hook(c, r->channel);
        }
        if (c && !c->dead)
            begin_step_done(c);
    } else if (s) {
        sss_proto_out_reset(&w->json);
        if (sss_proto_encode_subscribe_reply(&w->json, span_of(r->id, r->id_len), r->channel,
                                             true, p->has ? &p->uid : NULL, NULL) == 0)
            send_json(c);
        if (s->pending) {
            sss_index_activate(&w->index, s, p->has ? &p->uid : &zero);
            subscribed_hook(c, r->channel);
        }
    }
    req_free(w, r);
}

/* Build one FEED frame (shared by every recipient); NULL on ENOMEM. */
static struct sss_buf *feed_frame(struct sss_worker *w, const char *chan, size_t chan_len,
                                  const char *topic, size_t topic_len, const char *msg,
                                  size_t msg_len, const struct sss_uid *uid)
{
    char c[SSS_PROTO_CHANNEL_MAX + 1], t[SSS_PROTO_TOPIC_MAX + 1];

    if (chan_len > SSS_PROTO_CHANNEL_MAX || topic_len > SSS_PROTO_TOPIC_MAX)
        return NULL;
    memcpy(c, chan, chan_len);
    c[chan_len] = '\0';
    memcpy(t, topic, topic_len);
    t[topic_len] = '\0';
    sss_proto_out_reset(&w->json);
    if (sss_proto_encode_feed(&w->json, c, t, span_of(msg, msg_len), uid) < 0)
        return NULL;
    return sss_ws_frame(SSS_WS_TEXT, w->json.data, w->json.len);
}

static void on_hist_rec(struct sss_worker *w, const struct sss_hm_hist_rec *p, const char *var,
                        size_t len)
{
    struct req *r = sss_map_get(&w->reqs, (const char *)&p->req, sizeof(p->req));
    const char *topic = var, *msg = var + p->topic_len;

    if (!r || (size_t)p->topic_len + p->msg_len != len || p->topic_len > SSS_PROTO_TOPIC_MAX)
        return;
    if (r->kind == REQ_SYNC) {
        feed_list_add(&r->sync->recs, r->channel, topic, p->topic_len, span_of(msg, p->msg_len),
                      &p->uid);
    } else if (r->kind == REQ_HIST) {
        feed_list_add(&r->hist, r->channel, topic, p->topic_len, span_of(msg, p->msg_len),
                      &p->uid);
    } else if (r->kind == REQ_LAP) {
        struct sss_lchan *c = sss_index_chan(&w->index, r->channel, strlen(r->channel));
        struct sss_buf *f;

        if (!c)
            return;
        f = feed_frame(w, r->channel, strlen(r->channel), topic, p->topic_len, msg, p->msg_len,
                       &p->uid);
        if (!f)
            return;
        /* Delivered around the channel's hold; each subscriber's floor drops repeats. */
        c->recovering = 0;
        (void)sss_index_feed(&w->index, c, &p->uid, f, NULL);
        c->recovering = 1;
        sss_buf_unref(f);
    }
}

/* The subscribers of c missed messages for good (a lap or an engine gap past
 * history): they reconnect (4008) and their SYNC reports the gap. */
static void missed(struct sss_lchan *c)
{
    for (struct sss_sub *s = c->subs; s; s = s->next)
        sss_conn_close(s->conn, SSS_WS_CLOSE_TOO_SLOW, "missed messages", 0);
}

static void on_hist_end(struct sss_worker *w, const struct sss_hm_hist_end *p)
{
    struct req *r = sss_map_get(&w->reqs, (const char *)&p->req, sizeof(p->req));

    if (!r)
        return;
    if (r->kind == REQ_SYNC) {
        struct sync_state *st = r->sync;
        struct sync_entry *e = &st->e[r->entry];

        e->done = 1;
        e->ok = p->rc == 0 && !p->gap;
        /* Live FEEDs resume after the newest uid the history could contain. */
        if (p->has_last)
            e->floor = p->last;
        else if (e->has_after && !p->gap)
            e->floor = e->after;
        if (--st->outstanding == 0)
            sync_finish(w, st);
    } else if (r->kind == REQ_HIST) {
        /* The newest `limit` records, oldest first, as one JSON array. */
        size_t skip = r->hist.n > r->limit ? r->hist.n - r->limit : 0, off = 0;
        struct sss_proto_out arr;
        int rc = p->rc || r->hist.text.oom ? -ENOMEM : 0;

        sss_proto_out_init(&arr, NULL, 0);
        if (rc == 0)
            rc = sss_proto_out_append(&arr, "[", 1);
        for (size_t i = 0; i < r->hist.n; off += r->hist.len[i], i++) {
            if (i < skip || rc)
                continue;
            if (i > skip)
                rc = sss_proto_out_append(&arr, ",", 1);
            if (rc == 0)
                rc = sss_proto_out_append(&arr, r->hist.text.data + off, r->hist.len[i]);
        }
        if (rc == 0)
            rc = sss_proto_out_append(&arr, "]", 1);
        sss_app__history_done(r->reply, arr.data, arr.len, rc);
        sss_proto_out_fini(&arr);
    } else if (r->kind == REQ_LAP) {
        struct sss_lchan *c = sss_index_chan(&w->index, r->channel, strlen(r->channel));

        if (c && c->recover_req == r->req) {
            if (p->gap || p->rc)
                missed(c); /* history does not reach back: a gap is reported, never hidden */
            sss_index_release_channel(&w->index, c, p->has_last ? &p->last : NULL);
        }
    }
    req_free(w, r);
}

/* ---- the bus ---- */

/*
 * Hold every local channel and refill it from history after the newest uid
 * this worker saw: after a bus lap, and after a scaler restart with the
 * Redis engine (messages of other hosts went by while no scaler listened).
 */
static void recover_channels(struct sss_worker *w)
{
    for (uint32_t i = 0; i < w->index.chans.cap; i++) {
        struct sss_lchan *c = w->index.chans.slots[i].key ? w->index.chans.slots[i].val : NULL;
        struct req *r;

        if (!c || c->recovering)
            continue;
        r = req_new(w, REQ_LAP, 0);
        if (!r)
            continue;
        memcpy(r->channel, c->name, c->name_len + 1);
        if (ask_history(w, r, c->has_last, &c->last) < 0) {
            req_free(w, r);
            continue;
        }
        sss_index_hold_channel(c, r->req);
    }
}

static void on_lapped(struct sss_worker *w)
{
    sss_ctr_add(w->ctr, laps, 1);
    sss_log_warn("handler", "lapped by the bus: recovering %u channel(s) from history",
                 w->index.chans.len);
    recover_channels(w);
}

static void on_feed(struct sss_worker *w, const struct sss_hm_feed *f, const char *var, size_t len)
{
    struct sss_conn *origin = NULL;
    struct sss_lchan *c;
    struct sss_buf *frame;

    if ((size_t)f->chan_len + f->topic_len + f->msg_len != len)
        return;
    c = sss_index_chan(&w->index, var, f->chan_len);
    if (!c)
        return; /* nobody here listens: the cheap, common case */
    if ((f->flags & SSS_HM_SKIP_SENDER) && f->origin_worker == w->id) {
        origin = conn_by_id(w, f->origin_conn);
        if (origin && origin->dead)
            origin = NULL;
    }
    frame = feed_frame(w, var, f->chan_len, var + f->chan_len, f->topic_len,
                       var + f->chan_len + f->topic_len, f->msg_len, &f->uid);
    if (!frame) {
        sss_log_error("handler", "cannot build a FEED frame (out of memory)");
        return;
    }
    if (sss_index_feed(&w->index, c, &f->uid, frame, origin)) {
        /* A socket publish: its sender gets UPDATESUB instead of its own FEED. */
        sss_proto_out_reset(&w->json);
        if (sss_proto_encode_updatesub(&w->json, c->name, &f->uid) == 0)
            send_json(origin);
    }
    sss_buf_unref(frame);
}

static void on_bcast(struct sss_worker *w, const struct sss_hm_broadcast *b, const char *var,
                     size_t len)
{
    char t[SSS_PROTO_TOPIC_MAX + 1];
    struct sss_buf *frame;

    if ((size_t)b->topic_len + b->msg_len != len || b->topic_len > SSS_PROTO_TOPIC_MAX)
        return;
    memcpy(t, var, b->topic_len);
    t[b->topic_len] = '\0';
    sss_proto_out_reset(&w->json);
    if (sss_proto_encode_broadcast(&w->json, t, span_of(var + b->topic_len, b->msg_len)) < 0)
        return;
    frame = sss_ws_frame(SSS_WS_TEXT, w->json.data, w->json.len);
    if (!frame)
        return;
    for (struct sss_conn *c = w->conns; c; c = c->next)
        if (c->begun && !c->dead)
            sss_conn_send(c, sss_buf_ref(frame));
    sss_buf_unref(frame);
}

/*
 * The master started a new scaler: whatever the old one had not answered is
 * asked again. Its memory engine starts new epochs, so a SYNC that reaches
 * back now reports a gap; a publish whose answer was lost may or may not have
 * been applied, and the client is told so rather than risking a duplicate.
 */
static void on_scaler_restart(struct sss_worker *w)
{
    struct sss_hm_hello hello;

    sss_log_warn("handler", "the scaler restarted: asking again for %u pending request(s)",
                 w->reqs.len);
    /*
     * The new scaler knows nothing of this worker's subscriptions and
     * sessions (with the Redis engine it would not even receive their
     * channels): account for all of them again, after a RESYNC that makes it
     * forget whatever of ours the old scaler left unread in the mailbox.
     */
    memset(&hello, 0, sizeof(hello));
    hello.pid = (uint64_t)getpid();
    (void)to_scaler(w, SSS_HM_RESYNC, &hello, sizeof(hello), NULL, 0, NULL, 0);
    for (struct sss_conn *c = w->conns; c; c = c->next) {
        if (c->dead)
            continue;
        if (c->begun && c->session[0])
            session_note(c, SSS_HM_SESSION_ONLINE, NULL, 0, NULL);
        for (struct sss_sub *s = c->subs; s; s = s->conn_next) {
            presence(c, s->chan->name, s->chan->name_len, 1);
            session_note(c, SSS_HM_SESSION_SUB, s->chan->name, s->chan->name_len,
                         s->pending ? NULL : &s->floor);
        }
    }
    for (uint32_t i = 0; i < w->reqs.cap; i++) {
        struct req *r = w->reqs.slots[i].key ? w->reqs.slots[i].val : NULL;
        struct sss_conn *c;

        if (!r)
            continue;
        switch (r->kind) {
        case REQ_SUB:
        case REQ_BEGIN:
            (void)ask_last_uid(w, r);
            break;
        case REQ_SYNC: {
            struct sync_entry *e = &r->sync->e[r->entry];

            (void)ask_history(w, r, e->has_after, &e->after);
            break;
        }
        case REQ_LAP: {
            struct sss_lchan *lc = sss_index_chan(&w->index, r->channel, strlen(r->channel));

            struct sss_uid none = {0, 0};

            (void)ask_history(w, r, lc && lc->has_last, lc ? &lc->last : &none);
            break;
        }
        case REQ_SESSION:
            /* The new scaler's store is empty: nothing to resume. */
            c = conn_by_id(w, r->conn_id);
            if (c && !c->dead)
                begin_step_done(c);
            r->kind = 0;
            break;
        case REQ_HIST:
            r->hist.text.len = 0;
            r->hist.n = 0;
            (void)ask_history(w, r, 0, &r->sync_none);
            break;
        case REQ_PUB:
            /* Still in the mailbox, the new scaler answers it; taken by the
             * dead one, no answer comes: sss_handler_expire gives up. */
            if (!r->deadline_ms)
                r->deadline_ms = w->now_ms + PUB_RESTART_WAIT_MS;
            break;
        }
    }
    for (uint32_t i = 0; i < w->reqs.cap;) {
        struct req *r = w->reqs.slots[i].key ? w->reqs.slots[i].val : NULL;

        if (r && r->kind == 0) {
            req_free(w, r); /* the backward shift may bring another into slot i */
            continue;
        }
        i++;
    }
    /* With Redis, other hosts kept publishing while no scaler listened: fetch
     * what went by. (The memory engine published nothing meanwhile: it was
     * the scaler.) */
    if (strcmp(w->cfg->engine, "redis") == 0)
        recover_channels(w);
}

/* The engine lost messages of a channel for this host (SSS_HM_GAP_RECORD). */
static void on_gap(struct sss_worker *w, const char *chan, size_t len)
{
    struct sss_lchan *c = len ? sss_index_chan(&w->index, chan, len) : NULL;

    if (c)
        missed(c);
}

static void on_boot(struct sss_worker *w, const struct sss_hm_boot *b, const char *var, size_t len)
{
    char name[SSS_PROTO_CHANNEL_MAX + 1], reason[256];
    struct sss_lchan *lc;

    if ((size_t)b->name_len + b->reason_len != len || b->name_len > SSS_PROTO_CHANNEL_MAX ||
        b->reason_len >= sizeof(reason))
        return;
    memcpy(name, var, b->name_len);
    name[b->name_len] = '\0';
    memcpy(reason, var + b->name_len, b->reason_len);
    reason[b->reason_len] = '\0';
    if (b->kind == SSS_HM_BOOT_USER) {
        for (struct sss_conn *c = w->conns; c; c = c->next)
            if (!c->dead && c->user[0] && strcmp(c->user, name) == 0)
                (void)sss_boot((struct sss_socket *)c, reason);
        return;
    }
    /* A channel: each subscriber is told, then unsubscribed. The channel goes
     * away with its last subscriber, so look it up again each time. */
    while ((lc = sss_index_chan(&w->index, name, b->name_len)) && lc->subs) {
        struct sss_sub *s = lc->subs;
        struct sss_conn *c = s->conn;

        sss_proto_out_reset(&w->json);
        if (!c->dead && sss_proto_encode_bootchannel(&w->json, name, reason) == 0)
            send_json(c);
        unsubscribe(c, s, 1);
    }
}

void sss_handler_expire(struct sss_worker *w, int64_t now)
{
    uint32_t i = 0;

    while (i < w->reqs.cap) {
        struct req *r = w->reqs.slots[i].key ? w->reqs.slots[i].val : NULL;
        struct sss_conn *c;

        if (r && r->kind == REQ_PUB && r->deadline_ms && now >= r->deadline_ms) {
            struct sss_proto_fail f = {"Publish failed",
                                       "interrupted by a server restart; it may or may not "
                                       "have been published"};

            c = conn_by_id(w, r->conn_id);
            if (c && !c->dead) {
                sss_proto_out_reset(&w->json);
                if (sss_proto_encode_response_err(&w->json, span_of(r->id, r->id_len), &f) == 0)
                    send_json(c);
            }
            req_free(w, r);
            continue; /* the backward shift may refill slot i */
        }
        i++;
    }
}

int sss_handler_poll(struct sss_worker *w)
{
    struct sss_ring *in = w->inbox;
    uint32_t gen = atomic_load_explicit(&w->shm->hdr->scaler_gen, memory_order_acquire);
    int n = 0;

    if (gen != w->scaler_gen) {
        w->scaler_gen = gen;
        on_scaler_restart(w);
    }

    for (; n < BATCH; n++) {
        uint32_t type;
        size_t len;
        int rc = sss_bus_read(&w->bus_rd, w->busbuf, w->busbuf_cap, &type, &len);
        const char *var;

        if (rc == SSS_BUS_LAPPED) {
            on_lapped(w);
            continue;
        }
        if (rc != 1)
            break;
        if (type == SSS_HM_FEED && len >= sizeof(struct sss_hm_feed)) {
            var = (const char *)w->busbuf + sizeof(struct sss_hm_feed);
            on_feed(w, (const struct sss_hm_feed *)(void *)w->busbuf, var,
                    len - sizeof(struct sss_hm_feed));
        } else if (type == SSS_HM_BOOT_RECORD && len >= sizeof(struct sss_hm_boot)) {
            on_boot(w, (const struct sss_hm_boot *)(void *)w->busbuf,
                    (const char *)w->busbuf + sizeof(struct sss_hm_boot),
                    len - sizeof(struct sss_hm_boot));
        } else if (type == SSS_HM_BCAST_RECORD && len >= sizeof(struct sss_hm_broadcast)) {
            var = (const char *)w->busbuf + sizeof(struct sss_hm_broadcast);
            on_bcast(w, (const struct sss_hm_broadcast *)(void *)w->busbuf, var,
                     len - sizeof(struct sss_hm_broadcast));
        } else if (type == SSS_HM_GAP_RECORD) {
            on_gap(w, (const char *)w->busbuf, len);
        }
    }
    for (int i = 0; i < BATCH; i++, n++) {
        const void *p;
        uint32_t type;
        size_t len;

        if (sss_ring_peek(in, &type, &p, &len) != 1)
            break;
        switch (type) {
        case SSS_HM_PUBLISHED:
            if (len >= sizeof(struct sss_hm_published))
                on_published(w, p);
            break;
        case SSS_HM_LAST_UID_R:
            if (len >= sizeof(struct sss_hm_last_uid_r))
                on_last_uid(w, p);
            break;
        case SSS_HM_HIST_REC:
            if (len >= sizeof(struct sss_hm_hist_rec))
                on_hist_rec(w, p, (const char *)p + sizeof(struct sss_hm_hist_rec),
                            len - sizeof(struct sss_hm_hist_rec));
            break;
        case SSS_HM_HIST_END:
            if (len >= sizeof(struct sss_hm_hist_end))
                on_hist_end(w, p);
            break;
        case SSS_HM_SESSION_ENTRY:
            if (len >= sizeof(struct sss_hm_session_entry))
                on_session_entry(w, p, (const char *)p + sizeof(struct sss_hm_session_entry),
                                 len - sizeof(struct sss_hm_session_entry));
            break;
        case SSS_HM_SESSION_END:
            if (len >= sizeof(struct sss_hm_session_end))
                on_session_end(w, p);
            break;
        default:
            sss_log_error("handler", "unknown record type=%u from the scaler", type);
        }
        sss_ring_consume(in);
    }
    return n;
}

int sss_handler_readable(struct sss_worker *w)
{
    return sss_bus_readable(&w->bus_rd) || sss_ring_readable(w->inbox);
}

void sss_handler_flush(struct sss_worker *w)
{
    if (w->outbox.head && sss_hm_outbox_flush(&w->outbox) > 0)
        w->scaler_dirty = 1;
    if (w->scaler_dirty) {
        (void)sss_wake_notify(w->scaler_wake);
        w->scaler_dirty = 0;
    }
}

void sss_handler_tick(struct sss_conn *c, int64_t now)
{
    struct sss_worker *w = W(c);

    if (!c->begun || !w->cfg->heartbeat_interval_ms || c->closing || c->want_close)
        return;
    if (now - c->last_hb_ms >= w->cfg->heartbeat_interval_ms) {
        c->last_hb_ms = now;
        sss_conn_send(c, sss_buf_ref(w->hb_frame));
    }
}

/* ---- for libsss ---- */

int sss_handler_publish(struct sss_worker *w, struct sss_conn *origin, const char *channel,
                        const char *topic, const char *json, size_t len)
{
    struct sss_hm_publish q;
    char head[SSS_PROTO_CHANNEL_MAX + SSS_PROTO_TOPIC_MAX];
    size_t cl = strlen(channel), tl = strlen(topic);

    memset(&q, 0, sizeof(q));
    if (origin) {
        q.origin_conn = origin->id;
        q.flags = SSS_HM_SKIP_SENDER;
    }
    q.chan_len = (uint16_t)cl;
    q.topic_len = (uint16_t)tl;
    q.msg_len = (uint32_t)len;
    memcpy(head, channel, cl);
    memcpy(head + cl, topic, tl);
    return to_scaler(w, SSS_HM_PUBLISH, &q, sizeof(q), head, cl + tl, json, len) < 0 ? -ENOMEM
                                                                                     : 0;
}

int sss_handler_broadcast(struct sss_worker *w, const char *topic, const char *json, size_t len)
{
    struct sss_hm_broadcast b = {.topic_len = (uint16_t)strlen(topic), .msg_len = (uint32_t)len};

    return to_scaler(w, SSS_HM_BROADCAST, &b, sizeof(b), topic, b.topic_len, json, len) < 0
               ? -ENOMEM
               : 0;
}

int sss_handler_boot(struct sss_worker *w, int kind, const char *name, size_t name_len,
                     const char *reason, size_t reason_len)
{
    struct sss_hm_boot b = {.kind = (uint16_t)kind,
                            .name_len = (uint16_t)name_len,
                            .reason_len = (uint16_t)reason_len};

    return to_scaler(w, SSS_HM_BOOT, &b, sizeof(b), name, name_len, reason, reason_len) < 0
               ? -ENOMEM
               : 0;
}

int sss_handler_history_reply(struct sss_worker *w, struct sss_reply *reply, const char *channel,
                              unsigned limit)
{
    struct req *r = req_new(w, REQ_HIST, reply->conn_id);

    if (!r)
        return -ENOMEM;
    r->reply = reply;
    r->limit = limit;
    feed_list_init(&r->hist);
    memcpy(r->channel, channel, strlen(channel) + 1);
    if (ask_history(w, r, 0, &r->sync_none) < 0) {
        req_free(w, r);
        return -ENOMEM;
    }
    return 0;
}

/* ---- connections ---- */

int sss_handler_conn_open(struct sss_conn *c)
{
    struct sss_worker *w = W(c);

    c->id = ++w->next_conn_id;
    c->last_hb_ms = w->now_ms;
    c->rate_window_ms = w->now_ms;
    return sss_map_put(&w->conns_by_id, (const char *)&c->id, sizeof(c->id), c);
}

void sss_handler_conn_closed(struct sss_conn *c)
{
    struct sss_worker *w = W(c);

    if (c->begun && w->app && w->app->on_close)
        w->app->on_close((struct sss_socket *)c, w->app->close_data);

    while (c->subs)
        unsubscribe(c, c->subs, 0);
    session_note(c, SSS_HM_SESSION_OFFLINE, NULL, 0, NULL);
    if (c->id)
        sss_map_del(&w->conns_by_id, (const char *)&c->id, sizeof(c->id));
}

/* ---- setup ---- */

int sss_handler_init(struct sss_worker *w)
{
    struct sss_shm *shm = w->shm;
    int rc;

    sss_index_init(&w->index, deliver, held_changed, w);
    sss_map_init(&w->conns_by_id);
    sss_map_init(&w->reqs);
    sss_proto_out_init(&w->json, NULL, 0);
    rc = sss_proto_decoder_init(&w->dec, (size_t)w->cfg->max_subscriptions);
    if (rc < 0)
        return rc;
    w->scaler_gen = atomic_load_explicit(&shm->hdr->scaler_gen, memory_order_acquire);
    w->inbox = sss_shm_ring_to_worker(shm, (unsigned)w->id);
    sss_hm_outbox_init(&w->outbox, sss_shm_ring_to_scaler(shm, (unsigned)w->id));
    w->wake = sss_shm_wake(shm, (unsigned)w->id);
    w->scaler_wake = sss_shm_wake(shm, shm->hdr->nprocs);
    w->busbuf_cap = sss_bus_max_payload(sss_shm_bus(shm));
    w->busbuf = sss_malloc(w->busbuf_cap);
    w->hb_frame = sss_ws_frame(SSS_WS_TEXT, "h", 1);
    if (!w->busbuf || !w->hb_frame)
        return -ENOMEM;
    rc = sss_bus_reader_init(&w->bus_rd, sss_shm_bus(shm), w->id);
    if (rc < 0)
        return rc;
    {
        struct sss_hm_hello hello = {.pid = (uint64_t)getpid()};

        (void)to_scaler(w, SSS_HM_HELLO, &hello, sizeof(hello), NULL, 0, NULL, 0);
    }
    return 0;
}

void sss_handler_fini(struct sss_worker *w)
{
    for (uint32_t i = 0; i < w->reqs.cap; i++)
        if (w->reqs.slots[i].key) {
            struct req *r = w->reqs.slots[i].val;

            /* A sync is shared by its requests: free it with its last one. */
            if (r->kind == REQ_SYNC && --r->sync->outstanding == 0)
                sync_free(r->sync);
            if (r->kind == REQ_HIST)
                feed_list_fini(&r->hist);
            sss_free(r->id);
            sss_free(r);
        }
    sss_map_fini(&w->reqs);
    sss_index_fini(&w->index);
    sss_map_fini(&w->conns_by_id);
    sss_proto_out_fini(&w->json);
    sss_proto_decoder_fini(&w->dec);
    sss_hm_outbox_clear(&w->outbox);
    sss_bus_reader_fini(&w->bus_rd);
    sss_free(w->busbuf);
    if (w->hb_frame)
        sss_buf_unref(w->hb_frame);
}
