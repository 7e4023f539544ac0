/* The latency histogram of sb_hist.h. */
#include "sb_hist.h"

#include <string.h>

void sb_hist_init(struct sb_hist *h)
{
    memset(h, 0, sizeof(*h));
}

unsigned sb_hist_index(uint64_t v)
{
    unsigned m;

    if (v < 2 * SB_HIST_SUB)
        return (unsigned)v;
    m = (unsigned)(63 - __builtin_clzll(v)) - 7; /* v >> m is in [128, 256) */
    if (m > 31)
        return SB_HIST_BUCKETS - 1;
    return m * SB_HIST_SUB + (unsigned)(v >> m);
}

uint64_t sb_hist_bucket_high(unsigned i)
{
    unsigned m, sub;

    if (i < 2 * SB_HIST_SUB)
        return i;
    m = i / SB_HIST_SUB - 1;
    sub = i % SB_HIST_SUB + SB_HIST_SUB;
    return (((uint64_t)sub + 1) << m) - 1;
}

void sb_hist_record(struct sb_hist *h, uint64_t v)
{
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
    h->b[sb_hist_index(v)]++;
}

void sb_hist_merge(struct sb_hist *dst, const struct sb_hist *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (unsigned i = 0; i < SB_HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
}

uint64_t sb_hist_pct(const struct sb_hist *h, double p)
{
    uint64_t want, seen = 0, v;

    if (h->count == 0)
        return 0;
    if (p >= 100.0)
        return h->max;
    want = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
    if (want < 1)
        want = 1;
    for (unsigned i = 0; i < SB_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            v = sb_hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}
