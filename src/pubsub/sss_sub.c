/* A worker's local channel index with pending holds (see sss_sub.h). */
#include "sss_sub.h"
#include "sss_alloc.h"

#include <stddef.h>
#include <string.h>

void sss_index_init(struct sss_index *ix, sss_sub_deliver_fn deliver, sss_sub_held_fn held,
                    void *data)
{
    sss_map_init(&ix->chans);
    ix->deliver = deliver;
    ix->held = held;
    ix->data = data;
}

/* Free a list of held FEEDs taken off its head (STAILQ_FIRST). */
static void free_held(struct sss_held *h)
{
    while (h) {
        struct sss_held *n = STAILQ_NEXT(h, link);

        sss_buf_unref(h->frame);
        sss_free(h);
        h = n;
    }
}

/* A channel with its subscriptions and what they hold (sss_map_clear's free_fn). */
static void lchan_free(void *val)
{
    struct sss_lchan *c = val;

    struct sss_sub *s;

    while ((s = LIST_FIRST(&c->subs))) {
        LIST_REMOVE(s, link);
        free_held(STAILQ_FIRST(&s->held));
        sss_free(s);
    }
    free_held(STAILQ_FIRST(&c->held));
    sss_free(c);
}

void sss_index_fini(struct sss_index *ix)
{
    sss_map_clear(&ix->chans, lchan_free);
}

struct sss_lchan *sss_index_chan(struct sss_index *ix, const char *name, size_t len)
{
    return sss_map_get(&ix->chans, name, len);
}

struct sss_sub *sss_index_find(struct sss_sub *conn_subs, const char *name, size_t len)
{
    for (struct sss_sub *s = conn_subs; s; s = s->conn_next)
        if (s->chan->name_len == len && memcmp(s->chan->name, name, len) == 0)
            return s;
    return NULL;
}

struct sss_sub *sss_index_subscribe(struct sss_index *ix, struct sss_conn *conn,
                                    struct sss_sub **conn_subs, const char *name, size_t len,
                                    int *created)
{
    struct sss_lchan *c;
    struct sss_sub *s = sss_index_find(*conn_subs, name, len);

    *created = 0;
    if (s)
        return s;
    if (len > SSS_PROTO_CHANNEL_MAX)
        return NULL;
    c = sss_map_get(&ix->chans, name, len);
    if (!c) {
        c = sss_map_put_new(&ix->chans, sizeof(*c), offsetof(struct sss_lchan, name), name, len);
        if (!c)
            return NULL;
        c->name_len = (uint32_t)len;
        STAILQ_INIT(&c->held);
    }
    s = sss_calloc(1, sizeof(*s));
    if (!s) {
        if (LIST_EMPTY(&c->subs)) {
            sss_map_del(&ix->chans, c->name, c->name_len);
            sss_free(c);
        }
        return NULL;
    }
    s->chan = c;
    s->conn = conn;
    s->pending = 1;
    STAILQ_INIT(&s->held);
    LIST_INSERT_HEAD(&c->subs, s, link);
    c->nsubs++;
    s->conn_next = *conn_subs;
    *conn_subs = s;
    *created = 1;
    return s;
}

static long held_bytes(const struct sss_held_list *held)
{
    const struct sss_held *h;
    long n = 0;

    STAILQ_FOREACH(h, held, link)
        n += (long)h->frame->len;
    return n;
}

void sss_index_unsubscribe(struct sss_index *ix, struct sss_sub **conn_subs, struct sss_sub *s)
{
    struct sss_lchan *c = s->chan;

    for (struct sss_sub **pp = conn_subs; *pp; pp = &(*pp)->conn_next)
        if (*pp == s) {
            *pp = s->conn_next;
            break;
        }
    LIST_REMOVE(s, link);
    c->nsubs--;
    if (!STAILQ_EMPTY(&s->held) && ix->held)
        ix->held(s->conn, -held_bytes(&s->held), ix->data);
    free_held(STAILQ_FIRST(&s->held));
    sss_free(s);
    if (LIST_EMPTY(&c->subs)) {
        sss_map_del(&ix->chans, c->name, c->name_len);
        free_held(STAILQ_FIRST(&c->held));
        sss_free(c);
    }
}

static void hold(struct sss_held_list *held, struct sss_buf *frame, const struct sss_uid *uid)
{
    struct sss_held *h = sss_malloc(sizeof(*h));

    if (!h)
        return; /* the FEED is lost for this subscriber: see the caller's counters */
    h->frame = sss_buf_ref(frame);
    h->uid = *uid;
    STAILQ_INSERT_TAIL(held, h, link);
}

static void deliver_one(struct sss_index *ix, struct sss_sub *s, struct sss_buf *frame,
                        const struct sss_uid *uid)
{
    if (s->pending) {
        hold(&s->held, frame, uid);
        if (ix->held)
            ix->held(s->conn, (long)frame->len, ix->data);
        return;
    }
    if (sss_proto_uid_cmp(uid, &s->floor) > 0) {
        s->floor = *uid;
        ix->deliver(s->conn, frame, ix->data);
    }
}

void sss_index_activate(struct sss_index *ix, struct sss_sub *s, const struct sss_uid *floor)
{
    struct sss_held *h = STAILQ_FIRST(&s->held);

    s->floor = *floor;
    s->pending = 0;
    if (h && ix->held)
        ix->held(s->conn, -held_bytes(&s->held), ix->data);
    STAILQ_INIT(&s->held);
    for (struct sss_held *n; h; h = n) {
        n = STAILQ_NEXT(h, link);
        if (sss_proto_uid_cmp(&h->uid, &s->floor) > 0) {
            s->floor = h->uid;
            ix->deliver(s->conn, h->frame, ix->data);
        }
        sss_buf_unref(h->frame);
        sss_free(h);
    }
}

int sss_index_feed(struct sss_index *ix, struct sss_lchan *c, const struct sss_uid *uid,
                   struct sss_buf *frame, const struct sss_conn *skip)
{
    int skipped = 0;

    if (!c)
        return 0;
    if (!c->has_last || sss_proto_uid_cmp(uid, &c->last) > 0) {
        c->last = *uid;
        c->has_last = 1;
    }
    if (c->recovering) {
        hold(&c->held, frame, uid);
        return 0;
    }
    for (struct sss_sub *s = LIST_FIRST(&c->subs), *n; s; s = n) {
        n = LIST_NEXT(s, link);
        if (s->conn == skip && !s->pending) {
            if (sss_proto_uid_cmp(uid, &s->floor) > 0)
                s->floor = *uid;
            skipped = 1;
            continue;
        }
        deliver_one(ix, s, frame, uid);
    }
    return skipped;
}

void sss_index_hold_channel(struct sss_lchan *c, uint64_t req)
{
    c->recovering = 1;
    c->recover_req = req;
}

void sss_index_release_channel(struct sss_index *ix, struct sss_lchan *c,
                               const struct sss_uid *after)
{
    struct sss_held *h = STAILQ_FIRST(&c->held);

    c->recovering = 0;
    c->relapped = 0;
    c->recover_req = 0;
    STAILQ_INIT(&c->held);
    for (struct sss_held *n; h; h = n) {
        n = STAILQ_NEXT(h, link);
        if (!after || sss_proto_uid_cmp(&h->uid, after) > 0)
            for (struct sss_sub *s = LIST_FIRST(&c->subs), *sn; s; s = sn) {
                sn = LIST_NEXT(s, link);
                deliver_one(ix, s, h->frame, &h->uid);
            }
        sss_buf_unref(h->frame);
        sss_free(h);
    }
}
