/* Unit tests of the in-memory engine (src/scaler/sss_engine_mem.c). */
#include "../common/engine_checks.h"

static void test_sequence_and_history(void)
{
    struct sss_engine_limits lim = {.history_size = 4, .history_ttl_ms = 0, .max_channels = 10};
    struct sss_engine *e = sss_engine_mem_create(&lim, &check_sink, 1000, NULL);
    struct sss_uid u;

    memset(&G, 0, sizeof(G));
    check_sequence_and_history(e, "a", "b");
    /* The memory engine feeds every publish at once, origin tag included. */
    CHECK_EQ_INT(G.nfeeds, 7);
    CHECK(G.feed_origin[0] == 42 && !strcmp(G.feed_chan[6], "b"));
    u = pub(e, "b", "y");
    CHECK(u.offset == 2 && G.feeds[G.nfeeds - 1].offset == 2);
    CHECK_EQ_INT(e->ops->control(e, 5, "hello", 5), 0);
    CHECK(G.ncontrol == 1 && G.control_type[0] == 5 && !strcmp(G.control_text[0], "hello"));
    e->ops->destroy(e);
}

static void test_ttl_and_new_epoch(void)
{
    struct sss_engine_limits lim = {.history_size = 10, .history_ttl_ms = 100, .max_channels = 2};
    struct sss_engine *e = sss_engine_mem_create(&lim, &check_sink, 5000, NULL);
    struct sss_uid u1, u2, u3, u;

    memset(&G, 0, sizeof(G));
    u1 = pub(e, "c", "a");
    e->ops->tick(e, 5050);
    u2 = pub(e, "c", "b");
    CHECK(u2.offset == 2 && u2.epoch == u1.epoch);
    e->ops->tick(e, 5120); /* u1 expired, u2 not yet */
    history(e, "c", 1, u1);
    CHECK(!G.gap && G.n == 1 && G.offsets[0] == 2);
    history(e, "c", 0, (struct sss_uid){0, 0});
    CHECK(G.gap);
    e->ops->tick(e, 5200); /* everything expired: the channel is forgotten */
    CHECK_EQ_INT(last_uid(e, "c", &u3), 0);
    u3 = pub(e, "c", "c");
    CHECK(u3.offset == 1 && u3.epoch > u2.epoch); /* never reuses (epoch, 1) */
    history(e, "c", 1, u2);
    CHECK(G.gap);
    /* max_channels */
    pub(e, "d", "x");
    CHECK_EQ_INT(try_pub(e, "e", "t", "1", &u), SSS_ELIMIT);
    e->ops->destroy(e);
}

/* A restarted scaler whose wall clock went back still gives greater epochs
 * (issue 11): the floor word outlives the engine, as in shared memory. */
static void test_epoch_floor_across_restarts(void)
{
    struct sss_engine_limits lim = {.history_size = 4, .history_ttl_ms = 0, .max_channels = 10};
    _Atomic uint64_t floor_word = 0;
    struct sss_engine *e = sss_engine_mem_create(&lim, &check_sink, 90000, &floor_word);
    struct sss_uid u1, u2, u3;

    memset(&G, 0, sizeof(G));
    u1 = pub(e, "f", "a");
    CHECK(u1.epoch >= 90000 && atomic_load(&floor_word) == u1.epoch);
    e->ops->destroy(e);
    e = sss_engine_mem_create(&lim, &check_sink, 20000, &floor_word); /* the clock stepped back */
    u2 = pub(e, "f", "b");
    CHECK(u2.epoch > u1.epoch && u2.offset == 1);
    u3 = pub(e, "g", "c");
    CHECK(u3.epoch > u2.epoch);
    CHECK_EQ_INT(atomic_load(&floor_word), u3.epoch);
    e->ops->destroy(e);
}

int main(void)
{
    test_sequence_and_history();
    test_ttl_and_new_epoch();
    test_epoch_floor_across_restarts();
    return sss_test_done();
}
