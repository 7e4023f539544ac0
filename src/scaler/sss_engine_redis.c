/*
 * The Redis engine (see sss_engine.h): any number of hosts share one Redis.
 *
 * Publishing: one EVALSHA per publish (sss_redis_lua.h) appends the message
 * to the channel's stream, whose entry id is the uid, and PUBLISHes a
 * MessagePack envelope on the channel's pub/sub channel. Replies come back
 * in order on the commands connection (a FIFO of what was sent).
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
 * Redis Cluster (--redis-cluster): every Redis is a struct rnode with its own
 * two connections; one Redis is the same with a single node that serves every
 * slot. The slot map comes from CLUSTER SLOTS (sss_redis_slots.c); each
 * command carries the slot of its channel and goes to that slot's master
 * (route), and waits in `unsent` while that master is unknown or not ready,
 * behind any earlier command of its slot (flush_unsent), so the order of a
 * channel's publishes holds across MOVED, ASK, TRYAGAIN and CLUSTERDOWN.
 * The publish script SPUBLISHes; channels are SSUBSCRIBEd on the master of
 * their slot (rchan.node), the control channel SUBSCRIBEd (classic pub/sub
 * reaches every node) on the master of its slot. A subscription Redis drops
 * by itself (its slot moved) or a lost node resubscribes where the map now
 * says, through the same catch-up as a reconnect. A catch-up that finds the
 * stream behind the last uid fed (a replica without the newest messages
 * took over) reports the gap and starts a new epoch (LUA_BUMP); with
 * --redis-min-replicas a WAIT follows each publish and answers it.
 */
#include "sss_engine.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_envelope.h"
#include "sss_fault.h"
#include "sss_hostmsg.h"
#include "sss_log.h"
#include "sss_map.h"
#include "sss_redis_conn.h"
#include "sss_redis_lua.h"
#include "sss_redis_slots.h"
#include "sss_time.h"

#include <errno.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CONTROL_CHANNEL "sss:{!ctl}" /* broadcast and boot records of every host */
#define MAX_HELD 100000              /* envelopes held for one channel during its catch-up */

enum cmd_kind {
    K_SETUP,   /* AUTH, SELECT, SCRIPT LOAD: an error reply drops the connection */
    K_PUBLISH, /* EVALSHA publish */
    K_LAST,    /* a worker's LAST_UID for a channel not live yet... read from the stream */
    K_HISTORY, /* a worker's history */
    K_CATCHUP, /* a channel becoming live */
    K_CONTROL, /* PUBLISH on the control channel */
    K_SLOTS,   /* CLUSTER SLOTS: the slot map (--redis-cluster) */
    K_ASKING,  /* ASKING before a command sent where an ASK redirection said */
    K_WAIT,    /* WAIT after a publish (--redis-min-replicas): its answer waits for it */
    K_BUMP,    /* a channel's stream went back (failover): start a new epoch */
};

/* One command: its RESP bytes and who waits for its reply. */
struct cmd {
    STAILQ_ENTRY(cmd) link;
    enum cmd_kind kind;
    struct sss_engine_tag tag;
    struct rchan *ch; /* K_CATCHUP, K_BUMP */
    struct sss_uid uid; /* K_WAIT: the publish's uid, answered once replicas have it */
    int has_after;    /* K_HISTORY, K_CATCHUP: read after this uid */
    struct sss_uid after;
    int known;        /* K_CATCHUP: the channel had been live when it was asked */
    unsigned told;    /* K_CATCHUP: the channel's `told` when it was asked */
    int64_t deadline; /* monotonic ms: waiting for the connection ends here */
    int sent;         /* K_PUBLISH: sent once already, so perhaps applied */
    int slot;         /* hash slot of its keys, -1: any node (K_SLOTS) */
    uint64_t order;   /* when it was made: a redirected one goes back before younger ones */
    int ask_node;     /* >= 0: sent once to that node after ASKING (an ASK redirection) */
    int64_t not_before; /* monotonic ms: a retry (TRYAGAIN, CLUSTERDOWN) waits until then */
    char *resp;       /* from redisFormatCommandArgv */
    size_t len;
};

struct cmd_queue {
    STAILQ_HEAD(, cmd) q;
    size_t n;
};

/* An envelope held while its channel catches up. */
struct held {
    STAILQ_ENTRY(held) link;
    struct sss_uid uid;
    int has_origin;
    struct sss_engine_tag origin;
    size_t topic_len, msg_len;
    char data[]; /* topic then msg */
};

/* A question waiting for its channel to become live. */
struct waiter {
    TAILQ_ENTRY(waiter) link;
    enum cmd_kind kind; /* K_LAST or K_HISTORY */
    struct sss_engine_tag tag;
    int has_after;
    struct sss_uid after;
    int64_t deadline;
};

struct rchan {
    char name[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t len;
    int slot;     /* of its keys */
    int node;     /* the node its (S)SUBSCRIBE went to, -1: none */
    int want;     /* the host has subscribers */
    int inflight; /* SUBSCRIBE/UNSUBSCRIBE sent, not yet confirmed */
    int subscribed; /* Redis confirmed the last SUBSCRIBE (and no UNSUBSCRIBE since) */
    int catching; /* catch-up reads in flight */
    int retry_catchup; /* the last catch-up failed: the tick tries again */
    int live;     /* feeds flow */
    int known;    /* it was live once: what the host has is known (has_last 0: nothing) */
    int has_last; /* last: the newest uid fed to the host (or read when it became live) */
    struct sss_uid last;
    unsigned told; /* gaps told and new epochs started: a catch-up asked before one of them
                    * has nothing left to tell */
    STAILQ_HEAD(, held) held; /* while catching up, oldest first */
    size_t nheld;
    TAILQ_HEAD(, waiter) waiters; /* until live, oldest first */
};

/*
 * One Redis server: --redis, or a node of --redis-cluster (a seed, or a
 * master named by the slot map or a redirection). Its commands connection
 * runs EVALSHA for the slots it serves; its subscriptions connection is
 * opened only when this host needs a channel it serves (or the control
 * channel).
 */
struct rnode {
    int id;                          /* index in re->nodes */
    struct sss_redis_target target;  /* its ssl_ctx is borrowed from re->tmpl */
    struct sss_redis_conn cmd, sub;
    struct cmd_queue inflight; /* sent on cmd, reply pending, in order */
    int cmd_ready;     /* cmd is up and the node answered its setup */
    int setup_pending; /* setup commands (AUTH, SELECT, SCRIPT LOAD) not answered yet */
    int setup_failed;  /* 1: the setup was refused (cmd); 2: AUTH was refused (sub) */
    int sub_wanted;    /* this host needs its subscriptions connection */
    int nslots;        /* slots the map gives it (cluster); it serves all in single mode */
};

struct redis_engine {
    struct sss_engine base;
    const struct sss_cfg *cfg;
    struct sss_redis_target tmpl; /* --redis, or the first seed: credentials, TLS context */
    int cluster;                  /* --redis-cluster */
    struct rnode *nodes[SSS_REDIS_MAX_NODES]; /* owned; [0] is --redis in single mode */
    int nnodes;
    int max_nodes;                /* --redis-cluster-max-nodes */
    uint8_t owner[SSS_REDIS_SLOTS]; /* slot -> node index, NO_NODE until the map says */
    uint8_t kept[SSS_REDIS_SLOTS / 8]; /* flush_unsent's scratch: slots whose order holds */
    /* Commands of each slot in flight, and on which node: one of a slot goes
     * to another node only once none is in flight on the first (a MOVED
     * reply may still be on its way back for them), so the order holds. */
    uint16_t slot_inflight[SSS_REDIS_SLOTS];
    uint8_t slot_node[SSS_REDIS_SLOTS];
    int map_ok;          /* a CLUSTER SLOTS answer was read */
    int unserved;        /* slots the last map gave no node we serve them from */
    int64_t full_logged_ms; /* "more than --redis-cluster-max-nodes" was logged then */
    int refresh_wanted;  /* read the slot map again (a node lost, a redirection) */
    int refresh_inflight;
    int64_t refresh_at;  /* monotonic ms: no refresh before (one per REFRESH_MIN_MS) */
    int ctl_node;        /* the node whose subscriptions connection has the control channel */
    int reading;         /* the node whose replies are being read now, -1: none */
    int ctl_slot;
    int resub_wanted;    /* some wanted channel has no (S)SUBSCRIBE on any node */
    struct cmd_queue unsent;   /* waiting for their node's commands connection */
    struct sss_map chans;      /* name -> struct rchan (owned) */
    char sha_pub[41], sha_hist[41];
    char origin[200];  /* names this engine instance in the publish script's keys */
    uint64_t pub_seq;  /* seq of the last publish made (the script's idempotency key) */
    uint64_t cmd_order; /* of the last command made */
    char hist_size[16], hist_ttl[24];
    msgpack_sbuffer pack;
    size_t host_len;  /* strlen(cfg->host_id): compared with every envelope's origin */
    size_t nwaiting;  /* questions waiting for a channel to go live, over all channels */
    size_t nretry;    /* channels whose catch-up the tick must try again */
    int64_t err_logged_ms; /* refused commands are logged once a second at most */
};

#define NO_NODE 0xff
#define REFRESH_MIN_MS 200 /* between two CLUSTER SLOTS */
#define RETRY_MS 100       /* a command refused by TRYAGAIN or CLUSTERDOWN is sent again after */
#define UNSERVED_REFRESH_MS 1000 /* the map is read again this often while slots have no node */

static void cmd_conn_ready(struct redis_engine *re, struct rnode *nd);
static void flush_unsent(struct redis_engine *re);
static struct cmd *cmd_new(struct redis_engine *re, enum cmd_kind kind, int argc,
                           const char **argv, const size_t *lens);

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

static void q_init(struct cmd_queue *q)
{
    STAILQ_INIT(&q->q);
    q->n = 0;
}

static void q_push(struct cmd_queue *q, struct cmd *c)
{
    STAILQ_INSERT_TAIL(&q->q, c, link);
    q->n++;
}

static struct cmd *q_pop(struct cmd_queue *q)
{
    struct cmd *c = STAILQ_FIRST(&q->q);

    if (c) {
        STAILQ_REMOVE_HEAD(&q->q, link);
        q->n--;
    }
    return c;
}

/* Append what src holds to dst, in order; src is left empty. */
static void q_move(struct cmd_queue *dst, struct cmd_queue *src)
{
    STAILQ_CONCAT(&dst->q, &src->q);
    dst->n += src->n;
    src->n = 0;
}

static void cmd_free(struct cmd *c)
{
    if (c) {
        redisFreeCommand(c->resp);
        sss_free(c);
    }
}

static int key_of(char *buf, size_t cap, const char *chan, size_t len, const char *suffix)
{
    int n = snprintf(buf, cap, "sss:{%.*s}%s", (int)len, chan, suffix);

    return n > 0 && (size_t)n < cap ? n : -1;
}

/* ---- failing and answering ---- */

static void answer_failure(struct redis_engine *re, struct cmd *c, int rc)
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
static int route(const struct redis_engine *re, const struct cmd *c)
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
static int can_send(const struct redis_engine *re, const struct cmd *c, int n)
{
    return n >= 0 && re->nodes[n]->cmd_ready &&
           (c->slot < 0 || !re->slot_inflight[c->slot] || re->slot_node[c->slot] == n);
}

/* A command of nd is no longer in flight (answered, or its connection lost). */
static void slot_done(struct redis_engine *re, const struct cmd *c)
{
    if (c->slot >= 0 && re->slot_inflight[c->slot])
        re->slot_inflight[c->slot]--;
}

/* Write c on nd's commands connection (ready), after ASKING when an ASK sent it there. */
static int send_to(struct redis_engine *re, struct rnode *nd, struct cmd *c)
{
    if (c->ask_node >= 0) {
        static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
        struct cmd *a = sss_calloc(1, sizeof(*a));

        c->ask_node = -1;
        if (!a || sss_redis_conn_append(&nd->cmd, asking, sizeof(asking) - 1) < 0) {
            sss_free(a);
            answer_failure(re, c, -ENOMEM);
            cmd_free(c);
            return -ENOMEM;
        }
        a->kind = K_ASKING;
        a->slot = -1;
        q_push(&nd->inflight, a);
    }
    if (sss_redis_conn_append(&nd->cmd, c->resp, c->len) < 0) {
        answer_failure(re, c, -ENOMEM);
        cmd_free(c);
        return -ENOMEM;
    }
    q_push(&nd->inflight, c);
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
        lens[2] = (size_t)snprintf(ms, sizeof(ms), "%lld",
                                   (long long)(re->cfg->redis_wait_ms ? re->cfg->redis_wait_ms
                                                                      : 1000));
        w = cmd_new(re, K_WAIT, 3, argv, lens);
        if (!w || sss_redis_conn_append(&nd->cmd, w->resp, w->len) < 0) {
            cmd_free(w);
            return -ENOMEM; /* the publish is answered without waiting */
        }
        w->tag = c->tag;
        q_push(&nd->inflight, w);
    }
    return 0;
}

/*
 * Queue a command: sent now if its node is ready, else when it is (or
 * failed at its deadline). Behind anything already waiting, so that the
 * commands of a slot keep their order.
 */
static int send_cmd(struct redis_engine *re, struct cmd *c)
{
    int n = re->unsent.n ? -1 : route(re, c);

    if (!can_send(re, c, n)) {
        if (c->kind != K_CATCHUP && c->kind != K_SETUP && c->kind != K_SLOTS && c->kind != K_BUMP &&
            re->unsent.n >= (size_t)re->cfg->redis_queue) {
            answer_failure(re, c, SSS_EUNAVAIL);
            cmd_free(c);
            return SSS_EFULL;
        }
        q_push(&re->unsent, c);
        return 0;
    }
    return send_to(re, re->nodes[n], c);
}

/*
 * Send what waits and can go now, in order: a command stays behind an
 * earlier one of its slot that must still wait, so a channel's publishes
 * reach Redis in the order they were made.
 */
static void flush_unsent(struct redis_engine *re)
{
    struct cmd_queue keep;
    struct cmd *c;
    int64_t now = sss_now_ms();

    q_init(&keep);
    while ((c = q_pop(&re->unsent))) {
        int n = route(re, c), held = c->slot >= 0 && (re->kept[c->slot / 8] >> (c->slot % 8)) & 1;

        if (!held && can_send(re, c, n) && now >= c->not_before) {
            (void)send_to(re, re->nodes[n], c);
        } else {
            if (c->slot >= 0)
                re->kept[c->slot / 8] |= (uint8_t)(1u << (c->slot % 8));
            q_push(&keep, c);
        }
    }
    STAILQ_FOREACH(c, &keep.q, link)
    if (c->slot >= 0)
        re->kept[c->slot / 8] = 0;
    q_move(&re->unsent, &keep);
}

static struct cmd *cmd_new(struct redis_engine *re, enum cmd_kind kind, int argc,
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
static struct cmd *history_cmd(struct redis_engine *re, enum cmd_kind kind, const char *chan,
                               size_t len, const char *mode, const struct sss_uid *after)
{
    char key[SSS_PROTO_CHANNEL_MAX + 16], ubuf[SSS_PROTO_UID_BUF] = "0-0";
    const char *argv[7];
    size_t lens[7];
    int kl = key_of(key, sizeof(key), chan, len, ":h");
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
    c = cmd_new(re, kind, 7, argv, lens);
    if (c)
        c->slot = sss_redis_key_slot(key, (size_t)kl);
    return c;
}

/* ---- channels ---- */

static struct rchan *chan_get(struct redis_engine *re, const char *name, size_t len, int create)
{
    struct rchan *ch = sss_map_get(&re->chans, name, len);

    if (ch || !create || len == 0 || len > SSS_PROTO_CHANNEL_MAX)
        return ch;
    ch = sss_map_put_new(&re->chans, sizeof(*ch), offsetof(struct rchan, name), name, len);
    if (ch) {
        char key[SSS_PROTO_CHANNEL_MAX + 16];
        int kl = key_of(key, sizeof(key), name, len, "");

        ch->len = (uint32_t)len;
        ch->slot = kl > 0 ? sss_redis_key_slot(key, (size_t)kl) : 0;
        ch->node = -1;
        STAILQ_INIT(&ch->held);
        TAILQ_INIT(&ch->waiters);
    }
    return ch;
}

static void held_clear(struct rchan *ch)
{
    struct held *h;

    while ((h = STAILQ_FIRST(&ch->held))) {
        STAILQ_REMOVE_HEAD(&ch->held, link);
        sss_free(h);
    }
    ch->nheld = 0;
}

/* A channel and what it holds, its waiters dropped unanswered (sss_map_clear's free_fn). */
static void chan_free(void *val)
{
    struct rchan *ch = val;
    struct waiter *w;

    held_clear(ch);
    while ((w = TAILQ_FIRST(&ch->waiters))) {
        TAILQ_REMOVE(&ch->waiters, w, link);
        sss_free(w);
    }
    sss_free(ch);
}

/* Forget a channel nobody wants any more, once Redis has nothing pending for it. */
static void chan_maybe_forget(struct redis_engine *re, struct rchan *ch)
{
    if (ch->want || ch->inflight || ch->catching || !TAILQ_EMPTY(&ch->waiters))
        return;
    if (ch->retry_catchup)
        re->nretry--;
    held_clear(ch);
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
static void send_sub_cmd(struct redis_engine *re, struct rnode *nd, int on, const char *chan,
                         size_t len)
{
    const char *verb = re->cluster ? (on ? "SSUBSCRIBE" : "SUNSUBSCRIBE")
                                   : (on ? "SUBSCRIBE" : "UNSUBSCRIBE");
    char key[SSS_PROTO_CHANNEL_MAX + 16];
    const char *argv[2] = {verb, key};
    size_t lens[2] = {strlen(verb), 0};
    char *resp = NULL;
    int kl = key_of(key, sizeof(key), chan, len, ""), n;

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
 * node's subscriptions connection is up, else once it is (setup_sub_conn)
 * or once the slot map names the node (ensure_subs).
 */
static void chan_subscribe(struct redis_engine *re, struct rchan *ch)
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
    send_sub_cmd(re, nd, 1, ch->name, ch->len);
}

/* Subscribe what has no subscription yet: wanted channels, and the control channel. */
static void ensure_subs(struct redis_engine *re)
{
    struct sss_map_iter it;
    struct rchan *ch;
    int n;

    re->resub_wanted = 0;
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->want && ch->node < 0)
            chan_subscribe(re, ch);
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
            struct cmd *c = history_cmd(re, K_HISTORY, ch->name, ch->len,
                                        w->has_after ? "after" : "all", &w->after);

            if (!c) {
                k->hist_done(k->data, &w->tag, -ENOMEM, 1, 0, (struct sss_uid){0, 0});
            } else {
                c->tag = w->tag;
                c->has_after = w->has_after;
                c->after = w->after;
                (void)send_cmd(re, c);
            }
        }
        sss_free(w);
        re->nwaiting--;
    }
}

/* Redis confirmed our SUBSCRIBE: read the stream before feeding live envelopes. */
static void start_catchup(struct redis_engine *re, struct rchan *ch)
{
    /* First time: only where the channel stands. Coming back: everything
     * after what the host has (all of it if it had seen the channel empty). */
    const char *mode = ch->has_last ? "after" : ch->known ? "all" : "last";
    struct cmd *c = history_cmd(re, K_CATCHUP, ch->name, ch->len, mode,
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
    (void)send_cmd(re, c);
}

/* ---- replies on the commands connection ---- */

static int reply_uid(const redisReply *r, struct sss_uid *uid)
{
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        return SSS_EPROTO;
    return sss_proto_uid_parse(uid, r->str, r->len);
}

/* A history script's answer: {last, oldest, id, topic, msg, ...}. */
struct hist_answer {
    int has_last, has_oldest;
    struct sss_uid last, oldest;
    size_t nrec;
    redisReply **rec; /* 3 per record */
};

static int hist_parse(const redisReply *r, struct hist_answer *a)
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

static void on_history_reply(struct redis_engine *re, struct cmd *c, const redisReply *r)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct hist_answer a;
    int gap;

    if (hist_parse(r, &a) < 0) {
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
    int l1 = key_of(k1, sizeof(k1), ch->name, ch->len, ":h"),
        l2 = key_of(k2, sizeof(k2), ch->name, ch->len, ":e");
    const char *argv[6] = {"EVAL", LUA_BUMP, "2", k1, k2, ep};
    size_t lens[6] = {4, sizeof(LUA_BUMP) - 1, 1, (size_t)l1, (size_t)l2, 0};
    struct cmd *c;

    lens[5] = (size_t)snprintf(ep, sizeof(ep), "%llu", (unsigned long long)ch->last.epoch);
    c = l1 > 0 && l2 > 0 ? cmd_new(re, K_BUMP, 6, argv, lens) : NULL;
    if (!c) {
        sss_log_error("redis", "out of memory starting a new epoch of %s", ch->name);
        return;
    }
    c->slot = ch->slot;
    c->ch = ch;
    ch->catching++;
    ch->told++;
    (void)send_cmd(re, c);
}

/* The bump is done (or failed): read the channel afresh, as if new to the host. */
static void on_bump_reply(struct redis_engine *re, struct rchan *ch, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR)
        sss_log_error("redis", "channel %s: starting a new epoch failed: %.*s", ch->name,
                      (int)r->len, r->str);
    ch->catching--;
    ch->has_last = 0;
    ch->known = 0;
    if (ch->want && ch->subscribed)
        start_catchup(re, ch);
    else
        chan_maybe_forget(re, ch);
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
static void on_catchup_reply(struct redis_engine *re, struct cmd *c, const redisReply *r)
{
    struct rchan *ch = c->ch;
    int check = c->known && c->told == ch->told;
    struct hist_answer a;
    struct held *h;

    ch->catching--;
    if (hist_parse(r, &a) < 0) {
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
                     ch->name, (unsigned long long)a.last.epoch,
                     (unsigned long long)a.last.offset, (unsigned long long)c->after.epoch,
                     (unsigned long long)c->after.offset);
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
    chan_maybe_forget(re, ch);
}

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
static struct rnode *node_get(struct redis_engine *re, const char *host, int port,
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
    q_init(&nd->inflight);
    sss_redis_conn_init(&nd->cmd, "commands", &nd->target);
    sss_redis_conn_init(&nd->sub, "subscriptions", &nd->target);
    re->nodes[re->nnodes++] = nd;
    sss_redis_conn_maybe_connect(&nd->cmd, sss_now_ms());
    return nd;
}

/* Give slots start..end to nd (slot counts kept for ops->connected). */
static void slots_assign(struct redis_engine *re, int start, int end, struct rnode *nd)
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

static void on_slots_reply(struct redis_engine *re, struct rnode *nd, const redisReply *r)
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
        to = node_get(re, range_host(&rg[i], nd), rg[i].port, named);
        ids[i] = to ? to->id : -1;
        if (to)
            named[to->id] = 1;
    }
    slots_assign(re, 0, SSS_REDIS_SLOTS - 1, NULL);
    for (int i = 0; i < n; i++)
        slots_assign(re, rg[i].start, rg[i].end, ids[i] >= 0 ? re->nodes[ids[i]] : NULL);
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
        sss_log_warn("redis", "%d slots have no master in the map read from %s; reading it "
                              "again every second until they have",
                     unserved, nd->target.where);
    re->unserved = unserved;
    re->refresh_wanted = unserved > 0;
    if (unserved)
        re->refresh_at = sss_now_ms() + UNSERVED_REFRESH_MS;
    sss_free(rg);
    sss_free(ids);
    ensure_subs(re);
    flush_unsent(re);
}

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
        struct rnode *nd = node_get(re, host, port, NULL);

        if (!nd)
            return 0;
        if (ask) {
            c->ask_node = nd->id;
        } else {
            slots_assign(re, slot, slot, nd);
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

/* What came back for c from nd. Returns 1 when c was queued again (not freed by the caller). */
static int on_cmd_reply(struct redis_engine *re, struct rnode *nd, struct cmd *c,
                        const redisReply *r)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct sss_uid uid = {0, 0};

    if (c->kind == K_ASKING || (c->kind == K_WAIT && r->type == REDIS_REPLY_ERROR && !c->sent))
        return 0;
    if (c->kind == K_SLOTS) {
        on_slots_reply(re, nd, r);
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
            on_bump_reply(re, c->ch, r);
        else
            answer_failure(re, c,
                           r->len >= 7 && memcmp(r->str, "SSSGONE", 7) == 0 ? SSS_EUNKNOWN
                                                                           : SSS_EUNAVAIL);
        return 0;
    }
    switch (c->kind) {
    case K_SETUP:
        if (r->type == REDIS_REPLY_ERROR) {
            char why[200];

            snprintf(why, sizeof(why), "%.*s", (int)r->len, r->str);
            nd->setup_failed = 1; /* dropped after this batch of replies */
            sss_log_error("redis", "setting up the commands connection to %s: %s",
                          nd->target.where, why);
        } else if (--nd->setup_pending == 0 && !nd->setup_failed) {
            cmd_conn_ready(re, nd);
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
                sss_log_warn("redis", "a publish reached %lld replicas of %s, not %d "
                                      "(--redis-min-replicas): answered as unknown",
                             r->type == REDIS_REPLY_INTEGER ? (long long)r->integer : -1LL,
                             nd->target.where, re->cfg->redis_min_replicas);
                re->err_logged_ms = now;
            }
            k->published(k->data, &c->tag, SSS_EUNKNOWN, 0, c->uid);
        }
        break;
    case K_BUMP:
        on_bump_reply(re, c->ch, r);
        break;
    case K_LAST: {
        struct hist_answer a;

        if (hist_parse(r, &a) < 0)
            k->last_uid(k->data, &c->tag, SSS_EPROTO, 0, uid);
        else
            k->last_uid(k->data, &c->tag, 0, a.has_last, a.last);
        break;
    }
    case K_HISTORY:
        on_history_reply(re, c, r);
        break;
    case K_CATCHUP:
        if (r->type == REDIS_REPLY_ERROR)
            sss_log_error("redis", "catch-up failed: %.*s", (int)r->len, r->str);
        on_catchup_reply(re, c, r);
        break;
    case K_CONTROL:
    case K_SLOTS:
    case K_ASKING:
        break;
    }
    return 0;
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
    ch = chan_get(re, env.chan, env.chan_len, 0);
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
static void chan_unsubscribed(struct redis_engine *re, struct rchan *ch)
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
    to = node_get(re, host, port, NULL);
    if (to && !ask)
        slots_assign(re, slot, slot, to);
    re->refresh_wanted = 1;
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->node == nd->id && ch->slot == slot)
            chan_unsubscribed(re, ch);
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
        if (c->len == sizeof(CONTROL_CHANNEL) - 1 &&
            memcmp(c->str, CONTROL_CHANNEL, c->len) == 0)
            on_control_msg(re, p->str, p->len);
        else
            on_envelope(re, p->str, p->len);
        return;
    }
    if (chan_of(r->element[1], &name, &len) < 0 || len == 0 || name[0] == '!')
        return; /* the control channel's own confirmation */
    ch = chan_get(re, name, len, 0);
    if (!ch || ch->node != nd->id)
        return; /* from a node the channel has left */
    if (!ch->inflight && ch->want) {
        /* Redis dropped it by itself: its slot moved to another node
         * (resharding) or this node became a replica (failover). */
        sss_log_info("redis", "channel %s: %s dropped its subscription (slot moved); "
                              "resubscribing",
                     ch->name, nd->target.where);
        chan_unsubscribed(re, ch);
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
        start_catchup(re, ch);
    } else {
        ch->node = -1;
        ch->subscribed = 0;
        ch->live = 0;
        chan_maybe_forget(re, ch);
    }
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

static void setup_push(struct redis_engine *re, struct rnode *nd, struct cmd *c)
{
    (void)re;
    q_push(&nd->inflight, c);
    nd->setup_pending++;
    if (sss_redis_conn_append(&nd->cmd, c->resp, c->len) < 0)
        sss_log_error("redis", "out of memory setting up the commands connection");
}

/*
 * The node answered the whole setup: the commands that waited for it go
 * now, in order. Not before: a TLS 1.3 server refuses a client certificate
 * only after the client's handshake is done, and a wrong password only in
 * AUTH's reply, so a connection is not usable until something came back on
 * it. On a cluster, the first ready node is asked for the slot map.
 */
/* On a cluster, ask a node that answers for the slot map, if it is wanted and none is asked. */
static void maybe_refresh(struct redis_engine *re, int64_t now)
{
    static const char *argv[2] = {"CLUSTER", "SLOTS"};
    static const size_t lens[2] = {7, 5};
    struct cmd *c;
    int n;

    int stale = re->refresh_wanted || !re->map_ok;

    /* A master the map names that does not answer: perhaps a failover
     * promotes its replica; read the map until it says so. */
    for (int i = 0; i < re->nnodes && !stale; i++)
        stale = re->nodes[i]->nslots && !re->nodes[i]->cmd_ready;
    if (!re->cluster || !stale || re->refresh_inflight || now < re->refresh_at)
        return;
    c = cmd_new(re, K_SLOTS, 2, argv, lens);
    n = c ? route(re, c) : -1;
    if (n < 0) {
        cmd_free(c); /* no node answers yet: the next tick tries again */
        return;
    }
    re->refresh_inflight = 1;
    re->refresh_at = now + REFRESH_MIN_MS;
    (void)send_to(re, re->nodes[n], c);
}

static void cmd_conn_ready(struct redis_engine *re, struct rnode *nd)
{
    nd->cmd_ready = 1;
    maybe_refresh(re, sss_now_ms());
    flush_unsent(re);
}

static void setup_cmd_conn(struct redis_engine *re, struct rnode *nd)
{
    const char *argv[3];
    size_t lens[3];
    struct cmd *c;
    char db[16];

    /* The setup goes first, then whatever waited, in order. */
    if (nd->target.password[0]) {
        int n = auth_argv(&nd->target, argv, lens);

        if ((c = cmd_new(re, K_SETUP, n, argv, lens)))
            setup_push(re, nd, c);
    }
    if (!re->cluster) { /* a cluster has database 0 only */
        snprintf(db, sizeof(db), "%d", nd->target.db);
        argv[0] = "SELECT", lens[0] = 6;
        argv[1] = db, lens[1] = strlen(db);
        if ((c = cmd_new(re, K_SETUP, 2, argv, lens)))
            setup_push(re, nd, c);
    }
    argv[0] = "SCRIPT", lens[0] = 6;
    argv[1] = "LOAD", lens[1] = 4;
    argv[2] = SSS_REDIS_LUA_PUBLISH, lens[2] = strlen(SSS_REDIS_LUA_PUBLISH);
    if ((c = cmd_new(re, K_SETUP, 3, argv, lens)))
        setup_push(re, nd, c);
    argv[2] = SSS_REDIS_LUA_HISTORY, lens[2] = strlen(SSS_REDIS_LUA_HISTORY);
    if ((c = cmd_new(re, K_SETUP, 3, argv, lens)))
        setup_push(re, nd, c);
    if (!nd->setup_pending)
        cmd_conn_ready(re, nd); /* out of memory for all of it: the commands will say */
}

static void setup_sub_conn(struct redis_engine *re, struct rnode *nd)
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
    ensure_subs(re); /* the channels (and control) this node serves */
}

/* refused: the node rejected the connection's setup, so nothing after it ran. */
static void cmd_conn_lost_how(struct redis_engine *re, struct rnode *nd, const char *why,
                              int refused)
{
    struct cmd_queue resend;
    struct cmd *c;

    q_init(&resend);
    sss_redis_conn_lost(&nd->cmd, why, sss_now_ms());
    nd->cmd_ready = 0;
    nd->setup_pending = 0;
    if (re->cluster)
        re->refresh_wanted = 1; /* perhaps a failover: where are its slots now? */
    /* Reads are sent again, and so are publishes: the script answers one it
     * applied already with its uid (see the head comment). A broadcast or a
     * boot may or may not have been applied. */
    while ((c = q_pop(&nd->inflight))) {
        slot_done(re, c);
        if (!refused && c->kind == K_CONTROL) {
            answer_failure(re, c, SSS_EUNKNOWN);
            cmd_free(c);
        } else if (c->kind == K_WAIT && c->sent) {
            /* Applied, its replication unknown. */
            re->base.sink.published(re->base.sink.data, &c->tag, SSS_EUNKNOWN, 0, c->uid);
            cmd_free(c);
        } else if (c->kind == K_SETUP || c->kind == K_ASKING || c->kind == K_WAIT) {
            cmd_free(c); /* a publish sent again gets its WAIT again */
        } else {
            if (c->kind == K_PUBLISH && !refused) {
                c->sent = 1;
                c->deadline = sss_now_ms() + re->cfg->redis_wait_ms;
            }
            q_push(&resend, c);
        }
    }
    q_move(&resend, &re->unsent); /* behind what was sent already: the order stays */
    q_move(&re->unsent, &resend);
}

static void cmd_conn_lost(struct redis_engine *re, struct rnode *nd, const char *why)
{
    cmd_conn_lost_how(re, nd, why, 0);
}

static void sub_conn_lost(struct redis_engine *re, struct rnode *nd, const char *why)
{
    struct sss_map_iter it;
    struct rchan *ch;

    sss_redis_conn_lost(&nd->sub, why, sss_now_ms());
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->node == nd->id)
            chan_unsubscribed(re, ch);
    if (re->ctl_node == nd->id) {
        re->ctl_node = -1;
        re->resub_wanted = 1;
    }
    if (re->cluster)
        re->refresh_wanted = 1;
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
    int l1 = key_of(k1, sizeof(k1), chan, chan_len, ":h"),
        l2 = key_of(k2, sizeof(k2), chan, chan_len, ":e"),
        l3 = key_of(k3, sizeof(k3), chan, chan_len, ""),
        l4 = key_of(k4, sizeof(k4), chan, chan_len, ":o");

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
    c = cmd_new(re, K_PUBLISH, 15, argv, lens);
    if (!c) {
        e->sink.published(e->sink.data, tag, -ENOMEM, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    c->slot = sss_redis_key_slot(k1, (size_t)l1);
    if (re->cfg->redis_wait_ms == 0 &&
        (re->unsent.n || !can_send(re, c, route(re, c)))) {
        answer_failure(re, c, SSS_EUNAVAIL);
        cmd_free(c);
        return;
    }
    (void)send_cmd(re, c);
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
    struct rchan *ch = chan_get(re, chan, chan_len, 0);
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
    c = history_cmd(re, K_LAST, chan, chan_len, "last", NULL);
    if (!c) {
        e->sink.last_uid(e->sink.data, tag, -ENOMEM, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    (void)send_cmd(re, c);
}

static void redis_history(struct sss_engine *e, const struct sss_engine_tag *tag,
                          const char *chan, size_t chan_len, int has_after, struct sss_uid after)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = chan_get(re, chan, chan_len, 0);
    struct cmd *c;

    if (ch && ch->want && !ch->live) {
        wait_live(re, ch, K_HISTORY, tag, has_after, after);
        return;
    }
    c = history_cmd(re, K_HISTORY, chan, chan_len, has_after ? "after" : "all", &after);
    if (!c) {
        e->sink.hist_done(e->sink.data, tag, -ENOMEM, 1, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    c->has_after = has_after;
    c->after = after;
    (void)send_cmd(re, c);
}

static void redis_interest(struct sss_engine *e, const char *chan, size_t chan_len, int on)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = chan_get(re, chan, chan_len, on);

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
        held_clear(ch);
        if (ch->node >= 0 && re->nodes[ch->node]->sub.state == SSS_REDIS_UP) {
            ch->inflight++;
            send_sub_cmd(re, re->nodes[ch->node], 0, chan, chan_len);
        } else {
            ch->node = -1;
        }
    } else {
        chan_subscribe(re, ch);
    }
    chan_maybe_forget(re, ch);
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
    c = cmd_new(re, K_CONTROL, 3, argv, lens);
    if (!c)
        return -ENOMEM;
    c->slot = re->ctl_slot;
    if (re->unsent.n >= (size_t)re->cfg->redis_queue) {
        cmd_free(c);
        return SSS_EUNAVAIL;
    }
    return send_cmd(re, c);
}

/* Commands and questions that waited too long for Redis fail now. */
static void expire_waiting(struct redis_engine *re, int64_t now)
{
    struct cmd_queue keep;
    struct sss_map_iter it;
    struct rchan *ch;
    struct cmd *c;

    q_init(&keep);
    while ((c = q_pop(&re->unsent))) {
        if (c->kind != K_CATCHUP && c->kind != K_BUMP && now >= c->deadline) {
            answer_failure(re, c, c->sent ? SSS_EUNKNOWN : SSS_EUNAVAIL);
            cmd_free(c);
        } else {
            q_push(&keep, c);
        }
    }
    q_move(&re->unsent, &keep);
    if (!re->nwaiting && !re->nretry)
        return; /* the usual case: no channel to visit */
    /* Nothing below adds or forgets a channel: the sink's callbacks only
     * queue answers for the workers. */
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));) {
        struct waiter *w, *next;

        if (ch->retry_catchup && ch->want && ch->subscribed && !ch->catching)
            start_catchup(re, ch);
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
            cmd_conn_lost(re, nd, why);
        if ((why = sss_redis_conn_overdue(&nd->sub, now)))
            sub_conn_lost(re, nd, why);
        sss_redis_conn_maybe_connect(&nd->cmd, now);
        if (nd->sub_wanted)
            sss_redis_conn_maybe_connect(&nd->sub, now);
    }
    maybe_refresh(re, now);
    if (re->resub_wanted)
        ensure_subs(re);
    expire_waiting(re, now);
}

static int redis_pollfds(struct sss_engine *e, struct pollfd *pfd, int cap)
{
    struct redis_engine *re = (struct redis_engine *)e;
    int n = 0;

    if (re->unsent.n)
        flush_unsent(re);
    /* Write what this turn queued (pipelined), then wait for the rest. */
    for (int i = 0; i < re->nnodes; i++) {
        struct rnode *nd = re->nodes[i];

        if (nd->cmd.state == SSS_REDIS_UP && sss_redis_conn_flush(&nd->cmd) < 0)
            cmd_conn_lost(re, nd, "write failed");
        if (nd->sub.state == SSS_REDIS_UP && sss_redis_conn_flush(&nd->sub) < 0)
            sub_conn_lost(re, nd, "write failed");
        if (n < cap && sss_redis_conn_pollfd(&nd->cmd, &pfd[n]))
            n++;
        if (n < cap && sss_redis_conn_pollfd(&nd->sub, &pfd[n]))
            n++;
    }
    return n;
}

static void drain_cmd_replies(struct redis_engine *re, struct rnode *nd)
{
    redisReply *r;
    int rc;

    while ((rc = sss_redis_conn_reply(&nd->cmd, &r)) == 1) {
        struct cmd *c = STAILQ_FIRST(&nd->inflight.q);

        if (c && c->kind == K_PUBLISH && SSS_FAULT_HIT("redis.publish.reply-lost")) {
            /* The test's fault: the connection breaks just before this
             * publish's reply could be read (it was applied). */
            freeReplyObject(r);
            cmd_conn_lost(re, nd, "fault injected: publish reply lost");
            return;
        }
        c = q_pop(&nd->inflight);
        if (c)
            slot_done(re, c);
        if (!c) {
            sss_log_error("redis", "a reply nobody asked for from %s", nd->target.where);
            freeReplyObject(r);
            cmd_conn_lost(re, nd, "out of step with Redis");
            return;
        }
        if (!on_cmd_reply(re, nd, c, r))
            cmd_free(c);
        freeReplyObject(r);
        if (nd->setup_failed) {
            nd->setup_failed = 0;
            cmd_conn_lost_how(re, nd, "Redis refused the connection's setup (password? database?)",
                              1);
            return;
        }
    }
    if (rc < 0)
        cmd_conn_lost(re, nd, "unreadable reply");
}

static void drain_sub_replies(struct redis_engine *re, struct rnode *nd)
{
    redisReply *r;
    int rc;

    while ((rc = sss_redis_conn_reply(&nd->sub, &r)) == 1) {
        on_sub_reply(re, nd, r);
        freeReplyObject(r);
        if (nd->setup_failed == 2) {
            nd->setup_failed = 0;
            sub_conn_lost(re, nd, "Redis refused the subscriptions connection (password?)");
            return;
        }
    }
    if (rc < 0)
        sub_conn_lost(re, nd, "unreadable reply");
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
                setup_cmd_conn(re, nd);
            else
                setup_sub_conn(re, nd);
        } else if (rc < 0) {
            if (is_cmd)
                cmd_conn_lost(re, nd, sss_strerror(rc));
            else
                sub_conn_lost(re, nd, sss_strerror(rc));
            continue;
        }
        re->reading = nd->id;
        if (is_cmd)
            drain_cmd_replies(re, nd);
        else
            drain_sub_replies(re, nd);
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

    while ((c = q_pop(&re->unsent)))
        cmd_free(c);
    for (int i = 0; i < re->nnodes; i++) {
        struct rnode *nd = re->nodes[i];

        while ((c = q_pop(&nd->inflight)))
            cmd_free(c);
        sss_redis_conn_fini(&nd->cmd);
        sss_redis_conn_fini(&nd->sub);
        sss_free(nd);
    }
    sss_map_clear(&re->chans, chan_free);
    sss_redis_target_fini(&re->tmpl);
    msgpack_sbuffer_destroy(&re->pack);
    sss_free(re);
}

static const struct sss_engine_ops redis_ops = {
    .name = "redis",
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
    q_init(&re->unsent);
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
        struct rnode *nd = node_get(re, re->tmpl.host, sss_redis_target_port(&re->tmpl), NULL);

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
            (void)node_get(re, t.host, sss_redis_target_port(&t), NULL);
    }
    sss_log_info("redis", "engine on the Redis Cluster of %s%s (%d seeds)%s%s (history %u "
                          "messages, ttl %lld ms): sharded pub/sub",
                 re->tmpl.tls ? "rediss://" : "", re->tmpl.where, re->nnodes,
                 re->tmpl.user[0] ? " as " : "", re->tmpl.user, limits->history_size,
                 (long long)limits->history_ttl_ms);
    return &re->base;
}
