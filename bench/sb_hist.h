/*
 * A log-linear latency histogram in the manner of HdrHistogram: values in
 * nanoseconds, exact below 256, above that 128 buckets per power of two, so
 * every recorded value is known to better than 1% (two significant digits)
 * from 1 ns up to 2^38 ns (~275 s; larger values land in the last bucket).
 * Fixed size, no allocation: it lives in shared memory and is merged by
 * adding counts.
 */
#ifndef SB_HIST_H
#define SB_HIST_H

#include <stdint.h>

#define SB_HIST_SUB 128
#define SB_HIST_BUCKETS (31 * SB_HIST_SUB + 2 * SB_HIST_SUB)

struct sb_hist {
    uint64_t count;
    uint64_t min, max; /* exact */
    double sum;        /* for the mean */
    uint64_t b[SB_HIST_BUCKETS];
};

void sb_hist_init(struct sb_hist *h);
void sb_hist_record(struct sb_hist *h, uint64_t v);
/* Add every count of src to dst. */
void sb_hist_merge(struct sb_hist *dst, const struct sb_hist *src);
/*
 * The value at percentile p (0 < p <= 100): the highest value equivalent to
 * the bucket holding the ceil(p% * count)-th value, clamped to [min, max].
 * 0 when empty.
 */
uint64_t sb_hist_pct(const struct sb_hist *h, double p);
/* Bucket index of v, and the highest value of a bucket (for tests). */
unsigned sb_hist_index(uint64_t v);
uint64_t sb_hist_bucket_high(unsigned i);

#endif
