/*
 * Tests of the client protocol (src/worker/sss_session.c) driven without
 * io_uring or sockets (sss_test_worker.h): in-memory mailboxes, bus and a
 * fake scaler, connections whose send queue the test reads.
 *   - SUBSCRIBE: FEEDs that come before the channel's last uid are held,
 *     then exactly those above it follow the reply;
 *   - SYNC: the reply carries the history after lastUid, then the FEEDs
 *     held meanwhile above the history's end, none twice;
 *   - BEGIN with a user: the reply waits for _u_<user>'s last uid;
 *   - a scaler restart: RESYNC and presence again, the pending SUBSCRIBE is
 *     asked again under the same id and answered once; a publish the dead
 *     scaler took fails after the wait;
 *   - a FEED's sender gets UPDATESUB instead;
 *   - a SYNC whose history a dead scaler owed is asked again (a new id),
 *     and its reply (or an application's history) has each record once
 *     although the dead scaler had sent some (issue 11a);
 *   - a replay that meets a full outbox is asked again later (issue 11b);
 *   - a PUBLISH larger than the mailbox is refused at once (issue 11c);
 *   - a replacement worker's connection ids differ from its predecessor's
 *     (issue 11d);
 *   - after a scaler restart, channels are refilled from history exactly
 *     when the shared memory says the engine outlives the scaler (11e);
 *   - a named session's BEGIN waits for its subscriptions; after a scaler
 *     restart (whose store is empty) it is answered without them.
 */
#include "sss_test.h"
#include "sss_test_history.h"
#include "sss_test_worker.h"

#include "sss/sss.h"
#include "sss_app.h"

static char fr[4096];

/* An anonymous connection after its BEGIN and the reply (dropped). */
static struct sss_conn *begun_conn(struct tw *t)
{
    struct sss_conn *c = tw_conn(t, NULL, NULL);

    tw_client_send(c, "{\"sys\":3}");
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    return c;
}

/* A started worker (64 KiB bus) and an anonymous connection that has sent nothing yet. */
static struct sss_conn *started_conn(struct tw *t)
{
    tw_init(t, 64 * 1024);
    tw_start(t);
    return tw_conn(t, NULL, NULL);
}

/* c sends a SYNC (id 3) of channel sport from last_uid. */
static void sync_sport(struct sss_conn *c, const char *last_uid)
{
    char msg[160];

    snprintf(msg, sizeof(msg),
             "{\"sys\":4,\"id\":3,\"subscriptions\":[{\"channel\":\"sport\","
             "\"lastUid\":\"%s\",\"query\":null}]}",
             last_uid);
    tw_client_send(c, msg);
}

/* The next LAST_UID request, past any other record, answered with (has, epoch, offset). */
static void answer_last_uid(struct tw *t, int has, uint64_t epoch, uint64_t offset)
{
    struct sss_hm_last_uid *q = tw_scaler_next(t, SSS_HM_LAST_UID, NULL);

    while (!q && sss_ring_readable(t->to_scaler))
        q = tw_scaler_next(t, SSS_HM_LAST_UID, NULL);
    CHECK(q != NULL);
    if (q)
        tw_reply_last_uid(t, q->req, has, epoch, offset);
}

/* The next frame sent to c is one text that holds both a and b. */
static void expect_reply(struct sss_conn *c, const char *a, const char *b)
{
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, a) && strstr(fr, b));
}

/* The same, and that reply was the last: no request to the scaler is pending. */
static void expect_last_reply(struct tw *t, struct sss_conn *c, const char *a, const char *b)
{
    expect_reply(c, a, b);
    CHECK_EQ_INT(sss_rpc_pending(&t->w.rpc), 0);
}

static void test_session_subscribe_hold_release(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_last_uid *q;

    c = started_conn(&t);
    tw_client_send(c, "{\"sys\":3}");
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"sys\":3") != NULL);

    tw_client_send(c, "{\"sys\":1,\"channel\":\"sport\",\"id\":7}");
    q = tw_scaler_next(&t, SSS_HM_LAST_UID, NULL);
    CHECK(q != NULL);
    CHECK_EQ_INT(tw_queued(c), 0);
    /* FEEDs before the last uid is known: held, not sent. */
    tw_bus_feed(&t, "sport", 1, 41, "\"a\"");
    tw_bus_feed(&t, "sport", 1, 42, "\"b\"");
    tw_poll(&t);
    CHECK_EQ_INT(tw_queued(c), 0);
    if (q)
        tw_reply_last_uid(&t, q->req, 1, 1, 41);
    tw_poll(&t);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"sys\":1") && strstr(fr, "\"lastUid\":\"1-41\"") &&
          strstr(fr, "\"result\":true"));
    expect_reply(c, "\"sys\":8", "\"uid\":\"1-42\"");
    CHECK_EQ_INT(tw_queued(c), 0);
    /* Live from now on. */
    tw_bus_feed(&t, "sport", 1, 43, "\"c\"");
    tw_poll(&t);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"uid\":\"1-43\"") != NULL);
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 0);
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_session_sync(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;
    const char *p;

    c = started_conn(&t);
    sync_sport(c, "1-40");
    q = tw_history_after(&t, 40);
    if (!q)
        goto out;
    /* Live FEEDs while the history comes: one the history also has, one after it. */
    tw_feeds_held(&t, c, 42, "\"b\"", 43, "\"c\"");
    tw_reply_hist_rec(&t, q->req, 1, 41, "t", "\"a\"");
    tw_reply_hist_rec(&t, q->req, 1, 42, "t", "\"b\"");
    tw_reply_hist_end(&t, q->req, 0, 1, 1, 42);
    tw_poll(&t);
    expect_reply(c, "\"sys\":4", "\"sport\":true");
    p = strstr(fr, "\"uid\":\"1-41\"");
    CHECK(p && strstr(p, "\"uid\":\"1-42\"") && !strstr(fr, "1-43"));
    expect_reply(c, "\"sys\":8", "\"uid\":\"1-43\"");
    CHECK_EQ_INT(tw_queued(c), 0);
out:
    tw_conn_free(c);
    tw_fini(&t);
}

/* A SYNC past history: result false (the client knows it has a gap). */
static void test_session_sync_gap(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;

    c = started_conn(&t);
    sync_sport(c, "1-2");
    q = tw_history_asked(&t);
    if (q)
        tw_reply_hist_end(&t, q->req, 1, 1, 1, 90);
    tw_poll(&t);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"sport\":false") != NULL);
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_session_begin_user(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_last_uid *q;

    tw_init(&t, 64 * 1024);
    tw_start(&t);
    c = tw_conn(&t, "alice", NULL);
    tw_client_send(c, "{\"sys\":3}");
    q = tw_scaler_next(&t, SSS_HM_LAST_UID, NULL);
    CHECK(q != NULL);
    CHECK_EQ_INT(tw_queued(c), 0); /* the reply waits for _u_alice's last uid */
    if (q) {
        CHECK(memcmp(t.rec + sizeof(*q), "_u_alice", 8) == 0);
        tw_reply_last_uid(&t, q->req, 1, 3, 9);
    }
    tw_poll(&t);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"sys\":3") && strstr(fr, "_u_alice") && strstr(fr, "3-9"));
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_session_replay_after_restart(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_last_uid *q;
    struct sss_hm_publish *pq;
    uint64_t sub_req, pub_req;
    int resync = 0, presence = 0;
    uint32_t type;
    const void *p;
    size_t len;

    tw_init(&t, 64 * 1024);
    t.cfg.allow_client_publish[0] = '*';
    tw_start(&t);
    c = begun_conn(&t);
    tw_client_send(c, "{\"sys\":1,\"channel\":\"news\",\"id\":1}");
    q = tw_scaler_next(&t, SSS_HM_LAST_UID, NULL);
    CHECK(q != NULL);
    sub_req = q ? q->req : 0;
    tw_client_send(c, "{\"sys\":13,\"channel\":\"news\",\"topic\":\"t\",\"msg\":1,\"id\":2}");
    pq = tw_scaler_next(&t, SSS_HM_PUBLISH, NULL);
    CHECK(pq != NULL);
    pub_req = pq ? pq->req : 0;

    /* The scaler dies with both; a new one starts. */
    tw_scaler_restart(&t);
    tw_poll(&t);
    while (sss_ring_peek(t.to_scaler, &type, &p, &len) == 1) {
        if (type == SSS_HM_RESYNC)
            resync++;
        else if (type == SSS_HM_PRESENCE)
            presence += resync > 0; /* the account comes after the RESYNC */
        else if (type == SSS_HM_LAST_UID) {
            const struct sss_hm_last_uid *l = p;

            CHECK_EQ_INT(l->req, sub_req); /* asked again, same id */
            tw_reply_last_uid(&t, l->req, 1, 2, 5);
        }
        sss_ring_consume(t.to_scaler);
    }
    CHECK_EQ_INT(resync, 1);
    CHECK_EQ_INT(presence, 1);
    tw_poll(&t);
    expect_reply(c, "\"sys\":1", "2-5");
    CHECK_EQ_INT(tw_queued(c), 0);
    /* A late answer for the same request is dropped: it was answered. */
    tw_reply_last_uid(&t, sub_req, 1, 2, 6);
    tw_poll(&t);
    CHECK_EQ_INT(tw_queued(c), 0);
    /* The publish the dead scaler took: no answer comes; it fails after the wait. */
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 1);
    sss_rpc_expire(&t.w.rpc, t.now + 1);
    CHECK_EQ_INT(tw_queued(c), 0);
    sss_rpc_expire(&t.w.rpc, t.now + 60000);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"sys\":7") && strstr(fr, "\"err\"") && strstr(fr, "restart"));
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 0);
    tw_reply_published(&t, pub_req, 2, 7); /* too late: ignored */
    tw_poll(&t);
    CHECK_EQ_INT(tw_queued(c), 0);
    tw_conn_free(c);
    tw_fini(&t);
}

/* A FEED 1-1 on channel x that this worker's connection origin published (it gets UPDATESUB). */
static void bus_feed_from(struct tw *t, uint64_t origin)
{
    struct sss_hm_feed f;

    memset(&f, 0, sizeof(f));
    f.uid.epoch = 1;
    f.uid.offset = 1;
    f.origin_conn = origin;
    f.origin_worker = 0;
    f.flags = SSS_HM_SKIP_SENDER;
    f.chan_len = 1;
    f.topic_len = 1;
    f.msg_len = 1;
    CHECK_EQ_INT(sss_bus_append2(t->bus, SSS_HM_FEED, &f, sizeof(f), "xt1", 3), 0);
}

static void test_session_updatesub(void)
{
    struct tw t;
    struct sss_conn *a, *b;
    struct sss_hm_last_uid *q;

    tw_init(&t, 64 * 1024);
    tw_start(&t);
    a = tw_conn(&t, NULL, NULL);
    b = tw_conn(&t, NULL, NULL);
    tw_client_send(a, "{\"sys\":4,\"id\":1,\"subscriptions\":[]}");
    tw_client_send(b, "{\"sys\":4,\"id\":1,\"subscriptions\":[]}");
    (void)tw_frame(a, fr, sizeof(fr));
    (void)tw_frame(b, fr, sizeof(fr));
    tw_client_send(a, "{\"sys\":1,\"channel\":\"x\",\"id\":1}");
    q = tw_scaler_next(&t, SSS_HM_LAST_UID, NULL);
    if (q)
        tw_reply_last_uid(&t, q->req, 0, 0, 0);
    tw_client_send(b, "{\"sys\":1,\"channel\":\"x\",\"id\":1}");
    q = tw_scaler_next(&t, SSS_HM_LAST_UID, NULL);
    if (q)
        tw_reply_last_uid(&t, q->req, 0, 0, 0);
    tw_poll(&t);
    (void)tw_frame(a, fr, sizeof(fr));
    (void)tw_frame(b, fr, sizeof(fr));
    /* a socket publish by a: a gets UPDATESUB, b the FEED. */
    bus_feed_from(&t, a->id);
    tw_poll(&t);
    expect_reply(a, "\"sys\":12", "1-1");
    expect_reply(b, "\"sys\":8", "1-1");
    tw_conn_free(a);
    tw_conn_free(b);
    tw_fini(&t);
}

static void test_session_resume_after_restart(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_session_load *q;
    struct sss_hm_session_entry e;
    struct sss_hm_last_uid *l;

    tw_init(&t, 64 * 1024);
    tw_start(&t);
    c = tw_conn(&t, NULL, "s1");
    tw_client_send(c, "{\"sys\":3}");
    q = tw_scaler_next(&t, SSS_HM_SESSION_LOAD, NULL);
    CHECK(q != NULL);
    CHECK_EQ_INT(tw_queued(c), 0);
    if (!q)
        goto out;
    /* One recorded channel comes back; then the scaler dies before the end. */
    memset(&e, 0, sizeof(e));
    e.req = q->req;
    e.chan_len = 4;
    CHECK_EQ_INT(sss_ring_push2(t.inbox, SSS_HM_SESSION_ENTRY, &e, sizeof(e), "news", 4), 0);
    tw_poll(&t);
    l = tw_scaler_next(&t, SSS_HM_LAST_UID, NULL);
    CHECK(l != NULL);
    CHECK_EQ_INT(tw_queued(c), 0);
    tw_scaler_restart(&t);
    tw_poll(&t);
    /* The load is given up, the channel's last uid asked again. */
    CHECK_EQ_INT(tw_queued(c), 0);
    answer_last_uid(&t, 1, 2, 1);
    tw_poll(&t);
    expect_last_reply(&t, c, "\"sys\":3", "s1");
out:
    tw_conn_free(c);
    tw_fini(&t);
}

static void test_session_sync_replay_after_restart(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q;
    uint64_t req, renewed = 0;
    int asked = 0;

    c = started_conn(&t);
    sync_sport(c, "1-40");
    q = tw_history_asked(&t);
    if (!q)
        goto out;
    req = q->req;
    /* Half the history came, then the scaler died. */
    tw_reply_hist_rec(&t, req, 1, 41, "t", "\"a\"");
    tw_poll(&t);
    tw_scaler_restart(&t);
    tw_poll(&t);
    while (sss_ring_readable(t.to_scaler)) {
        q = tw_scaler_next(&t, SSS_HM_HISTORY, NULL);
        if (q) {
            asked++;
            CHECK(q->req != req); /* a new id: the dead scaler's answers no longer count */
            CHECK_EQ_INT(q->after.offset, 40);
            renewed = q->req;
        }
    }
    CHECK_EQ_INT(asked, 1);
    CHECK_EQ_INT(tw_queued(c), 0);
    /* The new scaler (a new epoch) no longer reaches back: a gap, reported. */
    tw_reply_hist_end(&t, renewed, 1, 1, 2, 3);
    tw_poll(&t);
    expect_last_reply(&t, c, "\"sys\":4", "\"sport\":false");
out:
    tw_conn_free(c);
    tw_fini(&t);
}

/* Count the FEEDs of uid 1-<offset> in text. */
static int count_uid(const char *text, unsigned offset)
{
    char pat[32];
    int n = 0;

    snprintf(pat, sizeof(pat), "\"uid\":\"1-%u\"", offset);
    for (const char *p = strstr(text, pat); p; p = strstr(p + 1, pat))
        n++;
    return n;
}

/* The worker's next HISTORY request, skipping RESYNC, HELLO and the like; NULL if none. */
static struct sss_hm_history *next_history(struct tw *t)
{
    struct sss_hm_history *q = NULL;

    while (!q && sss_ring_readable(t->to_scaler))
        q = tw_scaler_next(t, SSS_HM_HISTORY, NULL);
    return q;
}

/*
 * The scaler dies in the middle of the history request the worker just
 * sent: the worker read the record of uid 1-<first>, the next one is still
 * unread in the mailbox. The new scaler answers the request asked again
 * with 1-<first> .. 1-<first + 2>, then its end. Returns 0, or -1 if a
 * request was missing (checked).
 */
static int history_cut_by_restart(struct tw *t, unsigned first)
{
    struct sss_hm_history *q = next_history(t);
    const char *const msgs[3] = {"\"a\"", "\"b\"", "\"c\""};

    CHECK(q != NULL);
    if (!q)
        return -1;
    tw_reply_hist_rec(t, q->req, 1, first, "t", msgs[0]);
    tw_poll(t);
    tw_reply_hist_rec(t, q->req, 1, first + 1, "t", msgs[1]); /* unread when the scaler dies */
    tw_scaler_restart(t);
    tw_poll(t);
    q = next_history(t);
    CHECK(q != NULL);
    if (!q)
        return -1;
    for (unsigned i = 0; i < 3; i++)
        tw_reply_hist_rec(t, q->req, 1, first + i, "t", msgs[i]);
    tw_reply_hist_end(t, q->req, 0, 1, 1, first + 2);
    tw_poll(t);
    return 0;
}

/*
 * The history that c's request (already sent) asked for is cut by a scaler
 * restart (history_cut_by_restart); then c's answer must hold a and b, and
 * 1-<first> .. 1-<first + 2> once each, and nothing may be pending.
 */
static void each_once_after_cut(struct tw *t, struct sss_conn *c, unsigned first, const char *a,
                                const char *b)
{
    if (history_cut_by_restart(t, first) < 0)
        return;
    expect_reply(c, a, b);
    for (unsigned i = 0; i < 3; i++)
        CHECK_EQ_INT(count_uid(fr, first + i), 1);
    CHECK_EQ_INT(sss_rpc_pending(&t->w.rpc), 0);
}

/*
 * Issue 11a: a SYNC's history cut short by a scaler restart. The dead
 * scaler sent 41 (read) and 42 (still unread in the mailbox); the new one
 * answers from the start: 41, 42, 43. The reply carries each once (before
 * the fix it kept 41 and took the old 42 as well: 41 and 42 came twice).
 */
static void test_session_issue11_sync_history_restart(void)
{
    struct tw t;
    struct sss_conn *c;

    c = started_conn(&t);
    sync_sport(c, "1-40");
    each_once_after_cut(&t, c, 41, "\"sys\":4", "\"sport\":true");
    tw_conn_free(c);
    tw_fini(&t);
}

static void ask_history(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                        void *data)
{
    (void)s;
    (void)msg;
    (void)len;
    (void)data;
    CHECK_EQ_INT(sss_reply_history(r, "sport", 10), 0);
}

/*
 * Issue 11a for an application's history (sss_reply_history): the same
 * restart, the same answer: each record once in the RESPONSE.
 */
static void test_session_issue11_app_history_restart(void)
{
    struct tw t;
    struct sss_app *app = sss_app_create();
    struct sss_conn *c;

    CHECK(app != NULL);
    if (!app)
        return;
    CHECK_EQ_INT(sss_on_ask(app, "hist", ask_history, NULL), 0);
    tw_init(&t, 64 * 1024);
    tw_start(&t);
    t.w.app = app;
    sss_app_start(app, &t.w);
    c = begun_conn(&t);
    tw_client_send(c, "{\"sys\":5,\"topic\":\"hist\",\"msg\":null,\"id\":9}");
    each_once_after_cut(&t, c, 1, "\"sys\":7", "\"id\":9");
    tw_conn_free(c);
    sss_app_fini(&t.w);
    tw_fini(&t);
    sss_app_destroy(app);
}

/*
 * Issue 11b: a pending SUBSCRIBE whose replay meets an outbox past its
 * limit is asked again once the outbox drains (before the fix its LAST_UID
 * was dropped and the subscription stayed pending, holding FEEDs, for ever).
 */
static void test_session_issue11_replay_outbox_full(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_last_uid *q = NULL;
    struct sss_hm_rec big;
    static char msg[1000];
    int rounds = 0;

    memset(msg, '1', sizeof(msg));
    tw_init(&t, 64 * 1024);
    t.cfg.mailbox_size = 4096; /* the outbox refuses requests past 16 KiB waiting */
    tw_start(&t);
    c = begun_conn(&t);
    tw_client_send(c, "{\"sys\":1,\"channel\":\"news\",\"id\":1}");
    CHECK(tw_scaler_next(&t, SSS_HM_LAST_UID, NULL) != NULL); /* the dead scaler took it */
    /* The scaler is gone: the mailbox fills, then the outbox past its limit. */
    CHECK_EQ_INT(sss_hm_pack_publish(&big, 1, 0, 0, "x", 1, "t", 1, msg, sizeof(msg)), 0);
    while (sss_rpc_put(&t.w.rpc, &big) >= 0 && rounds++ < 10000)
        ;
    CHECK(t.w.rpc.outbox.pending_bytes > t.w.rpc.outbox_limit);
    tw_scaler_restart(&t);
    tw_poll(&t);
    /* The new scaler reads everything; the worker flushes each turn. */
    for (rounds = 0; !q && rounds < 1000; rounds++) {
        while (!q && sss_ring_readable(t.to_scaler))
            q = tw_scaler_next(&t, SSS_HM_LAST_UID, NULL);
        sss_rpc_flush(&t.w.rpc);
    }
    CHECK(q != NULL);
    if (q)
        tw_reply_last_uid(&t, q->req, 1, 2, 5);
    tw_poll(&t);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"sys\":1") && strstr(fr, "2-5") && strstr(fr, "\"result\":true"));
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 0);
    tw_conn_free(c);
    tw_fini(&t);
}

/*
 * Issue 11c: a client's PUBLISH larger than the mailbox can take gets an
 * error at once (before the fix it waited in the outbox for ever, holding
 * back every request after it, and the client got no answer).
 */
static void test_session_issue11_publish_oversized(void)
{
    struct tw t;
    struct sss_conn *c;
    static char msg[TW_RING_CAP + 64];
    size_t n;

    tw_init(&t, 64 * 1024);
    t.cfg.allow_client_publish[0] = '*';
    tw_start(&t);
    c = begun_conn(&t);
    n = (size_t)snprintf(msg, sizeof(msg),
                         "{\"sys\":13,\"channel\":\"news\",\"topic\":\"t\",\"id\":4,\"msg\":\"");
    memset(msg + n, 'x', TW_RING_CAP / 2);
    n += TW_RING_CAP / 2;
    memcpy(msg + n, "\"}", 3);
    tw_client_send(c, msg);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
    CHECK(strstr(fr, "\"sys\":7") && strstr(fr, "\"id\":4") && strstr(fr, "too large"));
    CHECK_EQ_INT(sss_rpc_pending(&t.w.rpc), 0);
    CHECK(t.w.rpc.outbox.head == NULL);
    tw_conn_free(c);
    tw_fini(&t);
}

/*
 * Issue 11d: a replacement worker's connection ids never repeat its dead
 * predecessor's. A FEED the dead worker's connection published (its
 * UPDATESUB origin) reaches the replacement's new connection as a FEED
 * (before the fix the ids restarted at 1: the new connection got UPDATESUB
 * and lost the message).
 */
static void test_session_issue11_conn_ids_across_restart(void)
{
    struct tw t;
    struct sss_conn *a, *b;
    uint64_t dead_id;

    a = started_conn(&t);
    dead_id = a->id;
    CHECK(dead_id != 0);
    tw_conn_free(a);
    /* The worker dies; its replacement starts on the same slot, bus and mailboxes. */
    sss_rpc_fini(&t.w.rpc);
    sss_fanout_fini(&t.w.fanout);
    sss_session_fini(&t.w.session);
    tw_start(&t);
    b = tw_conn(&t, NULL, NULL);
    CHECK(b->id != dead_id);
    CHECK(b->id >> 48 == 0); /* sss_socket_id puts the worker's id above */
    tw_client_send(b, "{\"sys\":3}");
    (void)tw_frame(b, fr, sizeof(fr));
    tw_client_send(b, "{\"sys\":1,\"channel\":\"x\",\"id\":1}");
    answer_last_uid(&t, 0, 0, 0);
    tw_poll(&t);
    CHECK_EQ_INT(tw_frame(b, fr, sizeof(fr)), 1);
    /* The dead worker's connection published on x just before it died. */
    bus_feed_from(&t, dead_id);
    tw_poll(&t);
    expect_reply(b, "\"sys\":8", "1-1");
    tw_conn_free(b);
    tw_fini(&t);
}

/* A live subscription of c to channel x, from uid 1-5 on. */
static void subscribe_live(struct tw *t, struct sss_conn *c)
{
    struct sss_hm_last_uid *q;

    tw_client_send(c, "{\"sys\":3}");
    (void)tw_frame(c, fr, sizeof(fr));
    tw_client_send(c, "{\"sys\":1,\"channel\":\"x\",\"id\":1}");
    q = tw_scaler_next(t, SSS_HM_LAST_UID, NULL);
    CHECK(q != NULL);
    if (q)
        tw_reply_last_uid(t, q->req, 1, 1, 5);
    tw_poll(t);
    CHECK_EQ_INT(tw_frame(c, fr, sizeof(fr)), 1);
}

/*
 * Issue 11e: after a scaler restart the worker refills its channels from
 * history when the scaler says its engine outlives it (a flag in shared
 * memory), whatever the engine is called; otherwise it does not. Before
 * the fix it compared cfg->engine with "redis", so with the flag set and
 * --engine left at its default nothing was refilled.
 */
static void test_session_issue11_engine_flag(void)
{
    struct tw t;
    struct sss_conn *c;
    struct sss_hm_history *q = NULL;

    for (int outlives = 0; outlives < 2; outlives++) {
        tw_init(&t, 64 * 1024);
        tw_start(&t);
        atomic_store(&t.engine_flags, outlives ? SSS_SHM_ENGINE_OUTLIVES : 0);
        c = tw_conn(&t, NULL, NULL);
        subscribe_live(&t, c);
        tw_scaler_restart(&t);
        tw_poll(&t);
        q = next_history(&t);
        if (outlives) {
            CHECK(q != NULL);
            if (q)
                CHECK(memcmp(t.rec + sizeof(*q), "x", 1) == 0 && q->chan_len == 1);
        } else {
            CHECK(q == NULL);
        }
        tw_conn_free(c);
        tw_fini(&t);
    }
}

int main(void)
{
    test_session_subscribe_hold_release();
    test_session_sync();
    test_session_sync_gap();
    test_session_begin_user();
    test_session_replay_after_restart();
    test_session_updatesub();
    test_session_resume_after_restart();
    test_session_sync_replay_after_restart();
    test_session_issue11_sync_history_restart();
    test_session_issue11_app_history_restart();
    test_session_issue11_replay_outbox_full();
    test_session_issue11_publish_oversized();
    test_session_issue11_conn_ids_across_restart();
    test_session_issue11_engine_flag();
    return sss_test_done();
}
