/*
 * Checks that every engine (src/scaler/sss_engine.h) must pass, shared by
 * tests/unit/test_engine_mem.c and tests/integration/test_engine_redis.c.
 * The engine answers through its sink, now (memory) or after some polling
 * (redis): each helper asks, then pumps the engine until the answer came.
 */
#ifndef SSS_ENGINE_CHECKS_H
#define SSS_ENGINE_CHECKS_H

#include "sss_engine.h"
#include "sss_test.h"
#include "sss_time.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

struct got {
    int n;
    uint64_t offsets[64];
    uint64_t epochs[64];
    char topics[64][16];
    char msgs[64][16];
    int done, gap, has_last, rc, published, has, created;
    struct sss_uid last, uid;
    /* feeds */
    int nfeeds;
    struct sss_uid feeds[256];
    char feed_chan[256][16];
    int feed_origin[256];
    /* control records */
    int ncontrol;
    uint32_t control_type[16];
    char control_text[16][32];
};

static struct got G;

static void on_published(void *d, const struct sss_engine_tag *t, int rc, int created,
                         struct sss_uid uid)
{
    (void)d, (void)t;
    G.published++;
    G.created = created;
    G.rc = rc;
    G.uid = uid;
}

static void on_last(void *d, const struct sss_engine_tag *t, int rc, int has, struct sss_uid uid)
{
    (void)d, (void)t;
    G.done++;
    G.rc = rc;
    G.has = has;
    G.uid = uid;
}

static void on_record(void *d, const struct sss_engine_tag *t, const struct sss_engine_msg *m)
{
    (void)d, (void)t;
    if (G.n < 64) {
        G.offsets[G.n] = m->uid.offset;
        G.epochs[G.n] = m->uid.epoch;
        snprintf(G.topics[G.n], sizeof(G.topics[0]), "%.*s", (int)m->topic_len, m->topic);
        snprintf(G.msgs[G.n], sizeof(G.msgs[0]), "%.*s", (int)m->msg_len, m->msg);
    }
    G.n++;
}

static void on_done(void *d, const struct sss_engine_tag *t, int rc, int gap, int has_last,
                    struct sss_uid last)
{
    (void)d, (void)t;
    G.done++;
    G.rc = rc;
    G.gap = gap;
    G.has_last = has_last;
    G.last = last;
}

static void on_feed(void *d, const char *chan, size_t len, const struct sss_engine_msg *m,
                    const struct sss_engine_tag *origin)
{
    (void)d;
    if (G.nfeeds < 256) {
        G.feeds[G.nfeeds] = m->uid;
        snprintf(G.feed_chan[G.nfeeds], sizeof(G.feed_chan[0]), "%.*s", (int)len, chan);
        G.feed_origin[G.nfeeds] = origin ? (int)origin->conn : -1;
    }
    G.nfeeds++;
}

static void on_control(void *d, uint32_t type, const void *p, size_t len)
{
    (void)d;
    if (G.ncontrol < 16) {
        G.control_type[G.ncontrol] = type;
        snprintf(G.control_text[G.ncontrol], sizeof(G.control_text[0]), "%.*s", (int)len,
                 (const char *)p);
    }
    G.ncontrol++;
}

static const struct sss_engine_sink check_sink = {NULL,    on_published, on_last,   on_record,
                                                  on_done, on_feed,      on_control};

/* Pump the engine until *counter reaches want or ms pass. The memory engine has answered already. */
static void pump_ms(struct sss_engine *e, int *counter, int want, int ms)
{
    int64_t until = sss_now_ms() + ms;

    while (e->ops->pollfds && *counter < want && sss_now_ms() < until) {
        struct pollfd pfd[SSS_ENGINE_MAX_POLLFDS];
        int n = e->ops->pollfds(e, pfd, SSS_ENGINE_MAX_POLLFDS);

        if (poll(pfd, (nfds_t)n, 20) > 0)
            e->ops->handle(e, pfd, n);
        e->ops->tick(e, sss_wall_ms());
    }
}

static void pump(struct sss_engine *e, int *counter, int want)
{
    pump_ms(e, counter, want, 10000);
}

static const struct sss_engine_tag check_tag = {0, 0, 1, 0};

static void history(struct sss_engine *e, const char *chan, int has_after, struct sss_uid after)
{
    int want;

    G.n = 0;
    G.gap = G.has_last = 0;
    want = G.done + 1;
    e->ops->history(e, &check_tag, chan, strlen(chan), has_after, after);
    pump(e, &G.done, want);
    CHECK_EQ_INT(G.done, want);
}

static int last_uid(struct sss_engine *e, const char *chan, struct sss_uid *u)
{
    int want = G.done + 1;

    e->ops->last_uid(e, &check_tag, chan, strlen(chan));
    pump(e, &G.done, want);
    CHECK_EQ_INT(G.done, want);
    *u = G.uid;
    return G.has;
}

static int try_pub(struct sss_engine *e, const char *chan, const char *topic, const char *msg,
                   struct sss_uid *u)
{
    int want = G.published + 1;
    struct sss_engine_tag tag = {0, 0, 7, 42};

    e->ops->publish(e, &tag, chan, strlen(chan), topic, strlen(topic), msg, strlen(msg));
    pump(e, &G.published, want);
    CHECK_EQ_INT(G.published, want);
    *u = G.uid;
    return G.rc;
}

static struct sss_uid pub(struct sss_engine *e, const char *chan, const char *topic)
{
    struct sss_uid u = {0, 0};

    CHECK_EQ_INT(try_pub(e, chan, topic, "1", &u), 0);
    return u;
}

/*
 * Sequencing and history with history_size 4 on channel chan (fresh):
 * offsets from 1, one epoch, history keeps the newest 4, gaps are told.
 */
static void check_sequence_and_history(struct sss_engine *e, const char *chan, const char *other)
{
    struct sss_uid u1, u, none = {0, 0};

    CHECK_EQ_INT(last_uid(e, chan, &u), 0);
    history(e, chan, 0, none);
    CHECK(G.n == 0 && !G.gap && !G.has_last);
    history(e, chan, 1, (struct sss_uid){1000, 3});
    CHECK(G.gap); /* an unknown channel cannot vouch for what followed */
    u1 = pub(e, chan, "t1");
    CHECK(u1.epoch > 0 && u1.offset == 1);
    for (int i = 2; i <= 6; i++) {
        char t[8];

        snprintf(t, sizeof(t), "t%d", i);
        u = pub(e, chan, t);
        CHECK_EQ_INT(u.offset, i);
        CHECK(u.epoch == u1.epoch);
    }
    CHECK(last_uid(e, chan, &u) && u.offset == 6 && u.epoch == u1.epoch);
    /* History holds 3..6: after 2 is complete, after 1 is a gap. */
    history(e, chan, 1, (struct sss_uid){u1.epoch, 2});
    CHECK(!G.gap && G.n == 4 && G.offsets[0] == 3 && G.offsets[3] == 6);
    CHECK_EQ_STR(G.topics[0], "t3");
    CHECK_EQ_STR(G.msgs[0], "1");
    CHECK(G.has_last && G.last.offset == 6);
    history(e, chan, 1, (struct sss_uid){u1.epoch, 1});
    CHECK(G.gap && G.n == 0);
    history(e, chan, 1, (struct sss_uid){u1.epoch, 5});
    CHECK(!G.gap && G.n == 1 && G.offsets[0] == 6);
    history(e, chan, 1, (struct sss_uid){u1.epoch, 6});
    CHECK(!G.gap && G.n == 0);
    history(e, chan, 1, (struct sss_uid){u1.epoch - 1, 6});
    CHECK(G.gap); /* another epoch */
    history(e, chan, 0, none);
    CHECK(G.gap); /* saw it empty, but 1 and 2 are gone */
    /* Channels are independent. */
    u = pub(e, other, "x");
    CHECK(u.offset == 1 && u.epoch >= u1.epoch);
}

#endif
