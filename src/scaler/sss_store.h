/*
 * The scaler's store: sessions and their subscriptions (PROTOCOL.md 8). A
 * session named by the session parser (a JWT's sid) or by BEGIN is recorded
 * with every channel it subscribes to and the uid it had reached; a client
 * that comes back with the same session, to any worker, is re-subscribed to
 * them before its BEGIN reply. The embedded store is `memory` (this file's
 * sss_store_mem_create); the MongoDB store of the many-hosts issue will sit
 * behind the same table. A session with no connection left is forgotten
 * after --session-ttl.
 */
#ifndef SSS_STORE_H
#define SSS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sss_proto.h"

struct sss_store;

struct sss_store_ops {
    const char *name;
    /* A connection of the session came (delta 1) or went (-1) in worker w; user may be "". */
    void (*online)(struct sss_store *st, int w, const char *session, size_t len,
                   const char *user, size_t user_len, int delta, int64_t now_ms);
    /* Worker w was replaced: its connections are gone. */
    void (*reset_worker)(struct sss_store *st, int w, int64_t now_ms);
    /* The session subscribed to chan (or its uid advanced): has_uid 0 = empty channel. */
    void (*subscribe)(struct sss_store *st, const char *session, size_t len, const char *chan,
                      size_t chan_len, int has_uid, const struct sss_uid *uid);
    /* The session unsubscribed from chan (the client asked). */
    void (*unsubscribe)(struct sss_store *st, const char *session, size_t len, const char *chan,
                        size_t chan_len);
    /* Every subscription of the session: fn once each. Returns 1 if the session is known. */
    int (*load)(struct sss_store *st, const char *session, size_t len,
                void (*fn)(void *data, const char *chan, size_t chan_len, int has_uid,
                           const struct sss_uid *uid),
                void *data);
    /* Forget sessions offline for longer than the ttl. */
    void (*tick)(struct sss_store *st, int64_t now_ms);
    void (*destroy)(struct sss_store *st);
};

struct sss_store {
    const struct sss_store_ops *ops;
};

/* max_sessions bounds the records; ttl_ms is --session-ttl. NULL on ENOMEM. */
struct sss_store *sss_store_mem_create(uint32_t max_sessions, uint32_t max_subs, int64_t ttl_ms,
                                       int nworkers);

#endif
