/*
 * The Redis engine's delivery (see sss_engine_redis.c, whose head tells the
 * design): the channels this host subscribes to, their catch-up, the answers
 * to history questions, and what the subscriptions connections bring.
 *
 * Delivery: a second connection SUBSCRIBEs to the channels this host has
 * subscribers for (ops->interest) and to the control channel (broadcast,
 * boot). Every envelope it receives becomes a FEED, exactly once and in uid
 * order: a channel feeds only uids above the last one it fed. When a channel
 * becomes live (its SUBSCRIBE confirmed, first time or after a lost
 * connection) it first reads the stream: the newest uid the first time, or
 * everything after the last uid it fed when it comes back, so a host that
 * lost Redis for a while replays what it missed; envelopes that arrive
 * meanwhile are held and fed after. LAST_UID and history questions for a
 * channel that is not live yet wait for it, so that a subscriber is never
 * promised a uid whose successors the host will not receive.
 *
 * Redis Cluster: the publish script SPUBLISHes; channels are SSUBSCRIBEd on
 * the master of their slot (rchan.node), the control channel SUBSCRIBEd
 * (classic pub/sub reaches every node) on the master of its slot. A
 * subscription Redis drops by itself (its slot moved) or a lost node
 * resubscribes where the map now says, through the same catch-up as a
 * reconnect. A catch-up that finds the stream behind the last uid fed (a
 * replica without the newest messages took over) reports the gap and starts
 * a new epoch (LUA_BUMP).
 */
#include "sss_redis_engine.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_envelope.h"
#include "sss_hostmsg.h"
#include "sss_log.h"
#include "sss_time.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MAX_HELD 100000 /* envelopes held for one channel during its catch-up */

/* ---- channels ---- */

struct rchan *sss_redis__chan_get(struct redis_engine *re, const char *name, size_t len, int create)
{
    struct rchan *ch = sss_map_get(&re->chans, name, len);

    if (ch || !create || len == 0 || len > SSS_PROTO_CHANNEL_MAX)
        return ch;
    ch = sss_map_put_new(&re->chans, sizeof(*ch), offsetof(struct rchan, name), name, len);
    if (ch) {
        char key[SSS_PROTO_CHANNEL_MAX + 16];
        int kl = sss_redis__key_of(key, sizeof(key), name, len, "");

        ch->len = (uint32_t)len;
        ch->slot = kl > 0 ? sss_redis_key_slot(key, (size_t)kl) : 0;
        ch->node = -1;
        STAILQ_INIT(&ch->held);
        TAILQ_INIT(&ch->waiters);
    }
    return ch;
}

void sss_redis__held_clear(struct rchan *ch)
{
    struct held *h;

    while ((h = STAILQ_FIRST(&ch->held))) {
        STAILQ_REMOVE_HEAD(&ch->held, link);
        sss_free(h);
    }
    ch->nheld = 0;
}

/* A channel and what it holds, its waiters dropped unanswered (sss_map_clear's free_fn). */
void sss_redis__chan_free(void *val)
{
    struct rchan *ch = val;
    struct waiter *w;

    sss_redis__held_clear(ch);
    while ((w = TAILQ_FIRST(&ch->waiters))) {
        TAILQ_REMOVE(&ch->waiters, w, link);
        sss_free(w);
    }
    sss_free(ch);
}

/* Forget a channel nobody wants any more, once Redis has nothing pending for it. */
void sss_redis__chan_maybe_forget(struct redis_engine *re, struct rchan *ch)
{
    if (ch->want || ch->inflight || ch->catching || !TAILQ_EMPTY(&ch->waiters))
        return;
    if (ch->retry_catchup)
        re->nretry--;
    sss_redis__held_clear(ch);
    sss_map_del(&re->chans, ch->name, ch->len);
    sss_free(ch);
}

/* Feed one message of ch if it is newer than what the host has. */
static void feed(struct redis_engine *re, struct rchan *ch, const struct sss_engine_msg *m,
                 const struct sss_engine_tag *origin)
{
    if (ch->has_last && sss_proto_uid_cmp(&m->uid, &ch->last) <= 0)
        return; /* the host has it already (a replay and a live envelope crossed) */
    ch->has_last = 1;
    ch->last = m->uid;
    if (ch->want)
        re->base.sink.feed(re->base.sink.data, ch->name, ch->len, m, origin);
}

/* (S)SUBSCRIBE or (S)UNSUBSCRIBE (sharded on a cluster) chan on nd's subscriptions connection. */
void sss_redis__send_sub_cmd(struct redis_engine *re, struct rnode *nd, int on, const char *chan,
                             size_t len)
{
    const char *verb =
        re->cluster ? (on ? "SSUBSCRIBE" : "SUNSUBSCRIBE") : (on ? "SUBSCRIBE" : "UNSUBSCRIBE");
    char key[SSS_PROTO_CHANNEL_MAX + 16];
    const char *argv[2] = {verb, key};
    size_t lens[2] = {strlen(verb), 0};
    char *resp = NULL;
    int kl = sss_redis__key_of(key, sizeof(key), chan, len, ""), n;

    if (kl < 0)
        return;
    lens[1] = (size_t)kl;
    n = redisFormatCommandArgv(&resp, 2, argv, lens);
    if (n > 0 && sss_redis_conn_append(&nd->sub, resp, (size_t)n) < 0)
        sss_log_error("redis", "out of memory subscribing to %.*s", (int)len, chan);
    redisFreeCommand(resp);
}

/*
 * Subscribe a wanted channel on the node that serves its slot, now if that
 * node's subscriptions connection is up, else once it is (sss_redis__setup_sub_conn)
 * or once the slot map names the node (sss_redis__ensure_subs).
 */
void sss_redis__chan_subscribe(struct redis_engine *re, struct rchan *ch)
{
    int n = re->cluster ? (re->owner[ch->slot] == NO_NODE ? -1 : re->owner[ch->slot]) : 0;
    struct rnode *nd;

    if (n < 0) {
        re->resub_wanted = 1;
        return;
    }
    nd = re->nodes[n];
    nd->sub_wanted = 1;
    if (nd->sub.state != SSS_REDIS_UP) {
        sss_redis_conn_maybe_connect(&nd->sub, sss_now_ms());
        return;
    }
    if (ch->node != n)
        ch->inflight = 0; /* what another node still answers is ignored (on_sub_reply) */
    ch->node = n;
    ch->inflight++;
    sss_redis__send_sub_cmd(re, nd, 1, ch->name, ch->len);
}

/* Subscribe what has no subscription yet: wanted channels, and the control channel. */
void sss_redis__ensure_subs(struct redis_engine *re)
{
    struct sss_map_iter it;
    struct rchan *ch;
    int n;

    re->resub_wanted = 0;
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->want && ch->node < 0)
            sss_redis__chan_subscribe(re, ch);
    if (re->ctl_node >= 0)
        return;
    n = re->cluster ? (re->owner[re->ctl_slot] == NO_NODE ? -1 : re->owner[re->ctl_slot]) : 0;
    if (n < 0) {
        re->resub_wanted = 1;
        return;
    }
    re->nodes[n]->sub_wanted = 1;
    if (re->nodes[n]->sub.state == SSS_REDIS_UP) {
        char *resp = NULL;
        int len = redisFormatCommand(&resp, "SUBSCRIBE %s", CONTROL_CHANNEL);

        if (len > 0 && sss_redis_conn_append(&re->nodes[n]->sub, resp, (size_t)len) == 0)
            re->ctl_node = n;
        else
            re->resub_wanted = 1;
        redisFreeCommand(resp);
    } else {
        sss_redis_conn_maybe_connect(&re->nodes[n]->sub, sss_now_ms());
    }
}

/* Ask the waiting questions of a channel that just became live. */
static void release_waiters(struct redis_engine *re, struct rchan *ch)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct waiter *w;

    while ((w = TAILQ_FIRST(&ch->waiters))) {
        TAILQ_REMOVE(&ch->waiters, w, link);
        if (w->kind == K_LAST) {
            k->last_uid(k->data, &w->tag, 0, ch->has_last, ch->last);
        } else {
            struct cmd *c = sss_redis__history_cmd(re, K_HISTORY, ch->name, ch->len,
                                                   w->has_after ? "after" : "all", &w->after);

            if (!c) {
                k->hist_done(k->data, &w->tag, -ENOMEM, 1, 0, (struct sss_uid){0, 0});
            } else {
                c->tag = w->tag;
                c->has_after = w->has_after;
                c->after = w->after;
                (void)sss_redis__send_cmd(re, c);
            }
        }
        sss_free(w);
        re->nwaiting--;
    }
}

/* Redis confirmed our SUBSCRIBE: read the stream before feeding live envelopes. */
void sss_redis__start_catchup(struct redis_engine *re, struct rchan *ch)
{
    /* First time: only where the channel stands. Coming back: everything
     * after what the host has (all of it if it had seen the channel empty). */
    const char *mode = ch->has_last ? "after" : ch->known ? "all" : "last";
    struct cmd *c = sss_redis__history_cmd(re, K_CATCHUP, ch->name, ch->len, mode,
                                           ch->has_last ? &ch->last : NULL);

    if (!c) {
        sss_log_error("redis", "out of memory catching up %s", ch->name);
        return;
    }
    c->ch = ch;
    c->has_after = ch->has_last;
    c->after = ch->last;
    c->known = ch->known;
    c->told = ch->told;
    ch->catching++;
    if (ch->retry_catchup)
        re->nretry--;
    ch->retry_catchup = 0;
    (void)sss_redis__send_cmd(re, c);
}

/* ---- history, catch-up and new-epoch replies ---- */

int sss_redis__hist_parse(const redisReply *r, struct hist_answer *a)
{
    memset(a, 0, sizeof(*a));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || (r->elements - 2) % 3)
        return SSS_EPROTO;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return SSS_EPROTO;
    if (r->element[0]->len) {
        if (sss_proto_uid_parse(&a->last, r->element[0]->str, r->element[0]->len) < 0)
            return SSS_EPROTO;
        a->has_last = 1;
    }
    if (r->element[1]->len) {
        if (sss_proto_uid_parse(&a->oldest, r->element[1]->str, r->element[1]->len) < 0)
            return SSS_EPROTO;
        a->has_oldest = 1;
    }
    a->nrec = (r->elements - 2) / 3;
    a->rec = r->element + 2;
    return 0;
}

static int hist_record(const struct hist_answer *a, size_t i, struct sss_engine_msg *m)
{
    redisReply **e = a->rec + 3 * i;

    memset(m, 0, sizeof(*m));
    if (sss_proto_uid_parse(&m->uid, e[0]->str, e[0]->len) < 0)
        return SSS_EPROTO;
    m->topic = e[1]->str;
    m->topic_len = e[1]->len;
    m->msg = e[2]->str;
    m->msg_len = e[2]->len;
    return 0;
}

/*
 * Whether messages after `after` are missing from history, as the memory
 * engine decides it: another epoch, or older than the oldest kept.
 */
static int hist_gap(const struct hist_answer *a, int has_after, const struct sss_uid *after)
{
    uint64_t from, oldest;

    if (!a->has_last)
        return has_after; /* an unknown channel cannot vouch for what followed */
    if (has_after && after->epoch != a->last.epoch)
        return 1;
    from = has_after ? after->offset + 1 : 1;
    oldest = a->has_oldest ? a->oldest.offset : a->last.offset + 1;
    return from < oldest && from <= a->last.offset;
}

void sss_redis__on_history_reply(struct redis_engine *re, struct cmd *c, const redisReply *r)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct hist_answer a;
    int gap;

    if (sss_redis__hist_parse(r, &a) < 0) {
        sss_log_error("redis", "unexpected history reply (type %d)", r ? r->type : -1);
        k->hist_done(k->data, &c->tag, SSS_EPROTO, 1, 0, (struct sss_uid){0, 0});
        return;
    }
    gap = hist_gap(&a, c->has_after, &c->after);
    if (!gap)
        for (size_t i = 0; i < a.nrec; i++) {
            struct sss_engine_msg m;

            if (hist_record(&a, i, &m) == 0)
                k->hist_record(k->data, &c->tag, &m);
        }
    k->hist_done(k->data, &c->tag, 0, gap, a.has_last, a.last);
}

/*
 * A channel's stream went back: unless another host did it already (the
 * stream's epoch is newer than the uid this host fed), drop the stream and
 * raise the epoch key to that uid's epoch, so that the next publish starts
 * a new epoch above everything any host fed. Clients' SYNCs then report the
 * gap (their uid's epoch is gone) instead of receiving reused uids.
 */
static const char LUA_BUMP[] =
    "local r = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
    "local e = 0\n"
    "if r[1] then e = tonumber(string.match(r[1][1], '^(%d+)-')) end\n"
    "if e > tonumber(ARGV[1]) then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "local ep = redis.call('GET', KEYS[2])\n"
    "if not ep or tonumber(ep) < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) end\n"
    "return 1\n";

static void start_bump(struct redis_engine *re, struct rchan *ch)
{
    char k1[SSS_PROTO_CHANNEL_MAX + 16], k2[SSS_PROTO_CHANNEL_MAX + 16], ep[24];
    int l1 = sss_redis__key_of(k1, sizeof(k1), ch->name, ch->len, ":h"),
        l2 = sss_redis__key_of(k2, sizeof(k2), ch->name, ch->len, ":e");
    const char *argv[6] = {"EVAL", LUA_BUMP, "2", k1, k2, ep};
    size_t lens[6] = {4, sizeof(LUA_BUMP) - 1, 1, (size_t)l1, (size_t)l2, 0};
    struct cmd *c;

    lens[5] = (size_t)snprintf(ep, sizeof(ep), "%llu", (unsigned long long)ch->last.epoch);
    c = l1 > 0 && l2 > 0 ? sss_redis__cmd_new(re, K_BUMP, 6, argv, lens) : NULL;
    if (!c) {
        sss_log_error("redis", "out of memory starting a new epoch of %s", ch->name);
        return;
    }
    c->slot = ch->slot;
    c->ch = ch;
    ch->catching++;
    ch->told++;
    (void)sss_redis__send_cmd(re, c);
}

/* The bump is done (or failed): read the channel afresh, as if new to the host. */
void sss_redis__on_bump_reply(struct redis_engine *re, struct rchan *ch, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR)
        sss_log_error("redis", "channel %s: starting a new epoch failed: %.*s", ch->name,
                      (int)r->len, r->str);
    ch->catching--;
    ch->has_last = 0;
    ch->known = 0;
    if (ch->want && ch->subscribed)
        sss_redis__start_catchup(re, ch);
    else
        sss_redis__chan_maybe_forget(re, ch);
}

/*
 * A catch-up's answer. Its checks compare the stream with the position the
 * catch-up asked from (c->after), never with what the host fed since: with
 * two catch-ups in flight (the channel unsubscribed and subscribed again
 * before the first answer came), the first answer feeds the envelopes held
 * meanwhile, which may be newer than what the second script saw when it ran;
 * taken for a stream that went back, that once deleted the channel's history
 * (test_engine_redis's test_two_catchups). A gap is told once: the answers of
 * catch-ups asked before it was told (or a new epoch started) check nothing.
 */
void sss_redis__on_catchup_reply(struct redis_engine *re, struct cmd *c, const redisReply *r)
{
    struct rchan *ch = c->ch;
    int check = c->known && c->told == ch->told;
    struct hist_answer a;
    struct held *h;

    ch->catching--;
    if (sss_redis__hist_parse(r, &a) < 0) {
        sss_log_error("redis", "unexpected catch-up reply for %s; retrying", ch->name);
        if (!ch->retry_catchup)
            re->nretry++;
        ch->retry_catchup = 1;
        return;
    }
    if (check && c->has_after && a.has_last && sss_proto_uid_cmp(&a.last, &c->after) < 0) {
        /* The stream is behind what this host had fed when it asked: a
         * replica that had not received the newest messages took over. Their
         * uids would be given again to other messages; a new epoch instead,
         * and the gap told. */
        sss_log_warn("redis",
                     "channel %s: its stream ends at %llu-%llu, before %llu-%llu that this host "
                     "fed (lost in a failover); new epoch, its subscribers here are closed (4008)",
                     ch->name, (unsigned long long)a.last.epoch, (unsigned long long)a.last.offset,
                     (unsigned long long)c->after.epoch, (unsigned long long)c->after.offset);
        re->base.sink.control(re->base.sink.data, SSS_HM_GAP_RECORD, ch->name, ch->len);
        start_bump(re, ch);
        return;
    }
    if (check && hist_gap(&a, c->has_after, &c->after)) {
        /* Lost for good here: the subscribers are told (4008, then their
         * SYNC reports the gap) rather than left with a silent hole. */
        sss_log_warn("redis",
                     "channel %s: messages after %llu-%llu left history before this host "
                     "could replay them; its subscribers here are closed (4008)",
                     ch->name, (unsigned long long)c->after.epoch,
                     (unsigned long long)c->after.offset);
        re->base.sink.control(re->base.sink.data, SSS_HM_GAP_RECORD, ch->name, ch->len);
        /* Told once: a second catch-up still in flight (both connections came
         * back) would otherwise close the subscribers who came back after
         * this one. An empty stream (Redis came back without it): whatever
         * comes next is new. */
        ch->told++;
        if (!a.has_last)
            ch->has_last = 0;
    }
    for (size_t i = 0; i < a.nrec; i++) {
        struct sss_engine_msg m;

        if (hist_record(&a, i, &m) == 0)
            feed(re, ch, &m, NULL);
    }
    if (!ch->has_last && a.has_last) {
        ch->has_last = 1;
        ch->last = a.last;
    }
    /* What arrived live meanwhile, newer ones only. */
    while ((h = STAILQ_FIRST(&ch->held))) {
        struct sss_engine_msg m = {.uid = h->uid,
                                   .topic = h->data,
                                   .topic_len = h->topic_len,
                                   .msg = h->data + h->topic_len,
                                   .msg_len = h->msg_len};

        STAILQ_REMOVE_HEAD(&ch->held, link);
        feed(re, ch, &m, h->has_origin ? &h->origin : NULL);
        sss_free(h);
    }
    ch->nheld = 0;
    if (ch->want && ch->subscribed && !ch->catching) {
        ch->live = 1;
        ch->known = 1;
        release_waiters(re, ch);
    }
    sss_redis__chan_maybe_forget(re, ch);
}

/* ---- envelopes on the subscriptions connection ---- */

/* A message envelope from Redis: feed it, or hold it while its channel catches up. */
static void on_envelope(struct redis_engine *re, const char *p, size_t len)
{
    struct sss_envelope env;
    struct sss_engine_msg m;
    struct sss_engine_tag origin;
    int has_origin;
    struct rchan *ch;

    if (len > re->cfg->max_message_size + 65536 || sss_envelope_decode(p, len, &env) < 0) {
        sss_log_error("redis", "a malformed or oversized envelope (%zu bytes) was dropped", len);
        return;
    }
    memset(&m, 0, sizeof(m));
    m.uid = env.uid;
    m.topic = env.topic;
    m.topic_len = env.topic_len;
    m.msg = env.msg;
    m.msg_len = env.msg_len;
    has_origin = env.worker >= 0 && env.host_len == re->host_len &&
                 memcmp(env.host, re->cfg->host_id, env.host_len) == 0;
    memset(&origin, 0, sizeof(origin));
    origin.worker = has_origin ? env.worker : -1;
    origin.conn = env.conn;
    origin.flags = env.flags;
    ch = sss_redis__chan_get(re, env.chan, env.chan_len, 0);
    if (!ch || !ch->want)
        return; /* an envelope that crossed our UNSUBSCRIBE */
    if (ch->live) {
        feed(re, ch, &m, has_origin ? &origin : NULL);
    } else if (ch->nheld < MAX_HELD) {
        struct held *h = sss_malloc(sizeof(*h) + m.topic_len + m.msg_len);

        if (!h) {
            sss_log_error("redis", "out of memory holding a message of %s", ch->name);
            return;
        }
        h->uid = m.uid;
        h->has_origin = has_origin;
        h->origin = origin;
        h->topic_len = m.topic_len;
        h->msg_len = m.msg_len;
        memcpy(h->data, m.topic, m.topic_len);
        memcpy(h->data + m.topic_len, m.msg, m.msg_len);
        STAILQ_INSERT_TAIL(&ch->held, h, link);
        ch->nheld++;
    }
}

/* [type, record bytes]: a broadcast or boot for this host's bus. */
static void on_control_msg(struct redis_engine *re, const char *p, size_t len)
{
    const char *rec;
    size_t rec_len;
    uint32_t type;

    if (sss_envelope_decode_control(p, len, &type, &rec, &rec_len) == 0)
        re->base.sink.control(re->base.sink.data, type, rec, rec_len);
    else
        sss_log_error("redis", "a malformed control record was dropped");
}

/* The channel name inside a pub/sub channel "sss:{name}". */
static int chan_of(const redisReply *r, const char **name, size_t *len)
{
    if (r->type != REDIS_REPLY_STRING || r->len < 7 || memcmp(r->str, "sss:{", 5) != 0 ||
        r->str[r->len - 1] != '}')
        return -1;
    *name = r->str + 5;
    *len = r->len - 6;
    return 0;
}

/* A channel of nd is not subscribed there any more: subscribe it where its slot is now. */
void sss_redis__chan_unsubscribed(struct redis_engine *re, struct rchan *ch)
{
    ch->node = -1;
    ch->inflight = 0;
    ch->subscribed = 0;
    ch->live = 0; /* until resubscribed and caught up */
    if (ch->want) {
        re->resub_wanted = 1;
        if (re->cluster)
            re->refresh_wanted = 1;
    }
}

/* SSUBSCRIBE refused with MOVED: the slot is elsewhere; its channels of nd move there. */
static void sub_moved(struct redis_engine *re, struct rnode *nd, const redisReply *r)
{
    struct sss_map_iter it;
    struct rchan *ch;
    struct rnode *to;
    char host[128];
    int ask, slot, port;

    if (!sss_redis_redirect_parse(r->str, r->len, &ask, &slot, host, sizeof(host), &port))
        return;
    to = sss_redis__node_get(re, host, port, NULL);
    if (to && !ask)
        sss_redis__slots_assign(re, slot, slot, to);
    re->refresh_wanted = 1;
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->node == nd->id && ch->slot == slot)
            sss_redis__chan_unsubscribed(re, ch);
}

static void on_sub_reply(struct redis_engine *re, struct rnode *nd, const redisReply *r)
{
    const redisReply *kind;
    const char *name;
    size_t len;
    struct rchan *ch;

    if (r->type == REDIS_REPLY_ERROR) {
        if (re->cluster && r->len > 6 && memcmp(r->str, "MOVED ", 6) == 0) {
            sub_moved(re, nd, r);
            return;
        }
        sss_log_error("redis", "subscriptions connection to %s: %.*s", nd->target.where,
                      (int)r->len, r->str);
        nd->setup_failed = 2;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return; /* AUTH's +OK */
    kind = r->element[0];
    if ((kind->len == 7 && memcmp(kind->str, "message", 7) == 0) ||
        (kind->len == 8 && memcmp(kind->str, "smessage", 8) == 0)) {
        const redisReply *c = r->element[1], *p = r->element[2];

        if (p->type != REDIS_REPLY_STRING)
            return;
        if (c->len == sizeof(CONTROL_CHANNEL) - 1 && memcmp(c->str, CONTROL_CHANNEL, c->len) == 0)
            on_control_msg(re, p->str, p->len);
        else
            on_envelope(re, p->str, p->len);
        return;
    }
    if (chan_of(r->element[1], &name, &len) < 0 || len == 0 || name[0] == '!')
        return; /* the control channel's own confirmation */
    ch = sss_redis__chan_get(re, name, len, 0);
    if (!ch || ch->node != nd->id)
        return; /* from a node the channel has left */
    if (!ch->inflight && ch->want) {
        /* Redis dropped it by itself: its slot moved to another node
         * (resharding) or this node became a replica (failover). */
        sss_log_info("redis",
                     "channel %s: %s dropped its subscription (slot moved); "
                     "resubscribing",
                     ch->name, nd->target.where);
        sss_redis__chan_unsubscribed(re, ch);
        return;
    }
    if (ch->inflight)
        ch->inflight--;
    if (ch->inflight)
        return; /* a later SUBSCRIBE/UNSUBSCRIBE decides */
    if (((kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0) ||
         (kind->len == 10 && memcmp(kind->str, "ssubscribe", 10) == 0)) &&
        ch->want) {
        ch->subscribed = 1;
        sss_redis__start_catchup(re, ch);
    } else {
        ch->node = -1;
        ch->subscribed = 0;
        ch->live = 0;
        sss_redis__chan_maybe_forget(re, ch);
    }
}

void sss_redis__drain_sub_replies(struct redis_engine *re, struct rnode *nd)
{
    redisReply *r;
    int rc;

    while ((rc = sss_redis_conn_reply(&nd->sub, &r)) == 1) {
        on_sub_reply(re, nd, r);
        freeReplyObject(r);
        if (nd->setup_failed == 2) {
            nd->setup_failed = 0;
            sss_redis__sub_conn_lost(re, nd,
                                     "Redis refused the subscriptions connection (password?)");
            return;
        }
    }
    if (rc < 0)
        sss_redis__sub_conn_lost(re, nd, "unreadable reply");
}
