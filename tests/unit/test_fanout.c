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
 *     again under the same id, and its answer still releases the channel.
 */
#include "sss_test.h"
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
    q = tw_scaler_next(&t, SSS_HM_HISTORY, NULL);
    CHECK(q != NULL);
    if (!q)
        goto out;
    CHECK_EQ_INT(q->has_after, 1);
    CHECK_EQ_INT(q->after.offset, 2); /* the last uid it delivered */
    /* Live FEEDs while the history comes are held. */
    tw_bus_feed(&t, "sport", 1, 200, "\"dup\"");
    tw_bus_feed(&t, "sport", 1, 201, "\"n\"");
    tw_poll(&t);
    CHECK_EQ_INT(tw_queued(c), 0);
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

static void test_fanout_lap_replay_after_restart(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;
    uint64_t req, got[8];
    int asked = 0;

    tw_init(&t, SMALL_BUS);
    tw_start(&t);
    c = subscribed_conn(&t, "sport", 0);
    tw_bus_feed(&t, "sport", 1, 1, "1");
    tw_poll(&t);
    tw_conn_drain(c);
    for (uint64_t u = 2; u <= 200; u++)
        tw_bus_feed(&t, "sport", 1, u, "\"xxxxxxxxxxxxxxxx\"");
    tw_poll(&t);
    q = tw_scaler_next(&t, SSS_HM_HISTORY, NULL);
    CHECK(q != NULL);
    if (!q)
        goto out;
    req = q->req;
    tw_scaler_restart(&t);
    tw_poll(&t);
    while (sss_ring_readable(t.to_scaler)) {
        q = tw_scaler_next(&t, SSS_HM_HISTORY, NULL);
        if (q) {
            asked++;
            CHECK_EQ_INT(q->req, req);
            CHECK_EQ_INT(q->after.offset, 1);
        }
    }
    CHECK_EQ_INT(asked, 1);
    CHECK_EQ_INT(tw_queued(c), 0); /* still held */
    tw_reply_hist_rec(&t, req, 1, 200, "t", "\"h\"");
    tw_reply_hist_end(&t, req, 0, 1, 1, 200);
    tw_poll(&t);
    CHECK_EQ_INT(feed_offsets(c, got, 8), 1);
    CHECK_EQ_INT(got[0], 200);
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 0);
out:
    tw_conn_free(c);
    tw_fini(&t);
}

int main(void)
{
    test_fanout_lap_recovery();
    test_fanout_lap_past_history();
    test_fanout_gap_record();
    test_fanout_unsubscribed_channel();
    test_fanout_lap_replay_after_restart();
    return sss_test_done();
}
