/*
 * sb_order.c: which channel each publish of a fan-out goes to (--order).
 *
 * Every publisher visits every channel once per round of C publishes, so the
 * sequence of publish n on its channel is n / C + 1 in either order, and a
 * subscriber can tell which publish number a (publisher, sequence) pair on
 * its channel was (sb_order_publish), which the closed loop needs.
 *
 * sweep:  publish n of publisher g goes to channel (g + n) mod C. Publishers
 *         that keep pace with each other visit a channel within a few
 *         publishes of each other, so its subscribers get bursts of P frames.
 * spread: publish n goes to (g + (n mod C) * s) mod C, s coprime with C and
 *         near C times 0.618 (the golden ratio): consecutive publishes land
 *         far apart, and the publishers reach a channel at points spread over
 *         the round, as independent publishers on independent channels do.
 */
#include "sb.h"

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/* The inverse of a modulo m (gcd(a, m) = 1, m >= 1), by the extended Euclid. */
static uint64_t inverse(uint64_t a, uint64_t m)
{
    int64_t t = 0, nt = 1;
    int64_t r = (int64_t)m, nr = (int64_t)(a % m);

    while (nr) {
        int64_t q = r / nr, x;

        x = t - q * nt;
        t = nt;
        nt = x;
        x = r - q * nr;
        r = nr;
        nr = x;
    }
    return t < 0 ? (uint64_t)(t + (int64_t)m) : (uint64_t)t;
}

void sb_order_init(struct sb_chan_order *o, enum sb_order kind, long channels)
{
    uint64_t c = channels > 0 ? (uint64_t)channels : 1, s = 1;

    if (kind == SB_ORDER_SPREAD && c * 618 / 1000 > 1)
        for (s = c * 618 / 1000; gcd(s, c) != 1; s--) /* reaches 1 at worst */
            ;
    o->channels = c;
    o->stride = s;
    o->unstride = inverse(s, c);
}

long sb_order_channel(const struct sb_chan_order *o, uint64_t gid, uint64_t n, uint64_t *seq)
{
    uint64_t c = o->channels;

    *seq = n / c + 1;
    return (long)((gid % c + (n % c) * o->stride % c) % c);
}

uint64_t sb_order_publish(const struct sb_chan_order *o, uint64_t gid, long chan, uint64_t seq)
{
    uint64_t c = o->channels, k = ((uint64_t)chan % c + c - gid % c) % c;

    return (seq - 1) * c + k * o->unstride % c;
}
