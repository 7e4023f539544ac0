/*
 * The worker loop's generic submissions (sss_loop.h): a timeout, a
 * multishot poll, and their cancels; ev's completions go to ev->on_cqe.
 */
#include "sss_loop.h"

void sss_loop_timeout(struct sss_worker *w, struct sss_loop_ev *ev, struct __kernel_timespec *ts)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    io_uring_prep_timeout(sqe, ts, 0, 0);
    sss_loop_tag(sqe, ev);
}

void sss_loop_timeout_remove(struct sss_worker *w, struct sss_loop_ev *ev)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    io_uring_prep_timeout_remove(sqe, sss_loop_data(ev), 0);
    io_uring_sqe_set_data64(sqe, SSS_OP_IGNORE); /* -ENOENT when it already expired */
}

void sss_loop_poll(struct sss_worker *w, struct sss_loop_ev *ev, int fd, unsigned poll_mask)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    io_uring_prep_poll_multishot(sqe, fd, poll_mask);
    sss_loop_tag(sqe, ev);
}

void sss_loop_cancel(struct sss_worker *w, struct sss_loop_ev *ev)
{
    struct io_uring_sqe *sqe = sss_worker__sqe(w);

    io_uring_prep_cancel64(sqe, sss_loop_data(ev), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, SSS_OP_IGNORE); /* -ENOENT when nothing was left */
}
