/*
 * The Redis engine's commands (see sss_engine_redis.c, whose head tells the
 * design): each made with its RESP bytes and who waits for its reply, routed
 * to the node that serves its slot, sent or kept in `unsent`, redirected,
 * failed; and the replies read in order on each node's commands connection
 * and handed on (history and catch-up answers to sss_redis_chans.c, the slot
 * map to sss_redis_nodes.c).
 *
 * Redis away: commands wait in a queue (--redis-queue of them at most, for
 * --redis-wait); publishes past it fail with SSS_EUNAVAIL. Publishes that
 * were sent when the connection broke are sent again, in order, once it is
 * back: each carries this engine's origin and a seq, and the script
 * recognises one it applied already and answers its uid without publishing
 * it twice. Only when Redis does not return within --redis-wait (or the
 * applied entry has left history) does such a publish fail with SSS_EUNKNOWN
 * (it may have been applied). Broadcasts and boots in flight then fail with
 * SSS_EUNKNOWN; reads are sent again.
 *
 * Redis Cluster: each command carries the slot of its channel and goes to
 * that slot's master (sss_redis__route), and waits in `unsent` while that
 * master is unknown or not ready, behind any earlier command of its slot
 * (sss_redis__flush_unsent), so the order of a channel's publishes holds
 * across MOVED, ASK, TRYAGAIN and CLUSTERDOWN. With --redis-min-replicas a
 * WAIT follows each publish and answers it.
 */
#include "sss_redis_engine.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_fault.h"
#include "sss_log.h"
#include "sss_time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define RETRY_MS 100 /* a command refused by TRYAGAIN or CLUSTERDOWN is sent again after */

/* ---- small helpers ---- */

void sss_redis__cmd_free(struct cmd *c)
{
    if (c) {
        redisFreeCommand(c->resp);
        sss_free(c);
    }
}

int sss_redis__key_of(char *buf, size_t cap, const char *chan, size_t len, const char *suffix)
{
    int n = snprintf(buf, cap, "sss:{%.*s}%s", (int)len, chan, suffix);

    return n > 0 && (size_t)n < cap ? n : -1;
}

/* ---- failing and answering ---- */

void sss_redis__answer_failure(struct redis_engine *re, struct cmd *c, int rc)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct sss_uid none = {0, 0};

    switch (c->kind) {
    case K_PUBLISH:
        k->published(k->data, &c->tag, rc, 0, none);
        break;
    case K_LAST:
        k->last_uid(k->data, &c->tag, rc, 0, none);
        break;
    case K_HISTORY:
        k->hist_done(k->data, &c->tag, rc, 1, 0, none);
        break;
    case K_SLOTS:
        /* Dropped unanswered (no node answered within --redis-wait): the
         * next tick asks again. Left "in flight", no map would ever be
         * read again (a host once stopped serving half a cluster so). */
        re->refresh_inflight = 0;
        re->refresh_wanted = 1;
        break;
    default:
        break;
    }
}

/* The node a command goes to now (-1: none known yet). */
int sss_redis__route(const struct redis_engine *re, const struct cmd *c)
{
    if (!re->cluster)
        return 0;
    if (c->ask_node >= 0)
        return c->ask_node;
    if (c->slot >= 0)
        return re->owner[c->slot] == NO_NODE ? -1 : re->owner[c->slot];
    for (int i = 0; i < re->nnodes; i++)
        if (re->nodes[i]->cmd_ready)
            return i;
    return -1;
}

/* Whether c may go to node n now: ready, and no command of its slot in flight elsewhere. */
int sss_redis__can_send(const struct redis_engine *re, const struct cmd *c, int n)
{
    return n >= 0 && re->nodes[n]->cmd_ready &&
           (c->slot < 0 || !re->slot_inflight[c->slot] || re->slot_node[c->slot] == n);
}

/* c is no longer in flight (answered, or its connection lost): its slot may send again. */
void sss_redis__slot_done(struct redis_engine *re, const struct cmd *c)
{
    if (c->slot >= 0 && re->slot_inflight[c->slot])
        re->slot_inflight[c->slot]--;
}

/* Write c on nd's commands connection (ready), after ASKING when an ASK sent it there. */
int sss_redis__send_to(struct redis_engine *re, struct rnode *nd, struct cmd *c)
{
    if (c->ask_node >= 0) {
        static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
        struct cmd *a = sss_calloc(1, sizeof(*a));

        c->ask_node = -1;
        if (!a || sss_redis_conn_append(&nd->cmd, asking, sizeof(asking) - 1) < 0) {
            sss_free(a);
            sss_redis__answer_failure(re, c, -ENOMEM);
            sss_redis__cmd_free(c);
            return -ENOMEM;
        }
        a->kind = K_ASKING;
        a->slot = -1;
        sss_redis__q_push(&nd->inflight, a);
    }
    if (sss_redis_conn_append(&nd->cmd, c->resp, c->len) < 0) {
        sss_redis__answer_failure(re, c, -ENOMEM);
        sss_redis__cmd_free(c);
        return -ENOMEM;
    }
    sss_redis__q_push(&nd->inflight, c);
    if (c->slot >= 0) {
        re->slot_inflight[c->slot]++;
        re->slot_node[c->slot] = (uint8_t)nd->id;
    }
    if (c->kind == K_PUBLISH && re->cfg->redis_min_replicas > 0) {
        /* Pipelined right behind it: the publish is answered when this is. */
        char n[16], ms[24];
        const char *argv[3] = {"WAIT", n, ms};
        size_t lens[3];
        struct cmd *w;

        lens[0] = 4;
        lens[1] = (size_t)snprintf(n, sizeof(n), "%d", re->cfg->redis_min_replicas);
        lens[2] =
            (size_t)snprintf(ms, sizeof(ms), "%lld",
                             (long long)(re->cfg->redis_wait_ms ? re->cfg->redis_wait_ms : 1000));
        w = sss_redis__cmd_new(re, K_WAIT, 3, argv, lens);
        if (!w || sss_redis_conn_append(&nd->cmd, w->resp, w->len) < 0) {
            sss_redis__cmd_free(w);
            return -ENOMEM; /* the publish is answered without waiting */
        }
        w->tag = c->tag;
        sss_redis__q_push(&nd->inflight, w);
    }
    return 0;
}

/*
 * Queue a command: sent now if its node is ready, else when it is (or
 * failed at its deadline). Behind anything already waiting, so that the
 * commands of a slot keep their order.
 */
int sss_redis__send_cmd(struct redis_engine *re, struct cmd *c)
{
    int n = re->unsent.n ? -1 : sss_redis__route(re, c);

    if (!sss_redis__can_send(re, c, n)) {
        if (c->kind != K_CATCHUP && c->kind != K_SETUP && c->kind != K_SLOTS && c->kind != K_BUMP &&
            re->unsent.n >= (size_t)re->cfg->redis_queue) {
            sss_redis__answer_failure(re, c, SSS_EUNAVAIL);
            sss_redis__cmd_free(c);
            return SSS_EFULL;
        }
        sss_redis__q_push(&re->unsent, c);
        return 0;
    }
    return sss_redis__send_to(re, re->nodes[n], c);
}

/*
 * Send what waits and can go now, in order: a command stays behind an
 * earlier one of its slot that must still wait, so a channel's publishes
 * reach Redis in the order they were made.
 */
void sss_redis__flush_unsent(struct redis_engine *re)
{
    struct cmd_queue keep;
    struct cmd *c;
    int64_t now = sss_now_ms();

    sss_redis__q_init(&keep);
    while ((c = sss_redis__q_pop(&re->unsent))) {
        int n = sss_redis__route(re, c),
            held = c->slot >= 0 && (re->kept[c->slot / 8] >> (c->slot % 8)) & 1;

        if (!held && sss_redis__can_send(re, c, n) && now >= c->not_before) {
            (void)sss_redis__send_to(re, re->nodes[n], c);
        } else {
            if (c->slot >= 0)
                re->kept[c->slot / 8] |= (uint8_t)(1u << (c->slot % 8));
            sss_redis__q_push(&keep, c);
        }
    }
    STAILQ_FOREACH(c, &keep.q, link)
    if (c->slot >= 0)
        re->kept[c->slot / 8] = 0;
    sss_redis__q_move(&re->unsent, &keep);
}

struct cmd *sss_redis__cmd_new(struct redis_engine *re, enum cmd_kind kind, int argc,
                               const char **argv, const size_t *lens)
{
    struct cmd *c = sss_calloc(1, sizeof(*c));
    int n;

    if (!c)
        return NULL;
    n = redisFormatCommandArgv(&c->resp, argc, argv, lens);
    if (n < 0) {
        sss_free(c);
        return NULL;
    }
    c->len = (size_t)n;
    c->kind = kind;
    c->slot = -1;
    c->ask_node = -1;
    c->order = ++re->cmd_order;
    c->deadline = sss_now_ms() + re->cfg->redis_wait_ms;
    return c;
}

/* EVALSHA the history script for chan. mode: "last", "all" or "after". */
struct cmd *sss_redis__history_cmd(struct redis_engine *re, enum cmd_kind kind, const char *chan,
                                   size_t len, const char *mode, const struct sss_uid *after)
{
    char key[SSS_PROTO_CHANNEL_MAX + 16], ubuf[SSS_PROTO_UID_BUF] = "0-0";
    const char *argv[7];
    size_t lens[7];
    int kl = sss_redis__key_of(key, sizeof(key), chan, len, ":h");
    struct cmd *c;

    if (kl < 0)
        return NULL;
    if (after)
        sss_proto_uid_format(after, ubuf, sizeof(ubuf));
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = re->sha_hist, lens[1] = 40;
    argv[2] = "1", lens[2] = 1;
    argv[3] = key, lens[3] = (size_t)kl;
    argv[4] = mode, lens[4] = strlen(mode);
    argv[5] = ubuf, lens[5] = strlen(ubuf);
    argv[6] = re->hist_ttl, lens[6] = strlen(re->hist_ttl);
    c = sss_redis__cmd_new(re, kind, 7, argv, lens);
    if (c)
        c->slot = sss_redis_key_slot(key, (size_t)kl);
    return c;
}

/* ---- redirections ---- */

/*
 * Put a command that came back (redirected) into unsent before the first
 * younger command of its slot: one made while it was in flight waits there,
 * and must not overtake it (a channel's publishes apply in seq order).
 */
static void requeue(struct redis_engine *re, struct cmd *c)
{
    struct cmd *x, *prev = NULL;

    STAILQ_FOREACH(x, &re->unsent.q, link)
    {
        if (x->slot == c->slot && x->order > c->order)
            break;
        prev = x;
    }
    if (!x)
        STAILQ_INSERT_TAIL(&re->unsent.q, c, link);
    else if (prev)
        STAILQ_INSERT_AFTER(&re->unsent.q, prev, c, link);
    else
        STAILQ_INSERT_HEAD(&re->unsent.q, c, link);
    re->unsent.n++;
}

/*
 * An error reply that asks to send the command elsewhere or later: MOVED
 * (the map changed: patch it, read it again), ASK (once to that node, after
 * ASKING: a slot being migrated), TRYAGAIN (a migration is under way),
 * CLUSTERDOWN (a failover is). Returns 1 when c is queued again (the
 * caller keeps it), 0 when the error is another.
 */
static int redirected(struct redis_engine *re, struct cmd *c, const redisReply *r)
{
    char host[128];
    int ask, slot, port;

    if (!re->cluster || r->type != REDIS_REPLY_ERROR)
        return 0;
    if (sss_redis_redirect_parse(r->str, r->len, &ask, &slot, host, sizeof(host), &port)) {
        struct rnode *nd = sss_redis__node_get(re, host, port, NULL);

        if (!nd)
            return 0;
        if (ask) {
            c->ask_node = nd->id;
        } else {
            sss_redis__slots_assign(re, slot, slot, nd);
            re->refresh_wanted = 1;
        }
    } else if ((r->len >= 8 && memcmp(r->str, "TRYAGAIN", 8) == 0) ||
               (r->len >= 11 && memcmp(r->str, "CLUSTERDOWN", 11) == 0)) {
        c->not_before = sss_now_ms() + RETRY_MS;
        re->refresh_wanted = 1;
    } else {
        return 0;
    }
    requeue(re, c);
    return 1;
}

/* ---- replies on the commands connection ---- */

static int reply_uid(const redisReply *r, struct sss_uid *uid)
{
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        return SSS_EPROTO;
    return sss_proto_uid_parse(uid, r->str, r->len);
}

/* What came back for c from nd. Returns 1 when c was queued again (not freed by the caller). */
static int on_cmd_reply(struct redis_engine *re, struct rnode *nd, struct cmd *c,
                        const redisReply *r)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct sss_uid uid = {0, 0};

    if (c->kind == K_ASKING || (c->kind == K_WAIT && r->type == REDIS_REPLY_ERROR && !c->sent))
        return 0;
    if (c->kind == K_SLOTS) {
        sss_redis__on_slots_reply(re, nd, r);
        return 0;
    }
    if (c->kind != K_SETUP && redirected(re, c, r))
        return 1;
    if (r->type == REDIS_REPLY_ERROR && c->kind != K_SETUP && c->kind != K_CATCHUP) {
        /* Redis refused it (OOM, NOSCRIPT, READONLY...): nothing was done. */
        int64_t now = sss_now_ms();

        if (now - re->err_logged_ms >= 1000) {
            sss_log_error("redis", "Redis refused a command: %.*s", (int)r->len, r->str);
            re->err_logged_ms = now;
        }
        /* SSSGONE: a publish sent again was applied the first time, but its
         * entry is no longer there to tell its uid. */
        if (c->kind == K_WAIT) /* its publish was applied */
            re->base.sink.published(re->base.sink.data, &c->tag, SSS_EUNKNOWN, 0, c->uid);
        else if (c->kind == K_BUMP)
            sss_redis__on_bump_reply(re, c->ch, r);
        else
            sss_redis__answer_failure(
                re, c,
                r->len >= 7 && memcmp(r->str, "SSSGONE", 7) == 0 ? SSS_EUNKNOWN : SSS_EUNAVAIL);
        return 0;
    }
    switch (c->kind) {
    case K_SETUP:
        if (r->type == REDIS_REPLY_ERROR) {
            char why[200];

            snprintf(why, sizeof(why), "%.*s", (int)r->len, r->str);
            nd->setup_failed = 1; /* dropped after this batch of replies */
            sss_log_error("redis", "setting up the commands connection to %s: %s", nd->target.where,
                          why);
        } else if (--nd->setup_pending == 0 && !nd->setup_failed) {
            sss_redis__cmd_conn_ready(re, nd);
        }
        break;
    case K_PUBLISH: {
        struct cmd *w = STAILQ_FIRST(&nd->inflight.q);

        if (reply_uid(r, &uid) < 0) {
            k->published(k->data, &c->tag, SSS_EPROTO, 0, uid);
        } else if (w && w->kind == K_WAIT) {
            w->uid = uid; /* answered when the replicas have it */
            w->sent = 1;
        } else {
            k->published(k->data, &c->tag, 0, 0, uid);
        }
        break;
    }
    case K_WAIT:
        if (!c->sent)
            break; /* its publish failed and was answered */
        if (r->type == REDIS_REPLY_INTEGER && r->integer >= re->cfg->redis_min_replicas) {
            k->published(k->data, &c->tag, 0, 0, c->uid);
        } else {
            /* Published, but on fewer replicas than asked: a failover now
             * could lose it. The publisher is told it may not have been. */
            int64_t now = sss_now_ms();

            if (now - re->err_logged_ms >= 1000) {
                sss_log_warn("redis",
                             "a publish reached %lld replicas of %s, not %d "
                             "(--redis-min-replicas): answered as unknown",
                             r->type == REDIS_REPLY_INTEGER ? (long long)r->integer : -1LL,
                             nd->target.where, re->cfg->redis_min_replicas);
                re->err_logged_ms = now;
            }
            k->published(k->data, &c->tag, SSS_EUNKNOWN, 0, c->uid);
        }
        break;
    case K_BUMP:
        sss_redis__on_bump_reply(re, c->ch, r);
        break;
    case K_LAST: {
        struct hist_answer a;

        if (sss_redis__hist_parse(r, &a) < 0)
            k->last_uid(k->data, &c->tag, SSS_EPROTO, 0, uid);
        else
            k->last_uid(k->data, &c->tag, 0, a.has_last, a.last);
        break;
    }
    case K_HISTORY:
        sss_redis__on_history_reply(re, c, r);
        break;
    case K_CATCHUP:
        if (r->type == REDIS_REPLY_ERROR)
            sss_log_error("redis", "catch-up failed: %.*s", (int)r->len, r->str);
        sss_redis__on_catchup_reply(re, c, r);
        break;
    case K_CONTROL:
    case K_SLOTS:
    case K_ASKING:
        break;
    }
    return 0;
}

void sss_redis__drain_cmd_replies(struct redis_engine *re, struct rnode *nd)
{
    redisReply *r;
    int rc;

    while ((rc = sss_redis_conn_reply(&nd->cmd, &r)) == 1) {
        struct cmd *c = STAILQ_FIRST(&nd->inflight.q);

        if (c && c->kind == K_PUBLISH && SSS_FAULT_HIT("redis.publish.reply-lost")) {
            /* The test's fault: the connection breaks just before this
             * publish's reply could be read (it was applied). */
            freeReplyObject(r);
            sss_redis__cmd_conn_lost(re, nd, "fault injected: publish reply lost");
            return;
        }
        c = sss_redis__q_pop(&nd->inflight);
        if (c)
            sss_redis__slot_done(re, c);
        if (!c) {
            sss_log_error("redis", "a reply nobody asked for from %s", nd->target.where);
            freeReplyObject(r);
            sss_redis__cmd_conn_lost(re, nd, "out of step with Redis");
            return;
        }
        if (!on_cmd_reply(re, nd, c, r))
            sss_redis__cmd_free(c);
        freeReplyObject(r);
        if (nd->setup_failed) {
            nd->setup_failed = 0;
            sss_redis__cmd_conn_lost_how(
                re, nd, "Redis refused the connection's setup (password? database?)", 1);
            return;
        }
    }
    if (rc < 0)
        sss_redis__cmd_conn_lost(re, nd, "unreadable reply");
}
