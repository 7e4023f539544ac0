/*
 * The client protocol of a worker (see sss_session.h).
 *
 * Flows kept here (DESIGN.md 4 and 8):
 *   SUBSCRIBE  index the connection at once (pending), ask the scaler for the
 *              channel's last uid L, reply with L, then deliver held FEEDs > L.
 *   SYNC       same, with the history after each lastUid: the reply carries
 *              the records, then held FEEDs above the history's end follow.
 *   BEGIN      a named user gets _u_<user>, a named session its recorded
 *              subscriptions back; the reply waits for the scaler's answers.
 *   PUBLISH    (where --allow-client-publish allows) the scaler gives the uid;
 *              the reply carries it; the FEED comes back through the bus.
 *
 * Each kind of request to the scaler is a small struct (sss_session_int.h)
 * with its own sss_rpc_ops: sub_req (SUBSCRIBE, a resumed session's channel, BEGIN's user
 * channel), sync_req (one per SYNC entry, sharing a sync_state), pub_req
 * and a session's subscriptions (a plain conn_req). All but sync_req start
 * with a conn_req: the connection they answer, and the client's id.
 *
 * The application's subscription parser may answer later
 * (sss_on_subscribe_later): each SUBSCRIBE, SYNC entry or resumed channel
 * waiting for it is a struct sss_pending on its client's list, the context
 * of a decision (sss_decide.h). While any is awaited the client's next
 * messages wait in its queue (--max-waiting-messages), copied, and run in
 * order once none is; a SYNC reply waits for its entries' decisions as for
 * their history, a BEGIN reply for its resumed channels'.
 *
 * Three files, sharing sss_session_int.h (internal to the module):
 *   sss_session.c       the helpers, BEGIN, SUBSCRIBE, PUBLISH, one message,
 *                       bus records, the scaler, connections, the handler;
 *   sss_session_sync.c  SYNC;
 *   sss_session_wait.c  the rules and the application's decisions, and the
 *                       messages waiting for them.
 * May include: common, proto, shm, pubsub, rpc, sss_fanout, sss_conn, sss_app, sss_proxy.
 */
#include "sss_session.h"
#include "sss_session_int.h"
#include "sss_alloc.h"
#include "sss_app.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_fanout.h"
#include "sss_hostmsg.h"
#include "sss_log.h"
#include "sss_proxy.h"
#include "sss_rpc.h"
#include "sss_shm.h"
#include "sss_sockname.h"
#include "sss_str.h"
#include "sss_sub.h"
#include "sss_msgpack.h"
#include "sss_wire.h"
#include "sss_ws.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

#define BATCH 512 /* bus or mailbox records per poll */

static const char *const ERR_NAME = "Super Scaled Sockets Error";
const char sss_session__busy[] = "server busy or out of memory: try again";
#define PUB_RESTART_WAIT_MS 3000 /* a publish a dead scaler may have taken: wait this long */

/* ---- small helpers ---- */

/* Send the message in s->json to c, in c's encoding (sss_wire.h). */
void sss_session__send_json(struct sss_session *s, struct sss_conn *c)
{
    struct sss_buf *b;

    if (s->json.oom)
        return;
    b = sss_wire_frame(c->encoding, s->json.data, s->json.len);
    if (b)
        sss_conn_send(c, b);
}

void sss_session__send_error(struct sss_conn *c, const char *message, struct sss_proto_span id)
{
    struct sss_session *s = S(c);
    struct sss_proto_fail f = {ERR_NAME, message};

    sss_proto_out_reset(&s->json);
    if (sss_proto_encode_error(&s->json, &f, id) == 0)
        sss_session__send_json(s, c);
}

/* Answer the client's request `id` (an ASK or PUBLISH) with failure f. */
static void send_response_err(struct sss_conn *c, struct sss_proto_span id,
                              const struct sss_proto_fail *f)
{
    struct sss_session *s = S(c);

    sss_proto_out_reset(&s->json);
    if (sss_proto_encode_response_err(&s->json, id, f) == 0)
        sss_session__send_json(s, c);
}

struct sss_conn *sss_session_conn(struct sss_session *s, uint64_t id)
{
    return sss_map_get(&s->conns_by_id, (const char *)&id, sizeof(id));
}

/* The live connection a request was made for, or NULL. */
struct sss_conn *sss_session__live_conn(struct sss_session *s, uint64_t id)
{
    struct sss_conn *c = sss_session_conn(s, id);

    return c && !c->dead ? c : NULL;
}

char *sss_session__dup_span(struct sss_proto_span sp, size_t *len)
{
    *len = sp.len;
    return sp.ptr ? sss_strndup(sp.ptr, sp.len) : NULL;
}

/* A request of `size` bytes put in the table, or NULL (ENOMEM). */
void *sss_session__req_new(struct sss_session *s, size_t size, const struct sss_rpc_ops *ops)
{
    struct sss_rpc_req *r = sss_calloc(1, size);

    if (r && sss_rpc_add(s->rpc, r, ops) < 0) {
        sss_free(r);
        return NULL;
    }
    return r;
}

/*
 * A request of `size` bytes for connection c put in the table, or NULL
 * (ENOMEM). It keeps a copy of id for its reply (none if the copy fails).
 */
static void *conn_req_new(struct sss_session *s, size_t size, const struct sss_rpc_ops *ops,
                          const struct sss_conn *c, struct sss_proto_span id)
{
    struct conn_req *r = sss_session__req_new(s, size, ops);

    if (r) {
        r->s = s;
        r->conn_id = c->id;
        r->id = sss_session__dup_span(id, &r->id_len);
    }
    return r;
}

/* Every conn_req kind's ops->free. */
static void conn_req_free(struct sss_rpc_req *base)
{
    struct conn_req *r = (struct conn_req *)base;

    sss_free(r->id);
    sss_free(r);
}

/* The client's id, for the request's reply. */
static struct sss_proto_span reply_id(const struct conn_req *r)
{
    return sss_proto_span_of(r->id, r->id_len);
}

void sss_session__req_done(struct sss_session *s, void *r)
{
    sss_rpc_done(s->rpc, r);
}

/* Tell the scaler one subscription more or less (GET /api/presence). */
static void presence(struct sss_conn *c, const char *chan, size_t len, int delta)
{
    struct sss_hm_rec rec;

    if (sss_hm_pack_presence(&rec, delta, chan, len, c->user, strlen(c->user)) == 0)
        (void)sss_rpc_put(S(c)->rpc, &rec);
}

/*
 * The connection's session as the store names it (SSS_PROTO_SESSION_KEY_MAX):
 * its user's, so that a session id taken from another user, or by an
 * anonymous client, is a different record and resumes nothing of theirs.
 * Returns its length, 0 without a session.
 */
static size_t store_key(const struct sss_conn *c, char key[SSS_PROTO_SESSION_KEY_MAX + 1])
{
    int n;

    if (!c->session[0])
        return 0;
    n = snprintf(key, SSS_PROTO_SESSION_KEY_MAX + 1, "%s|%s", c->user, c->session);
    return n > 0 && n <= SSS_PROTO_SESSION_KEY_MAX ? (size_t)n : 0;
}

/* Tell the store what the connection's session did (nothing without a session). */
static void session_note_flags(struct sss_conn *c, int op, const char *chan, size_t chan_len,
                               const struct sss_uid *uid, uint32_t flags)
{
    struct sss_hm_rec rec;
    char key[SSS_PROTO_SESSION_KEY_MAX + 1];
    size_t kl = store_key(c, key), ul = op == SSS_HM_SESSION_ONLINE ? strlen(c->user) : 0;

    if (!kl || c->client->session_unkept)
        return;
    if (uid && !uid->epoch && !uid->offset)
        uid = NULL; /* none reached yet */
    if (sss_hm_pack_session(&rec, op, key, kl, chan, chan_len, c->user, ul, uid) == 0) {
        rec.h.session.flags = flags;
        (void)sss_rpc_put(S(c)->rpc, &rec);
    }
}

static void session_note(struct sss_conn *c, int op, const char *chan, size_t chan_len,
                         const struct sss_uid *uid)
{
    session_note_flags(c, op, chan, chan_len, uid, 0);
}

/* An adopted connection's session is online here (admitted before: not a new one). */
void sss_session__note_online(struct sss_conn *c)
{
    session_note_flags(c, SSS_HM_SESSION_ONLINE, NULL, 0, NULL, SSS_HM_SESSION_READMIT);
}

/*
 * The only ways a subscription leaves: keep the count, presence and the
 * session's record right. forget: the client left the channel (UNSUBSCRIBE,
 * BOOTCHANNEL); otherwise the connection is closing and the session keeps the
 * channel with the uid it reached.
 */
void sss_session__unsubscribe(struct sss_conn *c, struct sss_sub *sub, int forget)
{
    if (forget)
        session_note(c, SSS_HM_SESSION_UNSUB, sub->chan->name, sub->chan->name_len, NULL);
    else if (!sub->pending)
        session_note(c, SSS_HM_SESSION_SUB, sub->chan->name, sub->chan->name_len, &sub->floor);
    presence(c, sub->chan->name, sub->chan->name_len, -1);
    sss_index_unsubscribe(index_of(S(c)), &c->client->subs, sub);
    c->client->nsubs--;
}

/* A subscription was created: presence, and the session's record. */
void sss_session__subscribed(struct sss_conn *c, const char *chan, size_t len)
{
    c->client->nsubs++;
    presence(c, chan, len, 1);
    session_note(c, SSS_HM_SESSION_SUB, chan, len, NULL);
}

/* ---- client messages ---- */

/* The application's on-subscribed hook, once a subscription is live. */
void sss_session__subscribed_hook(struct sss_conn *c, const char *channel)
{
    struct sss_app *app = S(c)->app;

    if (app && app->on_subscribed && !c->dead)
        app->on_subscribed((struct sss_socket *)c, channel, app->subscribed_data);
}

static void send_begin_reply(struct sss_conn *c, const char *user_chan, const struct sss_uid *last)
{
    struct sss_session *s = S(c);
    struct sss_proto_begin_reply br;

    memset(&br, 0, sizeof(br));
    br.channel = user_chan;
    br.last_uid = last;
    /* A session the store did not record cannot be resumed: the reply says none. */
    br.session = c->session[0] && !c->client->session_unkept ? c->session : NULL;
    br.hb = s->cfg->heartbeat_interval_ms > 0;
    br.hb_interval = (uint32_t)s->cfg->heartbeat_interval_ms;
    br.hb_threshold = (uint32_t)s->cfg->heartbeat_threshold_ms;
    sss_proto_out_reset(&s->json);
    if (sss_proto_encode_begin_reply(&s->json, &br) == 0)
        sss_session__send_json(s, c);
}

/* One answer the BEGIN reply waited for came; the last one sends it. */
void sss_session__begin_step_done(struct sss_conn *c)
{
    struct sss_client *cl = c->client;
    char chan[SSS_PROTO_CHANNEL_MAX + 1];

    if (!cl->begin_wait || --cl->begin_wait || cl->begin_silent || c->dead)
        return;
    if (c->user[0]) {
        snprintf(chan, sizeof(chan), "_u_%s", c->user);
        send_begin_reply(c, chan, cl->has_user_last ? &cl->user_last : NULL);
    } else {
        send_begin_reply(c, NULL, NULL);
    }
}

/* ---- sub_req: the last uid of a channel ---- */

/* The subscription r was made for, and (*cp) its connection, while both are there. */
static struct sss_sub *sub_of(const struct sub_req *r, struct sss_conn **cp)
{
    struct sss_conn *c = sss_session__live_conn(r->cr.s, r->cr.conn_id);

    *cp = c;
    return c ? sss_index_find(c->client->subs, r->channel, strlen(r->channel)) : NULL;
}

/* A pending subscription goes live above the channel's last uid (none yet: from the start). */
static void activate_after(struct sss_session *s, struct sss_sub *sub,
                           const struct sss_hm_last_uid_r *p)
{
    static const struct sss_uid zero = {0, 0};

    sss_index_activate(index_of(s), sub, p->has ? &p->uid : &zero);
}

static void sub_last_uid(struct sss_rpc_req *base, const struct sss_hm_last_uid_r *p)
{
    struct sub_req *r = (struct sub_req *)base;
    struct sss_session *s = r->cr.s;
    struct sss_conn *c;
    struct sss_sub *sub = sub_of(r, &c);

    if (!r->silent && sub) {
        sss_proto_out_reset(&s->json);
        if (sss_proto_encode_subscribe_reply(&s->json, reply_id(&r->cr), r->channel, true,
                                             p->has ? &p->uid : NULL, NULL) == 0)
            sss_session__send_json(s, c);
    }
    if (sub && sub->pending) {
        activate_after(s, sub, p);
        sss_session__subscribed_hook(c, r->channel);
    }
    if (r->silent && c)
        sss_session__begin_step_done(c);
}

/* BEGIN's _u_<user>: its last uid goes in the BEGIN reply. */
static void begin_last_uid(struct sss_rpc_req *base, const struct sss_hm_last_uid_r *p)
{
    struct sub_req *r = (struct sub_req *)base;
    struct sss_conn *c;
    struct sss_sub *sub = sub_of(r, &c);

    if (!sub)
        return;
    c->client->has_user_last = (uint8_t)p->has;
    if (p->has)
        c->client->user_last = p->uid;
    if (sub->pending)
        activate_after(r->cr.s, sub, p);
    sss_session__begin_step_done(c);
}

static int sub_replay(struct sss_rpc_req *base)
{
    struct sub_req *r = (struct sub_req *)base;

    (void)sss_rpc_ask_last_uid(base->rpc, base, r->channel);
    return 0;
}

static const struct sss_rpc_ops sub_ops = {
    .last_uid = sub_last_uid,
    .replay = sub_replay,
    .free = conn_req_free,
};

static const struct sss_rpc_ops begin_ops = {
    .last_uid = begin_last_uid,
    .replay = sub_replay,
    .free = conn_req_free,
};

/* ---- SUBSCRIBE, UNSUBSCRIBE ---- */

void sss_session__subscribe_refused(struct sss_conn *c, struct sss_proto_span id,
                                    const char *channel, const char *why)
{
    struct sss_session *s = S(c);
    struct sss_proto_fail f = {"Subscription refused", why};

    sss_proto_out_reset(&s->json);
    if (sss_proto_encode_subscribe_reply(&s->json, id, channel, false, NULL, &f) == 0)
        sss_session__send_json(s, c);
}

/* An allowed SUBSCRIBE: index it at once (pending) and ask the scaler for the last uid. */
void sss_session__subscribe_start(struct sss_conn *c, struct sss_proto_span id,
                                  const char *channel, size_t len)
{
    struct sss_session *s = S(c);
    struct sss_client *cl = c->client;
    struct sss_sub *sub;
    struct sub_req *r;
    int created;

    if (!sss_index_find(cl->subs, channel, len) &&
        cl->nsubs >= (uint32_t)s->cfg->max_subscriptions) {
        sss_session__subscribe_refused(c, id, channel, "too many subscriptions on this connection");
        return;
    }
    sub = sss_index_subscribe(index_of(s), c, &cl->subs, channel, len, &created);
    r = sub ? conn_req_new(s, sizeof(*r), &sub_ops, c, id) : NULL;
    if (!r) {
        if (sub && created)
            sss_index_unsubscribe(index_of(s), &cl->subs, sub);
        sss_session__send_error(c, sss_session__busy, id);
        return;
    }
    if (created)
        sss_session__subscribed(c, channel, len);
    memcpy(r->channel, channel, len + 1);
    if (sss_rpc_ask_last_uid(s->rpc, &r->cr.base, r->channel) < 0) {
        /* The scaler cannot be asked: refuse rather than hold for ever. */
        sss_session__send_error(c, sss_session__busy, id);
        sss_session__req_done(s, r);
        if (created)
            sss_session__unsubscribe(c, sub, 1);
    }
}

static void on_subscribe(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_pending *p = NULL;
    const char *why = NULL;

    switch (sss_session__subscribe_allowed(c, m->channel, m->channel_len, m->query, &why, 0,
                                           PENDING_SUBSCRIBE, &p)) {
    case ASK_ALLOWED:
        sss_session__subscribe_start(c, m->id, m->channel, m->channel_len);
        break;
    case ASK_PENDING:
        p->id = sss_session__dup_span(m->id, &p->id_len);
        sss_session__ask_later(c, p, m->query);
        break;
    case ASK_REFUSED:
        sss_session__subscribe_refused(c, m->id, m->channel, why);
        break;
    default:
        sss_session__send_error(c, sss_session__busy, m->id);
    }
}

static void on_unsubscribe(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_session *s = S(c);
    struct sss_sub *sub = sss_index_find(c->client->subs, m->channel, m->channel_len);

    if (sub)
        sss_session__unsubscribe(c, sub, 1);
    if (m->id.ptr) {
        sss_proto_out_reset(&s->json);
        if (sss_proto_encode_unsubscribe_reply(&s->json, m->id, m->channel, sub != NULL) == 0)
            sss_session__send_json(s, c);
    }
}

/* ---- BEGIN and a session's subscriptions ---- */

static void load_entry(struct sss_rpc_req *base, const struct sss_hm_session_entry *e,
                       const char *chan, size_t len);
static void load_end(struct sss_rpc_req *base, const struct sss_hm_session_end *e);
static int load_replay(struct sss_rpc_req *base);

static const struct sss_rpc_ops load_ops = {
    .session_entry = load_entry,
    .session_end = load_end,
    .replay = load_replay,
    .free = conn_req_free,
};

/*
 * BEGIN's work (also done by a SYNC that comes first, silently): a named
 * user gets its _u_<user> channel and a named session its recorded
 * subscriptions back, all in the index before the BEGIN reply, which waits
 * for the scaler's answers (begin_wait) and carries the user channel's
 * last uid. m: the BEGIN (its "session") or the SYNC (its subscriptions).
 */
void sss_session__begin(struct sss_conn *c, int silent, const struct sss_proto_msg *m)
{
    struct sss_session *s = S(c);
    struct sss_client *cl = c->client;
    struct sss_app *app = s->app;
    struct sss_proto_span none = {NULL, 0};
    char chan[SSS_PROTO_CHANNEL_MAX + 1];
    int listed = 0, n;

    cl->begun = 1;
    cl->begin_silent = (uint8_t)silent;
    if (m->sys == SSS_PROTO_BEGIN && (m->has & SSS_PROTO_HAS_SESSION) && !c->session[0])
        (void)sss_conn_set_session(c, m->session, m->session_len); /* the token's session wins */
    if (app && app->on_socket)
        app->on_socket((struct sss_socket *)c, app->socket_data);
    if (c->session[0]) {
        struct conn_req *r = conn_req_new(s, sizeof(*r), &load_ops, c, none);
        struct sss_hm_rec rec;
        char key[SSS_PROTO_SESSION_KEY_MAX + 1];
        size_t kl = store_key(c, key);

        session_note(c, SSS_HM_SESSION_ONLINE, NULL, 0, NULL);
        if (r) {
            if (!kl || sss_hm_pack_session_load(&rec, r->base.id, key, kl) < 0 ||
                sss_rpc_put(s->rpc, &rec) < 0)
                sss_session__req_done(s, r);
            else
                cl->begin_wait++;
        }
    }
    n = c->user[0] ? snprintf(chan, sizeof(chan), "_u_%s", c->user) : 0;
    for (size_t i = 0; n > 0 && m->sys == SSS_PROTO_SYNC && i < m->nsubs; i++)
        if (strcmp(m->subs[i].channel, chan) == 0)
            listed = 1; /* the SYNC brings it back itself, with its lastUid */
    if (n > 0 && (size_t)n < sizeof(chan) && !listed) {
        struct sss_sub *sub;
        struct sub_req *r;
        int created;

        sub = sss_index_subscribe(index_of(s), c, &cl->subs, chan, (size_t)n, &created);
        r = sub ? conn_req_new(s, sizeof(*r), &begin_ops, c, none) : NULL;
        if (!r) {
            sss_conn_close(c, SSS_WS_CLOSE_INTERNAL, "out of memory", 0);
            return;
        }
        if (created)
            sss_session__subscribed(c, chan, (size_t)n);
        memcpy(r->channel, chan, (size_t)n + 1);
        if (sss_rpc_ask_last_uid(s->rpc, &r->cr.base, r->channel) < 0)
            sss_session__req_done(s, r);
        else
            cl->begin_wait++;
    }
    if (!cl->begin_wait && !silent)
        send_begin_reply(c, NULL, NULL);
}

/* A resumed channel the rules allow: subscribed again, live from its last uid on. */
void sss_session__resume_start(struct sss_conn *c, const char *chan, size_t len)
{
    struct sss_session *s = S(c);
    struct sss_proto_span none = {NULL, 0};
    struct sss_sub *sub;
    struct sub_req *sr;
    int created;

    if (sss_index_find(c->client->subs, chan, len) ||
        c->client->nsubs >= (uint32_t)s->cfg->max_subscriptions)
        return;
    sub = sss_index_subscribe(index_of(s), c, &c->client->subs, chan, len, &created);
    sr = sub ? conn_req_new(s, sizeof(*sr), &sub_ops, c, none) : NULL;
    if (!sr) {
        if (sub && created)
            sss_index_unsubscribe(index_of(s), &c->client->subs, sub);
        return;
    }
    sss_session__subscribed(c, chan, len);
    memcpy(sr->channel, chan, len);
    sr->channel[len] = '\0';
    sr->silent = 1;
    /* The BEGIN reply waits until the channel's last uid is known: from then
     * on every publish reaches this connection (with Redis, once this host
     * listens to the channel). */
    if (sss_rpc_ask_last_uid(s->rpc, &sr->cr.base, sr->channel) < 0)
        sss_session__req_done(s, sr);
    else
        c->client->begin_wait++;
}

/* A channel of a resumed session: asked about again like a SYNC entry. */
static void load_entry(struct sss_rpc_req *base, const struct sss_hm_session_entry *e,
                       const char *chan, size_t len)
{
    struct conn_req *r = (struct conn_req *)base;
    struct sss_session *s = r->s;
    struct sss_proto_span none = {NULL, 0};
    struct sss_pending *p = NULL;
    struct sss_conn *c;
    const char *why;

    (void)e;
    if (!len || len > SSS_PROTO_CHANNEL_MAX || !sss_proto_channel_valid(chan, len))
        return;
    c = sss_session__live_conn(s, r->conn_id);
    if (!c || sss_index_find(c->client->subs, chan, len) ||
        c->client->nsubs >= (uint32_t)s->cfg->max_subscriptions)
        return;
    switch (sss_session__subscribe_allowed(c, chan, len, none, &why, 1, PENDING_RESUME, &p)) {
    case ASK_ALLOWED:
        sss_session__resume_start(c, chan, len);
        break;
    case ASK_PENDING:
        c->client->begin_wait++; /* the BEGIN reply waits for the decision too */
        sss_session__ask_later(c, p, none);
        break;
    default:
        break;
    }
}

static void load_end(struct sss_rpc_req *base, const struct sss_hm_session_end *e)
{
    struct conn_req *r = (struct conn_req *)base;
    struct sss_conn *c = sss_session__live_conn(r->s, r->conn_id);

    if (!c)
        return;
    if (!e->kept)
        c->client->session_unkept = 1;
    sss_session__begin_step_done(c);
}

/* The new scaler's store is empty: nothing to resume. */
static int load_replay(struct sss_rpc_req *base)
{
    struct conn_req *r = (struct conn_req *)base;
    struct sss_conn *c = sss_session__live_conn(r->s, r->conn_id);

    if (c)
        sss_session__begin_step_done(c);
    return 1;
}

/* ---- PUBLISH ---- */

static void pub_published(struct sss_rpc_req *base, const struct sss_hm_published *p)
{
    struct pub_req *r = (struct pub_req *)base;
    struct sss_session *s = r->cr.s;
    struct sss_conn *c = sss_session__live_conn(s, r->cr.conn_id);

    if (!c)
        return;
    if (r->may_create && !p->created)
        c->client->chans_made--; /* its slot was not used */
    if (p->rc == 0) {
        sss_proto_out_reset(&s->json);
        if (sss_proto_encode_publish_reply(&s->json, reply_id(&r->cr), &p->uid) == 0)
            sss_session__send_json(s, c);
    } else {
        struct sss_proto_fail f = {"Publish failed", sss_strerror(p->rc)};

        if (p->rc == SSS_ELIMIT)
            f.message = r->may_create ? "too many channels created by clients on this server"
                                      : "this connection created too many channels";
        send_response_err(c, reply_id(&r->cr), &f);
    }
}

/* Still in the mailbox, the new scaler answers it; taken by the dead one, no
 * answer comes: pub_expire gives up. */
static int pub_replay(struct sss_rpc_req *base)
{
    struct pub_req *r = (struct pub_req *)base;

    if (!r->deadline_ms)
        r->deadline_ms = *r->cr.s->now_ms + PUB_RESTART_WAIT_MS;
    return 0;
}

static int pub_expire(struct sss_rpc_req *base, int64_t now)
{
    struct pub_req *r = (struct pub_req *)base;
    struct sss_proto_fail f = {"Publish failed", "interrupted by a server restart; it may or may "
                                                 "not have been published"};
    struct sss_conn *c;

    if (!r->deadline_ms || now < r->deadline_ms)
        return 0;
    c = sss_session__live_conn(r->cr.s, r->cr.conn_id);
    if (c)
        send_response_err(c, reply_id(&r->cr), &f);
    return 1;
}

static const struct sss_rpc_ops pub_ops = {
    .published = pub_published,
    .replay = pub_replay,
    .expire = pub_expire,
    .free = conn_req_free,
};

static void on_publish(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_session *s = S(c);
    struct sss_proto_fail f = {"Publish refused", NULL};
    uint32_t flags = SSS_HM_WANT_REPLY | SSS_HM_FROM_CLIENT;
    struct sss_hm_rec rec;
    struct pub_req *r;
    int rc;

    if (!s->cfg->allow_client_publish[0] ||
        fnmatch(s->cfg->allow_client_publish, m->channel, 0) != 0)
        f.message = "clients may not publish on this channel";
    else if (sss_proto_channel_reserved(m->channel, m->channel_len))
        f.message = "channels starting with _ belong to the server";
    else if (!m->msg.ptr)
        f.message = "missing msg";
    if (f.message) {
        send_response_err(c, m->id, &f);
        return;
    }
    r = conn_req_new(s, sizeof(*r), &pub_ops, c, m->id);
    if (!r) {
        sss_session__send_error(c, sss_session__busy, m->id);
        return;
    }
    /* Whether it may create its channel is settled now, counting those in
     * flight, so that a burst cannot cross the connection's limit. */
    r->may_create = c->client->chans_made < (uint32_t)s->cfg->max_client_channels_per_conn;
    if (!r->may_create)
        flags |= SSS_HM_NO_CREATE;
    rc = sss_hm_pack_publish(&rec, r->cr.base.id, c->id, flags, m->channel, m->channel_len,
                             m->topic, m->topic_len, m->msg.ptr, m->msg.len);
    if (rc == 0)
        rc = sss_rpc_put(s->rpc, &rec);
    else
        rc = -EMSGSIZE; /* a part too long for its field */
    if (rc >= 0 && r->may_create)
        c->client->chans_made++;
    if (rc == -EMSGSIZE) {
        /* Never deliverable: say so rather than "try again". */
        struct sss_proto_fail tl = {"Publish failed", "message too large for the server"};

        send_response_err(c, m->id, &tl);
        sss_session__req_done(s, r);
    } else if (rc < 0) {
        sss_session__send_error(c, sss_session__busy, m->id);
        sss_session__req_done(s, r);
    }
}

/* ---- one message ---- */

static int rate_exceeded(struct sss_conn *c)
{
    struct sss_session *s = S(c);
    struct sss_client *cl = c->client;
    int limit = s->cfg->max_message_rate;

    if (!limit)
        return 0;
    if (*s->now_ms - cl->rate_window_ms >= 1000) {
        cl->rate_window_ms = *s->now_ms;
        cl->rate_count = 0;
    }
    return ++cl->rate_count > (uint32_t)limit;
}

void sss_session_message(struct sss_conn *c, int opcode, const uint8_t *data, size_t len)
{
    struct sss_client *cl = c->client;

    if (rate_exceeded(c)) {
        sss_log_debug("handler", "rate limit conn=%llu", (unsigned long long)c->id);
        sss_conn_close(c, SSS_WS_CLOSE_POLICY, "message rate limit", 0);
        return;
    }
    if (cl->deciding || !STAILQ_EMPTY(&cl->waiting)) {
        /* A decision is awaited: this message waits its turn (a heartbeat
         * answer needs none: its arrival already counted as activity). */
        if (!(opcode == WSLAY_TEXT_FRAME && len == 1 && data[0] == 'h'))
            (void)sss_session__wait_message(c, opcode, data, len);
        return;
    }
    sss_session__process_message(c, opcode, data, len);
}

static void process_json(struct sss_conn *c, const char *data, size_t len);

/*
 * A sss.v1.msgpack client's messages are binary frames, each transcoded to
 * the JSON text the decoder reads (sss_msgpack.h refuses a bad one before
 * allocating); its only text frame is the heartbeat h. A sss.v1.json client
 * sends text frames only.
 */
void sss_session__process_message(struct sss_conn *c, int opcode, const uint8_t *data, size_t len)
{
    struct sss_proto_span none = {NULL, 0};
    enum sss_msgpack_error err;
    struct sss_dynbuf json;
    char tmp[4096];
    int rc;

    if (c->encoding == SSS_WIRE_MSGPACK) {
        if (opcode == WSLAY_TEXT_FRAME) {
            if (len == 1 && data[0] == 'h')
                return; /* the answer to our h */
            sss_session__send_error(c, "text frames are not part of sss.v1.msgpack (but h)",
                                    none);
            return;
        }
        sss_dynbuf_init(&json, tmp, sizeof(tmp));
        rc = sss_msgpack_to_json(&json, data, len, &err);
        if (rc < 0)
            sss_session__send_error(c, sss_msgpack_strerror(err), none);
        else
            process_json(c, json.data, json.len);
        sss_dynbuf_fini(&json);
        return;
    }
    if (opcode != WSLAY_TEXT_FRAME) {
        sss_session__send_error(c, "binary frames are not part of sss.v1.json", none);
        return;
    }
    process_json(c, (const char *)data, len);
}

/* One message as JSON text (data lives until it returns). */
static void process_json(struct sss_conn *c, const char *data, size_t len)
{
    struct sss_session *s = S(c);
    struct sss_proto_msg m;
    int rc;

    rc = sss_proto_decode(&s->dec, data, len, &m);
    if (rc < 0) {
        if (m.sys == SSS_PROTO_SUBSCRIBE && m.error == SSS_PROTO_E_CHANNEL) {
            struct sss_proto_fail f = {"Subscription refused", "invalid channel name"};

            sss_proto_out_reset(&s->json);
            /* Name the channel asked for when the decoder could keep it. */
            if (sss_proto_encode_subscribe_reply(&s->json, m.id, m.channel_len ? m.channel : "",
                                                 false, NULL, &f) == 0)
                sss_session__send_json(s, c);
            return;
        }
        sss_session__send_error(c, sss_proto_strerror(m.error), m.id);
        return;
    }
    if (m.sys == SSS_PROTO_HEARTBEAT)
        return; /* the answer to our h: its arrival already counted as activity */
    if (!c->client->begun && m.sys != SSS_PROTO_BEGIN && m.sys != SSS_PROTO_SYNC) {
        sss_session__send_error(c, "BEGIN or SYNC must come first", m.id);
        return;
    }
    switch (m.sys) {
    case SSS_PROTO_BEGIN:
        if (c->client->begun)
            send_begin_reply(c, NULL, NULL); /* a second BEGIN: nothing more to do */
        else
            sss_session__begin(c, 0, &m);
        break;
    case SSS_PROTO_SUBSCRIBE:
        on_subscribe(c, &m);
        break;
    case SSS_PROTO_UNSUBSCRIBE:
        on_unsubscribe(c, &m);
        break;
    case SSS_PROTO_SYNC:
        sss_session__on_sync(c, &m);
        break;
    case SSS_PROTO_ASK: {
        struct sss_proto_fail f = {ERR_NAME, "Unknown request topic sent from client"};

        if (c->nasks >= (uint32_t)s->cfg->max_pending_asks) {
            f.message = "too many asks waiting for an answer";
            send_response_err(c, m.id, &f);
            break;
        }
        rc = sss_app_ask(c, m.topic, m.id, m.msg);
        if (rc == 0)
            rc = sss_proxy_ask(c, m.topic, m.id, m.msg); /* a module's handler wins */
        if (rc > 0)
            break;
        if (rc < 0)
            f.message = "out of memory";
        send_response_err(c, m.id, &f);
        break;
    }
    case SSS_PROTO_TELL:
        if (sss_app_tell(c, m.topic, m.msg) == 0 && sss_proxy_tell(c, m.topic, m.msg) == 0)
            sss_log_debug("handler", "tell with no handler topic=%s", m.topic);
        break;
    case SSS_PROTO_PUBLISH:
        on_publish(c, &m);
        break;
    default:
        sss_session__send_error(c, "this message only goes from server to client", m.id);
    }
}

/* ---- bus records for connections (through the fan-out's hooks) ---- */

/* A BCAST_RECORD (v: topic, msg). */
static void on_bcast(struct sss_session *s, const struct sss_hm_rec *rec)
{
    char t[SSS_PROTO_TOPIC_MAX + 1];
    struct sss_wire_frames frames; /* built once per encoding with a recipient */
    struct sss_buf *frame;

    if (sss_str_copy(t, sizeof(t), rec->v[0].p, rec->v[0].len) < 0)
        return;
    sss_proto_out_reset(&s->json);
    if (sss_proto_encode_broadcast(&s->json, t, sss_proto_span_of(rec->v[1].p, rec->v[1].len)) < 0)
        return;
    frame = sss_ws_frame(SSS_WS_TEXT, s->json.data, s->json.len);
    if (!frame)
        return;
    sss_wire_frames_init(&frames, frame);
    sss_buf_unref(frame);
    for (struct sss_client *cl = LIST_FIRST(&s->clients); cl; cl = LIST_NEXT(cl, link))
        if (cl->begun && !cl->conn->dead &&
            (frame = sss_wire_frames_get(&frames, cl->conn->encoding)))
            sss_conn_send(cl->conn, sss_buf_ref(frame));
    sss_wire_frames_fini(&frames);
}

/* A BOOT_RECORD (v: name, reason). */
static void on_boot(struct sss_session *s, const struct sss_hm_rec *rec)
{
    const struct sss_hm_boot *b = &rec->h.boot;
    char name[SSS_PROTO_CHANNEL_MAX + 1], reason[SSS_REASON_MAX + 1];
    size_t name_len = rec->v[0].len;
    struct sss_lchan *lc;

    if (sss_str_copy(name, sizeof(name), rec->v[0].p, name_len) < 0 ||
        sss_str_copy(reason, sizeof(reason), rec->v[1].p, rec->v[1].len) < 0)
        return;
    if (b->kind == SSS_HM_BOOT_USER) {
        for (struct sss_client *cl = LIST_FIRST(&s->clients); cl; cl = LIST_NEXT(cl, link))
            if (!cl->conn->dead && cl->conn->user[0] && strcmp(cl->conn->user, name) == 0)
                (void)sss_boot((struct sss_socket *)cl->conn, reason);
        return;
    }
    /* A channel: each subscriber is told, then unsubscribed. The channel goes
     * away with its last subscriber, so look it up again each time. A client
     * that offered no sub-protocol (the original JavaScript client) knows no
     * BOOTCHANNEL: it is booted, BOOT and close 4001, as the original
     * server's bootAll did. */
    while ((lc = sss_index_chan(index_of(s), name, name_len)) && !LIST_EMPTY(&lc->subs)) {
        struct sss_sub *sub = LIST_FIRST(&lc->subs);
        struct sss_conn *c = sub->conn;

        if (!c->dead && !c->subprotocol) {
            (void)sss_boot((struct sss_socket *)c, reason);
        } else if (!c->dead) {
            sss_proto_out_reset(&s->json);
            if (sss_proto_encode_bootchannel(&s->json, name, reason) == 0)
                sss_session__send_json(s, c);
        }
        sss_session__unsubscribe(c, sub, 1);
    }
}

static void hook_record(void *data, const struct sss_hm_rec *rec)
{
    if (rec->type == SSS_HM_BOOT_RECORD)
        on_boot(data, rec);
    else if (rec->type == SSS_HM_BCAST_RECORD)
        on_bcast(data, rec);
}

/*
 * A TELL_CONN from the mailbox (v: host, topic, msg): a TELL by socket name
 * (POST /api/tell, sss_tell_socket) for one of our connections. One that is
 * gone (or has not begun: its BEGIN reply must come first) is counted and
 * dropped: the sender was told it was handed on, nothing more.
 */
static void on_tell_conn(void *data, const struct sss_hm_rec *rec)
{
    struct sss_session *s = data;
    struct sss_conn *c = sss_session_conn(s, sss_sockname_conn(rec->h.tell.sid));
    char topic[SSS_PROTO_TOPIC_MAX + 1];

    if (rec->type != SSS_HM_TELL_CONN)
        return;
    if (!c || c->dead || c->closing || !c->client || !c->client->begun ||
        sss_str_copy(topic, sizeof(topic), rec->v[1].p, rec->v[1].len) < 0) {
        if (s->ctr)
            sss_ctr_add(s->ctr, tells_gone, 1);
        return;
    }
    sss_proto_out_reset(&s->json);
    if (sss_proto_encode_tell(&s->json, topic, sss_proto_span_of(rec->v[2].p, rec->v[2].len)) < 0)
        return;
    sss_session__send_json(s, c);
    if (s->ctr)
        sss_ctr_add(s->ctr, tells, 1);
}

static struct sss_conn *hook_conn(void *data, uint64_t conn_id)
{
    return sss_session_conn(data, conn_id);
}

static void hook_held(struct sss_conn *c, long delta, void *data)
{
    struct sss_session *s = data;

    c->client->held_bytes += delta;
    if (delta > 0 && (size_t)c->client->held_bytes > s->cfg->max_send_queue) {
        /* The hold is bounded like the send queue: the client SYNCs again. */
        if (s->ctr)
            sss_ctr_add(s->ctr, closes_slow, 1);
        sss_conn_close(c, SSS_WS_CLOSE_TOO_SLOW, "too many messages held", 0);
    }
}

void sss_session_fanout_hooks(struct sss_session *s, struct sss_fanout_hooks *h)
{
    h->conn = hook_conn;
    h->held = hook_held;
    h->record = hook_record;
    h->data = s;
}

/* ---- the scaler ---- */

/*
 * The master started a new scaler: whatever the old one had not answered is
 * asked again. Its memory engine starts new epochs, so a SYNC that reaches
 * back now reports a gap; a publish whose answer was lost may or may not have
 * been applied, and the client is told so rather than risking a duplicate.
 */
static void on_scaler_restart(struct sss_session *s)
{
    struct sss_hm_rec rec;

    sss_log_warn("handler", "the scaler restarted: asking again for %u pending request(s)",
                 sss_rpc_pending(s->rpc));
    /*
     * The new scaler knows nothing of this worker's subscriptions and
     * sessions (with the Redis engine it would not even receive their
     * channels): account for all of them again, after a RESYNC that makes it
     * forget whatever of ours the old scaler left unread in the mailbox.
     */
    sss_hm_pack_resync(&rec, s->rpc->pid);
    (void)sss_rpc_put(s->rpc, &rec);
    for (struct sss_client *cl = LIST_FIRST(&s->clients); cl; cl = LIST_NEXT(cl, link)) {
        struct sss_conn *c = cl->conn;

        if (c->dead)
            continue;
        /* Admitted by the old scaler: not a new session for the rate limit. */
        if (cl->begun && c->session[0])
            session_note_flags(c, SSS_HM_SESSION_ONLINE, NULL, 0, NULL, SSS_HM_SESSION_READMIT);
        for (struct sss_sub *sub = cl->subs; sub; sub = sub->conn_next) {
            presence(c, sub->chan->name, sub->chan->name_len, 1);
            session_note(c, SSS_HM_SESSION_SUB, sub->chan->name, sub->chan->name_len,
                         sub->pending ? NULL : &sub->floor);
        }
    }
    sss_rpc_replay(s->rpc);
    /* An engine that outlives the scaler (Redis: other hosts kept publishing
     * while no scaler listened): fetch what went by. (The memory engine
     * published nothing meanwhile: it was the scaler.) */
    if (atomic_load_explicit(s->engine_flags, memory_order_acquire) & SSS_SHM_ENGINE_OUTLIVES)
        sss_fanout_recover(s->fanout);
}

int sss_session_poll(struct sss_session *s)
{
    uint32_t gen = atomic_load_explicit(s->scaler_gen, memory_order_acquire);
    int n;

    if (gen != s->gen_seen) {
        s->gen_seen = gen;
        on_scaler_restart(s);
    }
    n = sss_fanout_poll(s->fanout, BATCH);
    return n + sss_rpc_poll(s->rpc, BATCH);
}

int sss_session_readable(struct sss_session *s)
{
    return sss_fanout_readable(s->fanout) || sss_rpc_readable(s->rpc);
}

void sss_session_tick(struct sss_conn *c, int64_t now)
{
    struct sss_session *s = S(c);
    struct sss_client *cl = c->client;

    if (!cl->begun || !s->cfg->heartbeat_interval_ms || c->closing || c->want_close)
        return;
    if (now - cl->last_hb_ms >= s->cfg->heartbeat_interval_ms) {
        cl->last_hb_ms = now;
        sss_conn_send(c, sss_buf_ref(s->hb_frame));
    }
}

/* ---- connections ---- */

int sss_session_open(struct sss_session *s, struct sss_conn *c)
{
    struct sss_client *cl = sss_calloc(1, sizeof(*cl));
    uint32_t n = s->next_conn_id + 1 ? s->next_conn_id + 1 : 1; /* never 0: "none" */
    uint64_t id = s->conn_id_base | n;

    if (!cl)
        return -ENOMEM;
    c->id = id;
    if (sss_map_put(&s->conns_by_id, (const char *)&c->id, sizeof(c->id), c) < 0) {
        c->id = 0;
        sss_free(cl);
        return -ENOMEM;
    }
    s->next_conn_id = n;
    cl->conn = c;
    cl->s = s;
    cl->last_hb_ms = *s->now_ms;
    cl->rate_window_ms = *s->now_ms;
    STAILQ_INIT(&cl->waiting);
    LIST_INSERT_HEAD(&s->clients, cl, link);
    c->client = cl;
    return 0;
}

void sss_session_closed(struct sss_conn *c)
{
    struct sss_client *cl = c->client;
    struct sss_session *s;

    if (!cl)
        return;
    s = cl->s;
    if (cl->begun && s->app && s->app->on_close)
        s->app->on_close((struct sss_socket *)c, s->app->close_data);
    sss_session__pending_drop_all(cl);
    sss_proxy_closed(c, cl->begun);
    while (cl->subs)
        sss_session__unsubscribe(c, cl->subs, 0);
    if (!c->released) /* handed over: the session goes on in the new process */
        session_note(c, SSS_HM_SESSION_OFFLINE, NULL, 0, NULL);
    sss_map_del(&s->conns_by_id, (const char *)&c->id, sizeof(c->id));
    LIST_REMOVE(cl, link);
    c->client = NULL;
    sss_free(cl);
}

/* ---- setup ---- */

int sss_session_init(struct sss_session *s, const struct sss_cfg *cfg, struct sss_app *app,
                     struct sss_rpc *rpc, struct sss_fanout *fanout, struct sss_counters *ctr,
                     const _Atomic uint32_t *scaler_gen, const _Atomic uint32_t *engine_flags,
                     const int64_t *now_ms)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->app = app;
    s->rpc = rpc;
    s->fanout = fanout;
    s->ctr = ctr;
    s->scaler_gen = scaler_gen;
    s->engine_flags = engine_flags;
    s->gen_seen = atomic_load_explicit(scaler_gen, memory_order_acquire);
    s->now_ms = now_ms;
    if (ctr) {
        /* 16 bits: sss_socket_id puts the worker's id above the 48 of a connection id. */
        unsigned inc = atomic_fetch_add_explicit(&ctr->incarnation, 1, memory_order_relaxed) + 1;

        s->conn_id_base = (uint64_t)(inc & 0xffffu) << 32;
    }
    sss_map_init(&s->conns_by_id);
    rpc->on_record = on_tell_conn;
    rpc->record_data = s;
    sss_proto_out_init(&s->json, NULL, 0);
    s->hb_frame = sss_ws_frame(SSS_WS_TEXT, "h", 1);
    if (!s->hb_frame)
        return -ENOMEM;
    return sss_proto_decoder_init(&s->dec, (size_t)cfg->max_subscriptions);
}

void sss_session_fini(struct sss_session *s)
{
    struct sss_client *cl;

    while ((cl = LIST_FIRST(&s->clients))) {
        LIST_REMOVE(cl, link);
        cl->conn->client = NULL;
        sss_free(cl);
    }
    sss_map_fini(&s->conns_by_id);
    if (s->rpc && s->rpc->record_data == s)
        s->rpc->on_record = NULL;
    sss_proto_out_fini(&s->json);
    sss_proto_decoder_fini(&s->dec);
    if (s->hb_frame)
        sss_buf_unref(s->hb_frame);
    s->hb_frame = NULL;
}

/* ---- the connection handler ---- */

static int handler_open(void *data, struct sss_conn *c)
{
    return sss_session_open(data, c);
}

static void handler_message(void *data, struct sss_conn *c, int opcode, const uint8_t *msg,
                            size_t len)
{
    (void)data;
    sss_session_message(c, opcode, msg, len);
}

static void handler_tick(void *data, struct sss_conn *c, int64_t now_ms)
{
    (void)data;
    sss_session_tick(c, now_ms);
}

static void handler_closed(void *data, struct sss_conn *c)
{
    (void)data;
    sss_session_closed(c);
}

static int handler_poll(void *data)
{
    return sss_session_poll(data);
}

static int handler_readable(void *data)
{
    return sss_session_readable(data);
}

static void handler_flush(void *data)
{
    sss_rpc_flush(((struct sss_session *)data)->rpc);
}

static void handler_periodic(void *data, int64_t now_ms)
{
    sss_rpc_expire(((struct sss_session *)data)->rpc, now_ms);
}

/* In the server's order of preference: a client that offers sss.v1.msgpack at all gets it. */
static const char *const subprotocols[] = {SSS_WIRE_MSGPACK_NAME, "sss.v1.json", NULL};

const struct sss_conn_handler sss_session_handler = {
    .subprotocols = subprotocols,
    .open = handler_open,
    .message = handler_message,
    .tick = handler_tick,
    .closed = handler_closed,
    .poll = handler_poll,
    .readable = handler_readable,
    .flush = handler_flush,
    .periodic = handler_periodic,
};
