/*
 * The in-memory engine (see sss_engine.h): uids and bounded history kept in
 * the scaler process, for a host that runs alone.
 *
 * Each channel has its epoch, its last offset and a ring of its newest
 * messages (at most history_size; older than history_ttl_ms they expire). A
 * channel with no history left is forgotten by the tick; if it is published
 * to again it starts a new epoch, strictly greater than every epoch this
 * engine gave before, so that no uid is reused. With max_channels reached, a
 * publish to a new channel fails with SSS_ELIMIT. It answers every call
 * before returning, and feeds every publish back at once: the host is the
 * whole world.
 */
#include "sss_engine.h"
#include "sss_alloc.h"
#include "sss_map.h"

#include <errno.h>
#include <string.h>

struct hist_rec {
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
    struct hist_rec **ring; /* history_size slots */
    uint32_t head, count;   /* oldest at ring[head] */
};

struct mem_engine {
    struct sss_engine base;
    struct sss_engine_limits limits;
    struct sss_map chans;
    uint64_t last_epoch; /* the greatest epoch given so far */
    _Atomic uint64_t *epoch_floor; /* borrowed: last_epoch where a next scaler finds it */
    int64_t now_ms;      /* wall clock at the last tick or publish */
};

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
    sss_free(c->ring[c->head]);
    c->ring[c->head] = NULL;
    c->head = (c->head + 1) % me->limits.history_size;
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
    sss_free(c->ring);
    sss_free(c);
}

static struct mem_chan *chan_get(struct mem_engine *me, const char *name, size_t len, int create)
{
    struct mem_chan *c = sss_map_get(&me->chans, name, len);

    if (c || !create)
        return c;
    if (len > SSS_PROTO_CHANNEL_MAX || me->chans.len >= me->limits.max_channels)
        return NULL;
    c = sss_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (me->limits.history_size) {
        c->ring = sss_calloc(me->limits.history_size, sizeof(*c->ring));
        if (!c->ring) {
            sss_free(c);
            return NULL;
        }
    }
    memcpy(c->name, name, len);
    c->name_len = (uint32_t)len;
    c->epoch = next_epoch(me);
    if (sss_map_put(&me->chans, c->name, len, c) < 0) {
        chan_free(me, c);
        return NULL;
    }
    return c;
}

static int mem_sequence(struct mem_engine *me, const char *chan, size_t chan_len, const char *topic,
                        size_t topic_len, const char *msg, size_t msg_len, struct sss_uid *uid)
{
    struct mem_chan *c = chan_get(me, chan, chan_len, 1);
    struct hist_rec *r;

    if (!c)
        return me->chans.len >= me->limits.max_channels ? SSS_ELIMIT : -ENOMEM;
    if (me->limits.history_size) {
        r = sss_malloc(sizeof(*r) + topic_len + msg_len);
        if (!r)
            return -ENOMEM;
        r->offset = c->last + 1;
        r->time_ms = me->now_ms;
        r->topic_len = (uint32_t)topic_len;
        r->msg_len = (uint32_t)msg_len;
        memcpy(r->data, topic, topic_len);
        memcpy(r->data + topic_len, msg, msg_len);
        if (c->count == me->limits.history_size)
            chan_drop_oldest(me, c);
        c->ring[(c->head + c->count) % me->limits.history_size] = r;
        c->count++;
    }
    c->last++;
    uid->epoch = c->epoch;
    uid->offset = c->last;
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
    int rc = mem_sequence(me, chan, chan_len, topic, topic_len, msg, msg_len, &m.uid);

    if (rc == 0)
        e->sink.feed(e->sink.data, chan, chan_len, &m, tag);
    e->sink.published(e->sink.data, tag, rc, m.uid);
}

static void mem_last_uid(struct sss_engine *e, const struct sss_engine_tag *tag, const char *chan,
                         size_t chan_len)
{
    struct mem_chan *c = chan_get((struct mem_engine *)e, chan, chan_len, 0);
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
    struct mem_chan *c = chan_get(me, chan, chan_len, 0);
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
            struct hist_rec *r = c->ring[(c->head + i) % me->limits.history_size];
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
        if (c->count == 0) {
            /* Forget it; a new epoch keeps its uids unique if it returns. */
            sss_map_del(&me->chans, c->name, c->name_len);
            chan_free(me, c);
        }
    }
}

static void mem_destroy(struct sss_engine *e)
{
    struct mem_engine *me = (struct mem_engine *)e;
    struct sss_map_iter it;
    struct mem_chan *c;

    /* chan_free needs the engine, so not sss_map_clear: each channel leaves
     * the map before it is freed, as the iterator allows. */
    for (sss_map_iter_init(&it, &me->chans); (c = sss_map_next(&it));) {
        sss_map_del(&me->chans, c->name, c->name_len);
        chan_free(me, c);
    }
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
    return &me->base;
}
