/*
 * FEED texts collected from history, back to back with each one's length:
 * the records of a SYNC reply (sss_session) and of an ask answered with a
 * channel's history (sss_backend).
 * May include: common, proto.
 */
#ifndef SSS_FEEDS_H
#define SSS_FEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "sss_proto.h"

struct sss_feeds {
    struct sss_proto_out text; /* the FEEDs, back to back (text.oom: one was lost) */
    uint32_t *len;             /* the length of each (owned) */
    size_t n, cap;
};

void sss_feeds_init(struct sss_feeds *fl);
void sss_feeds_fini(struct sss_feeds *fl);
/* Forget every FEED (kept memory is reused). */
void sss_feeds_clear(struct sss_feeds *fl);

/* Append one FEED; on ENOMEM the list is marked (fl->text.oom) and stays as it was. */
void sss_feeds_add(struct sss_feeds *fl, const char *chan, const char *topic, size_t topic_len,
                   struct sss_proto_span msg, const struct sss_uid *uid);

#endif
