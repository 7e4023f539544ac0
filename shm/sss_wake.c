/* Sleep and wake-up between processes (protocol and proof in sss_wake.h). */
#include "sss_wake.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static_assert(sizeof(struct sss_wake) == 64, "one line per consumer");

int sss_wake_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

void sss_wake_init(struct sss_wake *w, int efd)
{
    atomic_init(&w->sleeping, 0);
    w->fd = efd;
    atomic_init(&w->signals, 0);
    atomic_init(&w->sleeps, 0);
}

int sss_wake_fd(const struct sss_wake *w)
{
    return w->fd;
}

void sss_wake_prepare_sleep(struct sss_wake *w)
{
    atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
    /* Pairs with the fence in sss_wake_notify (see the argument in
     * sss_wake.h): the caller's re-check loads come after it. */
    atomic_thread_fence(memory_order_seq_cst);
}

void sss_wake_cancel_sleep(struct sss_wake *w)
{
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

int sss_wake_notify(struct sss_wake *w)
{
    uint64_t one = 1;

    /* Pairs with the fence in sss_wake_prepare_sleep: the caller's publish
     * (its tail store) comes before it. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&w->sleeping, memory_order_relaxed))
        return 0;
    /* Of several notifiers, the one that clears the flag writes. */
    if (!atomic_exchange_explicit(&w->sleeping, 0, memory_order_relaxed))
        return 0;
    atomic_fetch_add_explicit(&w->signals, 1, memory_order_relaxed);
    if (write(w->fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        return -errno;
    return 1;
}

int sss_wake_wait(struct sss_wake *w, int timeout_ms)
{
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    uint64_t count;
    int n, rc = 1;

    atomic_store_explicit(&w->sleeps, atomic_load_explicit(&w->sleeps, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    n = poll(&pfd, 1, timeout_ms);
    if (n < 0)
        rc = -errno;
    else if (n == 0)
        rc = 0;
    else if (read(w->fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
        rc = -errno; /* cannot block: poll said readable and we are its only reader */
    sss_wake_cancel_sleep(w);
    return rc;
}

void sss_wake_reset(struct sss_wake *w)
{
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}
