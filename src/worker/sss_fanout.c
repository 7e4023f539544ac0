/*
 * The bus side of a worker (see sss_fanout.h): FEEDs to local subscribers,
 * engine gaps, and lap recovery, whose history requests are the one kind of
 * request this module puts in the rpc table (struct lap_req).
 * May include: common, proto, shm, pubsub, rpc, and sss_conn.h (to send).
 */
#include "sss_fanout.h"
#include "sss_alloc.h"
#include "sss_conn.h"
#include "sss_hostmsg.h"
#include "sss_log.h"
#include "sss_rpc.h"
#include "sss_shm.h"
#include "sss_str.h"
#include "sss_wire.h"
#include "sss_ws.h"

#include <errno.h>
#include <string.h>

/*
 * History after a channel's last uid, to refill it after a lap. It keeps
 * where it started: asked again after a scaler restart, it starts there, not
 * after the channel's last uid, which FEEDs held meanwhile have moved past
 * the lapped range.
 */
struct lap_req {
    struct sss_rpc_req base; /* first */
    struct sss_fanout *f;
    int has_from;
    struct sss_uid from;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
};

static int lap_ask(struct sss_fanout *f, struct sss_lchan *c, int has_from,
                   const struct sss_uid *from);

struct sss_buf *sss_fanout_frame(struct sss_fanout *f, const char *chan, size_t chan_len,
                                 const char *topic, size_t topic_len, const char *msg,
                                 size_t msg_len, const struct sss_uid *uid)
{
    char c[SSS_PROTO_CHANNEL_MAX + 1], t[SSS_PROTO_TOPIC_MAX + 1];

    if (sss_str_copy(c, sizeof(c), chan, chan_len) < 0 ||
        sss_str_copy(t, sizeof(t), topic, topic_len) < 0)
        return NULL;
    sss_proto_out_reset(&f->json);
    if (sss_proto_encode_feed(&f->json, c, t, sss_proto_span_of(msg, msg_len), uid) < 0)
        return NULL;
    return sss_ws_frame(SSS_WS_TEXT, f->json.data, f->json.len);
}

/* The subscribers of c missed messages for good (a lap or an engine gap past
 * history): they reconnect (4008) and their SYNC reports the gap. */
static void missed(struct sss_lchan *c)
{
    for (struct sss_sub *s = LIST_FIRST(&c->subs); s; s = LIST_NEXT(s, link))
        sss_conn_close(s->conn, SSS_WS_CLOSE_TOO_SLOW, "missed messages", 0);
}

/* ---- lap recovery ---- */

static void lap_hist_rec(struct sss_rpc_req *base, const struct sss_hm_hist_rec *p,
                         const char *topic, const char *msg)
{
    struct lap_req *r = (struct lap_req *)base;
    struct sss_fanout *f = r->f;
    size_t len = strlen(r->channel);
    struct sss_lchan *c = sss_index_chan(&f->index, r->channel, len);
    struct sss_buf *fr;

    if (!c)
        return;
    fr = sss_fanout_frame(f, r->channel, len, topic, p->topic_len, msg, p->msg_len, &p->uid);
    if (!fr)
        return;
    /* Delivered around the channel's hold; each subscriber's floor drops repeats. */
    c->recovering = 0;
    (void)sss_index_feed(&f->index, c, &p->uid, fr, NULL);
    c->recovering = 1;
    sss_buf_unref(fr);
}

static void lap_hist_end(struct sss_rpc_req *base, const struct sss_hm_hist_end *p)
{
    struct lap_req *r = (struct lap_req *)base;
    struct sss_lchan *c = sss_index_chan(&r->f->index, r->channel, strlen(r->channel));

    if (!c || c->recover_req != base->id)
        return;
    if (p->gap || p->rc) {
        missed(c); /* history does not reach back: a gap is reported, never hidden */
    } else if (c->relapped) {
        /* Lapped again while this answer was on its way: FEEDs newer than
         * its end may be lost too. Keep holding and ask for what follows. */
        c->relapped = 0;
        if (lap_ask(r->f, c, p->has_last || r->has_from, p->has_last ? &p->last : &r->from) == 0)
            return;
        missed(c); /* cannot ask: the subscribers reconnect and SYNC */
    }
    sss_index_release_channel(&r->f->index, c, p->has_last ? &p->last : NULL);
}

static int lap_replay(struct sss_rpc_req *base)
{
    struct lap_req *r = (struct lap_req *)base;

    (void)sss_rpc_ask_history_own(base->rpc, base, r->channel, r->has_from, &r->from);
    return 0;
}

static const struct sss_rpc_ops lap_ops = {
    .hist_rec = lap_hist_rec,
    .hist_end = lap_hist_end,
    .replay = lap_replay,
};

/* Ask history of c after `from` and hold c until it comes. 0, or -1 (not asked). */
static int lap_ask(struct sss_fanout *f, struct sss_lchan *c, int has_from,
                   const struct sss_uid *from)
{
    struct lap_req *r = sss_calloc(1, sizeof(*r));

    if (!r)
        return -1;
    r->f = f;
    r->has_from = has_from;
    if (has_from)
        r->from = *from;
    memcpy(r->channel, c->name, c->name_len + 1);
    if (sss_rpc_add(f->rpc, &r->base, &lap_ops) < 0) {
        sss_free(r);
        return -1;
    }
    if (sss_rpc_ask_history_own(f->rpc, &r->base, r->channel, r->has_from, &r->from) < 0) {
        sss_rpc_done(f->rpc, &r->base);
        return -1;
    }
    sss_index_hold_channel(c, r->base.id);
    return 0;
}

void sss_fanout_recover(struct sss_fanout *f)
{
    struct sss_map_iter it;
    struct sss_lchan *c;

    for (sss_map_iter_init(&it, &f->index.chans); (c = sss_map_next(&it));) {
        if (c->recovering)
            c->relapped = 1; /* its answer in flight may end before what this lap lost */
        else if (lap_ask(f, c, c->has_last, &c->last) < 0)
            missed(c); /* out of memory: never a silent gap */
    }
}

static void on_lapped(struct sss_fanout *f)
{
    if (f->ctr)
        sss_ctr_add(f->ctr, laps, 1);
    sss_log_warn("handler", "lapped by the bus: recovering %u channel(s) from history",
                 f->index.chans.len);
    sss_fanout_recover(f);
}

/* ---- bus records ---- */

/* A FEED (v: channel, topic, msg), its lengths checked by sss_hm_dispatch. */
static void on_feed(void *data, const struct sss_hm_rec *rec)
{
    struct sss_fanout *f = data;
    const struct sss_hm_feed *h = &rec->h.feed;
    struct sss_conn *origin = NULL;
    struct sss_lchan *c;
    struct sss_buf *frame;

    c = sss_index_chan(&f->index, rec->v[0].p, rec->v[0].len);
    if (!c)
        return; /* nobody here listens: the cheap, common case */
    if ((h->flags & SSS_HM_SKIP_SENDER) && h->origin_worker == f->worker_id) {
        origin = f->hooks.conn(f->hooks.data, h->origin_conn);
        if (origin && origin->dead)
            origin = NULL;
    }
    frame = sss_fanout_frame(f, rec->v[0].p, rec->v[0].len, rec->v[1].p, rec->v[1].len,
                             rec->v[2].p, rec->v[2].len, &h->uid);
    if (!frame) {
        sss_log_error("handler", "cannot build a FEED frame (out of memory)");
        return;
    }
    if (sss_index_feed(&f->index, c, &h->uid, frame, origin)) {
        /* A socket publish: its sender gets UPDATESUB instead of its own FEED. */
        struct sss_buf *b;

        sss_proto_out_reset(&f->json);
        if (sss_proto_encode_updatesub(&f->json, c->name, &h->uid) == 0 && !f->json.oom &&
            (b = sss_wire_frame(origin->encoding, f->json.data, f->json.len)))
            sss_conn_send(origin, b);
    }
    sss_buf_unref(frame);
    sss_wire_frames_fini(&f->frames); /* this FEED's other encodings, if any were built */
}

/* The engine lost messages of a channel for this host (SSS_HM_GAP_RECORD; v: channel). */
static void on_gap(void *data, const struct sss_hm_rec *rec)
{
    struct sss_fanout *f = data;
    struct sss_lchan *c = rec->v[0].len ? sss_index_chan(&f->index, rec->v[0].p, rec->v[0].len)
                                        : NULL;

    if (c)
        missed(c);
}

/* Broadcasts and boots concern connections: the session's. */
static void on_conn_record(void *data, const struct sss_hm_rec *rec)
{
    struct sss_fanout *f = data;

    f->hooks.record(f->hooks.data, rec);
}

static const struct sss_hm_dispatcher from_bus = {
    .who = "fanout",
    .on = {[SSS_HM_FEED] = on_feed,
           [SSS_HM_GAP_RECORD] = on_gap,
           [SSS_HM_BCAST_RECORD] = on_conn_record,
           [SSS_HM_BOOT_RECORD] = on_conn_record},
};

int sss_fanout_poll(struct sss_fanout *f, int max)
{
    int n = 0;

    for (; n < max; n++) {
        uint32_t type;
        size_t len;
        int rc = sss_bus_read(&f->rd, f->buf, f->cap, &type, &len);

        if (rc == SSS_BUS_LAPPED) {
            on_lapped(f);
            continue;
        }
        if (rc != 1)
            break;
        (void)sss_hm_dispatch(&f->from_bus, f, type, f->buf, len);
    }
    return n;
}

int sss_fanout_readable(const struct sss_fanout *f)
{
    return sss_bus_readable(&f->rd);
}

/* ---- index callbacks ---- */

/*
 * frame is a FEED's JSON frame (live, or held for a pending subscription).
 * Another encoding's frame is built from it once and kept beside it (with a
 * reference on it, so that its address names it) until another frame comes:
 * every subscriber of a FEED is delivered in one run, so a FEED is transcoded
 * once per worker, however many msgpack subscribers it has.
 */
static void deliver(struct sss_conn *c, struct sss_buf *frame, void *data)
{
    struct sss_fanout *f = data;
    struct sss_buf *b = frame;

    if (c->encoding != SSS_WIRE_JSON) {
        uint64_t built;

        if (f->frames.f[SSS_WIRE_JSON] != frame) {
            sss_wire_frames_fini(&f->frames);
            sss_wire_frames_init(&f->frames, frame);
        }
        built = f->frames.built;
        b = sss_wire_frames_get(&f->frames, c->encoding);
        f->transcoded += f->frames.built - built;
        if (!b) {
            sss_conn_close(c, SSS_WS_CLOSE_INTERNAL, "out of memory", 0);
            return;
        }
    }
    sss_conn_send(c, sss_buf_ref(b));
}

static void held_changed(struct sss_conn *c, long delta, void *data)
{
    struct sss_fanout *f = data;

    f->hooks.held(c, delta, f->hooks.data);
}

/* ---- setup ---- */

int sss_fanout_init(struct sss_fanout *f, struct sss_bus *bus, int worker_id, struct sss_rpc *rpc,
                    struct sss_counters *ctr, const struct sss_fanout_hooks *hooks)
{
    memset(f, 0, sizeof(*f));
    sss_index_init(&f->index, deliver, held_changed, f);
    sss_proto_out_init(&f->json, NULL, 0);
    f->worker_id = worker_id;
    f->rpc = rpc;
    f->ctr = ctr;
    f->hooks = *hooks;
    f->from_bus = from_bus;
    f->cap = sss_bus_max_payload(bus);
    f->buf = sss_malloc(f->cap);
    if (!f->buf)
        return -ENOMEM;
    return sss_bus_reader_init(&f->rd, bus, worker_id);
}

void sss_fanout_fini(struct sss_fanout *f)
{
    sss_index_fini(&f->index);
    sss_wire_frames_fini(&f->frames);
    sss_proto_out_fini(&f->json);
    sss_bus_reader_fini(&f->rd);
    sss_free(f->buf);
    f->buf = NULL;
}
