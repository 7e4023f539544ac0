/*
 * libsss's back end (see sss_backend.h): records to the scaler for the
 * calls of include/sss/sss.h, and the one kind of request they make,
 * hist_req: an ask answered with a channel's history.
 * May include: common, proto, shm, rpc, sss_feeds, sss_app.
 */
#include "sss_backend.h"
#include "sss_alloc.h"
#include "sss_app.h"
#include "sss_feeds.h"
#include "sss_hostmsg.h"
#include "sss_rpc.h"

#include <errno.h>
#include <string.h>

/*
 * Send a packed record (rc: the pack's result). Returns 0, -EMSGSIZE (a
 * part too long for its field, or a record larger than the mailbox takes),
 * or -ENOMEM for anything worth trying again later.
 */
static int put(struct sss_rpc *rpc, int rc, const struct sss_hm_rec *rec)
{
    if (rc < 0)
        return -EMSGSIZE;
    rc = sss_rpc_put(rpc, rec);
    if (rc == -EMSGSIZE)
        return rc;
    return rc < 0 ? -ENOMEM : 0;
}

int sss_backend_publish(struct sss_rpc *rpc, uint64_t origin_conn, const char *channel,
                        const char *topic, const char *json, size_t len)
{
    struct sss_hm_rec rec;
    int rc = sss_hm_pack_publish(&rec, 0, origin_conn, origin_conn ? SSS_HM_SKIP_SENDER : 0,
                                 channel, strlen(channel), topic, strlen(topic), json, len);

    return put(rpc, rc, &rec);
}

int sss_backend_broadcast(struct sss_rpc *rpc, const char *topic, const char *json, size_t len)
{
    struct sss_hm_rec rec;
    int rc = sss_hm_pack_broadcast(&rec, topic, strlen(topic), json, len);

    return put(rpc, rc, &rec);
}

int sss_backend_boot(struct sss_rpc *rpc, int kind, const char *name, size_t name_len,
                     const char *reason, size_t reason_len)
{
    struct sss_hm_rec rec;
    int rc = sss_hm_pack_boot(&rec, kind, name, name_len, reason, reason_len);

    return put(rpc, rc, &rec);
}

int sss_backend_tell(struct sss_rpc *rpc, uint64_t sid, uint32_t run, const char *host,
                     size_t host_len, const char *topic, const char *json, size_t len)
{
    struct sss_hm_rec rec;
    int rc = sss_hm_pack_tell(&rec, sid, run, host, host_len, topic, strlen(topic), json, len);

    return put(rpc, rc, &rec);
}

/* ---- an ask answered with a channel's history (sss_reply_history) ---- */

struct hist_req {
    struct sss_feeds_req fr; /* first; gathers into hist */
    struct sss_reply *reply;
    unsigned limit;
    struct sss_feeds hist;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
};

/* The newest `limit` records, oldest first, as one JSON array. */
static void hist_end(struct sss_rpc_req *base, const struct sss_hm_hist_end *p)
{
    struct hist_req *r = (struct hist_req *)base;
    size_t skip = r->hist.n > r->limit ? r->hist.n - r->limit : 0, off = 0;
    struct sss_proto_out arr;
    int rc = p->rc || r->hist.text.oom ? -ENOMEM : 0;

    sss_proto_out_init(&arr, NULL, 0);
    if (rc == 0)
        rc = sss_proto_out_append(&arr, "[", 1);
    for (size_t i = 0; i < r->hist.n; off += r->hist.len[i], i++) {
        if (i < skip || rc)
            continue;
        if (i > skip)
            rc = sss_proto_out_append(&arr, ",", 1);
        if (rc == 0)
            rc = sss_proto_out_append(&arr, r->hist.text.data + off, r->hist.len[i]);
    }
    if (rc == 0)
        rc = sss_proto_out_append(&arr, "]", 1);
    sss_app__history_done(r->reply, arr.data, arr.len, rc);
    sss_proto_out_fini(&arr);
}

static void hist_free(struct sss_rpc_req *base)
{
    struct hist_req *r = (struct hist_req *)base;

    sss_feeds_fini(&r->hist);
    sss_free(r);
}

static const struct sss_rpc_ops hist_ops = {
    .hist_rec = sss_feeds_req_rec,
    .hist_end = hist_end,
    .replay = sss_feeds_req_replay,
    .free = hist_free,
};

int sss_backend_history(struct sss_rpc *rpc, struct sss_reply *reply, const char *channel,
                        unsigned limit)
{
    struct hist_req *r = sss_calloc(1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    r->reply = reply;
    r->limit = limit;
    sss_feeds_init(&r->hist);
    memcpy(r->channel, channel, strlen(channel) + 1);
    r->fr.into = &r->hist;
    r->fr.channel = r->channel;
    if (sss_rpc_add(rpc, &r->fr.base, &hist_ops) < 0) {
        hist_free(&r->fr.base);
        return -ENOMEM;
    }
    if (sss_feeds_req_ask(&r->fr) < 0) {
        sss_rpc_done(rpc, &r->fr.base);
        return -ENOMEM;
    }
    return 0;
}
