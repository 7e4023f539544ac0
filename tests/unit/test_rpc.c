/*
 * Tests of a worker's request table (src/rpc/sss_rpc.c) through in-memory
 * mailbox rings: ids carry the pid; each answer reaches its request's kind
 * and a terminal one frees it; answers for unknown ids (a dead predecessor's,
 * or answered already) are dropped; a non-terminal answer keeps it; replay
 * asks again and may give a request up; expire; the outbox limit refuses new
 * requests but lets bookkeeping through; a record larger than the mailbox is
 * refused at once (issue 11c); a kind without ops->free is freed with
 * sss_free.
 */
#include "sss_test.h"
#include "sss_test_worker.h"

#include <errno.h>
#include <unistd.h>

struct probe {
    struct sss_rpc_req base; /* first */
    int last_uid, recs, ends, replays, freed_flag;
    int drop_on_replay;
    int *freed;
};

static void probe_last_uid(struct sss_rpc_req *r, const struct sss_hm_last_uid_r *p)
{
    (void)p;
    ((struct probe *)r)->last_uid++;
}

static void probe_hist_rec(struct sss_rpc_req *r, const struct sss_hm_hist_rec *p,
                           const char *topic, const char *msg)
{
    CHECK(memcmp(topic, "t", 1) == 0 && memcmp(msg, "42", 2) == 0 && p->msg_len == 2);
    ((struct probe *)r)->recs++;
}

static void probe_hist_end(struct sss_rpc_req *r, const struct sss_hm_hist_end *p)
{
    (void)p;
    ((struct probe *)r)->ends++;
}

static int probe_replay(struct sss_rpc_req *r)
{
    struct probe *p = (struct probe *)r;

    p->replays++;
    return p->drop_on_replay;
}

static int probe_expire(struct sss_rpc_req *r, int64_t now)
{
    (void)r;
    return now >= 100;
}

static void probe_free(struct sss_rpc_req *r)
{
    (*((struct probe *)r)->freed)++;
    sss_free(r);
}

static const struct sss_rpc_ops probe_ops = {
    .last_uid = probe_last_uid,
    .hist_rec = probe_hist_rec,
    .hist_end = probe_hist_end,
    .replay = probe_replay,
    .expire = probe_expire,
    .free = probe_free,
};

/* A kind without ops->free: the table frees its requests with sss_free. */
static const struct sss_rpc_ops plain_ops = {
    .last_uid = probe_last_uid,
};

/* A kind that expects history only. */
static const struct sss_rpc_ops probe_hist_ops = {
    .hist_rec = probe_hist_rec,
    .hist_end = probe_hist_end,
    .free = probe_free,
};

static struct probe *probe_new_ops(struct sss_rpc *rpc, int *freed, const struct sss_rpc_ops *ops)
{
    struct probe *p = sss_calloc(1, sizeof(*p));

    p->freed = freed;
    if (!p || sss_rpc_add(rpc, &p->base, ops) < 0)
        abort();
    return p;
}

static struct probe *probe_new(struct sss_rpc *rpc, int *freed)
{
    struct probe *p = sss_calloc(1, sizeof(*p));

    p->freed = freed;
    if (!p || sss_rpc_add(rpc, &p->base, &probe_ops) < 0)
        abort();
    return p;
}

static void test_rpc_dispatch(void)
{
    struct tw t;
    struct sss_rpc rpc;
    struct probe *a, *b;
    int freed = 0;

    tw_init(&t, 4096);
    sss_rpc_init(&rpc, t.inbox, t.to_scaler, NULL, t.cfg.mailbox_size);
    a = probe_new(&rpc, &freed);
    b = probe_new_ops(&rpc, &freed, &probe_hist_ops);
    CHECK(a->base.id != b->base.id);
    CHECK_EQ_INT(a->base.id >> 32, (uint64_t)getpid());
    CHECK(sss_rpc_find(&rpc, a->base.id) == &a->base);
    CHECK_EQ_INT(sss_rpc_ask_last_uid(&rpc, &a->base, "sport") >= 0, 1);
    CHECK(tw_scaler_next(&t, SSS_HM_LAST_UID, NULL) != NULL);
    CHECK(memcmp(t.rec + sizeof(struct sss_hm_last_uid), "sport", 5) == 0);

    tw_reply_hist_rec(&t, b->base.id, 1, 1, "t", "42");
    tw_reply_hist_rec(&t, b->base.id, 1, 2, "t", "42");
    tw_reply_last_uid(&t, a->base.id, 1, 1, 1);
    tw_reply_last_uid(&t, a->base.id, 1, 1, 1);                        /* answered already */
    tw_reply_last_uid(&t, ((uint64_t)(getpid() + 1) << 32) | 1, 1, 1, 1); /* a predecessor's */
    CHECK_EQ_INT(sss_rpc_poll(&rpc, 100), 5);
    CHECK_EQ_INT(b->recs, 2);
    CHECK_EQ_INT(freed, 1); /* a: its terminal answer */
    CHECK_EQ_INT(sss_rpc_pending(&rpc), 1);
    /* b expects no last uid: ignored, it stays. */
    tw_reply_last_uid(&t, b->base.id, 1, 1, 1);
    tw_reply_hist_end(&t, b->base.id, 0, 0, 0, 0);
    CHECK_EQ_INT(sss_rpc_poll(&rpc, 1), 1); /* bounded batch */
    CHECK_EQ_INT(sss_rpc_pending(&rpc), 1);
    CHECK(sss_rpc_readable(&rpc));
    CHECK_EQ_INT(sss_rpc_poll(&rpc, 10), 1);
    CHECK_EQ_INT(freed, 2);
    CHECK_EQ_INT(sss_rpc_pending(&rpc), 0);
    CHECK(!sss_rpc_readable(&rpc));
    /* No ops->free: sss_free, after an answer or at fini (ASan sees a leak otherwise). */
    a = probe_new_ops(&rpc, &freed, &plain_ops);
    b = probe_new_ops(&rpc, &freed, &plain_ops);
    tw_reply_last_uid(&t, a->base.id, 1, 1, 1);
    CHECK_EQ_INT(sss_rpc_poll(&rpc, 10), 1);
    CHECK_EQ_INT(sss_rpc_pending(&rpc), 1); /* a: answered, gone */
    CHECK(sss_rpc_find(&rpc, b->base.id) == &b->base);
    CHECK_EQ_INT(freed, 2);
    sss_rpc_fini(&rpc); /* b: freed unanswered */
    tw_fini(&t);
}

static void test_rpc_replay_expire(void)
{
    struct tw t;
    struct sss_rpc rpc;
    struct probe *p[6];
    int freed = 0;

    tw_init(&t, 4096);
    sss_rpc_init(&rpc, t.inbox, t.to_scaler, NULL, t.cfg.mailbox_size);
    for (int i = 0; i < 6; i++) {
        p[i] = probe_new(&rpc, &freed);
        p[i]->drop_on_replay = i % 2;
    }
    sss_rpc_replay(&rpc);
    CHECK_EQ_INT(freed, 3);
    CHECK_EQ_INT(sss_rpc_pending(&rpc), 3);
    for (int i = 0; i < 6; i += 2)
        CHECK_EQ_INT(p[i]->replays, 1);
    sss_rpc_expire(&rpc, 99);
    CHECK_EQ_INT(sss_rpc_pending(&rpc), 3);
    sss_rpc_expire(&rpc, 100);
    CHECK_EQ_INT(sss_rpc_pending(&rpc), 0);
    CHECK_EQ_INT(freed, 6);
    sss_rpc_fini(&rpc);
    tw_fini(&t);
}

static void test_rpc_outbox_limit(void)
{
    struct tw t;
    struct sss_rpc rpc;
    char big[1000];
    struct sss_hm_rec pub, pr;
    int rc = 0, n = 0;
    int freed = 0;

    memset(big, 'x', sizeof(big));
    CHECK_EQ_INT(sss_hm_pack_publish(&pub, 1, 0, 0, "c", 1, "t", 1, big, sizeof(big)), 0);
    CHECK_EQ_INT(sss_hm_pack_presence(&pr, 1, "x", 1, NULL, 0), 0);
    tw_init(&t, 4096);
    /* A small limit: the ring takes TW_RING_CAP, then 4 x 8 KiB may wait. */
    sss_rpc_init(&rpc, t.inbox, t.to_scaler, NULL, 8192);
    while ((rc = sss_rpc_put(&rpc, &pub)) >= 0 &&
           n < 1000)
        n++;
    CHECK_EQ_INT(rc, SSS_EFULL);
    CHECK(n > 64); /* the ring's worth, then the outbox's */
    CHECK(sss_rpc_put(&rpc, &pr) >= 0);
    CHECK(rpc.dirty);
    sss_rpc_flush(&rpc);
    CHECK(!rpc.dirty);
    /* The scaler reads: the outbox drains in order. */
    while (sss_ring_readable(t.to_scaler)) {
        sss_ring_discard(t.to_scaler);
        sss_rpc_flush(&rpc);
    }
    CHECK(rpc.outbox.head == NULL);
    CHECK(sss_rpc_put(&rpc, &pub) >= 0);
    (void)probe_new(&rpc, &freed);
    sss_rpc_fini(&rpc); /* frees the pending request */
    CHECK_EQ_INT(freed, 1);
    tw_fini(&t);
}

/*
 * Issue 11c: a record larger than the mailbox ring can take is refused at
 * once (before the fix it waited in the outbox for ever, and every record
 * after it waited behind it).
 */
static void test_rpc_issue11_oversized(void)
{
    struct tw t;
    struct sss_rpc rpc;
    struct sss_hm_rec huge, small;
    static char msg[TW_RING_CAP];
    int freed = 0;
    struct probe *p;

    memset(msg, 'x', sizeof(msg));
    tw_init(&t, 4096);
    sss_rpc_init(&rpc, t.inbox, t.to_scaler, NULL, t.cfg.mailbox_size);
    CHECK_EQ_INT(sss_hm_pack_publish(&huge, 1, 0, 0, "c", 1, "t", 1, msg, sizeof(msg) / 2), 0);
    CHECK_EQ_INT(sss_rpc_put(&rpc, &huge), -EMSGSIZE);
    CHECK(rpc.outbox.head == NULL);
    CHECK_EQ_INT(rpc.oversized, 1);
    /* What follows is not held back. */
    p = probe_new(&rpc, &freed);
    CHECK_EQ_INT(sss_hm_pack_last_uid(&small, p->base.id, "sport", 5), 0);
    CHECK(sss_rpc_put(&rpc, &small) >= 0);
    sss_rpc_flush(&rpc);
    CHECK(tw_scaler_next(&t, SSS_HM_LAST_UID, NULL) != NULL);
    sss_rpc_fini(&rpc);
    tw_fini(&t);
}

int main(void)
{
    test_rpc_dispatch();
    test_rpc_replay_expire();
    test_rpc_outbox_limit();
    test_rpc_issue11_oversized();
    return sss_test_done();
}
