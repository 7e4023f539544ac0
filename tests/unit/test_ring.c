/*
 * Unit tests of the SPSC ring (shm/sss_ring.c): empty, full, wrap with
 * padding, exact fit, two-part push, discard and reset; then a threaded
 * stress (one producer, one consumer, checksummed records of random sizes in
 * exact order) that a ThreadSanitizer build can check. SSS_TEST_QUICK in the
 * environment makes the stress smaller.
 */
#include "sss_ring.h"
#include "sss_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct sss_ring *new_ring(size_t cap)
{
    void *mem = aligned_alloc(64, sss_ring_size(cap));

    return mem ? sss_ring_init(mem, cap) : NULL;
}

static int push_bytes(struct sss_ring *r, uint32_t type, size_t len, unsigned char fill)
{
    unsigned char buf[4096];

    memset(buf, fill, len);
    return sss_ring_push(r, type, buf, len);
}

/* Peek, check type/len/fill, consume. */
static int pop_check(struct sss_ring *r, uint32_t type, size_t len, unsigned char fill)
{
    uint32_t t;
    const void *p;
    size_t n;
    const unsigned char *b;

    if (sss_ring_peek(r, &t, &p, &n) != 1 || t != type || n != len || ((uintptr_t)p & 7))
        return 0;
    b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != fill)
            return 0;
    sss_ring_consume(r);
    return 1;
}

static void test_basics(void)
{
    struct sss_ring *r = new_ring(256);
    uint32_t t;
    const void *p;
    size_t n;

    CHECK(r != NULL);
    CHECK_EQ_INT(sss_ring_size(100), 0);
    CHECK_EQ_INT(sss_ring_size(32), 0);
    CHECK(sss_ring_init((char *)r + 8, 256) == NULL);
    /* Empty. */
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 0);
    CHECK_EQ_INT(sss_ring_readable(r), 0);
    /* One record, zero-length record. */
    CHECK_EQ_INT(push_bytes(r, 7, 5, 0xab), 0);
    CHECK_EQ_INT(sss_ring_push(r, 8, NULL, 0), 0);
    CHECK_EQ_INT(sss_ring_readable(r), 1);
    CHECK(pop_check(r, 7, 5, 0xab));
    /* Peek twice returns the same record until consumed. */
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 1);
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 1);
    CHECK(t == 8 && n == 0);
    sss_ring_consume(r);
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 0);
    /* Bad type, too big. */
    CHECK_EQ_INT(sss_ring_push(r, SSS_RING_PAD, "x", 1), -EINVAL);
    CHECK_EQ_INT(sss_ring_max_payload(r), 120);
    CHECK_EQ_INT(push_bytes(r, 1, 121, 0), -EMSGSIZE);
    free(r);
}

static void test_full_and_exact_fit(void)
{
    struct sss_ring *r = new_ring(256);
    int pushed = 0;

    /* 24-byte payloads take 32 bytes each: exactly 8 fit. */
    while (push_bytes(r, 1, 24, (unsigned char)pushed) == 0)
        pushed++;
    CHECK_EQ_INT(pushed, 8);
    CHECK_EQ_INT(sss_ring_used(r), 256);
    CHECK_EQ_INT(sss_ring_push(r, 1, NULL, 0), SSS_RING_EFULL);
    CHECK(pop_check(r, 1, 24, 0));
    CHECK_EQ_INT(push_bytes(r, 1, 24, 8), 0); /* exactly the freed space, at the wrap */
    CHECK_EQ_INT(sss_ring_push(r, 1, NULL, 0), SSS_RING_EFULL);
    for (int i = 1; i <= 8; i++)
        CHECK(pop_check(r, 1, 24, (unsigned char)i));
    CHECK_EQ_INT(sss_ring_used(r), 0);
    /* Two records of the largest payload fill it exactly. */
    sss_ring_reset(r);
    CHECK_EQ_INT(push_bytes(r, 2, 120, 1), 0);
    CHECK_EQ_INT(push_bytes(r, 2, 120, 2), 0);
    CHECK_EQ_INT(sss_ring_push(r, 2, NULL, 0), SSS_RING_EFULL);
    CHECK(pop_check(r, 2, 120, 1));
    CHECK(pop_check(r, 2, 120, 2));
    free(r);
}

static void test_wrap(void)
{
    struct sss_ring *r = new_ring(256);

    /* 100 bytes take 112: records at 0 and 112; the third does not fit in
     * the 32 bytes left before the end: padding, then the record at 0. */
    CHECK_EQ_INT(push_bytes(r, 1, 100, 1), 0);
    CHECK(pop_check(r, 1, 100, 1));
    CHECK_EQ_INT(push_bytes(r, 1, 100, 2), 0);
    CHECK(pop_check(r, 1, 100, 2));
    CHECK_EQ_INT(sss_ring_used(r), 0);
    CHECK_EQ_INT(push_bytes(r, 1, 100, 3), 0);
    CHECK_EQ_INT(sss_ring_used(r), 32 + 112);
    CHECK_EQ_INT(push_bytes(r, 1, 100, 4), 0); /* at 112 again */
    CHECK_EQ_INT(sss_ring_used(r), 32 + 224);
    /* 0 bytes free after the padding is counted: a header does not fit. */
    CHECK_EQ_INT(sss_ring_push(r, 1, NULL, 0), SSS_RING_EFULL);
    CHECK(pop_check(r, 1, 100, 3)); /* skips the padding */
    CHECK(pop_check(r, 1, 100, 4));
    CHECK_EQ_INT(sss_ring_readable(r), 0);
    free(r);
}

static void test_wrap_needs_padding_room(void)
{
    struct sss_ring *r = new_ring(256);

    /* Positions: 0..112, 112..224, 224..232 (a bare header); consume the
     * first: 136 bytes free, 24 of them before the end. A 108-byte record
     * needs 24 bytes of padding + 120: refused; a 100-byte one (24 + 112)
     * is an exact fit. */
    CHECK_EQ_INT(push_bytes(r, 1, 100, 1), 0);
    CHECK_EQ_INT(push_bytes(r, 1, 100, 2), 0);
    CHECK_EQ_INT(push_bytes(r, 1, 0, 3), 0);
    CHECK(pop_check(r, 1, 100, 1));
    CHECK_EQ_INT(push_bytes(r, 1, 108, 4), SSS_RING_EFULL);
    CHECK_EQ_INT(push_bytes(r, 1, 100, 5), 0);
    CHECK_EQ_INT(sss_ring_used(r), 256);
    CHECK_EQ_INT(push_bytes(r, 1, 0, 6), SSS_RING_EFULL);
    CHECK(pop_check(r, 1, 100, 2));
    CHECK(pop_check(r, 1, 0, 3));
    CHECK(pop_check(r, 1, 100, 5));
    CHECK_EQ_INT(sss_ring_readable(r), 0);
    free(r);
}

static void test_push2_discard_reset(void)
{
    struct sss_ring *r = new_ring(128);
    uint32_t t;
    const void *p;
    size_t n;

    CHECK_EQ_INT(sss_ring_push2(r, 9, "abc", 3, "defgh", 5), 0);
    CHECK_EQ_INT(sss_ring_push2(r, 10, "", 0, "xyz", 3), 0);
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 1);
    CHECK(t == 9 && n == 8 && memcmp(p, "abcdefgh", 8) == 0);
    sss_ring_consume(r);
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 1);
    CHECK(t == 10 && n == 3 && memcmp(p, "xyz", 3) == 0);
    sss_ring_consume(r);
    CHECK_EQ_INT(sss_ring_push2(r, 1, "abcd", 4, NULL, 53), -EMSGSIZE); /* 8 + 57 > cap / 2 */
    CHECK_EQ_INT(push_bytes(r, 1, 56, 1), 0);                          /* 8 + 56 = cap / 2 */
    CHECK(pop_check(r, 1, 56, 1));
    free(r);

    r = new_ring(256);
    CHECK_EQ_INT(push_bytes(r, 1, 40, 1), 0);
    CHECK_EQ_INT(push_bytes(r, 1, 40, 2), 0);
    sss_ring_discard(r); /* as the master does for a dead consumer */
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 0);
    CHECK_EQ_INT(sss_ring_used(r), 0);
    CHECK_EQ_INT(push_bytes(r, 1, 120, 3), 0); /* 96..224 */
    CHECK_EQ_INT(push_bytes(r, 1, 88, 4), 0);  /* padding 32 + 96: all 256 bytes in use */
    CHECK_EQ_INT(sss_ring_used(r), 256);
    CHECK(pop_check(r, 1, 120, 3));
    CHECK(pop_check(r, 1, 88, 4));
    sss_ring_reset(r);
    CHECK_EQ_INT(sss_ring_peek(r, &t, &p, &n), 0);
    CHECK_EQ_INT(push_bytes(r, 1, 5, 5), 0);
    CHECK(pop_check(r, 1, 5, 5));
    free(r);
}

/* ---- threaded stress ---- */

struct stress {
    struct sss_ring *ring;
    long n;
    long bad; /* consumer's failures */
    uint64_t full_spins;
};

/* Record i: u64 i, u32 fnv(body), body of random length with random bytes. */
static size_t make_record(long i, unsigned char *buf, size_t max)
{
    size_t len = sss_test_random_body((uint64_t)i * 0x9e3779b97f4a7c15ULL + 1, buf, 12, max);
    uint64_t seq = (uint64_t)i;
    uint32_t h = sss_test_fnv32(buf + 12, len - 12);
    memcpy(buf, &seq, 8);
    memcpy(buf + 8, &h, 4);
    return len;
}

static void *producer(void *arg)
{
    struct stress *st = arg;
    unsigned char buf[1024];
    size_t max = sizeof(buf) < sss_ring_max_payload(st->ring) ? sizeof(buf)
                                                               : sss_ring_max_payload(st->ring);

    for (long i = 0; i < st->n; i++) {
        size_t len = make_record(i, buf, max);
        int rc;

        for (;;) {
            if (i & 1)
                rc = sss_ring_push(st->ring, (uint32_t)(i & 0xffff), buf, len);
            else /* split at an odd place to exercise the gather */
                rc = sss_ring_push2(st->ring, (uint32_t)(i & 0xffff), buf, 5, buf + 5, len - 5);
            if (rc != SSS_RING_EFULL)
                break;
            st->full_spins++;
            sched_yield();
        }
        if (rc != 0)
            abort();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *st = arg;
    long expect = 0;

    while (expect < st->n) {
        const unsigned char *b;
        const void *p;
        uint32_t type, h;
        uint64_t seq;
        size_t len;

        if (!sss_ring_peek(st->ring, &type, &p, &len)) {
            sched_yield();
            continue;
        }
        b = p;
        if (len < 12) {
            st->bad++;
        } else {
            memcpy(&seq, b, 8);
            memcpy(&h, b + 8, 4);
            if (seq != (uint64_t)expect || type != (uint32_t)(expect & 0xffff) ||
                h != sss_test_fnv32(b + 12, len - 12))
                st->bad++;
        }
        sss_ring_consume(st->ring);
        expect++;
    }
    return NULL;
}

static void test_threaded_stress(long n)
{
    struct stress st = {.ring = new_ring(1 << 16), .n = n};
    pthread_t tp, tc;

    CHECK(st.ring != NULL);
    CHECK_EQ_INT(pthread_create(&tc, NULL, consumer, &st), 0);
    CHECK_EQ_INT(pthread_create(&tp, NULL, producer, &st), 0);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    CHECK_EQ_INT(st.bad, 0);
    CHECK_EQ_INT(sss_ring_readable(st.ring), 0);
    printf("ring stress: %ld records in order, %llu full retries\n", n,
           (unsigned long long)st.full_spins);
    free(st.ring);
}

int main(void)
{
    long n = getenv("SSS_TEST_QUICK") ? 100000 : 1000000;

    test_basics();
    test_full_and_exact_fit();
    test_wrap();
    test_wrap_needs_padding_room();
    test_push2_discard_reset();
    test_threaded_stress(n);
    return sss_test_done();
}
