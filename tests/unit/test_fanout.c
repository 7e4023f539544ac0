/*
 * Tests of the bus side of a worker (src/worker/sss_fanout.c) without
 * io_uring or sockets (sss_test_worker.h), its hooks given by a session:
 *   - lap recovery: a lapped worker holds its channels, asks history after
 *     the last uid it delivered, delivers it, then the FEEDs held meanwhile:
 *     every uid exactly once, in order;
 *   - a lap past history closes the channel's subscribers with 4008;
 *   - an engine gap record does the same;
 *   - FEEDs for channels nobody here subscribed cost nothing;
 *   - a lap's history request outstanding when the scaler restarts is asked
 *     again under the same id, from where it first started (issue 11: not
 *     after FEEDs held meanwhile), and its answer still releases the channel;
 *   - issue 11: a second lap while the first answer is on its way asks again
 *     after that answer's end instead of releasing over a silent gap, and a lap while the outbox is past its limit (a stalled
 *     scaler, clients told "server busy") still asks history: before, the
 *     request was refused and the lapped range silently lost;
 *   - issue 13: a FEED to JSON and sss.v1.msgpack subscribers is framed once
 *     per encoding: one MessagePack frame, the same buffer in every msgpack
 *     subscriber's queue, however many there are.
 */
#include "sss_test.h"
#include "sss_test_history.h"
#include "sss_test_worker.h"

#define SMALL_BUS 4096

static char fr[4096];

/* A connection subscribed to chan and live above uid (1, floor). */
static struct sss_conn *subscribed_conn(struct tw *t, const char *chan, uint64_t floor)
{
    struct sss_conn *c = tw_conn(t, NULL, NULL);
    struct sss_hm_last_uid *q;
    char msg[128];

    tw_client_send(c, "{\"sys\":3}");
    snprintf(msg, sizeof(msg), "{\"sys\":1,\"channel\":\"%s\",\"id\":1}", chan);
    tw_client_send(c, msg);
    q = tw_scaler_next(t, SSS_HM_LAST_UID, NULL);
    CHECK(q != NULL);
    if (q)
        tw_reply_last_uid(t, q->req, 1, 1, floor);
    tw_poll(t);
    tw_conn_drain(c);
    return c;
}

/* The uid offsets of the FEEDs queued for c, in order, into got[]; returns how many. */
static int feed_offsets(struct sss_conn *c, uint64_t *got, int max)
{
    int n = 0;

    while (n < max && tw_frame(c, fr, sizeof(fr)) == 1) {
        const char *u = strstr(fr, "\"uid\":\"1-");

        if (strstr(fr, "\"sys\":8") && u)
            got[n++] = strtoull(u + 9, NULL, 10);
    }
    return n;
}

static void test_fanout_lap_recovery(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;
    uint64_t got[400];
    int n, ordered = 1;

    tw_init(&t, SMALL_BUS);
    tw_start(&t);
    c = subscribed_conn(&t, "sport", 0);
    tw_bus_feed(&t, "sport", 1, 1, "1");
    tw_bus_feed(&t, "sport", 1, 2, "2");
    tw_poll(&t);
    CHECK_EQ_INT(feed_offsets(c, got, 400), 2);
    /* The worker sleeps while the bus goes round: it is lapped. */
    for (uint64_t u = 3; u <= 200; u++)
        tw_bus_feed(&t, "sport", 1, u, "\"xxxxxxxxxxxxxxxx\"");
    tw_poll(&t);
    CHECK_EQ_INT(atomic_load(&t.ctr->laps), 1);
    CHECK_EQ_INT(tw_queued(c), 0);
    q = tw_history_after(&t, 2); /* the last uid it delivered */
    if (!q)
        goto out;
    /* Live FEEDs while the history comes are held. */
    tw_feeds_held(&t, c, 200, "\"dup\"", 201, "\"n\"");
    for (uint64_t u = 3; u <= 200; u++)
        tw_reply_hist_rec(&t, q->req, 1, u, "t", "\"h\"");
    tw_reply_hist_end(&t, q->req, 0, 1, 1, 200);
    tw_poll(&t);
    n = feed_offsets(c, got, 400);
    CHECK_EQ_INT(n, 199);
    for (int i = 0; i < n; i++)
        if (got[i] != (uint64_t)i + 3)
            ordered = 0;
    CHECK(ordered);
    /* Live again. */
    tw_bus_feed(&t, "sport", 1, 202, "\"n\"");
    tw_poll(&t);
    CHECK_EQ_INT(feed_offsets(c, got, 400), 1);
    CHECK_EQ_INT(got[0], 202);
out:
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_fanout_lap_past_history(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;

    tw_init(&t, SMALL_BUS);
    tw_start(&t);
    c = subscribed_conn(&t, "sport", 0);
    for (uint64_t u = 1; u <= 200; u++)
        tw_bus_feed(&t, "sport", 1, u, "\"xxxxxxxxxxxxxxxx\"");
    tw_poll(&t);
    q = tw_scaler_next(&t, SSS_HM_HISTORY, NULL);
    CHECK(q != NULL);
    if (q)
        tw_reply_hist_end(&t, q->req, 1, 1, 1, 200); /* history no longer reaches back */
    tw_poll(&t);
    CHECK(c->closing); /* 4008: its SYNC will report the gap */
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 8);
    CHECK_EQ_INT(((uint8_t)fr[0] << 8) | (uint8_t)fr[1], 4008);
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_fanout_gap_record(void)
{
    struct tw t;
    struct sss_conn *a, *b;

    tw_init(&t, 64 * 1024);
    tw_start(&t);
    a = subscribed_conn(&t, "sport", 0);
    b = subscribed_conn(&t, "news", 0);
    CHECK_EQ_INT(sss_bus_append(t.bus, SSS_HM_GAP_RECORD, "sport", 5), 0);
    tw_poll(&t);
    CHECK(a->closing);
    CHECK(!b->closing);
    tw_conn_free(a);
    tw_conn_free(b);
    tw_fini(&t);
}

static void test_fanout_unsubscribed_channel(void)
{
    struct tw t;
    struct sss_conn *c;

    tw_init(&t, 64 * 1024);
    tw_start(&t);
    c = subscribed_conn(&t, "sport", 0);
    tw_bus_feed(&t, "other", 1, 1, "1");
    tw_poll(&t);
    CHECK_EQ_INT(tw_queued(c), 0);
    CHECK(sss_index_chan(&t.w.fanout.index, "other", 5) == NULL);
    tw_conn_free(c);
    tw_fini(&t);
}

/* Feed offsets from..to of chan into the bus, big enough to lap SMALL_BUS. */
static void feed_range(struct tw *t, uint64_t from, uint64_t to)
{
    for (uint64_t u = from; u <= to; u++)
        tw_bus_feed(t, "sport", 1, u, "\"xxxxxxxxxxxxxxxx\"");
}

static int exactly_range(const uint64_t *got, int n, uint64_t from, uint64_t to)
{
    if (n != (int)(to - from + 1))
        return 0;
    for (int i = 0; i < n; i++)
        if (got[i] != from + (uint64_t)i)
            return 0;
    return 1;
}

/*
 * c, live on sport from the start, gets uid 1; then the bus laps it (2..200).
 * Returns the history request that follows, checked to ask after 1; NULL if none.
 */
static struct sss_hm_history *lapped_after_first(struct tw *t, struct sss_conn *c)
{
    uint64_t got[8];

    tw_bus_feed(t, "sport", 1, 1, "1");
    tw_poll(t);
    CHECK_EQ_INT(feed_offsets(c, got, 8), 1);
    feed_range(t, 2, 200);
    tw_poll(t);
    return tw_history_after(t, 1);
}

static void test_fanout_second_lap_during_catchup(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;
    uint64_t req1, got[600];
    int n;

    tw_init(&t, SMALL_BUS);
    tw_start(&t);
    c = subscribed_conn(&t, "sport", 0);
    q = lapped_after_first(&t, c); /* the first lap */
    if (!q)
        goto out;
    req1 = q->req;
    /* The scaler answers from history as it is now (up to 250)... */
    for (uint64_t u = 2; u <= 250; u++)
        tw_reply_hist_rec(&t, req1, 1, u, "t", "\"h\"");
    tw_reply_hist_end(&t, req1, 0, 1, 1, 250);
    /* ...but before the worker reads that answer the bus laps it again
     * (201..400: 251..400 are in no answer), then 401 arrives live. */
    feed_range(&t, 201, 400);
    tw_poll(&t);
    tw_bus_feed(&t, "sport", 1, 401, "\"n\"");
    tw_poll(&t);
    CHECK_EQ_INT(atomic_load(&t.ctr->laps), 2);
    /* It must ask again after 250, not release 401 over the gap. */
    q = tw_history_after(&t, 250);
    if (!q)
        goto out;
    for (uint64_t u = 251; u <= 401; u++)
        tw_reply_hist_rec(&t, q->req, 1, u, "t", "\"h\"");
    tw_reply_hist_end(&t, q->req, 0, 1, 1, 401);
    tw_poll(&t);
    n = feed_offsets(c, got, 600);
    CHECK(exactly_range(got, n, 2, 401)); /* every uid once, in order */
    CHECK(!c->closing);
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 0);
out:
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_fanout_catchup_replay_from_start(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;
    uint64_t req, got[600];
    int asked = 0, n;

    tw_init(&t, SMALL_BUS);
    tw_start(&t);
    c = subscribed_conn(&t, "sport", 0);
    q = lapped_after_first(&t, c); /* history after 1 is asked */
    if (!q)
        goto out;
    req = q->req;
    /* Live FEEDs are held meanwhile: the channel's last uid moves to 202. */
    tw_feeds_held(&t, c, 201, "\"n\"", 202, "\"n\"");
    tw_scaler_restart(&t); /* the question dies with the scaler */
    tw_poll(&t);
    while (sss_ring_readable(t.to_scaler)) {
        q = tw_scaler_next(&t, SSS_HM_HISTORY, NULL);
        if (q) {
            asked++;
            CHECK_EQ_INT(q->req, req);
            CHECK_EQ_INT(q->after.offset, 1); /* where it started, not 202 */
        }
    }
    CHECK_EQ_INT(asked, 1);
    for (uint64_t u = 2; u <= 202; u++)
        tw_reply_hist_rec(&t, req, 1, u, "t", "\"h\"");
    tw_reply_hist_end(&t, req, 0, 1, 1, 202);
    tw_poll(&t);
    n = feed_offsets(c, got, 600);
    CHECK(exactly_range(got, n, 2, 202));
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 0);
out:
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_fanout_lap_with_full_outbox(void)
{
    struct tw t;
    struct sss_conn *c, *pub;
    struct sss_hm_history *q = NULL;
    char msg[2048], pad[1001];
    int busy = 0, n;
    uint64_t got[400];

    tw_init(&t, SMALL_BUS);
    snprintf(t.cfg.allow_client_publish, sizeof(t.cfg.allow_client_publish), "*");
    t.cfg.max_message_rate = 0;
    t.cfg.mailbox_size = 4096; /* outbox limit 16 KB */
    tw_start(&t);
    c = subscribed_conn(&t, "sport", 0);
    pub = tw_conn(&t, NULL, NULL);
    tw_client_send(pub, "{\"sys\":3}");
    memset(pad, 'p', 1000);
    pad[1000] = '\0';
    /* The scaler reads nothing: publishes pile up until they are refused. */
    for (int i = 0; i < 200 && !busy; i++) {
        snprintf(msg, sizeof(msg),
                 "{\"sys\":13,\"channel\":\"sport\",\"topic\":\"t\",\"msg\":\"%s\",\"id\":%d}",
                 pad, i);
        tw_client_send(pub, msg);
        while (tw_frame(pub, fr, sizeof(fr)) == 1)
            busy += strstr(fr, "busy") != NULL;
    }
    CHECK(busy > 0);
    feed_range(&t, 1, 200); /* lapped meanwhile */
    tw_poll(&t);
    CHECK_EQ_INT(atomic_load(&t.ctr->laps), 1);
    /* Its history request goes out behind the publishes. */
    for (int i = 0; i < 1000 && !q; i++) {
        q = tw_scaler_next(&t, SSS_HM_HISTORY, NULL);
        if (!q)
            sss_rpc_flush(&t.w.rpc);
    }
    CHECK(q != NULL);
    if (!q)
        goto out;
    CHECK_EQ_INT(q->has_after, 0); /* nothing was delivered: from the start */
    for (uint64_t u = 1; u <= 200; u++)
        tw_reply_hist_rec(&t, q->req, 1, u, "t", "\"h\"");
    tw_reply_hist_end(&t, q->req, 0, 1, 1, 200);
    tw_poll(&t);
    n = feed_offsets(c, got, 400);
    CHECK(exactly_range(got, n, 1, 200));
out:
    tw_conn_free(pub);
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_fanout_msgpack_once(void)
{
    struct tw t;
    struct sss_conn *c[5];
    struct sss_buf *first = NULL;
    int i;

    tw_init(&t, 64 * 1024);
    tw_start(&t);
    for (i = 0; i < 5; i++) {
        c[i] = subscribed_conn(&t, "sport", 0);
        c[i]->encoding = i < 3 ? SSS_WIRE_MSGPACK : SSS_WIRE_JSON;
    }
    tw_bus_feed(&t, "sport", 1, 1, "{\"a\":[1,2.5,\"x\"]}");
    tw_poll(&t);
    CHECK_EQ_INT((int)t.w.fanout.transcoded, 1); /* 3 msgpack subscribers, one frame */
    for (i = 0; i < 5; i++) {
        struct sss_buf *b = c[i]->qlen ? c[i]->q[c[i]->qhead].b : NULL;

        CHECK(b != NULL);
        if (!b)
            continue;
        CHECK_EQ_INT(b->data[0] & 0x0f, i < 3 ? 2 : 1); /* binary, or text */
        if (i == 0)
            first = b;
        else if (i < 3)
            CHECK(b == first); /* shared, not copied */
    }
    CHECK(first && first->data[2] == 0x85); /* a map of 5: sys, channel, topic, msg, uid */
    for (i = 0; i < 5; i++)
        tw_conn_free(c[i]);
    tw_fini(&t);
}

int main(void)
{
    test_fanout_msgpack_once();
    test_fanout_lap_recovery();
    test_fanout_second_lap_during_catchup();
    test_fanout_catchup_replay_from_start();
    test_fanout_lap_with_full_outbox();
    test_fanout_lap_past_history();
    test_fanout_gap_record();
    test_fanout_unsubscribed_channel();
    return sss_test_done();
}
