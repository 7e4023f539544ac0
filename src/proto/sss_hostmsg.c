/* Host message layouts (checked here) and the mailbox outbox (see sss_hostmsg.h). */
#include "sss_hostmsg.h"
#include "sss_alloc.h"
#include "sss_ring.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

static_assert(sizeof(struct sss_hm_publish) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_published) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_history) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_hist_rec) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_hist_end) == 40, "fixed layout");
static_assert(sizeof(struct sss_hm_feed) == 40, "fixed layout");

struct sss_hm_pending {
    struct sss_hm_pending *next;
    uint32_t type;
    uint32_t len;
    char data[];
};

void sss_hm_outbox_init(struct sss_hm_outbox *o, struct sss_ring *ring)
{
    o->ring = ring;
    o->head = NULL;
    o->tailp = &o->head;
    o->pending_bytes = 0;
}

int sss_hm_outbox_send(struct sss_hm_outbox *o, uint32_t type, const void *h, size_t hlen,
                       const void *p1, size_t len1, const void *p2, size_t len2)
{
    struct sss_hm_pending *pd;

    if (!o->head) {
        if (!len2 && sss_ring_push2(o->ring, type, h, hlen, p1, len1) == 0)
            return 1;
        if (len2) {
            /* Three parts: join the variable ones (rare: publish requests). */
            char *tmp = sss_malloc(len1 + len2);
            int rc;

            if (!tmp)
                return -ENOMEM;
            if (len1)
                memcpy(tmp, p1, len1);
            memcpy(tmp + len1, p2, len2);
            rc = sss_ring_push2(o->ring, type, h, hlen, tmp, len1 + len2);
            sss_free(tmp);
            if (rc == 0)
                return 1;
        }
    }
    pd = sss_malloc(sizeof(*pd) + hlen + len1 + len2);
    if (!pd)
        return -ENOMEM;
    pd->next = NULL;
    pd->type = type;
    pd->len = (uint32_t)(hlen + len1 + len2);
    memcpy(pd->data, h, hlen);
    if (len1)
        memcpy(pd->data + hlen, p1, len1);
    if (len2)
        memcpy(pd->data + hlen + len1, p2, len2);
    *o->tailp = pd;
    o->tailp = &pd->next;
    o->pending_bytes += pd->len;
    return 0;
}

int sss_hm_outbox_flush(struct sss_hm_outbox *o)
{
    int n = 0;

    while (o->head && sss_ring_push(o->ring, o->head->type, o->head->data, o->head->len) == 0) {
        struct sss_hm_pending *pd = o->head;

        o->head = pd->next;
        if (!o->head)
            o->tailp = &o->head;
        o->pending_bytes -= pd->len;
        sss_free(pd);
        n++;
    }
    return n;
}

void sss_hm_outbox_clear(struct sss_hm_outbox *o)
{
    while (o->head) {
        struct sss_hm_pending *pd = o->head;

        o->head = pd->next;
        sss_free(pd);
    }
    o->tailp = &o->head;
    o->pending_bytes = 0;
}
