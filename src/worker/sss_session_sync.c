/*
 * SYNC (see sss_session.c, whose head tells the flows): one request per
 * entry for the history after its lastUid (struct sync_req, sharing a
 * struct sync_state); each allowed channel is indexed at once and held,
 * the reply carries the results and the records, then held FEEDs above
 * the history's end follow. An entry may wait for the application's
 * decision (sss_session_wait.c), as for its history.
 * May include: common, proto, pubsub, rpc, sss_fanout, sss_feeds, sss_conn,
 * sss_session_int.h.
 */
#include "sss_session_int.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_fanout.h"
#include "sss_feeds.h"
#include "sss_rpc.h"
#include "sss_sub.h"
#include "sss_ws.h"

#include <string.h>

/* ---- SYNC ---- */

void sss_session__sync_free(struct sync_state *st)
{
    for (int i = 0; i < st->n; i++)
        sss_feeds_fini(&st->e[i].recs);
    sss_free(st->id);
    sss_free(st);
}

/* Every entry answered: send the reply, then let live FEEDs through. */
void sss_session__sync_finish(struct sss_session *s, struct sync_state *st)
{
    struct sss_conn *c = sss_session__live_conn(s, st->conn_id);
    struct sss_proto_sync_reply b;
    size_t off;
    int rc, oom = 0;

    if (c) {
        sss_proto_out_reset(&s->json);
        rc = sss_proto_sync_reply_begin(&b, &s->json, sss_proto_span_of(st->id, st->id_len));
        for (int i = 0; rc == 0 && i < st->n; i++)
            if (!st->e[i].dup)
                rc = sss_proto_sync_reply_result(&b, st->e[i].channel, st->e[i].ok);
        for (int i = 0; i < st->n; i++) {
            const struct sss_feeds *fl = &st->e[i].recs;

            oom |= fl->text.oom;
            off = 0;
            for (size_t j = 0; rc == 0 && j < fl->n; j++) {
                rc = sss_proto_sync_reply_record(&b, fl->text.data + off, fl->len[j]);
                off += fl->len[j];
            }
        }
        if (rc == 0 && sss_proto_sync_reply_end(&b) == 0 && !oom)
            sss_session__send_json(s, c);
        else
            sss_conn_close(c, SSS_WS_CLOSE_INTERNAL, "out of memory", 0);
        for (int i = 0; i < st->n; i++) {
            struct sss_sub *sub;

            if (!st->e[i].subscribed)
                continue;
            sub = sss_index_find(c->client->subs, st->e[i].channel, strlen(st->e[i].channel));
            if (sub && sub->pending) {
                sss_index_activate(index_of(s), sub, &st->e[i].floor);
                sss_session__subscribed_hook(c, st->e[i].channel);
            }
        }
    }
    sss_session__sync_free(st);
}

static void sync_hist_end(struct sss_rpc_req *base, const struct sss_hm_hist_end *p)
{
    struct sync_req *r = (struct sync_req *)base;
    struct sync_state *st = r->st;
    struct sync_entry *e = &st->e[r->entry];

    e->done = 1;
    e->ok = p->rc == 0 && !p->gap;
    /* Live FEEDs resume after the newest uid the history could contain. */
    if (p->has_last)
        e->floor = p->last;
    else if (e->has_after && !p->gap)
        e->floor = e->after;
    r->counted = 0;
    if (--st->outstanding == 0)
        sss_session__sync_finish(r->s, st);
}

static void sync_req_free(struct sss_rpc_req *base)
{
    struct sync_req *r = (struct sync_req *)base;

    /* Unanswered (the worker is ending): the state goes with its last request. */
    if (r->counted && --r->st->outstanding == 0)
        sss_session__sync_free(r->st);
    sss_free(r);
}

static const struct sss_rpc_ops sync_ops = {
    .hist_rec = sss_feeds_req_rec,
    .hist_end = sync_hist_end,
    .replay = sss_feeds_req_replay,
    .free = sync_req_free,
};

/* An allowed SYNC entry: indexed at once (held), and its history asked for. */
void sss_session__sync_entry_start(struct sss_conn *c, struct sync_state *st, int i)
{
    struct sss_session *s = S(c);
    struct sss_client *cl = c->client;
    struct sync_entry *e = &st->e[i];
    size_t len = strlen(e->channel);
    struct sss_sub *sub;
    struct sync_req *r;
    int created, was_live = e->held;

    if (!sss_index_find(cl->subs, e->channel, len) &&
        cl->nsubs >= (uint32_t)s->cfg->max_subscriptions)
        return; /* refused: result false, not subscribed */
    sub = sss_index_subscribe(index_of(s), c, &cl->subs, e->channel, len, &created);
    if (!sub)
        return;
    if (created) {
        sss_session__subscribed(c, e->channel, len);
        was_live = 0; /* held before, but booted from the channel meanwhile */
    } else if (!sub->pending) {
        /* Already live here: hold it again while its history comes. */
        sub->pending = 1;
        was_live = 1;
    }
    r = sss_session__req_new(s, sizeof(*r), &sync_ops);
    if (r) {
        r->s = s;
        r->st = st;
        r->entry = i;
        r->fr.into = &e->recs;
        r->fr.channel = e->channel;
        r->fr.has_after = e->has_after;
        r->fr.after = &e->after;
    }
    if (!r || sss_feeds_req_ask(&r->fr) < 0) {
        /* No history will come (out of memory, or the scaler is far
         * behind): result false, and nothing left pending for ever. */
        if (r)
            sss_session__req_done(s, r);
        if (was_live)
            sss_index_activate(index_of(s), sub, &sub->floor);
        else if (created)
            sss_session__unsubscribe(c, sub, 1);
        return;
    }
    r->counted = 1;
    e->subscribed = 1;
    e->done = 0;
    st->outstanding++;
}

/*
 * A SYNC entry waits for the application's decision. A channel already
 * live on this connection is held from now on, so that what it publishes
 * meanwhile comes once, in the reply's records or after them.
 */
static void sync_entry_hold(struct sss_conn *c, struct sync_entry *e)
{
    struct sss_sub *sub = sss_index_find(c->client->subs, e->channel, strlen(e->channel));

    if (sub && !sub->pending) {
        sub->pending = 1;
        e->held = 1;
    }
}

/* A refused entry that was held: live again from where it was. */
void sss_session__sync_entry_release(struct sss_conn *c, struct sync_entry *e)
{
    struct sss_sub *sub = sss_index_find(c->client->subs, e->channel, strlen(e->channel));

    if (e->held && sub && sub->pending)
        sss_index_activate(index_of(S(c)), sub, &sub->floor);
    e->held = 0;
}

void sss_session__on_sync(struct sss_conn *c, const struct sss_proto_msg *m)
{
    struct sss_session *s = S(c);
    struct sss_client *cl = c->client;
    struct sync_state *st;

    if (!cl->begun)
        sss_session__begin(c, 1, m);
    st = sss_calloc(1, sizeof(*st) + m->nsubs * sizeof(st->e[0]));
    if (!st) {
        sss_session__send_error(c, sss_session__busy, m->id);
        return;
    }
    st->conn_id = c->id;
    st->id = sss_session__dup_span(m->id, &st->id_len);
    st->n = (int)m->nsubs;
    /* One count for this loop: an entry decided before it ends must not
     * send the reply. */
    st->outstanding = 1;
    for (int i = 0; i < st->n; i++)
        sss_feeds_init(&st->e[i].recs);
    for (size_t i = 0; i < m->nsubs; i++) {
        const struct sss_proto_sub *ps = &m->subs[i];
        struct sync_entry *e = &st->e[i];
        struct sss_pending *p = NULL;
        const char *why;

        memcpy(e->channel, ps->channel, ps->channel_len + 1);
        e->done = 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(st->e[j].channel, e->channel) == 0)
                e->dup = 1;
        if (e->dup)
            continue; /* listed twice: answered once, by its first entry */
        if (ps->has_last_uid && sss_proto_uid_parse(&e->after, ps->last_uid, ps->last_uid_len) < 0)
            memset(&e->after, 0xff, sizeof(e->after)); /* not ours: surely a gap */
        e->has_after = ps->has_last_uid;
        switch (sss_session__subscribe_allowed(c, ps->channel, ps->channel_len, ps->query, &why,
                                               1, PENDING_SYNC, &p)) {
        case ASK_ALLOWED:
            sss_session__sync_entry_start(c, st, (int)i);
            break;
        case ASK_PENDING:
            p->st = st;
            p->entry = (int)i;
            e->done = 0;
            st->outstanding++;
            sync_entry_hold(c, e);
            sss_session__ask_later(c, p, ps->query);
            break;
        default:
            break; /* refused: result false, not subscribed */
        }
    }
    if (--st->outstanding == 0)
        sss_session__sync_finish(s, st);
}

