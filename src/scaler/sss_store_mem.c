/*
 * The in-memory store (see sss_store.h): a map of sessions, each with a map
 * of its channels and the uid reached. Bounded: at most max_sessions
 * sessions and max_subs channels per session. Only a connection coming
 * (online) creates a session. A full store makes room by forgetting an
 * anonymous session: the one idle longest, or for a user's session, if none
 * is idle, the one online longest (two lists, oldest first, so that the
 * choice costs nothing however many sessions there are). New anonymous
 * sessions also pass a token bucket (--anon-session-rate, --anon-session-
 * burst): ids that cost nothing to invent cannot fill the store quickly.
 */
#include "sss_store.h"
#include "sss_alloc.h"
#include "sss_map.h"

#include <stddef.h>
#include <string.h>
#include <sys/queue.h>

struct ssub {
    char chan[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t len;
    int has_uid;
    struct sss_uid uid;
};

enum { ANON_NONE, ANON_IDLE, ANON_ONLINE }; /* which list an anonymous session is on */

struct ssession {
    char id[SSS_PROTO_SESSION_KEY_MAX + 1];
    uint32_t len;
    char user[SSS_PROTO_CHANNEL_MAX + 1];
    struct sss_store_conns conns;
    int anon;              /* ANON_*: created with no user, on that list */
    TAILQ_ENTRY(ssession) alink;
    struct sss_map subs;   /* chan -> struct ssub (owned) */
    int32_t per_worker[];  /* connections of it in each worker */
};

TAILQ_HEAD(slist, ssession);

struct mem_store {
    struct sss_store base;
    struct sss_map sessions; /* id -> struct ssession (owned) */
    struct slist anon_idle;   /* anonymous, no connection: oldest offline_since first */
    struct slist anon_online; /* anonymous, connected: online longest first */
    uint32_t max_sessions, max_subs;
    int64_t ttl_ms;
    int nworkers;
    /* The token bucket of new anonymous sessions, in thousandths of a session. */
    int64_t anon_rate, anon_burst_milli, anon_tokens, anon_last_ms;
    void (*on_evict)(void *data, const char *id, size_t len);
    void *evict_data;
};

/* A session with its subscriptions (also sss_map_clear's free_fn). */
static void session_free(void *val)
{
    struct ssession *s = val;

    sss_map_clear(&s->subs, sss_free);
    sss_free(s);
}

/* Put an anonymous session on the list its state names (at the tail: the newest). */
static void anon_place(struct mem_store *ms, struct ssession *s)
{
    int want = s->conns.online > 0 ? ANON_ONLINE : ANON_IDLE;

    if (s->anon == ANON_NONE || s->anon == want)
        return;
    TAILQ_REMOVE(s->anon == ANON_IDLE ? &ms->anon_idle : &ms->anon_online, s, alink);
    TAILQ_INSERT_TAIL(want == ANON_IDLE ? &ms->anon_idle : &ms->anon_online, s, alink);
    s->anon = want;
}

/* Remove s from the store and free it. */
static void forget(struct mem_store *ms, struct ssession *s)
{
    if (s->anon != ANON_NONE) {
        TAILQ_REMOVE(s->anon == ANON_IDLE ? &ms->anon_idle : &ms->anon_online, s, alink);
        ms->base.stats.sessions_anon--;
    }
    sss_map_del(&ms->sessions, s->id, s->len);
    ms->base.stats.sessions--;
    session_free(s);
}

/* Whether a token is there for a new anonymous session (refilled to now). */
static int anon_token(struct mem_store *ms, int64_t now)
{
    int64_t dt;

    if (!ms->anon_rate)
        return 1;
    dt = ms->anon_last_ms < 0 || now < ms->anon_last_ms ? 0 : now - ms->anon_last_ms;
    ms->anon_last_ms = now;
    if (dt > ms->anon_burst_milli / ms->anon_rate + 1)
        dt = ms->anon_burst_milli / ms->anon_rate + 1; /* a full bucket; no overflow */
    ms->anon_tokens += dt * ms->anon_rate; /* rate/s = rate thousandths a ms */
    if (ms->anon_tokens > ms->anon_burst_milli)
        ms->anon_tokens = ms->anon_burst_milli;
    return ms->anon_tokens >= 1000;
}

/* Room for one more session: forget an anonymous one if the store is full. */
static int make_room(struct mem_store *ms, int anon)
{
    struct ssession *v;

    if (ms->sessions.len < ms->max_sessions)
        return 1;
    v = TAILQ_FIRST(&ms->anon_idle);
    if (!v && !anon)
        v = TAILQ_FIRST(&ms->anon_online);
    if (!v) {
        ms->base.stats.refused++;
        return 0;
    }
    if (ms->on_evict)
        ms->on_evict(ms->evict_data, v->id, v->len);
    forget(ms, v);
    ms->base.stats.evicted++;
    return 1;
}

/* A new session for a connection of user (empty: anonymous), or NULL if it may not be kept. */
static struct ssession *create(struct mem_store *ms, const char *id, size_t len, size_t user_len,
                               unsigned flags, int64_t now)
{
    int anon = user_len == 0;
    struct ssession *s;

    if (!len || len > SSS_PROTO_SESSION_KEY_MAX)
        return NULL;
    if (anon && !(flags & SSS_STORE_READMIT) && !anon_token(ms, now)) {
        ms->base.stats.anon_limited++;
        return NULL;
    }
    if (!make_room(ms, anon))
        return NULL;
    s = sss_map_put_new(&ms->sessions, sizeof(*s) + (size_t)ms->nworkers * sizeof(int32_t),
                        offsetof(struct ssession, id), id, len);
    if (!s)
        return NULL;
    s->len = (uint32_t)len;
    sss_map_init(&s->subs);
    ms->base.stats.sessions++;
    if (anon) {
        if (!(flags & SSS_STORE_READMIT) && ms->anon_rate)
            ms->anon_tokens -= 1000;
        /* On the idle list until its connection is counted (anon_place). */
        s->anon = ANON_IDLE;
        s->conns.offline_since = now;
        TAILQ_INSERT_TAIL(&ms->anon_idle, s, alink);
        ms->base.stats.sessions_anon++;
    }
    return s;
}

static struct ssession *get(struct mem_store *ms, const char *id, size_t len)
{
    return sss_map_get(&ms->sessions, id, len);
}

static void mem_online(struct sss_store *st, int w, const char *id, size_t len, const char *user,
                       size_t user_len, int delta, unsigned flags, int64_t now)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct ssession *s = get(ms, id, len);

    if (!s && delta > 0 && w >= 0 && w < ms->nworkers)
        s = create(ms, id, len, user_len, flags, now);
    if (!s || w < 0 || w >= ms->nworkers ||
        sss_store_conns_add(&s->conns, &s->per_worker[w], delta, now) < 0)
        return;
    if (user_len && user_len <= SSS_PROTO_CHANNEL_MAX) {
        memcpy(s->user, user, user_len);
        s->user[user_len] = '\0';
    }
    anon_place(ms, s);
}

static void mem_reset_worker(struct sss_store *st, int w, int64_t now)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct sss_map_iter it;
    struct ssession *s;

    if (w < 0 || w >= ms->nworkers)
        return;
    for (sss_map_iter_init(&it, &ms->sessions); (s = sss_map_next(&it));)
        if (sss_store_conns_drop(&s->conns, &s->per_worker[w], now))
            anon_place(ms, s);
}

static void mem_subscribe(struct sss_store *st, const char *id, size_t len, const char *chan,
                          size_t chan_len, int has_uid, const struct sss_uid *uid)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct ssession *s = get(ms, id, len); /* a session comes with a connection, never here */
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
    struct ssession *s = get((struct mem_store *)st, id, len);

    if (s)
        sss_free(sss_map_del(&s->subs, chan, chan_len));
}

static void mem_load(struct sss_store *st, const char *id, size_t len,
                     const struct sss_store_load_cb *cb)
{
    struct ssession *s = get((struct mem_store *)st, id, len);
    struct sss_map_iter it;
    struct ssub *sub;

    if (s)
        for (sss_map_iter_init(&it, &s->subs); (sub = sss_map_next(&it));)
            cb->entry(cb->data, sub->chan, sub->len, sub->has_uid, &sub->uid);
    cb->done(cb->data, s != NULL, s != NULL);
}

static void mem_tick(struct sss_store *st, int64_t now)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct sss_map_iter it;
    struct ssession *s;

    for (sss_map_iter_init(&it, &ms->sessions); (s = sss_map_next(&it));)
        if (!s->conns.online && now - s->conns.offline_since >= ms->ttl_ms)
            forget(ms, s);
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
    TAILQ_INIT(&ms->anon_idle);
    TAILQ_INIT(&ms->anon_online);
    ms->anon_last_ms = -1;
    return &ms->base;
}

void sss_store_mem_set_anon_rate(struct sss_store *st, uint32_t rate, uint32_t burst)
{
    struct mem_store *ms = (struct mem_store *)st;

    ms->anon_rate = rate;
    ms->anon_burst_milli = (int64_t)(burst ? burst : 1) * 1000;
    ms->anon_tokens = ms->anon_burst_milli;
    ms->anon_last_ms = -1;
}

int sss_store_mem_has(struct sss_store *st, const char *id, size_t len)
{
    return get((struct mem_store *)st, id, len) != NULL;
}

void sss_store_mem_on_evict(struct sss_store *st, void (*fn)(void *data, const char *id,
                                                             size_t len),
                            void *data)
{
    struct mem_store *ms = (struct mem_store *)st;

    ms->on_evict = fn;
    ms->evict_data = data;
}
