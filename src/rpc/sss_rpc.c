/*
 * The request table of a worker (see sss_rpc.h): ids, the outbox to the
 * scaler, the dispatch of answers and the replay after a scaler restart.
 *
 * Iteration and deletion: the map deletes by backward shift, so a pass that
 * frees requests re-reads the same slot after a free (expire). The replay
 * first lists every request (its callbacks may renew ids, which moves
 * requests in the map), runs the callbacks over the list (they may send
 * replies but never add or free requests), then frees those given up.
 * May include: common, proto (sss_hostmsg), shm.
 */
#include "sss_rpc.h"
#include "sss_alloc.h"
#include "sss_err.h"
#include "sss_log.h"
#include "sss_ring.h"
#include "sss_wake.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define OUTBOX_FACTOR 4 /* mailboxes' worth of records that may wait in the outbox */

static const struct sss_hm_dispatcher from_scaler; /* the answers' handlers, below */

void sss_rpc_init(struct sss_rpc *rpc, struct sss_ring *inbox, struct sss_ring *to_scaler,
                  struct sss_wake *scaler_wake, size_t mailbox_size)
{
    memset(rpc, 0, sizeof(*rpc));
    sss_map_init(&rpc->reqs);
    rpc->pid = (uint64_t)getpid();
    rpc->inbox = inbox;
    sss_hm_outbox_init(&rpc->outbox, to_scaler);
    rpc->scaler_wake = scaler_wake;
    rpc->outbox_limit = mailbox_size * OUTBOX_FACTOR;
    rpc->from_scaler = from_scaler;
}

void sss_rpc_hello(struct sss_rpc *rpc)
{
    struct sss_hm_rec rec;

    sss_hm_pack_hello(&rec, rpc->pid);
    (void)sss_rpc_put(rpc, &rec);
}

/* A request the table has forgotten: its kind frees it, or it is one block. */
static void req_free(void *p)
{
    struct sss_rpc_req *r = p;

    if (r->ops->free)
        r->ops->free(r);
    else
        sss_free(r);
}

void sss_rpc_fini(struct sss_rpc *rpc)
{
    sss_map_clear(&rpc->reqs, req_free);
    sss_hm_outbox_clear(&rpc->outbox);
}

int sss_rpc_add(struct sss_rpc *rpc, struct sss_rpc_req *r, const struct sss_rpc_ops *ops)
{
    r->id = (rpc->pid << 32) | (++rpc->counter & 0xffffffffu);
    r->ops = ops;
    r->rpc = rpc;
    r->dropping = 0;
    r->unsent = 0;
    if (sss_map_put(&rpc->reqs, (const char *)&r->id, sizeof(r->id), r) < 0)
        return -ENOMEM;
    return 0;
}

void sss_rpc_renew(struct sss_rpc *rpc, struct sss_rpc_req *r)
{
    int rc;

    sss_map_del(&rpc->reqs, (const char *)&r->id, sizeof(r->id));
    r->id = (rpc->pid << 32) | (++rpc->counter & 0xffffffffu);
    /* One out, one in: the map does not grow, so this cannot fail. */
    rc = sss_map_put(&rpc->reqs, (const char *)&r->id, sizeof(r->id), r);
    assert(rc == 0);
    (void)rc;
}

void sss_rpc_done(struct sss_rpc *rpc, struct sss_rpc_req *r)
{
    if (r->unsent)
        rpc->unsent--;
    sss_map_del(&rpc->reqs, (const char *)&r->id, sizeof(r->id));
    req_free(r);
}

struct sss_rpc_req *sss_rpc_find(struct sss_rpc *rpc, uint64_t id)
{
    return sss_map_get(&rpc->reqs, (const char *)&id, sizeof(id));
}

/* Queue a packed record; bounded: refused past the outbox limit. */
static int put_rec(struct sss_rpc *rpc, const struct sss_hm_rec *rec, int bounded)
{
    uint32_t type = rec->type;
    size_t size = sss_hm_rec_size(rec), max = sss_ring_max_payload(rpc->outbox.ring);
    int rc;

    if (size > max) {
        /* It would wait in the outbox for ever, and everything behind it too. */
        rpc->oversized++;
        if (rpc->oversized <= 10 || rpc->oversized % 1024 == 0)
            sss_log_warn("rpc", "record too large for the mailbox type=%s size=%zu max=%zu "
                                "refused=%llu",
                         sss_hm_type_name(type), size, max, (unsigned long long)rpc->oversized);
        return -EMSGSIZE;
    }
    if (bounded && rpc->outbox.pending_bytes > rpc->outbox_limit && type != SSS_HM_PRESENCE &&
        type != SSS_HM_SESSION && type != SSS_HM_HELLO && type != SSS_HM_RESYNC)
        rc = SSS_EFULL;
    else
        rc = sss_hm_outbox_put(&rpc->outbox, rec);
    if (rc >= 0)
        rpc->dirty = 1;
    else
        rpc->put_failures++; /* worth trying again later: EFULL or ENOMEM */
    return rc;
}

int sss_rpc_put(struct sss_rpc *rpc, const struct sss_hm_rec *rec)
{
    return put_rec(rpc, rec, 1);
}

int sss_rpc_ask_last_uid(struct sss_rpc *rpc, struct sss_rpc_req *r, const char *channel)
{
    struct sss_hm_rec rec;
    int rc = sss_hm_pack_last_uid(&rec, r->id, channel, strlen(channel));

    return rc < 0 ? rc : sss_rpc_put(rpc, &rec);
}

static int ask_history(struct sss_rpc *rpc, int bounded, struct sss_rpc_req *r,
                       const char *channel, int has_after, const struct sss_uid *after)
{
    struct sss_hm_rec rec;
    int rc = sss_hm_pack_history(&rec, r->id, has_after ? after : NULL, channel, strlen(channel));

    return rc < 0 ? rc : put_rec(rpc, &rec, bounded);
}

int sss_rpc_ask_history(struct sss_rpc *rpc, struct sss_rpc_req *r, const char *channel,
                        int has_after, const struct sss_uid *after)
{
    return ask_history(rpc, 1, r, channel, has_after, after);
}

int sss_rpc_ask_history_own(struct sss_rpc *rpc, struct sss_rpc_req *r, const char *channel,
                            int has_after, const struct sss_uid *after)
{
    return ask_history(rpc, 0, r, channel, has_after, after);
}

/* ---- the scaler's answers: one handler per type (sss_hm_dispatch checked the lengths) ---- */

/*
 * Each answer names its request; sss_rpc_find gives NULL for one answered
 * already, given up, or meant for a dead predecessor of this worker.
 */
static void on_published(void *data, const struct sss_hm_rec *rec)
{
    struct sss_rpc *rpc = data;
    struct sss_rpc_req *r = sss_rpc_find(rpc, rec->h.published.req);

    if (!r || !r->ops->published)
        return;
    r->ops->published(r, &rec->h.published);
    sss_rpc_done(rpc, r);
}

static void on_last_uid_r(void *data, const struct sss_hm_rec *rec)
{
    struct sss_rpc *rpc = data;
    struct sss_rpc_req *r = sss_rpc_find(rpc, rec->h.last_uid_r.req);

    if (!r || !r->ops->last_uid)
        return;
    r->ops->last_uid(r, &rec->h.last_uid_r);
    sss_rpc_done(rpc, r);
}

static void on_hist_rec(void *data, const struct sss_hm_rec *rec)
{
    struct sss_rpc *rpc = data;
    struct sss_rpc_req *r = sss_rpc_find(rpc, rec->h.hist_rec.req);

    /* The topic is copied into a name-sized buffer downstream. */
    if (!r || !r->ops->hist_rec || rec->v[0].len > SSS_PROTO_TOPIC_MAX)
        return;
    r->ops->hist_rec(r, &rec->h.hist_rec, rec->v[0].p, rec->v[1].p); /* not terminal */
}

static void on_hist_end(void *data, const struct sss_hm_rec *rec)
{
    struct sss_rpc *rpc = data;
    struct sss_rpc_req *r = sss_rpc_find(rpc, rec->h.hist_end.req);

    if (!r || !r->ops->hist_end)
        return;
    r->ops->hist_end(r, &rec->h.hist_end);
    sss_rpc_done(rpc, r);
}

static void on_session_entry(void *data, const struct sss_hm_rec *rec)
{
    struct sss_rpc *rpc = data;
    struct sss_rpc_req *r = sss_rpc_find(rpc, rec->h.session_entry.req);

    if (r && r->ops->session_entry) /* not terminal */
        r->ops->session_entry(r, &rec->h.session_entry, rec->v[0].p, rec->v[0].len);
}

static void on_session_end(void *data, const struct sss_hm_rec *rec)
{
    struct sss_rpc *rpc = data;
    struct sss_rpc_req *r = sss_rpc_find(rpc, rec->h.session_end.req);

    if (!r || !r->ops->session_end)
        return;
    r->ops->session_end(r, &rec->h.session_end);
    sss_rpc_done(rpc, r);
}

/* Not an answer: a record for the connections' owner (rpc->on_record). */
static void on_unasked(void *data, const struct sss_hm_rec *rec)
{
    struct sss_rpc *rpc = data;

    if (rpc->on_record)
        rpc->on_record(rpc->record_data, rec);
}

static const struct sss_hm_dispatcher from_scaler = {
    .who = "rpc",
    .on = {[SSS_HM_TELL_CONN] = on_unasked,
           [SSS_HM_PUBLISHED] = on_published,
           [SSS_HM_LAST_UID_R] = on_last_uid_r,
           [SSS_HM_HIST_REC] = on_hist_rec,
           [SSS_HM_HIST_END] = on_hist_end,
           [SSS_HM_SESSION_ENTRY] = on_session_entry,
           [SSS_HM_SESSION_END] = on_session_end},
};

int sss_rpc_poll(struct sss_rpc *rpc, int max)
{
    int n = 0;

    for (; n < max; n++) {
        const void *p;
        uint32_t type;
        size_t len;

        if (sss_ring_peek(rpc->inbox, &type, &p, &len) != 1)
            break;
        (void)sss_hm_dispatch(&rpc->from_scaler, rpc, type, p, len);
        sss_ring_consume(rpc->inbox);
    }
    return n;
}

int sss_rpc_readable(struct sss_rpc *rpc)
{
    return sss_ring_readable(rpc->inbox);
}

/*
 * Replay the listed requests (linked by replay_next), then free those that
 * gave up. A request whose replay failed to send is marked unsent.
 */
static void replay_list(struct sss_rpc *rpc, struct sss_rpc_req *list)
{
    for (struct sss_rpc_req *r = list; r; r = r->replay_next) {
        uint64_t failures = rpc->put_failures;

        if (r->unsent) {
            r->unsent = 0;
            rpc->unsent--;
        }
        if (!r->ops->replay)
            continue;
        if (r->ops->replay(r)) {
            r->dropping = 1;
        } else if (rpc->put_failures != failures) {
            r->unsent = 1; /* asked again from sss_rpc_flush, never left hanging */
            rpc->unsent++;
        }
    }
    while (list) {
        struct sss_rpc_req *r = list;

        list = r->replay_next;
        if (r->dropping)
            sss_rpc_done(rpc, r);
    }
}

void sss_rpc_replay(struct sss_rpc *rpc)
{
    struct sss_rpc_req *list = NULL, *r;
    struct sss_map_iter it;

    for (sss_map_iter_init(&it, &rpc->reqs); (r = sss_map_next(&it));) {
        r->replay_next = list;
        list = r;
    }
    replay_list(rpc, list);
}

/* The requests whose replay could not be sent, now that the outbox has room. */
static void replay_unsent(struct sss_rpc *rpc)
{
    struct sss_rpc_req *list = NULL, *r;
    struct sss_map_iter it;

    for (sss_map_iter_init(&it, &rpc->reqs); (r = sss_map_next(&it));)
        if (r->unsent) {
            r->replay_next = list;
            list = r;
        }
    replay_list(rpc, list);
}

void sss_rpc_expire(struct sss_rpc *rpc, int64_t now_ms)
{
    struct sss_map_iter it;
    struct sss_rpc_req *r;

    /* sss_rpc_done deletes only the request just returned: the walk allows it. */
    for (sss_map_iter_init(&it, &rpc->reqs); (r = sss_map_next(&it));)
        if (r->ops->expire && r->ops->expire(r, now_ms))
            sss_rpc_done(rpc, r);
}

void sss_rpc_flush(struct sss_rpc *rpc)
{
    if (rpc->outbox.head && sss_hm_outbox_flush(&rpc->outbox) > 0)
        rpc->dirty = 1;
    if (rpc->unsent && rpc->outbox.pending_bytes <= rpc->outbox_limit)
        replay_unsent(rpc);
    if (rpc->dirty) {
        if (rpc->scaler_wake)
            (void)sss_wake_notify(rpc->scaler_wake);
        rpc->dirty = 0;
    }
}
