/*
 * sss_wake: sleep and wake-up between processes without a system call per
 * message. One struct sss_wake per consumer (a worker, the scaler) lives in
 * shared memory next to an eventfd that the master created before forking
 * (so its number is valid in every process). libc and C11 atomics only.
 *
 * Protocol. The consumer, finding its rings and bus empty:
 *   sss_wake_prepare_sleep(w);        sleeping = 1, then a seq_cst fence
 *   if (anything readable)            re-check every source it sleeps on
 *       sss_wake_cancel_sleep(w);     and go back to work
 *   else
 *       block reading sss_wake_fd(w)  (io_uring read, or sss_wake_wait)
 *       then sss_wake_cancel_sleep(w) (sss_wake_wait does it)
 * A producer, after publishing (the release store of its ring's tail):
 *   sss_wake_notify(w);               seq_cst fence, then if sleeping: clear
 *                                     it and write the eventfd
 *
 * Why no wake-up is lost. The consumer stores sleeping = 1, fence F_c, loads
 * the tails; the producer stores its tail, fence F_p, loads sleeping. F_c and
 * F_p are seq_cst fences, so one precedes the other in the single total
 * order: if F_c comes first, the producer's load after F_p sees sleeping = 1
 * (C11 7.17.3p7: a store before one seq_cst fence is seen by a load after a
 * later one) and writes the eventfd; if F_p comes first, the consumer's
 * re-check after F_c sees the new tail and does not block. Both may happen:
 * then the eventfd holds a spurious count and the next sleep returns at once,
 * which is harmless. Notifiers clear the flag with an exchange so that, of
 * several producers racing to wake one sleeper, only one writes the eventfd;
 * while the consumer is awake, notify is one fence and one load. (A notifier
 * that dies between clearing the flag and writing leaves the consumer asleep
 * until the next notify: a consumer with several producers that may die, the
 * scaler, should block with a timeout.)
 */
#ifndef SSS_WAKE_H
#define SSS_WAKE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

struct sss_wake {
    alignas(64) _Atomic uint32_t sleeping; /* written by the consumer; cleared by a notifier */
    int32_t fd;                            /* the eventfd; constant after init */
    _Atomic uint64_t signals;              /* statistics: eventfd writes by notify */
    _Atomic uint64_t sleeps;               /* statistics: blocking waits (sss_wake_wait) */
};

/* A new eventfd for a wake word (blocking, close-on-exec, counter 0), or -errno. */
int sss_wake_eventfd(void) __attribute__((warn_unused_result));

/* Set up w (shared memory) to use the eventfd efd; the caller keeps owning efd. */
void sss_wake_init(struct sss_wake *w, int efd);

/* The eventfd to block on (for an io_uring read of 8 bytes). */
int sss_wake_fd(const struct sss_wake *w);

/* Consumer: announce that it is about to sleep; then it must re-check its sources. */
void sss_wake_prepare_sleep(struct sss_wake *w);

/* Consumer: it is awake (it found work after prepare, or its read completed). */
void sss_wake_cancel_sleep(struct sss_wake *w);

/*
 * Producer, after publishing: wake the consumer if it sleeps. Returns 1 if it
 * wrote the eventfd, 0 if there was no need, or -errno if the write failed.
 * Never blocks (an eventfd write blocks only at a count of 2^64 - 2).
 */
int sss_wake_notify(struct sss_wake *w);

/*
 * Consumer, after prepare and an empty re-check: block until notified or
 * timeout_ms passes (-1: no timeout), consume the eventfd count, clear
 * sleeping. Returns 1 if woken, 0 on timeout, or -errno (-EINTR on a signal).
 * For tests and the scaler; a worker reads the fd through io_uring instead.
 */
int sss_wake_wait(struct sss_wake *w, int timeout_ms);

/* Master: a dead consumer's word back to awake (its replacement starts awake). */
void sss_wake_reset(struct sss_wake *w);

#endif
