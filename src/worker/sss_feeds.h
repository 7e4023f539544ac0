/*
 * FEED texts collected from history, back to back with each one's length:
 * the records of a SYNC reply (sss_session) and of an ask answered with a
 * channel's history (sss_backend), and the history request that gathers
 * them (struct sss_feeds_req).
 * May include: common, proto, rpc.
 */
#ifndef SSS_FEEDS_H
#define SSS_FEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "sss_proto.h"
#include "sss_rpc.h"

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

/*
 * A request for a channel's history whose records gather in a list: an ask
 * answered with history (sss_backend), a SYNC entry (sss_session_sync).
 * It comes first in its kind's struct; the kind's ops take hist_rec and
 * replay from here and bring their own hist_end and free.
 */
struct sss_feeds_req {
    struct sss_rpc_req base; /* first */
    struct sss_feeds *into;  /* borrowed, as are channel and after */
    const char *channel;
    int has_after; /* 0: from the channel's start */
    const struct sss_uid *after;
};

/* Ask (again): 0, or < 0 if the question could not be sent (sss_rpc_ask_history). */
int sss_feeds_req_ask(struct sss_feeds_req *r);
/* ops->hist_rec: one more record into r->into. */
void sss_feeds_req_rec(struct sss_rpc_req *base, const struct sss_hm_hist_rec *p, const char *topic,
                       const char *msg);
/*
 * ops->replay: a new scaler. Asked again from the start under a new id, so
 * that what the dead scaler sent goes, and so does whatever it left unread
 * in the mailbox (the old id): the list has each record once.
 */
int sss_feeds_req_replay(struct sss_rpc_req *base);

#endif
