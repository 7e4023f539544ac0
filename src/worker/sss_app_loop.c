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

struct sss_timer {
    struct sss_loop_ev ev; /* its completion: timer_on_cqe */
    struct sss_worker *w;
    struct __kernel_timespec ts; /* read by the kernel at submission */
    sss_timer_fn fn;
    void *data;
    uint8_t cancelled; /* sss_timer_cancel: never call fn */
    uint8_t fired;     /* fn runs (or ran): the handle is dead */
    LIST_ENTRY(sss_timer) link;
};

struct sss_watch {
    struct sss_loop_ev ev; /* its completions: watch_on_cqe */
    struct sss_worker *w;
    int fd;                /* the module's: never closed here */
    unsigned poll_mask;    /* POLLIN and/or POLLOUT */
    sss_watch_fn fn;
    void *data;
    uint8_t armed;     /* a multishot poll is in the kernel */
    uint8_t cancelled; /* sss_watch_cancel: never call fn again */
    uint8_t ended;     /* the kernel refused it: fn gets SSS_WATCH_ENDED, then it is freed */
    LIST_ENTRY(sss_watch) link;
};

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

    if (!t->cancelled) {
        if (cqe->res != -ETIME)
            sss_log_warn("app", "timer completed with %s: firing it", strerror(-cqe->res));
        t->fired = 1;
        t->fn(t->data);
    }
    timer_free(t);
}

int sss_timer_after(struct sss_app *app, int64_t ms, sss_timer_fn fn, void *data,
                    struct sss_timer **out)
{
    struct sss_worker *w = app ? app->w : NULL;
    struct sss_timer *t;

    if (out)
        *out = NULL;
    if (!w)
        return SSS_APP_ESTATE;
    if (ms < 0 || !fn)
        return -EINVAL;
    t = sss_calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->ev.on_cqe = timer_on_cqe;
    t->w = w;
    t->ts.tv_sec = ms / 1000;
    t->ts.tv_nsec = (ms % 1000) * 1000000L;
    t->fn = fn;
    t->data = data;
    LIST_INSERT_HEAD(&w->timers, t, link);
    sss_loop_timeout(w, &t->ev, &t->ts);
    if (out)
        *out = t;
    return 0;
}

int sss_timer_cancel(struct sss_timer *t)
{
    if (!t)
        return -EINVAL;
    if (t->fired || t->cancelled)
        return SSS_APP_EGONE;
    t->cancelled = 1;
    sss_loop_timeout_remove(t->w, &t->ev);
    return 0;
}

/* ---- watches ---- */

static void watch_free(struct sss_watch *x)
{
    LIST_REMOVE(x, link);
    sss_free(x);
}

static void watch_arm(struct sss_watch *x)
{
    sss_loop_poll(x->w, &x->ev, x->fd, x->poll_mask);
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
    if (!x->cancelled && cqe->res >= 0) {
        unsigned revents = revents_of(cqe->res);

        if (revents)
            x->fn(x->fd, revents, x->data); /* may cancel x */
    }
    if (more)
        return;
    if (x->cancelled) {
        watch_free(x);
        return;
    }
    if (cqe->res >= 0) {
        watch_arm(x); /* the kernel may end a multishot at any time */
        return;
    }
    sss_log_warn("app", "watch of fd=%d ended: %s", x->fd, strerror(-cqe->res));
    x->ended = 1;
    x->fn(x->fd, SSS_WATCH_ERROR | SSS_WATCH_ENDED, x->data);
    watch_free(x);
}

int sss_watch_fd(struct sss_app *app, int fd, unsigned events, sss_watch_fn fn, void *data,
                 struct sss_watch **out)
{
    struct sss_worker *w = app ? app->w : NULL;
    struct sss_watch *x;

    if (out)
        *out = NULL;
    if (!w)
        return SSS_APP_ESTATE;
    if (fd < 0 || !fn || !events || (events & ~(unsigned)(SSS_WATCH_READ | SSS_WATCH_WRITE)))
        return -EINVAL;
    x = sss_calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->ev.on_cqe = watch_on_cqe;
    x->w = w;
    x->fd = fd;
    x->poll_mask = (events & SSS_WATCH_READ ? POLLIN : 0) |
                   (events & SSS_WATCH_WRITE ? POLLOUT : 0);
    x->fn = fn;
    x->data = data;
    LIST_INSERT_HEAD(&w->watches, x, link);
    watch_arm(x);
    if (out)
        *out = x;
    return 0;
}

int sss_watch_cancel(struct sss_watch *x)
{
    if (!x)
        return -EINVAL;
    if (x->cancelled || x->ended)
        return SSS_APP_EGONE;
    x->cancelled = 1;
    /* Not armed: we are inside fn on the poll's last completion, which frees x after. */
    if (x->armed)
        sss_loop_cancel(x->w, &x->ev);
    return 0;
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
