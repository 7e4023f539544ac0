/* Unit tests of the in-memory engine (src/scaler/sss_engine_mem.c). */
#include "sss_engine.h"
#include "sss_test.h"

#include <stdio.h>

struct got {
    int n;
    uint64_t offsets[64];
    char topics[64][16];
    int done, gap, has_last;
    struct sss_uid last;
};

static void on_record(void *data, const struct sss_engine_msg *m)
{
    struct got *g = data;

    if (g->n < 64) {
        g->offsets[g->n] = m->uid.offset;
        snprintf(g->topics[g->n], sizeof(g->topics[0]), "%.*s", (int)m->topic_len, m->topic);
    }
    g->n++;
}

static void on_done(void *data, int rc, int gap, int has_last, struct sss_uid last)
{
    struct got *g = data;

    g->done++;
    g->gap = gap;
    g->has_last = has_last;
    g->last = last;
    (void)rc;
}

static struct got history(struct sss_engine *e, const char *chan, int has_after,
                          struct sss_uid after)
{
    struct got g;
    struct sss_engine_history_cb cb = {on_record, on_done, &g};

    memset(&g, 0, sizeof(g));
    CHECK_EQ_INT(e->ops->history(e, chan, strlen(chan), has_after, after, &cb), 0);
    CHECK_EQ_INT(g.done, 1);
    return g;
}

static struct sss_uid pub(struct sss_engine *e, const char *chan, const char *topic)
{
    struct sss_uid u = {0, 0};

    CHECK_EQ_INT(e->ops->publish(e, chan, strlen(chan), topic, strlen(topic), "1", 1, &u), 0);
    return u;
}

static void test_sequence_and_history(void)
{
    struct sss_engine_limits lim = {.history_size = 4, .history_ttl_ms = 0, .max_channels = 10};
    struct sss_engine *e = sss_engine_mem_create(&lim, 1000);
    struct sss_uid u1, u, none = {0, 0};
    struct got g;
    int has;

    CHECK_EQ_INT(e->ops->last_uid(e, "a", 1, &has, &u), 0);
    CHECK_EQ_INT(has, 0);
    g = history(e, "a", 0, none);
    CHECK(g.n == 0 && !g.gap && !g.has_last);
    g = history(e, "a", 1, (struct sss_uid){1000, 3});
    CHECK(g.gap); /* an unknown channel cannot vouch for what followed */
    u1 = pub(e, "a", "t1");
    CHECK(u1.epoch == 1000 && u1.offset == 1);
    for (int i = 2; i <= 6; i++) {
        char t[8];

        snprintf(t, sizeof(t), "t%d", i);
        u = pub(e, "a", t);
        CHECK_EQ_INT(u.offset, i);
        CHECK(u.epoch == u1.epoch);
    }
    CHECK_EQ_INT(e->ops->last_uid(e, "a", 1, &has, &u), 0);
    CHECK(has && u.offset == 6);
    /* History holds 3..6: after 2 is complete, after 1 is a gap. */
    g = history(e, "a", 1, (struct sss_uid){u1.epoch, 2});
    CHECK(!g.gap && g.n == 4 && g.offsets[0] == 3 && g.offsets[3] == 6);
    CHECK_EQ_STR(g.topics[0], "t3");
    CHECK(g.has_last && g.last.offset == 6);
    g = history(e, "a", 1, (struct sss_uid){u1.epoch, 1});
    CHECK(g.gap && g.n == 0);
    g = history(e, "a", 1, (struct sss_uid){u1.epoch, 5});
    CHECK(!g.gap && g.n == 1 && g.offsets[0] == 6);
    g = history(e, "a", 1, (struct sss_uid){u1.epoch, 6});
    CHECK(!g.gap && g.n == 0);
    g = history(e, "a", 1, (struct sss_uid){u1.epoch - 1, 6});
    CHECK(g.gap); /* another epoch */
    g = history(e, "a", 0, none);
    CHECK(g.gap); /* saw it empty, but 1 and 2 are gone */
    /* Channels are independent. */
    u = pub(e, "b", "x");
    CHECK(u.offset == 1 && u.epoch > u1.epoch);
    e->ops->destroy(e);
}

static void test_ttl_and_new_epoch(void)
{
    struct sss_engine_limits lim = {.history_size = 10, .history_ttl_ms = 100, .max_channels = 2};
    struct sss_engine *e = sss_engine_mem_create(&lim, 5000);
    struct sss_uid u1, u2, u3;
    struct got g;
    int has;

    u1 = pub(e, "c", "a");
    e->ops->tick(e, 5050);
    u2 = pub(e, "c", "b");
    CHECK(u2.offset == 2 && u2.epoch == u1.epoch);
    e->ops->tick(e, 5120); /* u1 expired, u2 not yet */
    g = history(e, "c", 1, u1);
    CHECK(!g.gap && g.n == 1 && g.offsets[0] == 2);
    g = history(e, "c", 0, (struct sss_uid){0, 0});
    CHECK(g.gap);
    e->ops->tick(e, 5200); /* everything expired: the channel is forgotten */
    CHECK_EQ_INT(e->ops->last_uid(e, "c", 1, &has, &u3), 0);
    CHECK_EQ_INT(has, 0);
    u3 = pub(e, "c", "c");
    CHECK(u3.offset == 1 && u3.epoch > u2.epoch); /* never reuses (epoch, 1) */
    g = history(e, "c", 1, u2);
    CHECK(g.gap);
    /* max_channels */
    pub(e, "d", "x");
    {
        struct sss_uid u;

        CHECK_EQ_INT(e->ops->publish(e, "e", 1, "t", 1, "1", 1, &u), SSS_ELIMIT);
    }
    e->ops->destroy(e);
}

int main(void)
{
    test_sequence_and_history();
    test_ttl_and_new_epoch();
    return sss_test_done();
}
