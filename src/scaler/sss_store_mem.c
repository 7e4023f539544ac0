/*
 * The in-memory store (see sss_store.h): a map of sessions, each with a map
 * of its channels and the uid reached. Bounded: at most max_sessions
 * sessions (a new one beyond is not recorded: its client simply is not
 * resumed) and max_subs channels per session.
 */
#include "sss_store.h"
#include "sss_alloc.h"
#include "sss_map.h"

#include <stddef.h>
#include <string.h>


struct ssub {
    char chan[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t len;
    int has_uid;
    struct sss_uid uid;
};

struct ssession {
    char id[SSS_PROTO_SESSION_KEY_MAX + 1];
    uint32_t len;
    char user[SSS_PROTO_CHANNEL_MAX + 1];
    int online;            /* connections of it now */
    int64_t offline_since; /* when the last one went */
    struct sss_map subs;   /* chan -> struct ssub (owned) */
    int32_t per_worker[];  /* connections of it in each worker */
};

struct mem_store {
    struct sss_store base;
    struct sss_map sessions; /* id -> struct ssession (owned) */
    uint32_t max_sessions, max_subs;
    int64_t ttl_ms;
    int nworkers;
};

/* A session with its subscriptions (also sss_map_clear's free_fn). */
static void session_free(void *val)
{
    struct ssession *s = val;

    sss_map_clear(&s->subs, sss_free);
    sss_free(s);
}

static struct ssession *get(struct mem_store *ms, const char *id, size_t len, int create)
{
    struct ssession *s = sss_map_get(&ms->sessions, id, len);

    if (s || !create || !len || len > SSS_PROTO_SESSION_KEY_MAX || ms->sessions.len >= ms->max_sessions)
        return s;
    s = sss_map_put_new(&ms->sessions, sizeof(*s) + (size_t)ms->nworkers * sizeof(int32_t),
                        offsetof(struct ssession, id), id, len);
    if (s) {
        s->len = (uint32_t)len;
        sss_map_init(&s->subs);
    }
    return s;
}

static void mem_online(struct sss_store *st, int w, const char *id, size_t len, const char *user,
                       size_t user_len, int delta, int64_t now)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct ssession *s = get(ms, id, len, delta > 0);

    if (!s || w < 0 || w >= ms->nworkers || s->per_worker[w] + delta < 0)
        return;
    s->per_worker[w] += delta;
    if (user_len && user_len <= SSS_PROTO_CHANNEL_MAX) {
        memcpy(s->user, user, user_len);
        s->user[user_len] = '\0';
    }
    s->online += delta;
    if (s->online <= 0) {
        s->online = 0;
        s->offline_since = now;
    }
}

static void mem_reset_worker(struct sss_store *st, int w, int64_t now)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct sss_map_iter it;
    struct ssession *s;

    if (w < 0 || w >= ms->nworkers)
        return;
    for (sss_map_iter_init(&it, &ms->sessions); (s = sss_map_next(&it));) {
        if (s->per_worker[w]) {
            s->online -= s->per_worker[w];
            s->per_worker[w] = 0;
            if (s->online <= 0) {
                s->online = 0;
                s->offline_since = now;
            }
        }
    }
}

static void mem_subscribe(struct sss_store *st, const char *id, size_t len, const char *chan,
                          size_t chan_len, int has_uid, const struct sss_uid *uid)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct ssession *s = get(ms, id, len, 1);
    struct ssub *sub;

    if (!s || !chan_len || chan_len > SSS_PROTO_CHANNEL_MAX)
        return;
    sub = sss_map_get(&s->subs, chan, chan_len);
    if (!sub) {
        if (s->subs.len >= ms->max_subs)
            return;
        sub = sss_map_put_new(&s->subs, sizeof(*sub), offsetof(struct ssub, chan), chan,
                              chan_len);
        if (!sub)
            return;
        sub->len = (uint32_t)chan_len;
    }
    /* The uid only moves forward: an older connection's report is late news. */
    if (has_uid && (!sub->has_uid || sss_proto_uid_cmp(uid, &sub->uid) > 0)) {
        sub->uid = *uid;
        sub->has_uid = 1;
    }
}

static void mem_unsubscribe(struct sss_store *st, const char *id, size_t len, const char *chan,
                            size_t chan_len)
{
    struct ssession *s = get((struct mem_store *)st, id, len, 0);

    if (s)
        sss_free(sss_map_del(&s->subs, chan, chan_len));
}

static void mem_load(struct sss_store *st, const char *id, size_t len,
                     const struct sss_store_load_cb *cb)
{
    struct ssession *s = get((struct mem_store *)st, id, len, 0);
    struct sss_map_iter it;
    struct ssub *sub;

    if (s)
        for (sss_map_iter_init(&it, &s->subs); (sub = sss_map_next(&it));)
            cb->entry(cb->data, sub->chan, sub->len, sub->has_uid, &sub->uid);
    cb->done(cb->data, s != NULL);
}

static void mem_tick(struct sss_store *st, int64_t now)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct sss_map_iter it;
    struct ssession *s;

    for (sss_map_iter_init(&it, &ms->sessions); (s = sss_map_next(&it));)
        if (!s->online && now - s->offline_since >= ms->ttl_ms) {
            sss_map_del(&ms->sessions, s->id, s->len);
            session_free(s);
        }
}

static void mem_destroy(struct sss_store *st)
{
    struct mem_store *ms = (struct mem_store *)st;

    sss_map_clear(&ms->sessions, session_free);
    sss_free(ms);
}

static const struct sss_store_ops mem_ops = {
    .name = "memory",
    .online = mem_online,
    .reset_worker = mem_reset_worker,
    .subscribe = mem_subscribe,
    .unsubscribe = mem_unsubscribe,
    .load = mem_load,
    .tick = mem_tick,
    .destroy = mem_destroy,
};

struct sss_store *sss_store_mem_create(uint32_t max_sessions, uint32_t max_subs, int64_t ttl_ms,
                                       int nworkers)
{
    struct mem_store *ms = sss_calloc(1, sizeof(*ms));

    if (!ms)
        return NULL;
    ms->base.ops = &mem_ops;
    sss_map_init(&ms->sessions);
    ms->max_sessions = max_sessions;
    ms->max_subs = max_subs;
    ms->ttl_ms = ttl_ms;
    ms->nworkers = nworkers;
    return &ms->base;
}
