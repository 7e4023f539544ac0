/*
 * The scaler's engine: the host's sequencer and its door to the other hosts.
 *
 * It gives every publish its uid, keeps a bounded history per channel
 * (--history-size messages, --history-ttl age) and answers "everything after
 * uid X, or gap". Two implementations sit behind this table: `memory`
 * (sss_engine_mem.c, one host, nothing else to run) and `redis` (next issue:
 * streams and pub/sub). Calls complete through callbacks so that an engine
 * that waits on the network fits the same shape; the memory engine calls
 * them before returning.
 *
 * Uids: (epoch, offset). Offsets grow by one per message of a channel within
 * an epoch; a channel that the engine forgot (expired, or the scaler
 * restarted) starts a new epoch, never smaller than any epoch it gave
 * before, so a uid is never reused for another message of a channel.
 */
#ifndef SSS_ENGINE_H
#define SSS_ENGINE_H

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

/* A history answer: called once per record (in uid order), then done. */
struct sss_engine_history_cb {
    void (*record)(void *data, const struct sss_engine_msg *m);
    /* gap: messages after `after` are no longer all in history.
     * last: the channel's newest uid (valid when has_last). */
    void (*done)(void *data, int rc, int gap, int has_last, struct sss_uid last);
    void *data;
};

struct sss_engine_limits {
    uint32_t history_size;  /* messages kept per channel (0: none) */
    int64_t history_ttl_ms; /* age after which a message leaves history (0: never) */
    uint32_t max_channels;  /* channels remembered at once */
};

struct sss_engine;

struct sss_engine_ops {
    const char *name;
    /* Assign a uid to a message of channel and keep it in history. */
    int (*publish)(struct sss_engine *e, const char *chan, size_t chan_len, const char *topic,
                   size_t topic_len, const char *msg, size_t msg_len, struct sss_uid *uid);
    /* The newest uid of a channel; returns 0 with *has = 0 for an empty channel. */
    int (*last_uid)(struct sss_engine *e, const char *chan, size_t chan_len, int *has,
                    struct sss_uid *uid);
    /* Everything after `after` (has_after = 0: from the start of the
     * channel's current epoch), or gap. */
    int (*history)(struct sss_engine *e, const char *chan, size_t chan_len, int has_after,
                   struct sss_uid after, const struct sss_engine_history_cb *cb);
    /* Drop expired history and forgotten channels; called about once a second. */
    void (*tick)(struct sss_engine *e, int64_t now_wall_ms);
    void (*destroy)(struct sss_engine *e);
};

struct sss_engine {
    const struct sss_engine_ops *ops;
};

/* The in-memory engine. now_wall_ms seeds the first epoch. NULL on ENOMEM. */
struct sss_engine *sss_engine_mem_create(const struct sss_engine_limits *limits,
                                         int64_t now_wall_ms);

#endif
