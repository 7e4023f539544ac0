/*
 * libsss's timers and fd watches (include/sss/sss.h): deferred work inside
 * the worker's io_uring loop, through its completion seam (sss_loop.h).
 *
 * A timer is one IORING_OP_TIMEOUT; a watch is one multishot poll, armed
 * again whenever the kernel ends it. Each struct stays in its worker's list
 * (w->timers, w->watches) until its last completion arrived, because the
 * kernel holds its user_data until then: a cancel only marks it and queues
 * the remove, so that a completion already on its way (a timer that expired
 * in the same turn) finds the mark, calls nothing and frees the struct. The
 * module's handle is dead from the cancel, or from the return of the last
 * callback, even while the struct waits here for its completion.
 *
 * On exit the worker frees what is left without calling anything
 * (sss_app__loop_fini); the ring's teardown cancels the submissions, which
 * point at no user memory the kernel still reads (a timeout's timespec is
 * copied when it is submitted).
 */
#include "sss_app.h"
#include "sss_alloc.h"
#include "sss_log.h"
#include "sss_loop.h"
#include "sss_worker.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

/* What a timer and a watch share: the first member of each. */
struct deferred {
    struct sss_loop_ev ev; /* its completions: timer_on_cqe, watch_on_cqe */
    struct sss_worker *w;
    void *data;        /* the module's, for fn */
    uint8_t cancelled; /* sss_timer_cancel, sss_watch_cancel: never call fn (again) */
    uint8_t dead;      /* fn was called for the last time, or runs now: the handle is dead */
};

struct sss_timer {
    struct deferred d;           /* dead: fn runs (or ran) */
    struct __kernel_timespec ts; /* read by the kernel at submission */
    sss_timer_fn fn;
    LIST_ENTRY(sss_timer) link;
};

struct sss_watch {
    struct deferred d;  /* dead: the kernel refused it, fn got SSS_WATCH_ENDED, then freed */
    int fd;             /* the module's: never closed here */
    unsigned poll_mask; /* POLLIN and/or POLLOUT */
    sss_watch_fn fn;
    uint8_t armed; /* a multishot poll is in the kernel */
    LIST_ENTRY(sss_watch) link;
};

/*
 * A timer or watch of size bytes (struct deferred first) for app's worker,
 * its completions going to on_cqe. NULL with *rc: SSS_APP_ESTATE outside a
 * worker (the master, at load), -EINVAL when !valid, -ENOMEM.
 */
static void *deferred_new(struct sss_app *app, bool valid, size_t size,
                          void (*on_cqe)(struct sss_loop_ev *, const struct io_uring_cqe *),
                          void *data, int *rc)
{
    struct sss_worker *w = app ? app->w : NULL;
    struct deferred *d;

    *rc = !w ? SSS_APP_ESTATE : !valid ? -EINVAL : 0;
    if (*rc)
        return NULL;
    d = sss_calloc(1, size);
    if (!d) {
        *rc = -ENOMEM;
        return NULL;
    }
    d->ev.on_cqe = on_cqe;
    d->w = w;
    d->data = data;
    return d;
}

/* Mark d cancelled: 0, or -EINVAL (NULL), or SSS_APP_EGONE when its handle is already dead. */
static int deferred_cancel(struct deferred *d)
{
    if (!d)
        return -EINVAL;
    if (d->cancelled || d->dead)
        return SSS_APP_EGONE;
    d->cancelled = 1;
    return 0;
}

/* ---- timers ---- */

static void timer_free(struct sss_timer *t)
{
    LIST_REMOVE(t, link);
    sss_free(t);
}

/* The timeout's one completion: -ETIME (expired) or -ECANCELED (removed). */
static void timer_on_cqe(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct sss_timer *t = (struct sss_timer *)ev;

    if (!t->d.cancelled) {
        if (cqe->res != -ETIME)
            sss_log_warn("app", "timer completed with %s: firing it", strerror(-cqe->res));
        t->d.dead = 1;
        t->fn(t->d.data);
    }
    timer_free(t);
}

int sss_timer_after(struct sss_app *app, int64_t ms, sss_timer_fn fn, void *data,
                    struct sss_timer **out)
{
    int rc;
    struct sss_timer *t = deferred_new(app, ms >= 0 && fn, sizeof(*t), timer_on_cqe, data, &rc);

    if (out)
        *out = NULL;
    if (!t)
        return rc;
    t->ts.tv_sec = ms / 1000;
    t->ts.tv_nsec = (ms % 1000) * 1000000L;
    t->fn = fn;
    LIST_INSERT_HEAD(&t->d.w->timers, t, link);
    sss_loop_timeout(t->d.w, &t->d.ev, &t->ts);
    if (out)
        *out = t;
    return 0;
}

int sss_timer_cancel(struct sss_timer *t)
{
    int rc = deferred_cancel((struct deferred *)t);

    if (rc == 0)
        sss_loop_timeout_remove(t->d.w, &t->d.ev);
    return rc;
}

/* ---- watches ---- */

static void watch_free(struct sss_watch *x)
{
    LIST_REMOVE(x, link);
    sss_free(x);
}

static void watch_arm(struct sss_watch *x)
{
    sss_loop_poll(x->d.w, &x->d.ev, x->fd, x->poll_mask);
    x->armed = 1;
}

static unsigned revents_of(int res)
{
    unsigned r = 0;

    if (res & (POLLIN | POLLPRI | POLLRDHUP))
        r |= SSS_WATCH_READ;
    if (res & POLLOUT)
        r |= SSS_WATCH_WRITE;
    if (res & (POLLERR | POLLHUP | POLLNVAL))
        r |= SSS_WATCH_ERROR;
    return r;
}

/*
 * One readiness (res >= 0: the revents), or the end of the poll: without
 * IORING_CQE_F_MORE nothing more comes from this submission. Then a cancelled
 * watch is freed, a live one armed again, and one the kernel refused
 * (res < 0) reports SSS_WATCH_ENDED and is freed.
 */
static void watch_on_cqe(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe)
{
    struct sss_watch *x = (struct sss_watch *)ev;
    int more = cqe->flags & IORING_CQE_F_MORE;

    if (!more)
        x->armed = 0;
    if (!x->d.cancelled && cqe->res >= 0) {
        unsigned revents = revents_of(cqe->res);

        if (revents)
            x->fn(x->fd, revents, x->d.data); /* may cancel x */
    }
    if (more)
        return;
    if (x->d.cancelled) {
        watch_free(x);
        return;
    }
    if (cqe->res >= 0) {
        watch_arm(x); /* the kernel may end a multishot at any time */
        return;
    }
    sss_log_warn("app", "watch of fd=%d ended: %s", x->fd, strerror(-cqe->res));
    x->d.dead = 1;
    x->fn(x->fd, SSS_WATCH_ERROR | SSS_WATCH_ENDED, x->d.data);
    watch_free(x);
}

int sss_watch_fd(struct sss_app *app, int fd, unsigned events, sss_watch_fn fn, void *data,
                 struct sss_watch **out)
{
    bool valid = fd >= 0 && fn && events &&
                 !(events & ~(unsigned)(SSS_WATCH_READ | SSS_WATCH_WRITE));
    int rc;
    struct sss_watch *x = deferred_new(app, valid, sizeof(*x), watch_on_cqe, data, &rc);

    if (out)
        *out = NULL;
    if (!x)
        return rc;
    x->fd = fd;
    x->poll_mask = (events & SSS_WATCH_READ ? POLLIN : 0) |
                   (events & SSS_WATCH_WRITE ? POLLOUT : 0);
    x->fn = fn;
    LIST_INSERT_HEAD(&x->d.w->watches, x, link);
    watch_arm(x);
    if (out)
        *out = x;
    return 0;
}

int sss_watch_cancel(struct sss_watch *x)
{
    int rc = deferred_cancel((struct deferred *)x);

    /* Not armed: we are inside fn on the poll's last completion, which frees x after. */
    if (rc == 0 && x->armed)
        sss_loop_cancel(x->d.w, &x->d.ev);
    return rc;
}

/* ---- the worker's exit ---- */

void sss_app__loop_fini(struct sss_worker *w)
{
    unsigned nt = 0, nw = 0;

    while (!LIST_EMPTY(&w->timers)) {
        timer_free(LIST_FIRST(&w->timers));
        nt++;
    }
    while (!LIST_EMPTY(&w->watches)) {
        watch_free(LIST_FIRST(&w->watches));
        nw++;
    }
    if (nt || nw)
        sss_log_debug("app", "exit: dropped timers=%u watches=%u", nt, nw);
}
