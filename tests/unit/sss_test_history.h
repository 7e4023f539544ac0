/*
 * Checked HISTORY requests for the tests that drive a worker through
 * sss_test_worker.h (test_session, test_fanout): take the worker's next
 * request to the scaler, count a failed check when it is not a HISTORY
 * request, and check where it asks the history to start; check that live
 * FEEDs are held while a history is asked.
 */
#ifndef SSS_TEST_HISTORY_H
#define SSS_TEST_HISTORY_H

#include "sss_test.h"
#include "sss_test_worker.h"

/* The worker's next request, which must be a HISTORY request; NULL (a failed check) if not. */
static inline struct sss_hm_history *tw_history_asked(struct tw *t)
{
    struct sss_hm_history *q = tw_scaler_next(t, SSS_HM_HISTORY, NULL);

    CHECK(q != NULL);
    return q;
}

/* The same, and it must ask for the records after uid 1-<after>. */
static inline struct sss_hm_history *tw_history_after(struct tw *t, uint64_t after)
{
    struct sss_hm_history *q = tw_history_asked(t);

    if (q) {
        CHECK_EQ_INT(q->has_after, 1);
        CHECK_EQ_INT(q->after.offset, after);
    }
    return q;
}

/*
 * Two live FEEDs on sport, 1-<a> and 1-<b>, come while a history is asked
 * for c: the worker reads them and holds them, so c gets nothing yet.
 */
static inline void tw_feeds_held(struct tw *t, const struct sss_conn *c, uint64_t a,
                                 const char *msg_a, uint64_t b, const char *msg_b)
{
    tw_bus_feed(t, "sport", 1, a, msg_a);
    tw_bus_feed(t, "sport", 1, b, msg_b);
    tw_poll(t);
    CHECK_EQ_INT(tw_queued(c), 0);
}

#endif
