/*
 * Internal to the Redis engine (sss_engine_redis.c, sss_redis_cmds.c,
 * sss_redis_nodes.c, sss_redis_chans.c): its state (struct redis_engine,
 * its nodes, channels and commands) and the functions the four files share,
 * named sss_redis__*. Nothing outside those files includes it; the engine's
 * contract is sss_engine.h, and sss_engine_redis.c's head tells the design.
 */
#ifndef SSS_REDIS_ENGINE_H
#define SSS_REDIS_ENGINE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sss_engine.h"
#include "sss_map.h"
#include "sss_redis_conn.h"
#include "sss_redis_slots.h"

struct sss_cfg;

#define CONTROL_CHANNEL "sss:{!ctl}" /* broadcast and boot records of every host */

/* ---- the engine's state ---- */

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
    struct rchan *ch;   /* K_CATCHUP, K_BUMP */
    struct sss_uid uid; /* K_WAIT: the publish's uid, answered once replicas have it */
    int has_after;      /* K_HISTORY, K_CATCHUP: read after this uid */
    struct sss_uid after;
    int known;          /* K_CATCHUP: the channel had been live when it was asked */
    unsigned told;      /* K_CATCHUP: the channel's `told` when it was asked */
    int64_t deadline;   /* monotonic ms: waiting for the connection ends here */
    int sent;           /* K_PUBLISH: sent once already, so perhaps applied */
    int slot;           /* hash slot of its keys, -1: any node (K_SLOTS) */
    uint64_t order;     /* when it was made: a redirected one goes back before younger ones */
    int ask_node;       /* >= 0: sent once to that node after ASKING (an ASK redirection) */
    int64_t not_before; /* monotonic ms: a retry (TRYAGAIN, CLUSTERDOWN) waits until then */
    char *resp;         /* from redisFormatCommandArgv */
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
    int slot;          /* of its keys */
    int node;          /* the node its (S)SUBSCRIBE went to, -1: none */
    int want;          /* the host has subscribers */
    int inflight;      /* SUBSCRIBE/UNSUBSCRIBE sent, not yet confirmed */
    int subscribed;    /* Redis confirmed the last SUBSCRIBE (and no UNSUBSCRIBE since) */
    int catching;      /* catch-up reads in flight */
    int retry_catchup; /* the last catch-up failed: the tick tries again */
    int live;          /* feeds flow */
    int known;         /* it was live once: what the host has is known (has_last 0: nothing) */
    int has_last;      /* last: the newest uid fed to the host (or read when it became live) */
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
    int id;                         /* index in re->nodes */
    struct sss_redis_target target; /* its ssl_ctx is borrowed from re->tmpl */
    struct sss_redis_conn cmd, sub;
    struct cmd_queue inflight; /* sent on cmd, reply pending, in order */
    int cmd_ready;             /* cmd is up and the node answered its setup */
    int setup_pending;         /* setup commands (AUTH, SELECT, SCRIPT LOAD) not answered yet */
    int setup_failed;          /* 1: the setup was refused (cmd); 2: AUTH was refused (sub) */
    int sub_wanted;            /* this host needs its subscriptions connection */
    int nslots;                /* slots the map gives it (cluster); it serves all in single mode */
};

struct redis_engine {
    struct sss_engine base;
    const struct sss_cfg *cfg;
    struct sss_redis_target tmpl; /* --redis, or the first seed: credentials, TLS context */
    int cluster;                  /* --redis-cluster */
    struct rnode *nodes[SSS_REDIS_MAX_NODES]; /* owned; [0] is --redis in single mode */
    int nnodes;
    int max_nodes;                  /* --redis-cluster-max-nodes */
    uint8_t owner[SSS_REDIS_SLOTS]; /* slot -> node index, NO_NODE until the map says */
    /* sss_redis__flush_unsent's scratch: slots whose order holds */
    uint8_t kept[SSS_REDIS_SLOTS / 8];
    /* Commands of each slot in flight, and on which node: one of a slot goes
     * to another node only once none is in flight on the first (a MOVED
     * reply may still be on its way back for them), so the order holds. */
    uint16_t slot_inflight[SSS_REDIS_SLOTS];
    uint8_t slot_node[SSS_REDIS_SLOTS];
    int map_ok;             /* a CLUSTER SLOTS answer was read */
    int unserved;           /* slots the last map gave no node we serve them from */
    int64_t full_logged_ms; /* "more than --redis-cluster-max-nodes" was logged then */
    int refresh_wanted;     /* read the slot map again (a node lost, a redirection) */
    int refresh_inflight;
    int64_t refresh_at; /* monotonic ms: no refresh before (one per REFRESH_MIN_MS) */
    int ctl_node;       /* the node whose subscriptions connection has the control channel */
    int reading;        /* the node whose replies are being read now, -1: none */
    int ctl_slot;
    int resub_wanted;        /* some wanted channel has no (S)SUBSCRIBE on any node */
    struct cmd_queue unsent; /* waiting for their node's commands connection */
    struct sss_map chans;    /* name -> struct rchan (owned) */
    char sha_pub[41], sha_hist[41];
    char origin[200];   /* names this engine instance in the publish script's keys */
    uint64_t pub_seq;   /* seq of the last publish made (the script's idempotency key) */
    uint64_t cmd_order; /* of the last command made */
    char hist_size[16], hist_ttl[24];
    msgpack_sbuffer pack;
    size_t host_len;       /* strlen(cfg->host_id): compared with every envelope's origin */
    size_t nwaiting;       /* questions waiting for a channel to go live, over all channels */
    size_t nretry;         /* channels whose catch-up the tick must try again */
    int64_t err_logged_ms; /* refused commands are logged once a second at most */
};

#define NO_NODE 0xff

/* A history script's answer: {last, oldest, id, topic, msg, ...}. */
struct hist_answer {
    int has_last, has_oldest;
    struct sss_uid last, oldest;
    size_t nrec;
    redisReply **rec; /* 3 per record */
};

/* ---- sss_redis_cmds.c: the command queue ---- */

static inline void sss_redis__q_init(struct cmd_queue *q)
{
    STAILQ_INIT(&q->q);
    q->n = 0;
}

static inline void sss_redis__q_push(struct cmd_queue *q, struct cmd *c)
{
    STAILQ_INSERT_TAIL(&q->q, c, link);
    q->n++;
}

static inline struct cmd *sss_redis__q_pop(struct cmd_queue *q)
{
    struct cmd *c = STAILQ_FIRST(&q->q);

    if (c) {
        STAILQ_REMOVE_HEAD(&q->q, link);
        q->n--;
    }
    return c;
}

/* Append what src holds to dst, in order; src is left empty. */
static inline void sss_redis__q_move(struct cmd_queue *dst, struct cmd_queue *src)
{
    STAILQ_CONCAT(&dst->q, &src->q);
    dst->n += src->n;
    src->n = 0;
}

void sss_redis__cmd_free(struct cmd *c);
/* "sss:{chan}suffix" into buf: its length, or -1 if it does not fit. */
int sss_redis__key_of(char *buf, size_t cap, const char *chan, size_t len, const char *suffix);
/* A command of `kind` (RESP of argv) for any node (slot -1), due within --redis-wait; NULL:
 * no memory. */
struct cmd *sss_redis__cmd_new(struct redis_engine *re, enum cmd_kind kind, int argc,
                               const char **argv, const size_t *lens);
/* EVALSHA the history script for chan. mode: "last", "all" or "after". */
struct cmd *sss_redis__history_cmd(struct redis_engine *re, enum cmd_kind kind, const char *chan,
                                   size_t len, const char *mode, const struct sss_uid *after);
/* c failed with rc: whoever waits for it is told (K_SLOTS: the map is asked again). c stays
 * the caller's. */
void sss_redis__answer_failure(struct redis_engine *re, struct cmd *c, int rc);
/* The node a command goes to now (-1: none known yet). */
int sss_redis__route(const struct redis_engine *re, const struct cmd *c);
/* Whether c may go to node n now: ready, and no command of its slot in flight elsewhere. */
int sss_redis__can_send(const struct redis_engine *re, const struct cmd *c, int n);
/* A command is no longer in flight (answered, or its connection lost). */
void sss_redis__slot_done(struct redis_engine *re, const struct cmd *c);
/* Write c on nd's commands connection (ready), after ASKING when an ASK sent it there. 0, or
 * -ENOMEM: c was answered and freed (or only the WAIT behind a publish is missing). */
int sss_redis__send_to(struct redis_engine *re, struct rnode *nd, struct cmd *c);
/* Queue c: sent now if its node is ready, else when it is (or failed at its deadline). 0, or
 * SSS_EFULL (c answered SSS_EUNAVAIL and freed), or sss_redis__send_to's -ENOMEM. */
int sss_redis__send_cmd(struct redis_engine *re, struct cmd *c);
/* Send what waits in re->unsent and can go now, in order. */
void sss_redis__flush_unsent(struct redis_engine *re);
/* Read what came back on nd's commands connection and answer it. */
void sss_redis__drain_cmd_replies(struct redis_engine *re, struct rnode *nd);

/* ---- sss_redis_nodes.c: nodes, the slot map, connections ---- */

/* The node at host:port, added if new (NULL: no room, or it does not resolve). */
struct rnode *sss_redis__node_get(struct redis_engine *re, const char *host, int port,
                                  const uint8_t *named);
/* Give slots start..end to nd (NULL: to no node). */
void sss_redis__slots_assign(struct redis_engine *re, int start, int end, struct rnode *nd);
/* A CLUSTER SLOTS answer from nd: the new slot map. */
void sss_redis__on_slots_reply(struct redis_engine *re, struct rnode *nd, const redisReply *r);
/* On a cluster, ask a node that answers for the slot map, if it is wanted and none is asked. */
void sss_redis__maybe_refresh(struct redis_engine *re, int64_t now);
/* nd answered its whole setup: what waited for it goes now. */
void sss_redis__cmd_conn_ready(struct redis_engine *re, struct rnode *nd);
/* nd's commands connection is up: AUTH, SELECT, SCRIPT LOAD go first. Its subscriptions
 * connection is up: AUTH, then the channels (and control) it serves. */
void sss_redis__setup_cmd_conn(struct redis_engine *re, struct rnode *nd);
void sss_redis__setup_sub_conn(struct redis_engine *re, struct rnode *nd);
/* nd's commands connection is lost (refused: its setup was rejected); what was in flight
 * goes back to re->unsent or is answered. */
void sss_redis__cmd_conn_lost_how(struct redis_engine *re, struct rnode *nd, const char *why,
                                  int refused);
void sss_redis__cmd_conn_lost(struct redis_engine *re, struct rnode *nd, const char *why);
/* nd's subscriptions connection is lost: its channels subscribe again where their slot is. */
void sss_redis__sub_conn_lost(struct redis_engine *re, struct rnode *nd, const char *why);

/* ---- sss_redis_chans.c: channels, catch-up, history, envelopes ---- */

/* The channel of that name, made if create and new. NULL: unknown (create 0), no memory, or
 * an empty or too long name. */
struct rchan *sss_redis__chan_get(struct redis_engine *re, const char *name, size_t len,
                                  int create);
void sss_redis__held_clear(struct rchan *ch);
/* A channel and what it holds, its waiters dropped unanswered (sss_map_clear's free_fn). */
void sss_redis__chan_free(void *val);
/* Forget a channel nobody wants any more, once Redis has nothing pending for it. */
void sss_redis__chan_maybe_forget(struct redis_engine *re, struct rchan *ch);
/* (S)SUBSCRIBE (on 1) or (S)UNSUBSCRIBE chan on nd's subscriptions connection. */
void sss_redis__send_sub_cmd(struct redis_engine *re, struct rnode *nd, int on, const char *chan,
                             size_t len);
/* Subscribe a wanted channel on the node that serves its slot, now or once it can. */
void sss_redis__chan_subscribe(struct redis_engine *re, struct rchan *ch);
/* Subscribe what has no subscription yet: wanted channels, and the control channel. */
void sss_redis__ensure_subs(struct redis_engine *re);
/* Read the stream of a channel Redis confirmed, before feeding live envelopes. */
void sss_redis__start_catchup(struct redis_engine *re, struct rchan *ch);
/* A channel of nd is not subscribed there any more: subscribe it where its slot is now. */
void sss_redis__chan_unsubscribed(struct redis_engine *re, struct rchan *ch);
/* The replies of the history script (K_LAST reads hist_parse's answer), of a K_HISTORY,
 * of a K_BUMP and of a K_CATCHUP. */
int sss_redis__hist_parse(const redisReply *r, struct hist_answer *a);
void sss_redis__on_history_reply(struct redis_engine *re, struct cmd *c, const redisReply *r);
void sss_redis__on_bump_reply(struct redis_engine *re, struct rchan *ch, const redisReply *r);
void sss_redis__on_catchup_reply(struct redis_engine *re, struct cmd *c, const redisReply *r);
/* Read what came on nd's subscriptions connection: envelopes, control records, confirmations. */
void sss_redis__drain_sub_replies(struct redis_engine *re, struct rnode *nd);

#endif
