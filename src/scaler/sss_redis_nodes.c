/*
 * The Redis engine's nodes (see sss_engine_redis.c, whose head tells the
 * design): the Redis servers it talks to, which one serves which slot, and
 * their two connections' setup and loss.
 *
 * Redis Cluster (--redis-cluster): every Redis is a struct rnode with its own
 * two connections; one Redis is the same with a single node that serves every
 * slot. The slot map comes from CLUSTER SLOTS (sss_redis_slots.c parses it),
 * and a MOVED patches it. There are at most --redis-cluster-max-nodes nodes:
 * one that no map names any more gives its place to a new address
 * (node_reuse). A commands connection is usable once the node answered its
 * setup; when it is lost, what was in flight on it goes back to `unsent`
 * (sss_redis_cmds.c) or is answered.
 */
#include "sss_redis_engine.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_log.h"
#include "sss_redis_lua.h"
#include "sss_time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define REFRESH_MIN_MS 200       /* between two CLUSTER SLOTS */
#define UNSERVED_REFRESH_MS 1000 /* the map is read again this often while slots have no node */

/* ---- nodes and the slot map ---- */

/* The index of the node at host:port, -1 if the engine has none. */
static int node_find(const struct redis_engine *re, const char *host, int port)
{
    for (int i = 0; i < re->nnodes; i++)
        if (strcmp(re->nodes[i]->target.host, host) == 0 &&
            sss_redis_target_port(&re->nodes[i]->target) == port)
            return i;
    return -1;
}

/* Whether anything of this host's is on node i: a command in flight or due
 * there after an ASK, its setup, a channel or the control channel subscribed,
 * or the replies being read (a MOVED, a slot map) are its. */
static int node_busy(struct redis_engine *re, int i)
{
    const struct rnode *nd = re->nodes[i];
    struct sss_map_iter it;
    struct rchan *ch;
    struct cmd *c;

    if (nd->inflight.n || nd->setup_pending || re->ctl_node == i || re->reading == i)
        return 1;
    STAILQ_FOREACH(c, &re->unsent.q, link)
    if (c->ask_node == i)
        return 1;
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->node == i)
            return 1;
    return 0;
}

/*
 * With every entry taken, one that no slot map names any more (a master
 * that left the cluster, or came back on another address: a restarted pod)
 * and with nothing of this host's on it serves host:port instead, so that
 * nodes coming and going never use up --redis-cluster-max-nodes. named: the
 * nodes the map being read names (NULL: those that own slots now). NULL if
 * none is free.
 */
static struct rnode *node_reuse(struct redis_engine *re, const char *host, int port,
                                const uint8_t *named)
{
    struct sss_redis_target t;

    for (int i = 0; i < re->nnodes; i++) {
        struct rnode *nd = re->nodes[i];

        if ((named ? named[i] : nd->nslots > 0) || node_busy(re, i))
            continue;
        if (sss_redis_target_at(&re->tmpl, host, port, &t) < 0)
            return NULL;
        sss_log_info("redis", "node %s is in the slot map no more: its place serves %s port %d",
                     nd->target.where, host, port);
        sss_redis_conn_fini(&nd->cmd);
        sss_redis_conn_fini(&nd->sub);
        nd->target = t;
        nd->cmd_ready = nd->setup_pending = nd->setup_failed = nd->sub_wanted = 0;
        sss_redis_conn_init(&nd->cmd, "commands", &nd->target);
        sss_redis_conn_init(&nd->sub, "subscriptions", &nd->target);
        /* It connects at the next tick: this turn's poll results may still
         * name the old socket's number, which a new socket could take. */
        return nd;
    }
    return NULL;
}

/*
 * The node at host:port, added to re->nodes if new (NULL: no room, or it
 * does not resolve). named: as for node_reuse.
 */
struct rnode *sss_redis__node_get(struct redis_engine *re, const char *host, int port,
                                  const uint8_t *named)
{
    int i = node_find(re, host, port);
    struct rnode *nd;

    if (i >= 0)
        return re->nodes[i];
    if (re->nnodes == re->max_nodes) {
        int64_t now = sss_now_ms();

        nd = node_reuse(re, host, port, named);
        if (!nd && (!re->full_logged_ms || now - re->full_logged_ms >= 10000)) {
            sss_log_error("redis",
                          "node %s port %d: more than %d Redis nodes (--redis-cluster-max-nodes) "
                          "and none of them free, its slots stay unserved",
                          host, port, re->max_nodes);
            re->full_logged_ms = now;
        }
        return nd;
    }
    nd = sss_calloc(1, sizeof(*nd));
    if (!nd)
        return NULL;
    if (sss_redis_target_at(&re->tmpl, host, port, &nd->target) < 0) {
        sss_log_error("redis", "node %s port %d does not resolve", host, port);
        sss_free(nd);
        return NULL;
    }
    nd->id = re->nnodes;
    sss_redis__q_init(&nd->inflight);
    sss_redis_conn_init(&nd->cmd, "commands", &nd->target);
    sss_redis_conn_init(&nd->sub, "subscriptions", &nd->target);
    re->nodes[re->nnodes++] = nd;
    sss_redis_conn_maybe_connect(&nd->cmd, sss_now_ms());
    return nd;
}

/* Give slots start..end to nd (slot counts kept for ops->connected). */
void sss_redis__slots_assign(struct redis_engine *re, int start, int end, struct rnode *nd)
{
    for (int s = start; s <= end; s++) {
        if (re->owner[s] != NO_NODE)
            re->nodes[re->owner[s]]->nslots--;
        re->owner[s] = nd ? (uint8_t)nd->id : NO_NODE;
        if (nd)
            nd->nslots++;
    }
}

/* A CLUSTER SLOTS answer from nd: the new slot map. */
static const char *range_host(const struct sss_redis_range *rg, const struct rnode *from)
{
    return rg->host[0] ? rg->host : from->target.host; /* "": the node that answered */
}

void sss_redis__on_slots_reply(struct redis_engine *re, struct rnode *nd, const redisReply *r)
{
    uint8_t named[SSS_REDIS_MAX_NODES];
    int unserved;
    /* One range per element: a slot map that migrations have cut into many
     * ranges (up to one per slot) is read whole. */
    size_t cap = r && r->type == REDIS_REPLY_ARRAY && r->elements ? r->elements : 1;
    struct sss_redis_range *rg = sss_malloc(cap * sizeof(*rg));
    int *ids = sss_malloc(cap * sizeof(*ids)); /* the node of each range */
    int n = rg && ids ? sss_redis_slots_parse(r, rg, (int)cap) : -ENOMEM;

    re->refresh_inflight = 0;
    if (n < 0) {
        int64_t now = sss_now_ms();

        if (now - re->err_logged_ms >= 10000) {
            sss_log_error("redis", "%s: unexpected CLUSTER SLOTS answer%s%.*s (is it a cluster?)",
                          nd->target.where, r->type == REDIS_REPLY_ERROR ? ": " : "",
                          r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                          r->type == REDIS_REPLY_ERROR ? r->str : "");
            re->err_logged_ms = now;
        }
        re->refresh_wanted = 1;
        re->refresh_at = now + 1000; /* not a cluster, or not yet one: ask again later */
        sss_free(rg);
        sss_free(ids);
        return;
    }
    /* The nodes the map names first, so that a new address takes the place
     * of a node it does not name, never of one named further on. */
    memset(named, 0, sizeof(named));
    for (int i = 0; i < n; i++) {
        ids[i] = node_find(re, range_host(&rg[i], nd), rg[i].port);
        if (ids[i] >= 0)
            named[ids[i]] = 1;
    }
    for (int i = 0; i < n; i++) {
        struct rnode *to;

        if (ids[i] >= 0)
            continue;
        to = sss_redis__node_get(re, range_host(&rg[i], nd), rg[i].port, named);
        ids[i] = to ? to->id : -1;
        if (to)
            named[to->id] = 1;
    }
    sss_redis__slots_assign(re, 0, SSS_REDIS_SLOTS - 1, NULL);
    for (int i = 0; i < n; i++)
        sss_redis__slots_assign(re, rg[i].start, rg[i].end, ids[i] >= 0 ? re->nodes[ids[i]] : NULL);
    if (!re->map_ok)
        sss_log_info("redis", "cluster slot map read from %s: %d ranges", nd->target.where, n);
    re->map_ok = 1;
    /* Slots with no node (a map read amid a failover or a resharding, a
     * master beyond the bound): nothing sent for them would ever bring a
     * MOVED, so the map is read again, every second, until they have one. */
    unserved = 0;
    for (int s = 0; s < SSS_REDIS_SLOTS; s++)
        unserved += re->owner[s] == NO_NODE;
    if (unserved && !re->unserved)
        sss_log_warn("redis",
                     "%d slots have no master in the map read from %s; reading it "
                     "again every second until they have",
                     unserved, nd->target.where);
    re->unserved = unserved;
    re->refresh_wanted = unserved > 0;
    if (unserved)
        re->refresh_at = sss_now_ms() + UNSERVED_REFRESH_MS;
    sss_free(rg);
    sss_free(ids);
    sss_redis__ensure_subs(re);
    sss_redis__flush_unsent(re);
}

/* ---- connections ---- */

/* AUTH [user] password of the target into argv (3 slots): how many arguments. */
static int auth_argv(const struct sss_redis_target *t, const char **argv, size_t *lens)
{
    int n = 0;

    argv[n] = "AUTH", lens[n++] = 4;
    if (t->user[0])
        argv[n] = t->user, lens[n++] = strlen(t->user);
    argv[n] = t->password, lens[n++] = strlen(t->password);
    return n;
}

static void setup_push(struct rnode *nd, struct cmd *c)
{
    sss_redis__q_push(&nd->inflight, c);
    nd->setup_pending++;
    if (sss_redis_conn_append(&nd->cmd, c->resp, c->len) < 0)
        sss_log_error("redis", "out of memory setting up the commands connection");
}

/* On a cluster, ask a node that answers for the slot map, if it is wanted and none is asked. */
void sss_redis__maybe_refresh(struct redis_engine *re, int64_t now)
{
    static const char *argv[2] = {"CLUSTER", "SLOTS"};
    static const size_t lens[2] = {7, 5};
    int stale = re->refresh_wanted || !re->map_ok;
    struct cmd *c;
    int n;

    /* A master the map names that does not answer: perhaps a failover
     * promotes its replica; read the map until it says so. */
    for (int i = 0; i < re->nnodes && !stale; i++)
        stale = re->nodes[i]->nslots && !re->nodes[i]->cmd_ready;
    if (!re->cluster || !stale || re->refresh_inflight || now < re->refresh_at)
        return;
    c = sss_redis__cmd_new(re, K_SLOTS, 2, argv, lens);
    n = c ? sss_redis__route(re, c) : -1;
    if (n < 0) {
        sss_redis__cmd_free(c); /* no node answers yet: the next tick tries again */
        return;
    }
    re->refresh_inflight = 1;
    re->refresh_at = now + REFRESH_MIN_MS;
    (void)sss_redis__send_to(re, re->nodes[n], c);
}

/*
 * The node answered the whole setup: the commands that waited for it go
 * now, in order. Not before: a TLS 1.3 server refuses a client certificate
 * only after the client's handshake is done, and a wrong password only in
 * AUTH's reply, so a connection is not usable until something came back on
 * it. On a cluster, the first ready node is asked for the slot map.
 */
void sss_redis__cmd_conn_ready(struct redis_engine *re, struct rnode *nd)
{
    nd->cmd_ready = 1;
    sss_redis__maybe_refresh(re, sss_now_ms());
    sss_redis__flush_unsent(re);
}

void sss_redis__setup_cmd_conn(struct redis_engine *re, struct rnode *nd)
{
    const char *argv[3];
    size_t lens[3];
    struct cmd *c;
    char db[16];

    /* The setup goes first, then whatever waited, in order. */
    if (nd->target.password[0]) {
        int n = auth_argv(&nd->target, argv, lens);

        if ((c = sss_redis__cmd_new(re, K_SETUP, n, argv, lens)))
            setup_push(nd, c);
    }
    if (!re->cluster) { /* a cluster has database 0 only */
        snprintf(db, sizeof(db), "%d", nd->target.db);
        argv[0] = "SELECT", lens[0] = 6;
        argv[1] = db, lens[1] = strlen(db);
        if ((c = sss_redis__cmd_new(re, K_SETUP, 2, argv, lens)))
            setup_push(nd, c);
    }
    argv[0] = "SCRIPT", lens[0] = 6;
    argv[1] = "LOAD", lens[1] = 4;
    argv[2] = SSS_REDIS_LUA_PUBLISH, lens[2] = strlen(SSS_REDIS_LUA_PUBLISH);
    if ((c = sss_redis__cmd_new(re, K_SETUP, 3, argv, lens)))
        setup_push(nd, c);
    argv[2] = SSS_REDIS_LUA_HISTORY, lens[2] = strlen(SSS_REDIS_LUA_HISTORY);
    if ((c = sss_redis__cmd_new(re, K_SETUP, 3, argv, lens)))
        setup_push(nd, c);
    if (!nd->setup_pending)
        sss_redis__cmd_conn_ready(re, nd); /* out of memory for all of it: the commands will say */
}

void sss_redis__setup_sub_conn(struct redis_engine *re, struct rnode *nd)
{
    char *resp = NULL;
    int n;

    if (nd->target.password[0]) {
        const char *argv[3];
        size_t lens[3];

        n = redisFormatCommandArgv(&resp, auth_argv(&nd->target, argv, lens), argv, lens);
        if (n > 0)
            (void)sss_redis_conn_append(&nd->sub, resp, (size_t)n);
        redisFreeCommand(resp);
    }
    sss_redis__ensure_subs(re); /* the channels (and control) this node serves */
}

/* refused: the node rejected the connection's setup, so nothing after it ran. */
void sss_redis__cmd_conn_lost_how(struct redis_engine *re, struct rnode *nd, const char *why,
                                  int refused)
{
    struct cmd_queue resend;
    struct cmd *c;

    sss_redis__q_init(&resend);
    sss_redis_conn_lost(&nd->cmd, why, sss_now_ms());
    nd->cmd_ready = 0;
    nd->setup_pending = 0;
    if (re->cluster)
        re->refresh_wanted = 1; /* perhaps a failover: where are its slots now? */
    /* Reads are sent again, and so are publishes: the script answers one it
     * applied already with its uid (see sss_redis_cmds.c's head). A broadcast
     * or a boot may or may not have been applied. */
    while ((c = sss_redis__q_pop(&nd->inflight))) {
        sss_redis__slot_done(re, c);
        if (!refused && c->kind == K_CONTROL) {
            sss_redis__answer_failure(re, c, SSS_EUNKNOWN);
            sss_redis__cmd_free(c);
        } else if (c->kind == K_WAIT && c->sent) {
            /* Applied, its replication unknown. */
            re->base.sink.published(re->base.sink.data, &c->tag, SSS_EUNKNOWN, 0, c->uid);
            sss_redis__cmd_free(c);
        } else if (c->kind == K_SETUP || c->kind == K_ASKING || c->kind == K_WAIT) {
            sss_redis__cmd_free(c); /* a publish sent again gets its WAIT again */
        } else {
            if (c->kind == K_PUBLISH && !refused) {
                c->sent = 1;
                c->deadline = sss_now_ms() + re->cfg->redis_wait_ms;
            }
            sss_redis__q_push(&resend, c);
        }
    }
    sss_redis__q_move(&resend, &re->unsent); /* behind what was sent already: the order stays */
    sss_redis__q_move(&re->unsent, &resend);
}

void sss_redis__cmd_conn_lost(struct redis_engine *re, struct rnode *nd, const char *why)
{
    sss_redis__cmd_conn_lost_how(re, nd, why, 0);
}

void sss_redis__sub_conn_lost(struct redis_engine *re, struct rnode *nd, const char *why)
{
    struct sss_map_iter it;
    struct rchan *ch;

    sss_redis_conn_lost(&nd->sub, why, sss_now_ms());
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->node == nd->id)
            sss_redis__chan_unsubscribed(re, ch);
    if (re->ctl_node == nd->id) {
        re->ctl_node = -1;
        re->resub_wanted = 1;
    }
    if (re->cluster)
        re->refresh_wanted = 1;
}
