/* Unit test: histogram buckets, percentiles on known inputs, merging. */
#include "sb_hist.h"
#include "sb_check.h"

#include <stdlib.h>

static struct sb_hist h, a, b;

int main(void)
{
    uint64_t x = 88172645463325252ULL;

    /* Every value lies in a bucket whose highest value is within 1/128 above it. */
    for (int i = 0; i < 200000; i++) {
        uint64_t v;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v = x % (100ULL * 1000000000ULL); /* up to 100 s in ns */
        unsigned k = sb_hist_index(v);
        uint64_t hi = sb_hist_bucket_high(k);

        CHECK(k < SB_HIST_BUCKETS);
        CHECK(hi >= v);
        CHECK((double)(hi - v) <= (double)v / 128.0 + 1);
        if (k > 0)
            CHECK(sb_hist_bucket_high(k - 1) < v);
    }
    for (unsigned k = 1; k < SB_HIST_BUCKETS - 1; k++)
        CHECK(sb_hist_bucket_high(k) > sb_hist_bucket_high(k - 1));

    /* Empty. */
    sb_hist_init(&h);
    CHECK(sb_hist_pct(&h, 50) == 0);

    /* 1..1000 us, once each: p50 = 500 us, p90 = 900 us, p99 = 990 us within 1%. */
    for (uint64_t us = 1; us <= 1000; us++)
        sb_hist_record(&h, us * 1000);
    CHECK(h.count == 1000);
    CHECK(h.min == 1000 && h.max == 1000000);
    CHECK(sb_hist_pct(&h, 50) >= 500000 && sb_hist_pct(&h, 50) <= 505000);
    CHECK(sb_hist_pct(&h, 90) >= 900000 && sb_hist_pct(&h, 90) <= 909000);
    CHECK(sb_hist_pct(&h, 99) >= 990000 && sb_hist_pct(&h, 99) <= 1000000);
    CHECK(sb_hist_pct(&h, 99.9) >= 999000 && sb_hist_pct(&h, 99.9) <= 1000000);
    CHECK(sb_hist_pct(&h, 100) == 1000000);
    CHECK(sb_hist_pct(&h, 0.05) >= 1000 && sb_hist_pct(&h, 0.05) <= 1010); /* the smallest */

    /* A skewed set: 990 fast (100 us), 10 slow (50 ms): p99 fast, p99.9 slow. */
    sb_hist_init(&h);
    for (int i = 0; i < 990; i++)
        sb_hist_record(&h, 100000);
    for (int i = 0; i < 10; i++)
        sb_hist_record(&h, 50000000);
    CHECK(sb_hist_pct(&h, 50) >= 100000 && sb_hist_pct(&h, 50) < 101000);
    CHECK(sb_hist_pct(&h, 99) >= 100000 && sb_hist_pct(&h, 99) < 101000);
    CHECK(sb_hist_pct(&h, 99.9) == 50000000);
    CHECK(h.max == 50000000);

    /* Merging two halves gives the histogram of the whole. */
    sb_hist_init(&a);
    sb_hist_init(&b);
    sb_hist_init(&h);
    for (uint64_t v = 1; v <= 5000; v++) {
        sb_hist_record(v % 2 ? &a : &b, v * 777);
        sb_hist_record(&h, v * 777);
    }
    sb_hist_merge(&a, &b);
    CHECK(a.count == h.count && a.min == h.min && a.max == h.max);
    for (double p = 1; p <= 100; p += 7.5)
        CHECK(sb_hist_pct(&a, p) == sb_hist_pct(&h, p));

    /* Very large values stay in range. */
    sb_hist_init(&h);
    sb_hist_record(&h, ~0ULL);
    CHECK(sb_hist_pct(&h, 50) == ~0ULL);
    return sb_check_done("test_sb_hist");
}
