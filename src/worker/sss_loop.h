/*
 * The worker loop's generic completion seam: anything that is not one of
 * the loop's own submissions (accept, recv, send, tick, signal, wake) puts a
 * struct sss_loop_ev in its io_uring user_data, tagged SSS_OP_EVENT, and the
 * loop hands each completion to ev->on_cqe. libsss's timers and fd watches
 * (sss_app_loop.c) use it; so can any other module that drives its own
 * descriptors from the loop (the backend proxy's HTTP connections).
 *
 * Rules, as for every io_uring submission (STYLE.md, ownership): the struct
 * that embeds the sss_loop_ev belongs to the kernel until the last
 * completion of each of its submissions arrived; to let it go, cancel, wait
 * for the final completion (a multishot's is the one without
 * IORING_CQE_F_MORE), then free. The cancel submissions themselves complete
 * as SSS_OP_IGNORE. Submissions are queued here and handed to the kernel at
 * the end of the loop turn (or at once if the submission queue is full).
 */
#ifndef SSS_LOOP_H
#define SSS_LOOP_H

#include <assert.h>
#include <liburing.h>
#include <stdint.h>

#include "sss_worker.h"

/*
 * Embed it (usually first) in the struct that owns the submission. The tag
 * takes the low 3 bits of the pointer: the struct is 8-byte aligned
 * wherever it lives (heap, static, or inside another struct).
 */
struct sss_loop_ev {
    _Alignas(8) void (*on_cqe)(struct sss_loop_ev *ev, const struct io_uring_cqe *cqe);
};

static_assert(_Alignof(struct sss_loop_ev) > SSS_OP_MASK, "the tag needs 3 free low bits");

/* The user_data that routes a completion to ev->on_cqe. */
static inline uint64_t sss_loop_data(struct sss_loop_ev *ev)
{
    assert(((uintptr_t)ev & SSS_OP_MASK) == 0);
    return (uint64_t)(uintptr_t)ev | SSS_OP_EVENT;
}

/*
 * Route the completion of sqe (from sss_worker__sqe, prepared with any
 * io_uring_prep_*) to ev->on_cqe. Call it after the prep helper.
 */
static inline void sss_loop_tag(struct io_uring_sqe *sqe, struct sss_loop_ev *ev)
{
    io_uring_sqe_set_data64(sqe, sss_loop_data(ev));
}

/*
 * One IORING_OP_TIMEOUT of relative time *ts (read by the kernel when it is
 * submitted; keep it in the owning struct). Its one completion has res
 * -ETIME (expired) or -ECANCELED (sss_loop_timeout_remove got it first).
 */
void sss_loop_timeout(struct sss_worker *w, struct sss_loop_ev *ev, struct __kernel_timespec *ts);
/*
 * Cancel ev's pending timeout; its own completion follows: -ECANCELED, or
 * -ETIME if it expired first (then the remove fails, harmlessly).
 */
void sss_loop_timeout_remove(struct sss_worker *w, struct sss_loop_ev *ev);
/*
 * A multishot poll of fd for poll_mask (POLLIN, POLLOUT...): one completion
 * per readiness, res the revents (or -errno), IORING_CQE_F_MORE while it
 * stays armed. The kernel may end it at any time: a completion without
 * F_MORE is its last, and the owner arms it again if it still wants it.
 */
void sss_loop_poll(struct sss_worker *w, struct sss_loop_ev *ev, int fd, unsigned poll_mask);
/*
 * Cancel every submission of ev still in the kernel (IORING_OP_ASYNC_CANCEL,
 * all that match): each ends with its last completion, -ECANCELED or one
 * already in flight. Use it for a multishot poll rather than
 * IORING_OP_POLL_REMOVE, which fails (-EALREADY) and leaves the poll armed
 * when a wake-up of it is pending, e.g. the fd became ready in this turn.
 */
void sss_loop_cancel(struct sss_worker *w, struct sss_loop_ev *ev);

#endif
