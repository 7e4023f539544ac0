/*
 * A worker's requests to the scaler: the table of requests waiting for an
 * answer, the outbox that carries them, the dispatch of the scaler's answers
 * from the worker's mailbox, and the replay after a scaler restart.
 *
 * A request is a small struct of its own kind that embeds struct
 * sss_rpc_req first; its kind's ops receive the scaler's answers. A request
 * id is (pid << 32) | counter, so that an answer meant for a dead
 * predecessor of this worker (same mailbox, other pid) is recognised and
 * dropped. A request names its connection by id, never by pointer: a
 * connection may close before its answer comes.
 *
 * This module knows rings and host messages only: no io_uring, no sockets,
 * no connections; a unit test drives it through in-memory rings.
 * May include: common, proto (sss_hostmsg), shm.
 */
#ifndef SSS_RPC_H
#define SSS_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "sss_hostmsg.h"
#include "sss_map.h"

struct sss_ring;
struct sss_wake;
struct sss_rpc_req;

/*
 * What a kind of request does with each answer; NULL where the kind expects
 * none (such an answer is ignored and the request stays). After a terminal
 * answer (last_uid, hist_end, published, session_end) the table forgets the
 * request and calls free.
 */
struct sss_rpc_ops {
    void (*last_uid)(struct sss_rpc_req *r, const struct sss_hm_last_uid_r *p);
    void (*hist_rec)(struct sss_rpc_req *r, const struct sss_hm_hist_rec *p, const char *topic,
                     const char *msg);
    void (*hist_end)(struct sss_rpc_req *r, const struct sss_hm_hist_end *p);
    void (*published)(struct sss_rpc_req *r, const struct sss_hm_published *p);
    void (*session_entry)(struct sss_rpc_req *r, const struct sss_hm_session_entry *p,
                          const char *chan, size_t len);
    void (*session_end)(struct sss_rpc_req *r, const struct sss_hm_session_end *p);
    /*
     * A new scaler started: ask it again. Return 1 to give the request up
     * (it is freed). If the question cannot be sent now (the outbox is past
     * its limit, or no memory), the table notices and calls replay again
     * later, from sss_rpc_flush, once the outbox is below its limit. A kind
     * that gathers several answers (history) calls sss_rpc_renew first and
     * drops what it gathered: the dead scaler's unread answers carry the
     * old id and are ignored from then on.
     */
    int (*replay)(struct sss_rpc_req *r);
    /* Periodic (sss_rpc_expire): return 1 if the request gave up (it is freed). */
    int (*expire)(struct sss_rpc_req *r, int64_t now_ms);
    /*
     * Free the request's memory; the table has already forgotten it. NULL:
     * the request is one block from sss_alloc and the table frees it with
     * sss_free.
     */
    void (*free)(struct sss_rpc_req *r);
};

struct sss_rpc_req {
    uint64_t id; /* also the table's key */
    const struct sss_rpc_ops *ops;
    struct sss_rpc *rpc; /* borrowed */
    uint8_t dropping;    /* replay gave it up: freed after the pass */
    uint8_t unsent;      /* its replay could not be sent: replayed again by sss_rpc_flush */
    struct sss_rpc_req *replay_next; /* the replay pass's list */
};

struct sss_rpc {
    struct sss_map reqs;          /* id -> struct sss_rpc_req (owned: ops->free or sss_free) */
    uint64_t counter;
    uint64_t pid;                 /* the high half of every id */
    struct sss_ring *inbox;       /* scaler -> this worker (borrowed: shared memory) */
    struct sss_hm_outbox outbox;  /* this worker -> scaler */
    struct sss_wake *scaler_wake; /* borrowed; NULL: nobody to wake (tests) */
    size_t outbox_limit;          /* bytes waiting past which requests fail (SSS_EFULL) */
    struct sss_hm_dispatcher from_scaler; /* the answers' handlers and counts */
    /* Records in the mailbox that answer no request (TELL_CONN: a TELL for
     * one of the worker's connections) go to on_record(record_data, rec);
     * NULL drops them. Set by whoever owns the connections (sss_session). */
    sss_hm_handler_fn *on_record;
    void *record_data;
    int dirty;                    /* something went to the scaler this turn */
    uint32_t unsent;              /* requests whose replay waits for room (r->unsent) */
    uint64_t put_failures;        /* sss_rpc_put calls that may succeed later (a replay's check) */
    uint64_t oversized;           /* records refused: larger than the mailbox ring takes */
};

/*
 * Set up the table over the worker's two mailbox rings. mailbox_size bounds
 * the outbox (four mailboxes' worth may wait). Sends nothing.
 */
void sss_rpc_init(struct sss_rpc *rpc, struct sss_ring *inbox, struct sss_ring *to_scaler,
                  struct sss_wake *scaler_wake, size_t mailbox_size);
/* Say HELLO to the scaler: this process (pid) reads the mailbox from now on. */
void sss_rpc_hello(struct sss_rpc *rpc);

/* Free every pending request (ops->free, or sss_free) and whatever waits in the outbox. */
void sss_rpc_fini(struct sss_rpc *rpc);

/*
 * Give r a fresh id and put it in the table. Returns 0, or -ENOMEM (r is
 * not in the table; the caller still owns it).
 */
int sss_rpc_add(struct sss_rpc *rpc, struct sss_rpc_req *r, const struct sss_rpc_ops *ops)
    __attribute__((warn_unused_result));

/*
 * Give r a fresh id (for ops->replay): answers to its old id, still in the
 * mailbox from a dead scaler, are dropped from now on. Cannot fail.
 */
void sss_rpc_renew(struct sss_rpc *rpc, struct sss_rpc_req *r);

/* Forget r and free it (ops->free, or sss_free). */
void sss_rpc_done(struct sss_rpc *rpc, struct sss_rpc_req *r);

/* The pending request with this id, or NULL. */
struct sss_rpc_req *sss_rpc_find(struct sss_rpc *rpc, uint64_t id);

/*
 * Send a packed record (sss_hm_pack_*) to the scaler; its parts are copied,
 * so rec may go when this returns. A full mailbox makes it wait in the
 * outbox; past the outbox limit (the scaler is gone or far behind) new
 * requests fail with SSS_EFULL instead of growing the worker without bound,
 * while bookkeeping records (PRESENCE, SESSION, HELLO, RESYNC) still go:
 * they keep counts right. A record larger than the mailbox ring can ever
 * take is refused at once and logged (rate-limited): it would never leave
 * and would hold back everything behind it.
 * Returns >= 0, SSS_EFULL, -EMSGSIZE or -ENOMEM.
 */
int sss_rpc_put(struct sss_rpc *rpc, const struct sss_hm_rec *rec);

/* Ask the channel's last uid (SSS_HM_LAST_UID) / its history after `after` (SSS_HM_HISTORY). */
int sss_rpc_ask_last_uid(struct sss_rpc *rpc, struct sss_rpc_req *r, const char *channel);
int sss_rpc_ask_history(struct sss_rpc *rpc, struct sss_rpc_req *r, const char *channel,
                        int has_after, const struct sss_uid *after);
/*
 * The same for the worker's own lap recovery: never refused by the outbox
 * limit (a refusal there would lose the lapped range of a channel for good);
 * bounded anyway by one request per local channel per lap.
 */
int sss_rpc_ask_history_own(struct sss_rpc *rpc, struct sss_rpc_req *r, const char *channel,
                            int has_after, const struct sss_uid *after);

/*
 * Read up to max answers from the mailbox and hand each to its request
 * (sss_hm_dispatch: a record whose lengths do not add up is counted, logged
 * and dropped), or to rpc->on_record for a record that answers no request.
 * Returns how many records were read.
 */
int sss_rpc_poll(struct sss_rpc *rpc, int max);

/* Whether the mailbox has an answer (checked before sleeping). */
int sss_rpc_readable(struct sss_rpc *rpc);

/* A new scaler: every pending request asks again (ops->replay). */
void sss_rpc_replay(struct sss_rpc *rpc);

/* Periodic: requests that give up (ops->expire) are freed. */
void sss_rpc_expire(struct sss_rpc *rpc, int64_t now_ms);

/*
 * End of a loop turn: move waiting records into the ring; once the outbox is
 * below its limit, replay the requests whose replay could not be sent; wake
 * the scaler if we sent anything.
 */
void sss_rpc_flush(struct sss_rpc *rpc);

/* How many requests are pending. */
static inline uint32_t sss_rpc_pending(const struct sss_rpc *rpc)
{
    return rpc->reqs.len;
}

#endif
