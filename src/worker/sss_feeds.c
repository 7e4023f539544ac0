/*
 * FEED texts collected from history (see sss_feeds.h).
 * May include: common, proto, rpc.
 */
#include "sss_feeds.h"
#include "sss_alloc.h"
#include "sss_str.h"

#include <string.h>

void sss_feeds_init(struct sss_feeds *fl)
{
    sss_proto_out_init(&fl->text, NULL, 0);
    fl->len = NULL;
    fl->n = fl->cap = 0;
}

void sss_feeds_fini(struct sss_feeds *fl)
{
    sss_proto_out_fini(&fl->text);
    sss_free(fl->len);
    fl->len = NULL;
    fl->n = fl->cap = 0;
}

void sss_feeds_clear(struct sss_feeds *fl)
{
    fl->text.len = 0;
    fl->text.oom = false;
    fl->n = 0;
}

void sss_feeds_add(struct sss_feeds *fl, const char *chan, const char *topic, size_t topic_len,
                   struct sss_proto_span msg, const struct sss_uid *uid)
{
    char t[SSS_PROTO_TOPIC_MAX + 1];
    size_t before = fl->text.len;

    if (sss_str_copy(t, sizeof(t), topic, topic_len) < 0)
        return; /* the records' readers refuse such topics before this */
    if (fl->n == fl->cap) {
        size_t ncap = fl->cap ? fl->cap * 2 : 16;
        uint32_t *nl = sss_realloc(fl->len, ncap * sizeof(*nl));

        if (!nl) {
            fl->text.oom = true;
            return;
        }
        fl->len = nl;
        fl->cap = ncap;
    }
    if (sss_proto_encode_feed(&fl->text, chan, t, msg, uid) == 0)
        fl->len[fl->n++] = (uint32_t)(fl->text.len - before);
}

int sss_feeds_req_ask(struct sss_feeds_req *r)
{
    return sss_rpc_ask_history(r->base.rpc, &r->base, r->channel, r->has_after, r->after);
}

void sss_feeds_req_rec(struct sss_rpc_req *base, const struct sss_hm_hist_rec *p, const char *topic,
                       const char *msg)
{
    struct sss_feeds_req *r = (struct sss_feeds_req *)base;

    sss_feeds_add(r->into, r->channel, topic, p->topic_len, sss_proto_span_of(msg, p->msg_len),
                  &p->uid);
}

int sss_feeds_req_replay(struct sss_rpc_req *base)
{
    struct sss_feeds_req *r = (struct sss_feeds_req *)base;

    sss_rpc_renew(base->rpc, base);
    sss_feeds_clear(r->into);
    (void)sss_feeds_req_ask(r);
    return 0;
}
