/*
 * A worker's protocol without io_uring or sockets, for the unit tests of
 * sss_rpc, sss_fanout and sss_session: the two mailbox rings and the bus in
 * plain memory, a fake scaler that reads what the worker sent and answers,
 * and connections that are never given to a ring (state WS, fd -1) whose
 * send queue the test reads frame by frame.
 *
 *   struct tw t; tw_init(&t, bus_capacity);      rings, bus, cfg, counters
 *   tw_start(&t);                                rpc + session + fan-out
 *   c = tw_conn(&t, "user", "session");          an upgraded connection
 *   tw_client_send(&t, c, "{...}");              a client message
 *   tw_scaler_next(&t, type, &len)               the next request (bookkeeping skipped)
 *   tw_reply_*(...)                              the scaler's answers
 *   tw_poll(&t);  tw_frame(c, buf, cap)          read bus/mailbox; next text sent to c
 */
#ifndef SSS_TEST_WORKER_H
#define SSS_TEST_WORKER_H

#include "sss_alloc.h"
#include "sss_bus.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_fanout.h"
#include "sss_hostmsg.h"
#include "sss_ring.h"
#include "sss_rpc.h"
#include "sss_session.h"
#include "sss_shm.h"
#include "sss_worker.h"

#include <stdlib.h>
#include <string.h>

#define TW_RING_CAP (64 * 1024)

struct tw {
    struct sss_cfg cfg;
    struct sss_counters *ctr;
    struct sss_ring *inbox;     /* scaler -> worker */
    struct sss_ring *to_scaler; /* worker -> scaler */
    struct sss_bus *bus;
    struct sss_worker w;        /* only cfg, ctr, now_ms: what sss_conn_send reads */
    _Atomic uint32_t gen;       /* the scaler generation (the shm header's, here) */
    _Atomic uint32_t engine_flags; /* SSS_SHM_ENGINE_* (the shm header's, here) */
    int64_t now;
    uint8_t rec[TW_RING_CAP];   /* the last record taken from to_scaler */
    int started;
};

static void *tw_alloc(size_t size)
{
    void *p = aligned_alloc(64, (size + 63) & ~(size_t)63);

    if (!p)
        abort();
    memset(p, 0, size);
    return p;
}

static inline void tw_init(struct tw *t, size_t bus_cap)
{
    memset(t, 0, sizeof(*t));
    sss_cfg_defaults(&t->cfg);
    t->ctr = tw_alloc(sizeof(*t->ctr));
    t->inbox = sss_ring_init(tw_alloc(sss_ring_size(TW_RING_CAP)), TW_RING_CAP);
    t->to_scaler = sss_ring_init(tw_alloc(sss_ring_size(TW_RING_CAP)), TW_RING_CAP);
    t->bus = sss_bus_init(tw_alloc(sss_bus_size(bus_cap, 1)), bus_cap, 1, 0);
    if (!t->inbox || !t->to_scaler || !t->bus)
        abort();
    t->now = 1000;
    t->w.cfg = &t->cfg;
    t->w.ctr = t->ctr;
    t->w.now_ms = t->now;
}

/* The protocol's three parts, wired as sss_worker.c's proto_init wires them. */
static inline void tw_start(struct tw *t)
{
    struct sss_fanout_hooks hooks;

    sss_rpc_init(&t->w.rpc, t->inbox, t->to_scaler, NULL, t->cfg.mailbox_size);
    if (sss_session_init(&t->w.session, &t->cfg, NULL, &t->w.rpc, &t->w.fanout, t->ctr, &t->gen,
                         &t->engine_flags, &t->now) < 0)
        abort();
    sss_session_fanout_hooks(&t->w.session, &hooks);
    if (sss_fanout_init(&t->w.fanout, t->bus, 0, &t->w.rpc, t->ctr, &hooks) < 0)
        abort();
    t->w.handler = &sss_session_handler;
    t->w.handler_data = &t->w.session;
    t->started = 1;
}

/* An upgraded connection (never given to a ring). */
static inline struct sss_conn *tw_conn(struct tw *t, const char *user, const char *session)
{
    struct sss_conn *c = sss_calloc(1, sizeof(*c));

    if (!c)
        abort();
    sss_conn_init(c, &t->w, -1);
    c->state = SSS_CONN_WS;
    if (sss_conn_set_user(c, user, user ? strlen(user) : 0) < 0 ||
        sss_conn_set_session(c, session, session ? strlen(session) : 0) < 0)
        abort();
    if (t->started && t->w.handler->open(t->w.handler_data, c) < 0)
        abort();
    c->opened = (uint8_t)t->started;
    return c;
}

/* Drop what is queued for c. */
static inline void tw_conn_drain(struct sss_conn *c)
{
    while (c->qlen) {
        sss_buf_unref(c->q[c->qhead].b);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    c->qbytes = 0;
}

static inline void tw_conn_free(struct sss_conn *c)
{
    if (c->client)
        sss_session_closed(c);
    tw_conn_drain(c);
    sss_conn_fini(c);
    sss_free(c);
}

/*
 * The next data frame queued for c, its payload copied to buf (NUL-ended).
 * Returns the opcode (1 text, 8 close), or -1 if nothing is queued.
 */
static inline int tw_frame(struct sss_conn *c, char *buf, size_t cap)
{
    struct sss_buf *b;
    const uint8_t *d;
    size_t hl = 2, pl;
    int op;

    if (!c->qlen)
        return -1;
    b = c->q[c->qhead].b;
    d = b->data;
    op = d[0] & 0x0f;
    pl = d[1] & 0x7f;
    if (pl == 126) {
        pl = ((size_t)d[2] << 8) | d[3];
        hl = 4;
    } else if (pl == 127) {
        pl = 0;
        for (int i = 0; i < 8; i++)
            pl = (pl << 8) | d[2 + i];
        hl = 10;
    }
    if (pl >= cap)
        pl = cap - 1;
    memcpy(buf, d + hl, pl);
    buf[pl] = '\0';
    /* A private buffer (wslay's close) may hold more than one frame: drop it whole. */
    c->qbytes -= b->len;
    sss_buf_unref(b);
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    return op;
}

/* Count the frames queued for c. */
static inline unsigned tw_queued(const struct sss_conn *c)
{
    return c->qlen;
}

static inline void tw_client_send(struct sss_conn *c, const char *json)
{
    sss_session_message(c, WSLAY_TEXT_FRAME, (const uint8_t *)json, strlen(json));
}

/*
 * The next record the worker sent the scaler, skipping PRESENCE and SESSION
 * bookkeeping unless want is one of them. Copied to t->rec. Returns a
 * pointer to it when its type is want, NULL otherwise (or if none).
 */
static inline void *tw_scaler_next(struct tw *t, uint32_t want, size_t *len_out)
{
    const void *p;
    uint32_t type;
    size_t len;

    for (;;) {
        if (sss_ring_peek(t->to_scaler, &type, &p, &len) != 1)
            return NULL;
        if ((type == SSS_HM_PRESENCE || type == SSS_HM_SESSION) && type != want) {
            sss_ring_consume(t->to_scaler);
            continue;
        }
        memcpy(t->rec, p, len < sizeof(t->rec) ? len : sizeof(t->rec));
        sss_ring_consume(t->to_scaler);
        if (len_out)
            *len_out = len;
        return type == want ? t->rec : NULL;
    }
}

/* Whether the worker sent the scaler anything but bookkeeping. */
static inline int tw_scaler_idle(struct tw *t)
{
    return tw_scaler_next(t, 0, NULL) == NULL && !sss_ring_readable(t->to_scaler);
}

static inline void tw_reply_last_uid(struct tw *t, uint64_t req, int has, uint64_t epoch,
                                     uint64_t offset)
{
    struct sss_hm_last_uid_r r = {.req = req, .has = (uint32_t)has};

    r.uid.epoch = epoch;
    r.uid.offset = offset;
    if (sss_ring_push(t->inbox, SSS_HM_LAST_UID_R, &r, sizeof(r)) != 0)
        abort();
}

static inline void tw_reply_hist_rec(struct tw *t, uint64_t req, uint64_t epoch, uint64_t offset,
                                     const char *topic, const char *msg)
{
    struct sss_hm_hist_rec r = {.req = req};
    char var[512];
    size_t tl = strlen(topic), ml = strlen(msg);

    r.uid.epoch = epoch;
    r.uid.offset = offset;
    r.topic_len = (uint16_t)tl;
    r.msg_len = (uint32_t)ml;
    memcpy(var, topic, tl);
    memcpy(var + tl, msg, ml);
    if (sss_ring_push2(t->inbox, SSS_HM_HIST_REC, &r, sizeof(r), var, tl + ml) != 0)
        abort();
}

static inline void tw_reply_hist_end(struct tw *t, uint64_t req, int gap, int has_last,
                                     uint64_t epoch, uint64_t offset)
{
    struct sss_hm_hist_end r = {.req = req, .gap = (uint32_t)gap, .has_last = (uint32_t)has_last};

    r.last.epoch = epoch;
    r.last.offset = offset;
    if (sss_ring_push(t->inbox, SSS_HM_HIST_END, &r, sizeof(r)) != 0)
        abort();
}

static inline void tw_reply_published(struct tw *t, uint64_t req, uint64_t epoch, uint64_t offset)
{
    struct sss_hm_published r = {.req = req};

    r.uid.epoch = epoch;
    r.uid.offset = offset;
    if (sss_ring_push(t->inbox, SSS_HM_PUBLISHED, &r, sizeof(r)) != 0)
        abort();
}

/* The scaler appends a FEED to the bus. */
static inline void tw_bus_feed(struct tw *t, const char *chan, uint64_t epoch, uint64_t offset,
                               const char *msg)
{
    struct sss_hm_feed f;
    char var[512];
    size_t cl = strlen(chan), ml = strlen(msg);

    memset(&f, 0, sizeof(f));
    f.uid.epoch = epoch;
    f.uid.offset = offset;
    f.origin_worker = -1;
    f.chan_len = (uint16_t)cl;
    f.topic_len = 1;
    f.msg_len = (uint32_t)ml;
    memcpy(var, chan, cl);
    var[cl] = 't';
    memcpy(var + cl + 1, msg, ml);
    if (sss_bus_append2(t->bus, SSS_HM_FEED, &f, sizeof(f), var, cl + 1 + ml) < 0)
        abort();
}

static inline int tw_poll(struct tw *t)
{
    return sss_session_poll(&t->w.session);
}

/* The master starts a new scaler. */
static inline void tw_scaler_restart(struct tw *t)
{
    atomic_fetch_add(&t->gen, 1);
}

static inline void tw_fini(struct tw *t)
{
    if (t->started) {
        sss_rpc_fini(&t->w.rpc);
        sss_fanout_fini(&t->w.fanout);
        sss_session_fini(&t->w.session);
    }
    free(t->ctr);
    free((void *)t->inbox);
    free((void *)t->to_scaler);
    free((void *)t->bus);
}

#endif
