/*
 * The request table of a worker (see sss_rpc.h): ids, the outbox to the
 * scaler, the dispatch of answers and the replay after a scaler restart.
 *
 * Iteration and deletion: the map deletes by backward shift, so a pass that
 * frees requests either re-reads the same slot after a free (expire) or
 * marks first and frees in a second pass (replay, whose callbacks may send
 * replies but never add or free requests).
 * May include: common, proto (sss_hostmsg), shm.
 */
#include "sss_rpc.h"
#include "sss_err.h"
#include "sss_log.h"
#include "sss_ring.h"
#include "sss_wake.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define OUTBOX_FACTOR 4 /* mailboxes' worth of records that may wait in the outbox */

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
}

void sss_rpc_hello(struct sss_rpc *rpc)
{
    struct sss_hm_hello hello = {.pid = rpc->pid};

    (void)sss_rpc_send(rpc, SSS_HM_HELLO, &hello, sizeof(hello), NULL, 0, NULL, 0);
}

void sss_rpc_fini(struct sss_rpc *rpc)
{
    for (uint32_t i = 0; i < rpc->reqs.cap; i++)
        if (rpc->reqs.slots[i].key) {
            struct sss_rpc_req *r = rpc->reqs.slots[i].val;

            r->ops->free(r); /* the map goes whole below: no deletion needed */
        }
    sss_map_fini(&rpc->reqs);
    sss_hm_outbox_clear(&rpc->outbox);
}

int sss_rpc_add(struct sss_rpc *rpc, struct sss_rpc_req *r, const struct sss_rpc_ops *ops)
{
    r->id = (rpc->pid << 32) | (++rpc->counter & 0xffffffffu);
    r->ops = ops;
    r->rpc = rpc;
    r->dropping = 0;
    if (sss_map_put(&rpc->reqs, (const char *)&r->id, sizeof(r->id), r) < 0)
        return -ENOMEM;
    return 0;
}

void sss_rpc_done(struct sss_rpc *rpc, struct sss_rpc_req *r)
{
    sss_map_del(&rpc->reqs, (const char *)&r->id, sizeof(r->id));
    r->ops->free(r);
}

struct sss_rpc_req *sss_rpc_find(struct sss_rpc *rpc, uint64_t id)
{
    return sss_map_get(&rpc->reqs, (const char *)&id, sizeof(id));
}

/* Queue a record; bounded: refused past the outbox limit. */
static int send_rec(struct sss_rpc *rpc, int bounded, uint32_t type, const void *h, size_t hlen,
                    const void *p1, size_t l1, const void *p2, size_t l2)
{
    int rc;

    if (bounded && rpc->outbox.pending_bytes > rpc->outbox_limit && type != SSS_HM_PRESENCE &&
        type != SSS_HM_SESSION && type != SSS_HM_HELLO && type != SSS_HM_RESYNC)
        return SSS_EFULL;
    rc = sss_hm_outbox_send(&rpc->outbox, type, h, hlen, p1, l1, p2, l2);
    if (rc >= 0)
        rpc->dirty = 1;
    return rc;
}

int sss_rpc_send(struct sss_rpc *rpc, uint32_t type, const void *h, size_t hlen, const void *p1,
                 size_t l1, const void *p2, size_t l2)
{
    return send_rec(rpc, 1, type, h, hlen, p1, l1, p2, l2);
}

int sss_rpc_ask_last_uid(struct sss_rpc *rpc, struct sss_rpc_req *r, const char *channel)
{
    struct sss_hm_last_uid q = {.req = r->id, .chan_len = (uint16_t)strlen(channel)};

    return sss_rpc_send(rpc, SSS_HM_LAST_UID, &q, sizeof(q), channel, q.chan_len, NULL, 0);
}

static int ask_history(struct sss_rpc *rpc, int bounded, struct sss_rpc_req *r,
                       const char *channel, int has_after, const struct sss_uid *after)
{
    struct sss_hm_history q = {.req = r->id};

    q.has_after = (uint32_t)has_after;
    if (has_after)
        q.after = *after;
    q.chan_len = (uint16_t)strlen(channel);
    return send_rec(rpc, bounded, SSS_HM_HISTORY, &q, sizeof(q), channel, q.chan_len, NULL, 0);
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

/* The request an answer names (its first field is always the request id). */
static struct sss_rpc_req *answer_req(struct sss_rpc *rpc, const void *p)
{
    uint64_t id;

    memcpy(&id, p, sizeof(id));
    return sss_rpc_find(rpc, id);
}

/* One answer from the scaler; len is at least the fixed part (checked by the caller). */
static void dispatch(struct sss_rpc *rpc, uint32_t type, const void *p, size_t len)
{
    struct sss_rpc_req *r = answer_req(rpc, p);
    const struct sss_rpc_ops *ops = r ? r->ops : NULL;

    if (!r)
        return; /* answered already, given up, or meant for a dead predecessor */
    switch (type) {
    case SSS_HM_PUBLISHED:
        if (!ops->published)
            return;
        ops->published(r, p);
        break;
    case SSS_HM_LAST_UID_R:
        if (!ops->last_uid)
            return;
        ops->last_uid(r, p);
        break;
    case SSS_HM_HIST_REC: {
        const struct sss_hm_hist_rec *h = p;
        const char *var = (const char *)p + sizeof(*h);

        if ((size_t)h->topic_len + h->msg_len != len - sizeof(*h) ||
            h->topic_len > SSS_PROTO_TOPIC_MAX || !ops->hist_rec)
            return;
        ops->hist_rec(r, h, var, var + h->topic_len);
        return; /* not terminal */
    }
    case SSS_HM_HIST_END:
        if (!ops->hist_end)
            return;
        ops->hist_end(r, p);
        break;
    case SSS_HM_SESSION_ENTRY:
        if (ops->session_entry)
            ops->session_entry(r, p, (const char *)p + sizeof(struct sss_hm_session_entry),
                               len - sizeof(struct sss_hm_session_entry));
        return; /* not terminal */
    case SSS_HM_SESSION_END:
        if (!ops->session_end)
            return;
        ops->session_end(r, p);
        break;
    default:
        return;
    }
    sss_rpc_done(rpc, r);
}

static size_t fixed_size(uint32_t type)
{
    switch (type) {
    case SSS_HM_PUBLISHED:
        return sizeof(struct sss_hm_published);
    case SSS_HM_LAST_UID_R:
        return sizeof(struct sss_hm_last_uid_r);
    case SSS_HM_HIST_REC:
        return sizeof(struct sss_hm_hist_rec);
    case SSS_HM_HIST_END:
        return sizeof(struct sss_hm_hist_end);
    case SSS_HM_SESSION_ENTRY:
        return sizeof(struct sss_hm_session_entry);
    case SSS_HM_SESSION_END:
        return sizeof(struct sss_hm_session_end);
    default:
        return 0;
    }
}

int sss_rpc_poll(struct sss_rpc *rpc, int max)
{
    int n = 0;

    for (; n < max; n++) {
        const void *p;
        uint32_t type;
        size_t len, need;

        if (sss_ring_peek(rpc->inbox, &type, &p, &len) != 1)
            break;
        need = fixed_size(type);
        if (!need)
            sss_log_error("rpc", "unknown record type=%u from the scaler", type);
        else if (len >= need)
            dispatch(rpc, type, p, len);
        sss_ring_consume(rpc->inbox);
    }
    return n;
}

int sss_rpc_readable(struct sss_rpc *rpc)
{
    return sss_ring_readable(rpc->inbox);
}

void sss_rpc_replay(struct sss_rpc *rpc)
{
    for (uint32_t i = 0; i < rpc->reqs.cap; i++) {
        struct sss_rpc_req *r = rpc->reqs.slots[i].key ? rpc->reqs.slots[i].val : NULL;

        if (r && r->ops->replay && r->ops->replay(r))
            r->dropping = 1;
    }
    for (uint32_t i = 0; i < rpc->reqs.cap;) {
        struct sss_rpc_req *r = rpc->reqs.slots[i].key ? rpc->reqs.slots[i].val : NULL;

        if (r && r->dropping) {
            sss_rpc_done(rpc, r); /* the backward shift may bring another into slot i */
            continue;
        }
        i++;
    }
}

void sss_rpc_expire(struct sss_rpc *rpc, int64_t now_ms)
{
    for (uint32_t i = 0; i < rpc->reqs.cap;) {
        struct sss_rpc_req *r = rpc->reqs.slots[i].key ? rpc->reqs.slots[i].val : NULL;

        if (r && r->ops->expire && r->ops->expire(r, now_ms)) {
            sss_rpc_done(rpc, r); /* the backward shift may refill slot i */
            continue;
        }
        i++;
    }
}

void sss_rpc_flush(struct sss_rpc *rpc)
{
    if (rpc->outbox.head && sss_hm_outbox_flush(&rpc->outbox) > 0)
        rpc->dirty = 1;
    if (rpc->dirty) {
        if (rpc->scaler_wake)
            (void)sss_wake_notify(rpc->scaler_wake);
        rpc->dirty = 0;
    }
}
