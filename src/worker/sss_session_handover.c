/*
 * An upgrade's hand-over, the protocol's side (sss_session.h): the state of
 * a connection between two messages written into a record for the new
 * process (src/upgrade), and, in the new process, a connection adopted from
 * one: BEGIN as it was, and each channel subscribed again from the last uid
 * the old process delivered on it. That is SYNC's path without its reply:
 * the channel is indexed at once and held, its history after that uid is
 * sent as FEEDs, then the held FEEDs above the history's end. What was
 * published while the connection changed hands so arrives once, in order;
 * a channel whose history no longer reaches back closes the connection
 * with 4008, so that its SYNC reports the gap.
 * May include: what sss_session.c may, and src/upgrade.
 */
#include "sss_session_int.h"
#include "sss_alloc.h"
#include "sss_app.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_fanout.h"
#include "sss_log.h"
#include "sss_rpc.h"
#include "sss_sub.h"
#include "sss_upgrade.h"
#include "sss_wire.h"
#include "sss_ws.h"

#include <string.h>

/* ---- the old process: export ---- */

int sss_session_export(struct sss_conn *c, struct sss_dynbuf *out)
{
    struct sss_client *cl = c->client;
    struct sss_upgrade_conn u;
    uint32_t n = 0;

    memset(&u, 0, sizeof(u));
    /* An answer or a decision still on its way belongs to this process. */
    if (cl && (cl->begin_wait || cl->deciding || cl->nwaiting || !LIST_EMPTY(&cl->pending) ||
               cl->held_bytes || c->nasks))
        return 0;
    for (struct sss_sub *sub = cl ? cl->subs : NULL; sub; sub = sub->conn_next)
        if (sub->pending || sub->chan->recovering)
            return 0;
    u.encoding = c->encoding;
    u.subprotocol = c->subprotocol;
    if (c->ws.deflate) {
        u.flags |= SSS_UPGRADE_DEFLATE;
        u.server_bits = c->deflate_bits;
        u.client_bits = c->ws.inflater.bits;
        if (!c->ws.inflater.takeover)
            u.flags |= SSS_UPGRADE_CLIENT_NO_TAKEOVER;
    }
    if (cl && cl->begun)
        u.flags |= SSS_UPGRADE_BEGUN;
    u.user = c->user;
    u.user_len = strlen(c->user);
    u.session = c->session;
    u.session_len = strlen(c->session);
    if (sss_upgrade_rec_begin(out, &u) < 0)
        return -1;
    for (struct sss_sub *sub = cl ? cl->subs : NULL; sub; sub = sub->conn_next) {
        /* {0,0}: nothing delivered and the channel had nothing when subscribed. */
        struct sss_upgrade_sub us = {sub->chan->name, sub->chan->name_len,
                                     sub->floor.epoch || sub->floor.offset, sub->floor};

        if (sss_upgrade_rec_add_sub(out, &us) < 0)
            return -1;
        n++;
    }
    return sss_upgrade_rec_end(out, n) < 0 ? -1 : 1;
}

/* ---- the new process: adopt ---- */

/* One channel of an adopted connection: its history after the last uid delivered. */
struct adopt_req {
    struct sss_rpc_req base; /* first */
    struct sss_session *s;
    uint64_t conn_id;
    struct sss_uid after;    /* the last uid the old process delivered */
    uint8_t has_after;       /* 0: none, so all of the history is new to it */
    struct sss_uid sent;     /* the newest uid sent from history so far */
    uint8_t has_sent;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
};

static struct sss_sub *adopt_sub(struct adopt_req *r, struct sss_conn **cp)
{
    struct sss_conn *c = sss_session__live_conn(r->s, r->conn_id);

    *cp = c;
    return c ? sss_index_find(c->client->subs, r->channel, strlen(r->channel)) : NULL;
}

static void adopt_hist_rec(struct sss_rpc_req *base, const struct sss_hm_hist_rec *p,
                           const char *topic, const char *msg)
{
    struct adopt_req *r = (struct adopt_req *)base;
    struct sss_fanout *f = r->s->fanout;
    struct sss_conn *c;
    struct sss_sub *sub = adopt_sub(r, &c);
    struct sss_buf *frame;

    if (!sub || !sub->pending || (r->has_sent && sss_proto_uid_cmp(&p->uid, &r->sent) <= 0))
        return;
    frame = sss_fanout_frame(f, r->channel, strlen(r->channel), topic, p->topic_len, msg,
                             p->msg_len, &p->uid);
    if (!frame) {
        sss_conn_close(c, SSS_WS_CLOSE_INTERNAL, "out of memory", 0);
        return;
    }
    /* The index's delivery: the frame in the connection's encoding. */
    f->index.deliver(c, frame, f->index.data);
    sss_buf_unref(frame);
    sss_wire_frames_fini(&f->frames);
    r->sent = p->uid;
    r->has_sent = 1;
}

static void adopt_hist_end(struct sss_rpc_req *base, const struct sss_hm_hist_end *p)
{
    struct adopt_req *r = (struct adopt_req *)base;
    struct sss_conn *c;
    struct sss_sub *sub = adopt_sub(r, &c);
    struct sss_uid floor = r->has_sent ? r->sent : r->after;

    if (sub && sub->pending) {
        if (p->rc != 0 || p->gap) {
            /* History does not reach back to where the old process stopped. */
            sss_conn_close(c, SSS_WS_CLOSE_TOO_SLOW, "missed messages", 0);
        } else {
            if (p->has_last && sss_proto_uid_cmp(&p->last, &floor) > 0)
                floor = p->last;
            sss_index_activate(index_of(r->s), sub, &floor);
        }
    }
    /* The table frees r after its last answer. */
}

/* A new scaler: ask again after what was already sent. */
static int adopt_replay(struct sss_rpc_req *base)
{
    struct adopt_req *r = (struct adopt_req *)base;

    sss_rpc_renew(base->rpc, base);
    (void)sss_rpc_ask_history(base->rpc, base, r->channel, r->has_sent || r->has_after,
                              r->has_sent ? &r->sent : &r->after);
    return 0;
}

static const struct sss_rpc_ops adopt_ops = {
    .hist_rec = adopt_hist_rec,
    .hist_end = adopt_hist_end,
    .replay = adopt_replay,
};

int sss_session_adopt(struct sss_conn *c, const struct sss_upgrade_conn *u)
{
    struct sss_session *s = S(c);
    struct sss_client *cl = c->client;
    struct sss_upgrade_sub us;
    size_t pos = 0;

    if (u->flags & SSS_UPGRADE_BEGUN) {
        cl->begun = 1;
        if (s->app && s->app->on_socket)
            s->app->on_socket((struct sss_socket *)c, s->app->socket_data);
        sss_session__note_online(c);
    }
    while (sss_upgrade_sub_next(u, &pos, &us)) {
        struct sss_sub *sub;
        struct adopt_req *r;
        int created;

        if (cl->nsubs >= (uint32_t)s->cfg->max_subscriptions)
            return -1; /* the new limit is lower: the client subscribes again */
        sub = sss_index_subscribe(index_of(s), c, &cl->subs, us.name, us.len, &created);
        if (!sub)
            return -1;
        if (created)
            sss_session__subscribed(c, sub->chan->name, us.len);
        r = sss_session__req_new(s, sizeof(*r), &adopt_ops);
        if (!r)
            return -1;
        r->s = s;
        r->conn_id = c->id;
        r->after = us.floor;
        r->has_after = us.has_floor;
        memcpy(r->channel, sub->chan->name, us.len + 1);
        if (sss_rpc_ask_history(s->rpc, &r->base, r->channel, r->has_after, &r->after) < 0) {
            sss_session__req_done(s, r);
            return -1;
        }
    }
    return 0;
}
