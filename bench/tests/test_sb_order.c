/* Unit test: --order, the channel each publish goes to, and its inverse the closed loop uses. */
#include "sb.h"
#include "sb_check.h"

#include <stdlib.h>

/* Circular distance between a and b modulo m. */
static uint64_t dist(uint64_t a, uint64_t b, uint64_t m)
{
    uint64_t d = a > b ? a - b : b - a;

    return d < m - d ? d : m - d;
}

/* Both orders: every publish lands on a channel, its sequence is n / C + 1, the inverse
 * gives n back, and each round of C publishes visits every channel once. */
static void test_bijection(void)
{
    static const long cs[] = {1, 2, 3, 7, 10, 16, 999, 1000, 1024, 4096};
    static const uint64_t gids[] = {0, 1, 9, 12345};

    for (int kind = SB_ORDER_SWEEP; kind <= SB_ORDER_SPREAD; kind++)
        for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
            for (size_t j = 0; j < sizeof(gids) / sizeof(gids[0]); j++) {
                struct sb_chan_order o;
                uint64_t c = (uint64_t)cs[i], g = gids[j];
                unsigned char *seen = calloc(c, 1);
                int bad = 0;

                sb_order_init(&o, (enum sb_order)kind, cs[i]);
                for (uint64_t n = 0; n < 3 * c && !bad; n++) {
                    uint64_t seq;
                    long ch = sb_order_channel(&o, g, n, &seq);

                    if (n % c == 0)
                        memset(seen, 0, c);
                    if (ch < 0 || (uint64_t)ch >= c || seq != n / c + 1 || seen[ch] ||
                        sb_order_publish(&o, g, ch, seq) != n)
                        bad = 1;
                    else
                        seen[ch] = 1;
                }
                if (bad)
                    fprintf(stderr, "order %s, %ld channels, publisher %lu\n",
                            kind == SB_ORDER_SPREAD ? "spread" : "sweep", cs[i], (unsigned long)g);
                CHECK(!bad);
                free(seen);
            }
}

/* sweep is the order every earlier run used: publish n of publisher g on (g + n) mod C. */
static void test_sweep_unchanged(void)
{
    struct sb_chan_order o;
    uint64_t seq;

    sb_order_init(&o, SB_ORDER_SWEEP, 1000);
    for (uint64_t g = 0; g < 10; g++)
        for (uint64_t n = 0; n < 2500; n += 7)
            CHECK(sb_order_channel(&o, g, n, &seq) == (long)((g + n) % 1000));
}

/*
 * What spread is for (W2: 10 publishers over 1,000 channels): one publisher's
 * consecutive publishes land far apart, and publishers that keep pace (the
 * same n) reach any one channel at points of the round far apart, where sweep
 * brings them one publish after another.
 */
static void test_spread_apart(void)
{
    struct sb_chan_order sp, sw;
    const uint64_t C = 1000, P = 10;
    uint64_t seq, min_sp = C, min_sw = C;

    sb_order_init(&sp, SB_ORDER_SPREAD, (long)C);
    sb_order_init(&sw, SB_ORDER_SWEEP, (long)C);
    for (uint64_t n = 0; n + 1 < C; n++)
        CHECK(dist((uint64_t)sb_order_channel(&sp, 3, n, &seq),
                   (uint64_t)sb_order_channel(&sp, 3, n + 1, &seq), C) >= C / 4);
    for (long ch = 0; ch < (long)C; ch++)
        for (uint64_t a = 0; a < P; a++)
            for (uint64_t b = a + 1; b < P; b++) {
                uint64_t d = dist(sb_order_publish(&sp, a, ch, 1), sb_order_publish(&sp, b, ch, 1), C);
                uint64_t e = dist(sb_order_publish(&sw, a, ch, 1), sb_order_publish(&sw, b, ch, 1), C);

                min_sp = d < min_sp ? d : min_sp;
                min_sw = e < min_sw ? e : min_sw;
            }
    CHECK(min_sw == 1);
    CHECK(min_sp >= C / 50);
}

int main(void)
{
    test_bijection();
    test_sweep_unchanged();
    test_spread_apart();
    return sb_check_done("test_sb_order");
}
