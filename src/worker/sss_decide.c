/*
 * Deferred decisions (see sss_decide.h): the worker's list of handles, the
 * answers of include/sss/sss.h, and the sweep that decides for a late
 * answerer.
 *
 * Every handle not yet answered is on the worker's list, gone or not, so
 * that the sweep finds the waiting ones and the worker's end frees the
 * rest. An answer always frees its handle (as sss_reply_ok does).
 * May include: common, http, shm, sss_worker, include/sss.
 */
#include "sss_decide.h"
#include "sss_alloc.h"
#include "sss_log.h"
#include "sss_worker.h"

#include <string.h>

static void free_decision(struct sss_decision *d)
{
    LIST_REMOVE(d, link);
    sss_free(d);
}

struct sss_decision *sss_decision_create(struct sss_worker *w, enum sss_decision_kind kind,
                                         sss_decision_fn fn, void *data)
{
    struct sss_decision *d = sss_calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->w = w;
    d->kind = (uint8_t)kind;
    d->fn = fn;
    d->data = data;
    d->deadline_ms = w->now_ms + w->cfg->decision_timeout_ms;
    LIST_INSERT_HEAD(&w->decisions, d, link);
    return d;
}

void sss_decision_drop(struct sss_decision *d)
{
    d->gone = 1;
    d->fn = NULL;
    d->data = NULL;
}

/* Hand the answer in d to the asker, once; d is gone after. */
static void deliver(struct sss_decision *d)
{
    sss_decision_fn fn = d->fn;
    void *data = d->data;

    d->gone = 1;
    d->fn = NULL;
    d->data = NULL;
    if (fn)
        fn(d, data);
}

/* The answer to a handle nobody waits for: counted, and the handle goes. */
static int late(struct sss_decision *d)
{
    struct sss_worker *w = d->w;

    if (w->ctr)
        sss_ctr_add(w->ctr, decisions_late, 1);
    sss_log_debug("app", "a %s decision answered after nobody waited for it",
                  d->kind == SSS_DECISION_SESSION ? "session" : "subscription");
    free_decision(d);
    return SSS_APP_EGONE;
}

/* Copy a reason, cut at SSS_REASON_MAX bytes on a UTF-8 character boundary. */
static void copy_reason(char dst[SSS_REASON_MAX + 1], const char *src)
{
    size_t n = strnlen(src, SSS_REASON_MAX + 1);

    if (n > SSS_REASON_MAX) {
        n = SSS_REASON_MAX;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--; /* src[n] continues a character: cut before its start */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int sss_decide_session(struct sss_decision *d, const struct sss_session_out *out)
{
    int rc;

    if (!d || !out || d->kind != SSS_DECISION_SESSION)
        return SSS_APP_ESTATE;
    if (d->gone)
        return late(d);
    rc = sss_auth_check(out, &d->auth);
    if (d->auth.reason) {
        /* The asker formats the reason after this returns: keep a copy. */
        copy_reason(d->reason, d->auth.reason);
        d->auth.reason = d->reason;
    }
    deliver(d);
    free_decision(d);
    return rc == -2 ? SSS_APP_ECHANNEL : 0;
}

int sss_decision__refuse_session(struct sss_decision *d, int status, const char *reason)
{
    if (!d || d->kind != SSS_DECISION_SESSION)
        return SSS_APP_ESTATE;
    if (d->gone)
        return late(d);
    memset(&d->auth, 0, sizeof(d->auth));
    copy_reason(d->reason, reason);
    d->auth.status = status;
    d->auth.reason = d->reason;
    deliver(d);
    free_decision(d);
    return 0;
}

int sss_decide_subscribe(struct sss_decision *d, int allow, const char *reason)
{
    if (!d || d->kind != SSS_DECISION_SUBSCRIBE)
        return SSS_APP_ESTATE;
    if (d->gone)
        return late(d);
    d->allow = allow != 0;
    copy_reason(d->reason, allow ? "" : reason ? reason : "refused by the application");
    deliver(d);
    free_decision(d);
    return 0;
}

/* The first decision past its deadline that still waits, or NULL. */
static struct sss_decision *first_due(struct sss_worker *w, int64_t now)
{
    struct sss_decision *d;

    LIST_FOREACH(d, &w->decisions, link)
        if (!d->gone && now >= d->deadline_ms)
            return d;
    return NULL;
}

void sss_decision_tick(struct sss_worker *w, int64_t now)
{
    struct sss_decision *d;

    /* From the head again after each: a continuation runs the client's
     * waiting messages, whose handlers may answer (free) other handles. */
    while ((d = first_due(w, now))) {
        /* The answerer may still answer: its handle stays (a no-op then). */
        d->timed_out = 1;
        copy_reason(d->reason, SSS_DECISION_TIMEOUT_REASON);
        if (d->kind == SSS_DECISION_SESSION) {
            memset(&d->auth, 0, sizeof(d->auth));
            d->auth.status = 503;
            d->auth.reason = d->reason;
        } else {
            d->allow = 0;
        }
        if (w->ctr)
            sss_ctr_add(w->ctr, decisions_timed_out, 1);
        sss_log_debug("app", "a %s decision timed out",
                      d->kind == SSS_DECISION_SESSION ? "session" : "subscription");
        deliver(d);
    }
}

void sss_decision_fini(struct sss_worker *w)
{
    while (!LIST_EMPTY(&w->decisions))
        free_decision(LIST_FIRST(&w->decisions));
}

unsigned sss_decision_pending(const struct sss_worker *w)
{
    const struct sss_decision *d;
    unsigned n = 0;

    LIST_FOREACH(d, &w->decisions, link)
        n += !d->gone;
    return n;
}
