/*
 * The Redis engine (see sss_engine.h): any number of hosts share one Redis.
 *
 * Publishing: one EVALSHA per publish (sss_redis_lua.h) appends the message
 * to the channel's stream, whose entry id is the uid, and PUBLISHes a
 * MessagePack envelope on the channel's pub/sub channel. Replies come back
 * in order on the commands connection (a FIFO of what was sent).
 *
 * Delivery (sss_redis_chans.c): a second connection SUBSCRIBEs to the
 * channels this host has subscribers for and to the control channel; every
 * envelope becomes a FEED, exactly once and in uid order, after a catch-up
 * from the stream when a channel becomes live.
 *
 * Redis away (sss_redis_cmds.c): commands wait in a queue (--redis-queue of
 * them at most, for --redis-wait); publishes in flight are sent again once
 * it is back, and the script answers one it applied already without
 * publishing it twice.
 *
 * Redis Cluster (--redis-cluster, sss_redis_nodes.c): every Redis is a node
 * with its own two connections; one Redis is the same with a single node
 * that serves every slot. Commands go to the master of their slot in order
 * across redirections; channels are SSUBSCRIBEd there.
 *
 * The files, which share sss_redis_engine.h (the engine's state and the
 * sss_redis__* functions):
 * - sss_engine_redis.c: the engine's face: the ops of sss_engine.h
 *   (publish, last uid, history, interest, control, tick, pollfds, handle,
 *   connected, destroy), the --redis-cluster seeds, create;
 * - sss_redis_cmds.c: the command queue, routing, sending, redirections,
 *   and the replies on the commands connection;
 * - sss_redis_nodes.c: the nodes, the slot map, the connections' setup and
 *   loss;
 * - sss_redis_chans.c: the channels, their catch-up, history answers, the
 *   envelopes and control records from the subscriptions connection.
 */
#include "sss_engine.h"
#include "sss_redis_engine.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_envelope.h"
#include "sss_log.h"
#include "sss_redis_lua.h"
#include "sss_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/* ---- small helpers ---- */

static void sha1_hex(const char *s, char out[41])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    memset(out, '0', 40);
    out[40] = '\0';
    if (!EVP_Digest(s, strlen(s), d, &n, EVP_sha1(), NULL) || n != 20)
        return;
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- the ops ---- */

static void redis_publish(struct sss_engine *e, const struct sss_engine_tag *tag,
                          const char *chan, size_t chan_len, const char *topic, size_t topic_len,
                          const char *msg, size_t msg_len)
{
    struct redis_engine *re = (struct redis_engine *)e;
    char k1[SSS_PROTO_CHANNEL_MAX + 16], k2[SSS_PROTO_CHANNEL_MAX + 16],
        k3[SSS_PROTO_CHANNEL_MAX + 16], k4[SSS_PROTO_CHANNEL_MAX + 16], seq[24];
    const char *argv[16];
    size_t lens[16];
    struct cmd *c;
    int l1 = sss_redis__key_of(k1, sizeof(k1), chan, chan_len, ":h"),
        l2 = sss_redis__key_of(k2, sizeof(k2), chan, chan_len, ":e"),
        l3 = sss_redis__key_of(k3, sizeof(k3), chan, chan_len, ""),
        l4 = sss_redis__key_of(k4, sizeof(k4), chan, chan_len, ":o");

    if (l1 < 0 || l2 < 0 || l3 < 0 || l4 < 0) {
        e->sink.published(e->sink.data, tag, SSS_EINVAL, 0, (struct sss_uid){0, 0});
        return;
    }
    /* The envelope after its uid: version, chan, topic, msg, origin. */
    sss_envelope_pack_tail(&re->pack, chan, chan_len, topic, topic_len, msg, msg_len,
                           re->cfg->host_id, re->host_len, tag->worker, tag->conn, tag->flags);
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = re->sha_pub, lens[1] = 40;
    argv[2] = "3", lens[2] = 1;
    argv[3] = k1, lens[3] = (size_t)l1;
    argv[4] = k2, lens[4] = (size_t)l2;
    argv[5] = k4, lens[5] = (size_t)l4;
    argv[6] = topic, lens[6] = topic_len;
    argv[7] = msg, lens[7] = msg_len;
    argv[8] = re->hist_size, lens[8] = strlen(re->hist_size);
    argv[9] = re->hist_ttl, lens[9] = strlen(re->hist_ttl);
    argv[10] = re->pack.data, lens[10] = re->pack.size;
    argv[11] = re->origin, lens[11] = strlen(re->origin);
    argv[12] = seq, lens[12] = (size_t)snprintf(seq, sizeof(seq), "%llu",
                                                (unsigned long long)++re->pub_seq);
    argv[13] = re->cluster ? "1" : "0", lens[13] = 1; /* SPUBLISH on a cluster */
    argv[14] = k3, lens[14] = (size_t)l3;
    c = sss_redis__cmd_new(re, K_PUBLISH, 15, argv, lens);
    if (!c) {
        e->sink.published(e->sink.data, tag, -ENOMEM, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    c->slot = sss_redis_key_slot(k1, (size_t)l1);
    if (re->cfg->redis_wait_ms == 0 &&
        (re->unsent.n || !sss_redis__can_send(re, c, sss_redis__route(re, c)))) {
        sss_redis__answer_failure(re, c, SSS_EUNAVAIL);
        sss_redis__cmd_free(c);
        return;
    }
    (void)sss_redis__send_cmd(re, c);
}

static void wait_live(struct redis_engine *re, struct rchan *ch, enum cmd_kind kind,
                      const struct sss_engine_tag *tag, int has_after, struct sss_uid after)
{
    struct waiter *w = sss_calloc(1, sizeof(*w));

    if (!w) {
        if (kind == K_LAST)
            re->base.sink.last_uid(re->base.sink.data, tag, -ENOMEM, 0, after);
        else
            re->base.sink.hist_done(re->base.sink.data, tag, -ENOMEM, 1, 0, after);
        return;
    }
    w->kind = kind;
    w->tag = *tag;
    w->has_after = has_after;
    w->after = after;
    w->deadline = sss_now_ms() + re->cfg->redis_wait_ms;
    TAILQ_INSERT_TAIL(&ch->waiters, w, link);
    re->nwaiting++;
}

static void redis_last_uid(struct sss_engine *e, const struct sss_engine_tag *tag,
                           const char *chan, size_t chan_len)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = sss_redis__chan_get(re, chan, chan_len, 0);
    struct cmd *c;

    if (ch && ch->live) {
        /* Exact: every later message reaches this host's bus after it. */
        e->sink.last_uid(e->sink.data, tag, 0, ch->has_last, ch->last);
        return;
    }
    if (ch && ch->want) {
        wait_live(re, ch, K_LAST, tag, 0, (struct sss_uid){0, 0});
        return;
    }
    /* Nobody here subscribes to it: just read the stream. */
    c = sss_redis__history_cmd(re, K_LAST, chan, chan_len, "last", NULL);
    if (!c) {
        e->sink.last_uid(e->sink.data, tag, -ENOMEM, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    (void)sss_redis__send_cmd(re, c);
}

static void redis_history(struct sss_engine *e, const struct sss_engine_tag *tag,
                          const char *chan, size_t chan_len, int has_after, struct sss_uid after)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = sss_redis__chan_get(re, chan, chan_len, 0);
    struct cmd *c;

    if (ch && ch->want && !ch->live) {
        wait_live(re, ch, K_HISTORY, tag, has_after, after);
        return;
    }
    c = sss_redis__history_cmd(re, K_HISTORY, chan, chan_len, has_after ? "after" : "all", &after);
    if (!c) {
        e->sink.hist_done(e->sink.data, tag, -ENOMEM, 1, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    c->has_after = has_after;
    c->after = after;
    (void)sss_redis__send_cmd(re, c);
}

static void redis_interest(struct sss_engine *e, const char *chan, size_t chan_len, int on)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = sss_redis__chan_get(re, chan, chan_len, on);

    if (!ch) {
        if (on)
            sss_log_error("redis", "out of memory: this host will not receive %.*s",
                          (int)chan_len, chan);
        return;
    }
    if (ch->want == on)
        return;
    ch->want = on;
    if (!on) {
        ch->live = 0;
        sss_redis__held_clear(ch);
        if (ch->node >= 0 && re->nodes[ch->node]->sub.state == SSS_REDIS_UP) {
            ch->inflight++;
            sss_redis__send_sub_cmd(re, re->nodes[ch->node], 0, chan, chan_len);
        } else {
            ch->node = -1;
        }
    } else {
        sss_redis__chan_subscribe(re, ch);
    }
    sss_redis__chan_maybe_forget(re, ch);
}

static int redis_control(struct sss_engine *e, uint32_t type, const void *p, size_t len)
{
    struct redis_engine *re = (struct redis_engine *)e;
    const char *argv[3];
    size_t lens[3];
    struct cmd *c;

    sss_envelope_pack_control(&re->pack, type, p, len);
    argv[0] = "PUBLISH", lens[0] = 7;
    argv[1] = CONTROL_CHANNEL, lens[1] = sizeof(CONTROL_CHANNEL) - 1;
    argv[2] = re->pack.data, lens[2] = re->pack.size;
    c = sss_redis__cmd_new(re, K_CONTROL, 3, argv, lens);
    if (!c)
        return -ENOMEM;
    c->slot = re->ctl_slot;
    if (re->unsent.n >= (size_t)re->cfg->redis_queue) {
        sss_redis__cmd_free(c);
        return SSS_EUNAVAIL;
    }
    return sss_redis__send_cmd(re, c);
}

/* Commands and questions that waited too long for Redis fail now. */
static void expire_waiting(struct redis_engine *re, int64_t now)
{
    struct cmd_queue keep;
    struct sss_map_iter it;
    struct rchan *ch;
    struct cmd *c;

    sss_redis__q_init(&keep);
    while ((c = sss_redis__q_pop(&re->unsent))) {
        if (c->kind != K_CATCHUP && c->kind != K_BUMP && now >= c->deadline) {
            sss_redis__answer_failure(re, c, c->sent ? SSS_EUNKNOWN : SSS_EUNAVAIL);
            sss_redis__cmd_free(c);
        } else {
            sss_redis__q_push(&keep, c);
        }
    }
    sss_redis__q_move(&re->unsent, &keep);
    if (!re->nwaiting && !re->nretry)
        return; /* the usual case: no channel to visit */
    /* Nothing below adds or forgets a channel: the sink's callbacks only
     * queue answers for the workers. */
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));) {
        struct waiter *w, *next;

        if (ch->retry_catchup && ch->want && ch->subscribed && !ch->catching)
            sss_redis__start_catchup(re, ch);
        for (w = TAILQ_FIRST(&ch->waiters); w; w = next) {
            next = TAILQ_NEXT(w, link);
            if (now < w->deadline)
                continue;
            /* The subscriber starts from what this host fed last; a later
             * catch-up replays the rest. A SYNC learns it is incomplete. */
            if (w->kind == K_LAST)
                re->base.sink.last_uid(re->base.sink.data, &w->tag, 0, ch->has_last, ch->last);
            else
                re->base.sink.hist_done(re->base.sink.data, &w->tag, SSS_EUNAVAIL, 1, 0,
                                        ch->last);
            TAILQ_REMOVE(&ch->waiters, w, link);
            sss_free(w);
            re->nwaiting--;
        }
    }
}

static void redis_tick(struct sss_engine *e, int64_t now_wall_ms)
{
    struct redis_engine *re = (struct redis_engine *)e;
    int64_t now = sss_now_ms();
    const char *why;

    (void)now_wall_ms;
    for (int i = 0; i < re->nnodes; i++) {
        struct rnode *nd = re->nodes[i];

        if ((why = sss_redis_conn_overdue(&nd->cmd, now)))
            sss_redis__cmd_conn_lost(re, nd, why);
        if ((why = sss_redis_conn_overdue(&nd->sub, now)))
            sss_redis__sub_conn_lost(re, nd, why);
        sss_redis_conn_maybe_connect(&nd->cmd, now);
        if (nd->sub_wanted)
            sss_redis_conn_maybe_connect(&nd->sub, now);
    }
    sss_redis__maybe_refresh(re, now);
    if (re->resub_wanted)
        sss_redis__ensure_subs(re);
    expire_waiting(re, now);
}

static int redis_pollfds(struct sss_engine *e, struct pollfd *pfd, int cap)
{
    struct redis_engine *re = (struct redis_engine *)e;
    int n = 0;

    if (re->unsent.n)
        sss_redis__flush_unsent(re);
    /* Write what this turn queued (pipelined), then wait for the rest. */
    for (int i = 0; i < re->nnodes; i++) {
        struct rnode *nd = re->nodes[i];

        if (nd->cmd.state == SSS_REDIS_UP && sss_redis_conn_flush(&nd->cmd) < 0)
            sss_redis__cmd_conn_lost(re, nd, "write failed");
        if (nd->sub.state == SSS_REDIS_UP && sss_redis_conn_flush(&nd->sub) < 0)
            sss_redis__sub_conn_lost(re, nd, "write failed");
        if (n < cap && sss_redis_conn_pollfd(&nd->cmd, &pfd[n]))
            n++;
        if (n < cap && sss_redis_conn_pollfd(&nd->sub, &pfd[n]))
            n++;
    }
    return n;
}

static void redis_handle(struct sss_engine *e, const struct pollfd *pfd, int n)
{
    struct redis_engine *re = (struct redis_engine *)e;

    for (int i = 0; i < n; i++) {
        struct rnode *nd = NULL;
        int is_cmd = 0, rc;

        if (!pfd[i].revents)
            continue;
        for (int k = 0; k < re->nnodes && !nd; k++) {
            if (pfd[i].fd == re->nodes[k]->cmd.fd)
                nd = re->nodes[k], is_cmd = 1;
            else if (pfd[i].fd == re->nodes[k]->sub.fd)
                nd = re->nodes[k];
        }
        if (!nd)
            continue; /* closed meanwhile */
        rc = sss_redis_conn_handle(is_cmd ? &nd->cmd : &nd->sub, pfd[i].revents);
        if (rc == 1) {
            if (is_cmd)
                sss_redis__setup_cmd_conn(re, nd);
            else
                sss_redis__setup_sub_conn(re, nd);
        } else if (rc < 0) {
            if (is_cmd)
                sss_redis__cmd_conn_lost(re, nd, sss_strerror(rc));
            else
                sss_redis__sub_conn_lost(re, nd, sss_strerror(rc));
            continue;
        }
        re->reading = nd->id;
        if (is_cmd)
            sss_redis__drain_cmd_replies(re, nd);
        else
            sss_redis__drain_sub_replies(re, nd);
        re->reading = -1;
    }
}

/*
 * Up when every node that serves slots answers commands and the control
 * channel is subscribed (one Redis: its two connections are up).
 */
static int redis_connected(struct sss_engine *e)
{
    struct redis_engine *re = (struct redis_engine *)e;

    if (re->ctl_node < 0 || re->nodes[re->ctl_node]->sub.state != SSS_REDIS_UP)
        return 0;
    if (!re->cluster)
        return re->nodes[0]->cmd_ready;
    if (!re->map_ok)
        return 0;
    for (int i = 0; i < re->nnodes; i++)
        if (re->nodes[i]->nslots && !re->nodes[i]->cmd_ready)
            return 0;
    return 1;
}

static void redis_destroy(struct sss_engine *e)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct cmd *c;

    while ((c = sss_redis__q_pop(&re->unsent)))
        sss_redis__cmd_free(c);
    for (int i = 0; i < re->nnodes; i++) {
        struct rnode *nd = re->nodes[i];

        while ((c = sss_redis__q_pop(&nd->inflight)))
            sss_redis__cmd_free(c);
        sss_redis_conn_fini(&nd->cmd);
        sss_redis_conn_fini(&nd->sub);
        sss_free(nd);
    }
    sss_map_clear(&re->chans, sss_redis__chan_free);
    sss_redis_target_fini(&re->tmpl);
    msgpack_sbuffer_destroy(&re->pack);
    sss_free(re);
}

static const struct sss_engine_ops redis_ops = {
    .name = "redis",
    .traits = SSS_ENGINE_HOSTS | SSS_ENGINE_OUTLIVES,
    .publish = redis_publish,
    .last_uid = redis_last_uid,
    .history = redis_history,
    .interest = redis_interest,
    .control = redis_control,
    .tick = redis_tick,
    .pollfds = redis_pollfds,
    .handle = redis_handle,
    .connected = redis_connected,
    .destroy = redis_destroy,
};

/*
 * The i-th seed of --redis-cluster (host:port, or a redis[s]:// URL that
 * may carry the user and password of every node) into url. 0, or -1 past
 * the last one. *bare: 1 when the seed is host:port (no scheme: it takes
 * the first seed's TLS), else 0.
 */
static int seed_url(const char *list, int i, char *url, size_t cap, int *bare)
{
    const char *p = list, *end;
    size_t len;

    for (; i > 0 && p; i--)
        p = (p = strchr(p, ',')) ? p + 1 : NULL;
    if (!p)
        return -1;
    end = strchr(p, ',');
    len = end ? (size_t)(end - p) : strlen(p);
    *bare = memmem(p, len, "://", 3) == NULL;
    if (snprintf(url, cap, "%s%.*s", *bare ? "redis://" : "", (int)len, p) >= (int)cap)
        return -1;
    return 0;
}

/*
 * --redis-cluster: every seed must be a cluster node address that resolves
 * (database 0 only); the first one's credentials and TLS are every node's,
 * so a host:port seed after rediss://... is reached over TLS too, and only
 * seeds that name their scheme must agree with the first.
 * Returns 0 or SSS_EINVAL with the reason in why. first gets the first seed
 * (its ssl_ctx is not made here).
 */
int sss_engine_redis_check_seeds(const char *list, int max_nodes,
                                 struct sss_redis_target *first, char *why, size_t cap)
{
    char url[600];
    int i, bare;

    for (i = 0; seed_url(list, i, url, sizeof(url), &bare) == 0; i++) {
        struct sss_redis_target t;

        if (sss_redis_target_parse(url, &t) < 0) {
            snprintf(why, cap,
                     "--redis-cluster: seed %d is not host:port or redis[s]://[[user]:password@]"
                     "host:port, or its host does not resolve",
                     i + 1);
            return SSS_EINVAL;
        }
        if (t.db != 0) {
            snprintf(why, cap, "--redis-cluster: seed %d names database %d; a cluster has only 0",
                     i + 1, t.db);
            return SSS_EINVAL;
        }
        if (i == 0)
            *first = t;
        else if (!bare && t.tls != first->tls) {
            snprintf(why, cap, "--redis-cluster: seeds mix redis:// and rediss://");
            return SSS_EINVAL;
        }
    }
    if (i == 0 || i > max_nodes) {
        snprintf(why, cap,
                 "--redis-cluster: between 1 and %d seeds (host:port,host:port...; "
                 "--redis-cluster-max-nodes)",
                 max_nodes);
        return SSS_EINVAL;
    }
    return 0;
}

static unsigned instances; /* engines made by this process: part of each one's origin */

struct sss_engine *sss_engine_redis_create(const struct sss_cfg *cfg,
                                           const struct sss_engine_limits *limits,
                                           const struct sss_engine_sink *sink, int *err)
{
    struct redis_engine *re = sss_calloc(1, sizeof(*re));
    char why[400], url[600];

    *err = 0;
    if (!re) {
        *err = -ENOMEM;
        return NULL;
    }
    sss_redis__q_init(&re->unsent);
    re->cluster = cfg->redis_cluster[0] != '\0';
    re->max_nodes = cfg->redis_cluster_max_nodes > 0 &&
                            cfg->redis_cluster_max_nodes < SSS_REDIS_MAX_NODES
                        ? cfg->redis_cluster_max_nodes
                        : SSS_REDIS_MAX_NODES;
    if (re->cluster ? sss_engine_redis_check_seeds(cfg->redis_cluster, re->max_nodes, &re->tmpl,
                                                   why, sizeof(why)) < 0
                    : sss_redis_target_parse(cfg->redis_url, &re->tmpl) < 0) {
        if (!re->cluster)
            snprintf(why, sizeof(why),
                     "--redis: not redis[s]://[[user]:password@]host:port/db, or the host does "
                     "not resolve");
        sss_log_error("redis", "%s", why);
        sss_free(re);
        *err = SSS_EINVAL;
        return NULL;
    }
    if (sss_redis_target_tls(&re->tmpl, cfg->redis_ca_file, cfg->redis_cert_file,
                             cfg->redis_key_file, why, sizeof(why)) < 0) {
        sss_log_error("redis", "%s", why);
        sss_free(re);
        *err = SSS_EINVAL;
        return NULL;
    }
    re->tmpl.connect_timeout_ms = cfg->redis_connect_timeout_ms;
    re->base.ops = &redis_ops;
    re->base.sink = *sink;
    re->cfg = cfg;
    re->host_len = strlen(cfg->host_id);
    re->ctl_node = -1;
    re->reading = -1;
    re->ctl_slot = sss_redis_key_slot(CONTROL_CHANNEL, sizeof(CONTROL_CHANNEL) - 1);
    memset(re->owner, NO_NODE, sizeof(re->owner));
    /* Unique per engine: two made in one process within a millisecond (tests)
     * would otherwise share an origin, and the later one's first publishes
     * would be taken for retries of the other's. */
    snprintf(re->origin, sizeof(re->origin), "%s/%d/%lld/%u", cfg->host_id, (int)getpid(),
             (long long)sss_wall_ms(), instances++);
    sss_map_init(&re->chans);
    msgpack_sbuffer_init(&re->pack);
    sha1_hex(SSS_REDIS_LUA_PUBLISH, re->sha_pub);
    sha1_hex(SSS_REDIS_LUA_HISTORY, re->sha_hist);
    snprintf(re->hist_size, sizeof(re->hist_size), "%u", limits->history_size);
    snprintf(re->hist_ttl, sizeof(re->hist_ttl), "%lld", (long long)limits->history_ttl_ms);
    if (!re->cluster) {
        struct rnode *nd =
            sss_redis__node_get(re, re->tmpl.host, sss_redis_target_port(&re->tmpl), NULL);

        if (!nd) {
            redis_destroy(&re->base);
            *err = -ENOMEM;
            return NULL;
        }
        nd->sub_wanted = 1;
        nd->nslots = SSS_REDIS_SLOTS;
        sss_redis_conn_maybe_connect(&nd->sub, sss_now_ms());
        sss_log_info("redis", "engine on %s%s db %d%s%s (history %u messages, ttl %lld ms)",
                     re->tmpl.tls ? "rediss://" : "", re->tmpl.where, re->tmpl.db,
                     re->tmpl.user[0] ? " as " : "", re->tmpl.user, limits->history_size,
                     (long long)limits->history_ttl_ms);
        return &re->base;
    }
    for (int i = 0, bare; seed_url(cfg->redis_cluster, i, url, sizeof(url), &bare) == 0; i++) {
        struct sss_redis_target t;

        if (sss_redis_target_parse(url, &t) == 0)
            (void)sss_redis__node_get(re, t.host, sss_redis_target_port(&t), NULL);
    }
    sss_log_info("redis", "engine on the Redis Cluster of %s%s (%d seeds)%s%s (history %u "
                          "messages, ttl %lld ms): sharded pub/sub",
                 re->tmpl.tls ? "rediss://" : "", re->tmpl.where, re->nnodes,
                 re->tmpl.user[0] ? " as " : "", re->tmpl.user, limits->history_size,
                 (long long)limits->history_ttl_ms);
    return &re->base;
}
