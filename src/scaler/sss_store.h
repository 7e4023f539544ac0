/*
 * The scaler's store: sessions and their subscriptions (PROTOCOL.md 8). A
 * session named by the session parser (a JWT's sid) or by BEGIN is recorded
 * with every channel it subscribes to and the uid it had reached; a client
 * that comes back with the same session, to any worker, is re-subscribed to
 * them before its BEGIN reply. The embedded store is `memory`
 * (sss_store_mem.c, one host); `mongodb` (sss_store_mongo.c) keeps the same
 * records in MongoDB so that a session resumes on any host and presence
 * covers every host. A session with no connection left is forgotten after
 * --session-ttl.
 *
 * Every call is made on the scaler's thread and never blocks. Notifications
 * (online, subscribe, ...) return at once; a store that writes elsewhere
 * queues them. Questions (load, presence) answer through callbacks, either
 * before returning or later from ops->poll, which the scaler calls whenever
 * ops->poll_fd is readable.
 */
#ifndef SSS_STORE_H
#define SSS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sss_proto.h"
#include "sss_wcount.h"

struct sss_store;

struct sss_store_load_cb {
    void (*entry)(void *data, const char *chan, size_t chan_len, int has_uid,
                  const struct sss_uid *uid);
    /* found: the session was known; kept: the store records it now (0: it
     * was refused, by --max-sessions or --anon-session-rate, or forgotten). */
    void (*done)(void *data, int found, int kept);
    void *data;
};

struct sss_store_presence_cb {
    /* rc 0 or a negative code (the database is away); count: subscriptions
     * (sessions online and subscribed); users: up to max_users names. */
    void (*done)(void *data, int rc, int64_t count, const char *const *users, size_t nusers);
    void *data;
};

/* A session's connections, as both stores count them (sss_wcount.h). */
struct sss_store_conns {
    int64_t online;        /* connections now, all workers */
    int64_t offline_since; /* when the last one went */
};

/* Worker w's share (*in_w) changes by delta: 0, or -1 (nothing changes) if
 * it would go below zero. */
static inline int sss_store_conns_add(struct sss_store_conns *c, int32_t *in_w, int delta,
                                      int64_t now_ms)
{
    if (sss_wcount_add(in_w, &c->online, delta) < 0)
        return -1;
    if (c->online <= 0) {
        c->online = 0;
        c->offline_since = now_ms;
    }
    return 0;
}

/* The worker is gone: its share leaves the total. 1 if it had one. */
static inline int sss_store_conns_drop(struct sss_store_conns *c, int32_t *in_w, int64_t now_ms)
{
    return *in_w && sss_store_conns_add(c, in_w, -*in_w, now_ms) == 0;
}

/* online's flags */
#define SSS_STORE_READMIT 1u /* a worker gives its account again: an anonymous session a
                              * former scaler recorded is not counted against the rate */

struct sss_store_ops {
    const char *name;
    /*
     * A connection of the session came (delta 1) or went (-1) in worker w;
     * user may be "" (an anonymous session). Only a connection that comes
     * creates a session (subscribe never does), within --max-sessions (a
     * full store makes room by forgetting an anonymous session, see
     * sss_store_mem_create) and, for an anonymous one, --anon-session-rate
     * (unless flags has SSS_STORE_READMIT).
     */
    void (*online)(struct sss_store *st, int w, const char *session, size_t len,
                   const char *user, size_t user_len, int delta, unsigned flags, int64_t now_ms);
    /* Worker w was replaced: its connections are gone. */
    void (*reset_worker)(struct sss_store *st, int w, int64_t now_ms);
    /* The session subscribed to chan (or its uid advanced): has_uid 0 = empty channel.
     * Nothing for a session the store does not keep. */
    void (*subscribe)(struct sss_store *st, const char *session, size_t len, const char *chan,
                      size_t chan_len, int has_uid, const struct sss_uid *uid);
    /* The session unsubscribed from chan (the client asked). */
    void (*unsubscribe)(struct sss_store *st, const char *session, size_t len, const char *chan,
                        size_t chan_len);
    /* Every subscription of the session: cb->entry once each, then cb->done
     * (found: the session is known), now or later. *cb is copied. */
    void (*load)(struct sss_store *st, const char *session, size_t len,
                 const struct sss_store_load_cb *cb);
    /* Who is subscribed to chan on every host (NULL: the store cannot tell;
     * the scaler then answers for its own host). cb->done once, now or later. */
    void (*presence)(struct sss_store *st, const char *chan, size_t len, size_t max_users,
                     const struct sss_store_presence_cb *cb);
    /* Forget sessions offline for longer than the ttl; refresh leases. About once a second. */
    void (*tick)(struct sss_store *st, int64_t now_ms);
    /* An fd that becomes readable when answers wait for poll (-1: never). May be NULL. */
    int (*poll_fd)(struct sss_store *st);
    /* Run the callbacks of answers that arrived. May be NULL. */
    void (*poll)(struct sss_store *st);
    /* Pending callbacks are dropped without being called. */
    void (*destroy)(struct sss_store *st);
};

/* Counters the HTTP API shows (/api/stats, /metrics); kept by the store on the scaler's thread. */
struct sss_store_stats {
    uint64_t queued;  /* writes waiting to reach the database now */
    uint64_t written; /* writes the database acknowledged */
    uint64_t dropped; /* writes lost because the queue (--store-queue) was full */
    uint64_t errors;  /* failed database calls (each retried or counted as dropped) */
    int connected;    /* the database answered the last call */
    uint64_t sessions, sessions_anon; /* kept now: all, anonymous */
    uint64_t anon_limited; /* new anonymous sessions not recorded: over --anon-session-rate */
    uint64_t evicted;      /* anonymous sessions forgotten to make room under --max-sessions */
    uint64_t refused;      /* new sessions not recorded: full, no anonymous one to forget */
};

struct sss_store {
    const struct sss_store_ops *ops;
    struct sss_store_stats stats;
};

/*
 * max_sessions bounds the records; ttl_ms is --session-ttl. NULL on ENOMEM.
 * A full store makes room for a new session by forgetting the anonymous
 * session idle longest; a user's new session, if no anonymous one is idle,
 * the anonymous one online longest; else the new one is not recorded. So
 * anonymous clients, whose ids cost nothing to invent, can never push out a
 * user's session. New anonymous sessions are not limited in rate until
 * sss_store_mem_set_anon_rate says so.
 */
struct sss_store *sss_store_mem_create(uint32_t max_sessions, uint32_t max_subs, int64_t ttl_ms,
                                       int nworkers);

/* At most `rate` new anonymous sessions a second (0: no limit), `burst` at once (at least 1). */
void sss_store_mem_set_anon_rate(struct sss_store *st, uint32_t rate, uint32_t burst);

/* Whether the memory store keeps the session (for the MongoDB store that wraps it). */
int sss_store_mem_has(struct sss_store *st, const char *id, size_t len);

/*
 * fn(data, id, len) runs when a session is forgotten to make room (the MongoDB
 * store drops its own record of it), before it is freed, inside the online
 * call that made room: fn must not call the memory store.
 */
void sss_store_mem_on_evict(struct sss_store *st, void (*fn)(void *data, const char *id,
                                                             size_t len),
                            void *data);

struct sss_cfg;

/*
 * The MongoDB store (--store mongodb --mongo URL): the memory store's records
 * kept locally, written to MongoDB by a thread of its own in batches, and
 * read from there for sessions and presence this host does not know.
 * NULL with *err set (-ENOMEM, SSS_EINVAL for a bad URL).
 */
struct sss_store *sss_store_mongo_create(const struct sss_cfg *cfg, int nworkers, int *err);

/*
 * Remove the name of the shared-memory segment (/dev/shm/mongoc-<pid>) that
 * libmongoc creates for its counters when the program loads, and removes
 * only at a clean exit: every sss-server that was killed left one behind.
 * The mapping stays valid for mongoc. The master calls it once at start.
 */
void sss_store_mongo_forget_shm(void);

/*
 * Whether url parses as a MongoDB URI, any form libmongoc accepts (checked by
 * the master before it forks); if not, why gets libmongoc's reason (cap bytes,
 * credentials redacted). Nothing is resolved or dialled here.
 */
int sss_store_mongo_url_valid(const char *url, char *why, size_t cap);

#endif
