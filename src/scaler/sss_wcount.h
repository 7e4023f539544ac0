/*
 * A count the scaler keeps from what its workers report, per worker and in
 * all (presence: a channel's subscriptions and each user's; the stores: a
 * session's connections). A worker's report that would take its own share
 * below zero is refused, so one confused worker cannot cancel another's
 * count; a replaced worker's share leaves at once (drop).
 */
#ifndef SSS_WCOUNT_H
#define SSS_WCOUNT_H

#include <stdint.h>

/* The worker's share (*in_w) and the total change by delta: 0, or -1
 * (nothing changes) if the share would go below zero. */
static inline int sss_wcount_add(int32_t *in_w, int64_t *total, int delta)
{
    if (*in_w + delta < 0)
        return -1;
    *in_w += delta;
    *total += delta;
    return 0;
}

/* The worker is gone: its share leaves the total. 1 if it had one. */
static inline int sss_wcount_drop(int32_t *in_w, int64_t *total)
{
    if (!*in_w)
        return 0;
    *total -= *in_w;
    *in_w = 0;
    return 1;
}

#endif
