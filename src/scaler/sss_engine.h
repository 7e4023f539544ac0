/*
 * The scaler's engine: the host's sequencer and its door to the other hosts.
 *
 * It gives every publish its uid, keeps a bounded history per channel
 * (--history-size messages, --history-ttl age; the memory engine also
 * bounds the whole host's history in bytes, --history-memory), answers "everything after
 * uid X, or gap", and delivers every message of the channels this host is
 * interested in back to the scaler (sink->feed), which puts it on the bus.
 * Two implementations sit behind this table: `memory` (sss_engine_mem.c,
 * one host, nothing else to run) and `redis` (sss_engine_redis.c: streams
 * and pub/sub, any number of hosts).
 *
 * Every call returns at once; its answer reaches the sink, either before the
 * call returns (memory) or later from ops->handle (redis, once Redis
 * answers). Each question carries a tag that comes back untouched with its
 * answer, so the scaler allocates nothing per request.
 *
 * Uids: (epoch, offset). Offsets grow by one per message of a channel within
 * an epoch, from 1; a channel that the engine forgot (expired, or its stream
 * was lost) starts a new epoch, never smaller than any epoch it gave before,
 * so a uid is never reused for another message of a channel. Feeds of one
 * channel reach the sink in uid order, each once.
 */
#ifndef SSS_ENGINE_H
#define SSS_ENGINE_H

#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sss_err.h"
#include "sss_proto.h"

/* One message of a channel, as stored in history. Lent to callbacks. */
struct sss_engine_msg {
    struct sss_uid uid;
    const char *topic;
    size_t topic_len;
    const char *msg; /* raw JSON text */
    size_t msg_len;
    int64_t time_ms; /* wall clock when published */
};

/* Who asked, carried untouched to the answer. */
struct sss_engine_tag {
    int32_t worker; /* the asking worker; -1: the HTTP API (req is its ticket) */
    uint32_t flags; /* SSS_HM_* flags of a publish */
    uint64_t req;   /* the worker's request id, or the API's ticket */
    uint64_t conn;  /* a publish's origin connection (skip-sender), 0: none */
};

/* Where answers and deliveries go (the scaler). All calls on the scaler's thread. */
struct sss_engine_sink {
    void *data;
    /* A publish got its uid (rc 0), or failed: SSS_ELIMIT (a channel limit),
     * -ENOMEM, SSS_EUNAVAIL (the engine's service is away: not published),
     * SSS_EUNKNOWN (it went away mid-call: perhaps published). created: this
     * publish created its channel (counted against its connection's
     * --max-client-channels-per-conn; always 0 from the redis engine). */
    void (*published)(void *data, const struct sss_engine_tag *tag, int rc, int created,
                      struct sss_uid uid);
    /* The newest uid of a channel (has 0: empty). Every message after it
     * reaches feed afterwards, for as long as the host is interested. */
    void (*last_uid)(void *data, const struct sss_engine_tag *tag, int rc, int has,
                     struct sss_uid uid);
    /* A history answer: records in uid order, then done. gap: messages
     * after `after` are no longer all in history. last: the newest uid. */
    void (*hist_record)(void *data, const struct sss_engine_tag *tag,
                        const struct sss_engine_msg *m);
    void (*hist_done)(void *data, const struct sss_engine_tag *tag, int rc, int gap,
                      int has_last, struct sss_uid last);
    /* A message of a channel for this host's bus. origin is the publish's
     * tag when this host published it (its worker gets UPDATESUB), else NULL. */
    void (*feed)(void *data, const char *chan, size_t chan_len, const struct sss_engine_msg *m,
                 const struct sss_engine_tag *origin);
    /* A host-wide record (broadcast, boot) sent by any host, this one included;
     * also SSS_HM_GAP_RECORD (the channel's name) from the engine itself when
     * this host missed messages of a channel that are no longer in history. */
    void (*control)(void *data, uint32_t type, const void *p, size_t len);
};

struct sss_engine_limits {
    uint32_t history_size;  /* messages kept per channel (0: none) */
    int64_t history_ttl_ms; /* age after which a message leaves history (0: never) */
    uint32_t max_channels;  /* channels created by the application or the API, at once */
    uint32_t max_client_channels; /* channels created by clients' PUBLISH, at once */
    uint64_t history_memory; /* bytes of the host's history (memory engine; 0: no bound) */
};

/*
 * Channel tags of a publish (struct sss_engine_tag flags, besides SSS_HM_*):
 * SSS_HM_FROM_CLIENT a client's PUBLISH: a channel it creates counts against
 * max_client_channels, not max_channels; SSS_HM_NO_CREATE its connection may
 * create no more channels: a publish to a channel not remembered fails with
 * SSS_ELIMIT. Both are defined in sss_hostmsg.h, as they cross the mailbox.
 */

/* What the engine holds and what its limits cost, for /metrics. Kept by the
 * memory engine; the redis engine's history is in Redis and these stay 0. */
struct sss_engine_stats {
    uint64_t history_bytes;    /* bytes of history held now (messages and channel bookkeeping) */
    uint64_t channels;         /* channels remembered now */
    uint64_t client_channels;  /* of which created by clients */
    uint64_t trimmed_messages; /* messages that left history early to stay under history_memory */
    uint64_t trimmed_bytes;    /* their bytes */
    uint64_t trimmed_channels; /* channels forgotten because that left them empty */
    uint64_t channels_refused; /* publishes refused by a channel limit */
};

struct sss_engine;

/* What an engine is (ops->traits): the scaler asks these, never its name. */
/* It reaches every host: a TELL to a socket of another host goes through it
 * (without, such a socket is nobody's). */
#define SSS_ENGINE_HOSTS 0x1u
/* Its history outlives the scaler (the workers' SSS_SHM_ENGINE_OUTLIVES). */
#define SSS_ENGINE_OUTLIVES 0x2u

struct sss_engine_ops {
    const char *name; /* as --engine names it */
    unsigned traits;  /* SSS_ENGINE_* */
    /* Give a message of chan its uid, keep it in history, deliver it to
     * every interested host. Answer: sink->published. */
    void (*publish)(struct sss_engine *e, const struct sss_engine_tag *tag, const char *chan,
                    size_t chan_len, const char *topic, size_t topic_len, const char *msg,
                    size_t msg_len);
    /* The newest uid of chan. Answer: sink->last_uid. */
    void (*last_uid)(struct sss_engine *e, const struct sss_engine_tag *tag, const char *chan,
                     size_t chan_len);
    /* Everything after `after` (has_after 0: from the start of the channel's
     * current epoch), or gap. Answer: sink->hist_record..., sink->hist_done. */
    void (*history)(struct sss_engine *e, const struct sss_engine_tag *tag, const char *chan,
                    size_t chan_len, int has_after, struct sss_uid after);
    /* This host now has subscribers to chan (on 1) or none left (on 0).
     * May be NULL (the engine feeds every channel). */
    void (*interest)(struct sss_engine *e, const char *chan, size_t chan_len, int on);
    /* A host-wide record for every host (sink->control on each). */
    int (*control)(struct sss_engine *e, uint32_t type, const void *p, size_t len);
    /* Expire history, retry connections, time out waiting publishes. About once a second. */
    void (*tick)(struct sss_engine *e, int64_t now_wall_ms);
    /* The fds the engine waits on (at most cap), for the scaler's poll; then
     * ops->handle with the same entries. May be NULL. */
    int (*pollfds)(struct sss_engine *e, struct pollfd *pfd, int cap);
    void (*handle)(struct sss_engine *e, const struct pollfd *pfd, int n);
    /* Whether the engine's service answers (always 1 for memory). */
    int (*connected)(struct sss_engine *e);
    void (*destroy)(struct sss_engine *e);
};

struct sss_engine {
    const struct sss_engine_ops *ops;
    struct sss_engine_sink sink;
    struct sss_engine_stats stats;
};

/*
 * The in-memory engine. now_wall_ms seeds the first epoch. epoch_floor
 * (borrowed, may be NULL) is a word that outlives the engine, in shared
 * memory: every epoch given is stored there, and none is ever at or below
 * the one found there, so a restarted scaler never goes back to a smaller
 * epoch even if the wall clock did. NULL on ENOMEM.
 */
struct sss_engine *sss_engine_mem_create(const struct sss_engine_limits *limits,
                                         const struct sss_engine_sink *sink,
                                         int64_t now_wall_ms, _Atomic uint64_t *epoch_floor);

struct sss_cfg;

/*
 * The Redis engine (--engine redis): uids and history in one stream per
 * channel, delivery by pub/sub, on two connections of its own (commands and
 * subscriptions), reconnected with backoff; with --redis-cluster, two per
 * master of the cluster that this host needs, and sharded pub/sub. NULL
 * with *err set (SSS_EINVAL: a bad --redis URL or --redis-cluster seed,
 * -ENOMEM). It connects in the background: a publish
 * made before it is connected waits (--redis-wait, --redis-queue).
 */
struct sss_engine *sss_engine_redis_create(const struct sss_cfg *cfg,
                                           const struct sss_engine_limits *limits,
                                           const struct sss_engine_sink *sink, int *err);

struct sss_redis_target;

/*
 * Check --redis-cluster's seed list (host:port or redis[s]:// URLs, comma
 * separated; database 0; not mixing TLS and plain): 0 with the first seed
 * in *first (no TLS context made), or SSS_EINVAL with a sentence in why.
 */
int sss_engine_redis_check_seeds(const char *list, int max_nodes,
                                 struct sss_redis_target *first, char *why, size_t cap);

/* The ceiling of --redis-cluster-max-nodes, the Redis servers the redis
 * engine talks to at most (--redis-cluster's seeds and masters; a master
 * beyond the flag is logged and its slots stay unserved): a slot's owner is
 * one byte, 0xff meaning none. */
#define SSS_REDIS_MAX_NODES 250

/* Max pollfds an engine uses: two connections per Redis node. */
#define SSS_ENGINE_MAX_POLLFDS (2 * SSS_REDIS_MAX_NODES)

#endif
