/*
 * Deferred decisions (include/sss/sss.h: sss_decide_session,
 * sss_decide_subscribe): a question the worker asks someone else (an --app
 * module's later handler; the backend proxy next) whose answer may come
 * after the handler returned.
 *
 * Two sides share a struct sss_decision:
 *   the asker     the layer that waits (the upgrade in sss_conn.c, a
 *                 SUBSCRIBE or SYNC entry in sss_session.c): it creates the
 *                 decision with a continuation, and drops it if it stops
 *                 waiting (the client left);
 *   the answerer  the module (or the proxy), who holds the handle and
 *                 answers it exactly once; the answer frees it.
 * The continuation runs once, inside the answer or inside the sweep that
 * decides for a late answerer (--decision-timeout), never after a drop.
 * After that the handle is "gone": its answer is a no-op (SSS_APP_EGONE),
 * counted. Handles nobody answered are freed when the worker ends.
 * May include: common, http, shm, sss_worker, include/sss.
 */
#ifndef SSS_DECIDE_H
#define SSS_DECIDE_H

#include <stdint.h>
#include <sys/queue.h>

#include "sss/sss.h"
#include "sss_auth.h"

struct sss_worker;

enum sss_decision_kind {
    SSS_DECISION_SESSION = 1,   /* an upgrade: the answer is an sss_auth */
    SSS_DECISION_SUBSCRIBE = 2, /* a subscription: allow, or a reason */
};

/* The reason given for the answerer when --decision-timeout passes. */
#define SSS_DECISION_TIMEOUT_REASON "application did not answer"

struct sss_decision;

/*
 * The asker's continuation: d's answer is in d->auth (SESSION) or d->allow
 * and d->reason (SUBSCRIBE); d->timed_out says the sweep decided. It must
 * not keep d (freed or gone after it returns).
 */
typedef void (*sss_decision_fn)(struct sss_decision *d, void *data);

struct sss_decision {
    struct sss_worker *w; /* borrowed */
    uint8_t kind;         /* enum sss_decision_kind */
    uint8_t gone;         /* decided, timed out or dropped: an answer is a no-op */
    uint8_t timed_out;    /* the sweep decided (during the continuation) */
    int64_t deadline_ms;
    sss_decision_fn fn;   /* the asker's continuation; NULL once gone */
    void *data;           /* its data (the asker's) */
    /* The answer, valid during fn. */
    struct sss_auth auth; /* SESSION: status 0 accepts; reason points into reason[] */
    int allow;            /* SUBSCRIBE */
    char reason[SSS_REASON_MAX + 1];
    LIST_ENTRY(sss_decision) link; /* the worker's list (every handle not freed) */
};

/*
 * A new decision of kind, due in --decision-timeout, whose answer goes to
 * fn(d, data) once. Returns NULL on ENOMEM.
 */
struct sss_decision *sss_decision_create(struct sss_worker *w, enum sss_decision_kind kind,
                                         sss_decision_fn fn, void *data);

/* The asker stops waiting (its client left): fn is never called; an answer is a no-op. */
void sss_decision_drop(struct sss_decision *d);

/*
 * Refuse an upgrade with any error status (sss_decide_session only gives
 * 401, 403 or 500): the backend proxy's 503 when its backend fails. reason
 * is copied. Returns 0, or SSS_APP_EGONE (counted) when nobody waits any
 * more, or SSS_APP_ESTATE for a subscription's handle. d is dead after 0
 * or SSS_APP_EGONE.
 */
int sss_decision__refuse_session(struct sss_decision *d, int status, const char *reason);

/* Decide for the answerers past their deadline (the worker's tick). */
void sss_decision_tick(struct sss_worker *w, int64_t now_ms);

/* Free every handle (the worker ends; nobody may answer any more). */
void sss_decision_fini(struct sss_worker *w);

/* Pending decisions of the worker (not gone), for tests and logs. */
unsigned sss_decision_pending(const struct sss_worker *w);

#endif
