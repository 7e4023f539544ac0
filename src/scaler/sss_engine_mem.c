/*
 * The in-memory engine (see sss_engine.h): uids and bounded history kept in
 * the scaler process, for a host that runs alone.
 *
 * Each channel has its epoch, its last offset and a ring of its newest
 * messages (at most history_size; older than history_ttl_ms they expire). A
 * channel with no history left is forgotten by the tick; if it is published
 * to again it starts a new epoch, strictly greater than every epoch this
 * engine gave before, so that no uid is reused. It answers every call
 * before returning, and feeds every publish back at once: the host is the
 * whole world.
 *
 * Bounds. Every history record is also on one host-wide list in publish
 * order, and the engine counts the bytes of all records and channels
 * (history_memory). Past it, the host's oldest records leave first, whatever
 * their channel: the head of that list is always its channel's oldest
 * record, so trimming is O(1) a record; a channel left empty is forgotten at
 * once, as the tick would. The newest record stays even if it alone is over
 * the bound (the configuration keeps the bound above one message). A
 * history answer after a trimmed record reports the gap, as after an
 * expired one. Channels created by clients' PUBLISH (SSS_HM_FROM_CLIENT)
 * count against max_client_channels, all others against max_channels, so
 * that clients never use up the room of the application and the API; a
 * publish to a new channel past its limit fails with SSS_ELIMIT. A channel's
 * ring grows by doubling up to history_size, so a channel with few messages
 * costs few bytes.
 */
#include "sss_engine.h"
#include "sss_alloc.h"
#include "sss_hostmsg.h"
#include "sss_map.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/queue.h>

#define RING_FIRST 4 /* slots of a new channel's ring; it doubles up to history_size */

struct mem_chan;

struct hist_rec {
    TAILQ_ENTRY(hist_rec) age; /* the host's records, oldest first */
    struct mem_chan *chan;     /* whose ring holds it */
    uint64_t offset;
    int64_t time_ms;
    uint32_t topic_len, msg_len;
    char data[]; /* topic then msg */
};

struct mem_chan {
    char name[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t name_len;
    uint64_t epoch;
    uint64_t last; /* offset of the newest message; 0 = none yet in this epoch */
    struct hist_rec **ring; /* cap slots */
    uint32_t cap, head, count; /* oldest at ring[head] */
    int by_client;             /* created by a client's PUBLISH */
};

TAILQ_HEAD(hist_age, hist_rec);

struct mem_engine {
    struct sss_engine base;
    struct sss_engine_limits limits;
    struct sss_map chans;
    uint64_t last_epoch; /* the greatest epoch given so far */
    _Atomic uint64_t *epoch_floor; /* borrowed: last_epoch where a next scaler finds it */
    int64_t now_ms;      /* wall clock at the last tick or publish */
    struct hist_age oldest; /* every record of every channel, oldest first */
    uint64_t app_channels;  /* channels not created by clients (max_channels) */
};

static size_t rec_bytes(const struct hist_rec *r)
{
    return sizeof(*r) + r->topic_len + r->msg_len;
}

static size_t chan_bytes(const struct mem_chan *c)
{
    return sizeof(*c) + c->cap * sizeof(*c->ring);
}

static uint64_t next_epoch(struct mem_engine *me)
{
    uint64_t e = me->now_ms > 0 ? (uint64_t)me->now_ms : 1;

    if (e <= me->last_epoch)
        e = me->last_epoch + 1;
    me->last_epoch = e;
    /* Only this scaler writes it while it lives; the next one reads it at start. */
    if (me->epoch_floor)
        atomic_store_explicit(me->epoch_floor, e, memory_order_relaxed);
    return e;
}

static void chan_drop_oldest(struct mem_engine *me, struct mem_chan *c)
{
    struct hist_rec *r = c->ring[c->head];

    TAILQ_REMOVE(&me->oldest, r, age);
    me->base.stats.history_bytes -= rec_bytes(r);
    sss_free(r);
    c->ring[c->head] = NULL;
    c->head = (c->head + 1) % c->cap;
    c->count--;
}

static void chan_expire(struct mem_engine *me, struct mem_chan *c)
{
    int64_t ttl = me->limits.history_ttl_ms;

    while (ttl && c->count && me->now_ms - c->ring[c->head]->time_ms >= ttl)
        chan_drop_oldest(me, c);
}

static void chan_free(struct mem_engine *me, struct mem_chan *c)
{
    while (c->count)
        chan_drop_oldest(me, c);
    me->base.stats.history_bytes -= chan_bytes(c);
    sss_free(c->ring);
    sss_free(c);
}

/* Take c out of the map and free it, with its counts. */
static void chan_forget(struct mem_engine *me, struct mem_chan *c)
{
    sss_map_del(&me->chans, c->name, c->name_len);
    me->base.stats.channels--;
    if (c->by_client)
        me->base.stats.client_channels--;
    else
        me->app_channels--;
    chan_free(me, c);
}

/* Room for one more record in c's ring: double it (up to history_size) when full. */
static int chan_make_room(struct mem_engine *me, struct mem_chan *c)
{
    struct hist_rec **ring;
    uint32_t cap;

    if (c->count < c->cap || c->cap == me->limits.history_size)
        return 0;
    cap = c->cap ? c->cap * 2 : RING_FIRST;
    if (cap > me->limits.history_size)
        cap = me->limits.history_size;
    ring = sss_calloc(cap, sizeof(*ring));
    if (!ring)
        return -ENOMEM;
    for (uint32_t i = 0; i < c->count; i++)
        ring[i] = c->ring[(c->head + i) % c->cap];
    me->base.stats.history_bytes += (cap - c->cap) * sizeof(*ring);
    sss_free(c->ring);
    c->ring = ring;
    c->cap = cap;
    c->head = 0;
    return 0;
}

/*
 * Over history_memory, the host's oldest records leave history, whatever
 * their channel, until it fits; keep (the record just added) always stays.
 * A channel left with no record is forgotten.
 */
static void trim_to_budget(struct mem_engine *me, const struct hist_rec *keep)
{
    struct sss_engine_stats *st = &me->base.stats;
    struct hist_rec *r;

    while (me->limits.history_memory && st->history_bytes > me->limits.history_memory &&
           (r = TAILQ_FIRST(&me->oldest)) && r != keep) {
        struct mem_chan *c = r->chan;

        assert(c->count && c->ring[c->head] == r); /* a channel's records are in age order */
        st->trimmed_messages++;
        st->trimmed_bytes += rec_bytes(r);
        chan_drop_oldest(me, c);
        if (c->count == 0) {
            st->trimmed_channels++;
            chan_forget(me, c);
        }
    }
}

static struct mem_chan *chan_get(struct mem_engine *me, const char *name, size_t len)
{
    return sss_map_get(&me->chans, name, len);
}

/*
 * The channel a publish goes to, created if need be under the limit of its
 * kind (flags: the publish's SSS_HM_FROM_CLIENT, SSS_HM_NO_CREATE). *created
 * says whether it was. NULL with *rc SSS_ELIMIT or -ENOMEM.
 */
static struct mem_chan *chan_for_publish(struct mem_engine *me, const char *name, size_t len,
                                         uint32_t flags, int *created, int *rc)
{
    struct mem_chan *c = chan_get(me, name, len);
    int by_client = (flags & SSS_HM_FROM_CLIENT) != 0;

    *created = 0;
    if (c)
        return c;
    *rc = SSS_ELIMIT;
    if (len > SSS_PROTO_CHANNEL_MAX || (flags & SSS_HM_NO_CREATE) ||
        (by_client ? me->base.stats.client_channels >= me->limits.max_client_channels
                   : me->app_channels >= me->limits.max_channels)) {
        me->base.stats.channels_refused++;
        return NULL;
    }
    *rc = -ENOMEM;
    c = sss_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    memcpy(c->name, name, len);
    c->name_len = (uint32_t)len;
    c->by_client = by_client;
    if (sss_map_put(&me->chans, c->name, len, c) < 0) {
        sss_free(c);
        return NULL;
    }
    c->epoch = next_epoch(me);
    me->base.stats.history_bytes += chan_bytes(c);
    me->base.stats.channels++;
    if (by_client)
        me->base.stats.client_channels++;
    else
        me->app_channels++;
    *created = 1;
    return c;
}

static int mem_sequence(struct mem_engine *me, uint32_t flags, const char *chan, size_t chan_len,
                        const char *topic, size_t topic_len, const char *msg, size_t msg_len,
                        struct sss_uid *uid, int *created)
{
    struct hist_rec *r = NULL;
    struct mem_chan *c;
    int rc;

    c = chan_for_publish(me, chan, chan_len, flags, created, &rc);
    if (!c)
        return rc;
    if (me->limits.history_size) {
        r = sss_malloc(sizeof(*r) + topic_len + msg_len);
        if (!r || chan_make_room(me, c) < 0) {
            sss_free(r);
            if (*created) {
                *created = 0;
                chan_forget(me, c); /* empty: as if never made */
            }
            return -ENOMEM;
        }
        r->chan = c;
        r->offset = c->last + 1;
        r->time_ms = me->now_ms;
        r->topic_len = (uint32_t)topic_len;
        r->msg_len = (uint32_t)msg_len;
        memcpy(r->data, topic, topic_len);
        memcpy(r->data + topic_len, msg, msg_len);
        if (c->count == me->limits.history_size)
            chan_drop_oldest(me, c);
        c->ring[(c->head + c->count) % c->cap] = r;
        c->count++;
        TAILQ_INSERT_TAIL(&me->oldest, r, age);
        me->base.stats.history_bytes += rec_bytes(r);
    }
    c->last++;
    uid->epoch = c->epoch;
    uid->offset = c->last;
    trim_to_budget(me, r);
    return 0;
}

static void mem_publish(struct sss_engine *e, const struct sss_engine_tag *tag, const char *chan,
                        size_t chan_len, const char *topic, size_t topic_len, const char *msg,
                        size_t msg_len)
{
    struct mem_engine *me = (struct mem_engine *)e;
    struct sss_engine_msg m = {.topic = topic,
                               .topic_len = topic_len,
                               .msg = msg,
                               .msg_len = msg_len,
                               .time_ms = me->now_ms};
    int created = 0;
    int rc = mem_sequence(me, tag->flags, chan, chan_len, topic, topic_len, msg, msg_len, &m.uid,
                          &created);

    if (rc == 0)
        e->sink.feed(e->sink.data, chan, chan_len, &m, tag);
    e->sink.published(e->sink.data, tag, rc, created, m.uid);
}

static void mem_last_uid(struct sss_engine *e, const struct sss_engine_tag *tag, const char *chan,
                         size_t chan_len)
{
    struct mem_chan *c = chan_get((struct mem_engine *)e, chan, chan_len);
    struct sss_uid uid = {0, 0};

    if (c && c->last) {
        uid.epoch = c->epoch;
        uid.offset = c->last;
    }
    e->sink.last_uid(e->sink.data, tag, 0, c && c->last, uid);
}

static int mem_control(struct sss_engine *e, uint32_t type, const void *p, size_t len)
{
    e->sink.control(e->sink.data, type, p, len);
    return 0;
}

static int mem_connected(struct sss_engine *e)
{
    (void)e;
    return 1;
}

static void mem_history(struct sss_engine *e, const struct sss_engine_tag *tag, const char *chan,
                        size_t chan_len, int has_after, struct sss_uid after)
{
    struct mem_engine *me = (struct mem_engine *)e;
    struct mem_chan *c = chan_get(me, chan, chan_len);
    struct sss_uid last = {0, 0};
    uint64_t from, oldest;
    int gap = 0;

    if (!c) {
        /* Nothing is known of the channel: a client that had seen a message
         * of it may have missed others since. */
        e->sink.hist_done(e->sink.data, tag, 0, has_after, 0, last);
        return;
    }
    chan_expire(me, c);
    last.epoch = c->epoch;
    last.offset = c->last;
    oldest = c->count ? c->ring[c->head]->offset : c->last + 1;
    if (!has_after)
        from = 1; /* the client saw the channel empty */
    else if (after.epoch != c->epoch)
        from = 0; /* another epoch: what followed `after` there is unknown */
    else
        from = after.offset + 1;
    if (from == 0 || from < oldest) {
        gap = from == 0 || from <= c->last;
        if (!gap)
            from = oldest;
    }
    if (!gap)
        for (uint32_t i = 0; i < c->count; i++) {
            struct hist_rec *r = c->ring[(c->head + i) % c->cap];
            struct sss_engine_msg m;

            if (r->offset < from)
                continue;
            m.uid.epoch = c->epoch;
            m.uid.offset = r->offset;
            m.topic = r->data;
            m.topic_len = r->topic_len;
            m.msg = r->data + r->topic_len;
            m.msg_len = r->msg_len;
            m.time_ms = r->time_ms;
            e->sink.hist_record(e->sink.data, tag, &m);
        }
    e->sink.hist_done(e->sink.data, tag, 0, gap, c->last != 0, last);
}

static void mem_tick(struct sss_engine *e, int64_t now_wall_ms)
{
    struct mem_engine *me = (struct mem_engine *)e;
    struct sss_map_iter it;
    struct mem_chan *c;

    me->now_ms = now_wall_ms;
    for (sss_map_iter_init(&it, &me->chans); (c = sss_map_next(&it));) {
        chan_expire(me, c);
        if (c->count == 0)
            chan_forget(me, c); /* a new epoch keeps its uids unique if it returns */
    }
}

static void mem_destroy(struct sss_engine *e)
{
    struct mem_engine *me = (struct mem_engine *)e;
    struct sss_map_iter it;
    struct mem_chan *c;

    /* chan_free needs the engine, so not sss_map_clear: each channel leaves
     * the map before it is freed, as the iterator allows. */
    for (sss_map_iter_init(&it, &me->chans); (c = sss_map_next(&it));)
        chan_forget(me, c);
    sss_map_fini(&me->chans);
    sss_free(me);
}

static const struct sss_engine_ops mem_ops = {
    .name = "memory",
    .publish = mem_publish,
    .last_uid = mem_last_uid,
    .history = mem_history,
    .control = mem_control,
    .tick = mem_tick,
    .connected = mem_connected,
    .destroy = mem_destroy,
};

struct sss_engine *sss_engine_mem_create(const struct sss_engine_limits *limits,
                                         const struct sss_engine_sink *sink,
                                         int64_t now_wall_ms, _Atomic uint64_t *epoch_floor)
{
    struct mem_engine *me = sss_calloc(1, sizeof(*me));

    if (!me)
        return NULL;
    me->base.ops = &mem_ops;
    me->base.sink = *sink;
    me->limits = *limits;
    me->now_ms = now_wall_ms;
    me->epoch_floor = epoch_floor;
    me->last_epoch = epoch_floor ? atomic_load_explicit(epoch_floor, memory_order_relaxed) : 0;
    sss_map_init(&me->chans);
    TAILQ_INIT(&me->oldest);
    return &me->base;
}
