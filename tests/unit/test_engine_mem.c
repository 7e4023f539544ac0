/* Unit tests of the in-memory engine (src/scaler/sss_engine_mem.c). */
#include "../common/engine_checks.h"
#include "sss_hostmsg.h"

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

/* Publish msg (any text) on chan with the given SSS_HM_* flags: its rc. */
static int pub_as(struct sss_engine *e, uint32_t flags, const char *chan, const char *msg,
                  struct sss_uid *u)
{
    struct sss_engine_tag tag = {0, flags, 7, 42};
    int want = G.published + 1;

    e->ops->publish(e, &tag, chan, strlen(chan), "t", 1, msg, strlen(msg));
    CHECK_EQ_INT(G.published, want);
    if (u)
        *u = G.uid;
    return G.rc;
}

/*
 * --history-memory (issue 18): the host's history stays under the bound
 * however many channels and messages; the host's oldest messages leave
 * first, whatever their channel, and their channels' history answers say gap.
 */
static void test_history_memory(void)
{
    static char big[2001];
    struct sss_engine_limits lim = {.history_size = 256, .max_channels = 1000,
                                    .max_client_channels = 1000, .history_memory = 20000};
    struct sss_engine *e = sss_engine_mem_create(&lim, &check_sink, 1000, NULL);
    struct sss_uid v1, v2, u;

    memset(&G, 0, sizeof(G));
    memset(big, 'x', sizeof(big) - 1);
    CHECK_EQ_INT(pub_as(e, 0, "victim", "1", &v1), 0);
    CHECK_EQ_INT(pub_as(e, 0, "victim", "2", &v2), 0);
    CHECK(e->stats.history_bytes > 0 && e->stats.channels == 1);
    /* 100 messages of 2000 bytes on 50 channels: 200 kB published, 20 kB kept. */
    for (int i = 0; i < 100; i++) {
        char name[16];

        snprintf(name, sizeof(name), "flood-%d", i % 50);
        CHECK_EQ_INT(pub_as(e, SSS_HM_FROM_CLIENT, name, big, &u), 0);
        CHECK(e->stats.history_bytes <= lim.history_memory);
    }
    CHECK(e->stats.trimmed_messages > 80 && e->stats.trimmed_bytes > 160000);
    /* The victim's messages were the oldest: gone, and told as a gap; the
     * channel was left empty, so it is forgotten. */
    history(e, "victim", 1, v1);
    CHECK(G.gap && G.n == 0);
    CHECK(e->stats.trimmed_channels >= 1 + 40);
    CHECK(e->stats.channels < 10 && e->stats.channels == e->stats.client_channels);
    /* The newest flood message is there; the channel's first one left long
     * before, and the channel with it, so this one began a new epoch. */
    CHECK(last_uid(e, "flood-49", &u) && u.offset == 1);
    history(e, "flood-49", 0, (struct sss_uid){0, 0});
    CHECK(!G.gap && G.n == 1 && G.offsets[0] == 1);
    /* A message alone over the bound is still kept (the newest stays). */
    {
        static char huge[30001];

        memset(huge, 'y', sizeof(huge) - 1);
        CHECK_EQ_INT(pub_as(e, 0, "huge", huge, &u), 0);
        history(e, "huge", 0, (struct sss_uid){0, 0});
        CHECK(!G.gap && G.n == 1);
        CHECK_EQ_INT(e->stats.channels, 1);
    }
    e->ops->destroy(e);
}

/*
 * Channels clients create (issue 18) are counted apart from those of the
 * application and the API: clients that used up theirs leave the others
 * their room, and a connection past its own limit (SSS_HM_NO_CREATE) may
 * still publish on channels that exist.
 */
static void test_client_channels(void)
{
    struct sss_engine_limits lim = {.history_size = 4, .max_channels = 2,
                                    .max_client_channels = 3, .history_memory = 1 << 20};
    struct sss_engine *e = sss_engine_mem_create(&lim, &check_sink, 1000, NULL);
    const uint32_t C = SSS_HM_FROM_CLIENT;

    memset(&G, 0, sizeof(G));
    CHECK_EQ_INT(pub_as(e, C, "c1", "1", NULL), 0);
    CHECK_EQ_INT(G.created, 1);
    CHECK_EQ_INT(pub_as(e, C, "c1", "1", NULL), 0);
    CHECK_EQ_INT(G.created, 0);
    CHECK_EQ_INT(pub_as(e, C, "c2", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, C, "c3", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, C, "c4", "1", NULL), SSS_ELIMIT);
    CHECK_EQ_INT(G.created, 0);
    /* The application's and API's room is whole. */
    CHECK_EQ_INT(pub_as(e, 0, "a1", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, 0, "a2", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, 0, "a3", "1", NULL), SSS_ELIMIT);
    /* Existing channels take anyone's publish, whoever made them. */
    CHECK_EQ_INT(pub_as(e, C, "a1", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, 0, "c3", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, C | SSS_HM_NO_CREATE, "c2", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, SSS_HM_NO_CREATE, "new", "1", NULL), SSS_ELIMIT);
    CHECK(e->stats.channels == 5 && e->stats.client_channels == 3);
    CHECK_EQ_INT(e->stats.channels_refused, 3);
    e->ops->destroy(e);
    /* A client channel forgotten (its history expired) frees its place. */
    lim.history_ttl_ms = 10;
    e = sss_engine_mem_create(&lim, &check_sink, 1000, NULL);
    CHECK_EQ_INT(pub_as(e, C, "c1", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, C, "c2", "1", NULL), 0);
    CHECK_EQ_INT(pub_as(e, C, "c3", "1", NULL), 0);
    e->ops->tick(e, 1000 + 20);
    CHECK_EQ_INT(e->stats.client_channels, 0);
    CHECK_EQ_INT(pub_as(e, C, "c4", "1", NULL), 0);
    e->ops->destroy(e);
}

int main(void)
{
    test_sequence_and_history();
    test_ttl_and_new_epoch();
    test_epoch_floor_across_restarts();
    test_history_memory();
    test_client_channels();
    return sss_test_done();
}
