/*
 * A tiny assert header for unit tests: each test program counts its checks
 * and ends with the line "N passed, N failed" that CI reads, exiting 0 when
 * nothing failed and 1 otherwise (77 means skipped, for ctest).
 *
 *   CHECK(cond)                 record one check
 *   CHECK_EQ_INT(a, b)          integers, prints both on failure
 *   CHECK_EQ_STR(a, b)          NUL-terminated strings
 *   return sss_test_done();     at the end of main
 *
 * and, for the stress tests' random records, sss_test_xorshift() (a PRNG
 * step), sss_test_random_body() and sss_test_fnv32()/sss_test_fnv64() (FNV-1a
 * of a body); sss_test_nest() for JSON nested to a given depth.
 */
#ifndef SSS_TEST_H
#define SSS_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int sss_test_passed, sss_test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond)                                                                                  \
            sss_test_passed++;                                                                     \
        else {                                                                                     \
            sss_test_failed++;                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long sss_a_ = (long long)(a), sss_b_ = (long long)(b);                                \
        if (sss_a_ == sss_b_)                                                                      \
            sss_test_passed++;                                                                     \
        else {                                                                                     \
            sss_test_failed++;                                                                     \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    sss_a_, sss_b_);                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *sss_a_ = (a), *sss_b_ = (b);                                                   \
        if (sss_a_ && sss_b_ && strcmp(sss_a_, sss_b_) == 0)                                       \
            sss_test_passed++;                                                                     \
        else {                                                                                     \
            sss_test_failed++;                                                                     \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a,  \
                    #b, sss_a_ ? sss_a_ : "(null)", sss_b_ ? sss_b_ : "(null)");                   \
        }                                                                                          \
    } while (0)

/* One step of xorshift64: cheap, reproducible random numbers from a seed. */
static inline uint64_t sss_test_xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/*
 * The random part of stress record number `seed`: a length from head to max
 * (inclusive) and bytes buf[head..len), both drawn from the seed. Returns len.
 */
static inline size_t sss_test_random_body(uint64_t seed, unsigned char *buf, size_t head,
                                          size_t max)
{
    size_t len = head + sss_test_xorshift(&seed) % (max - head + 1);

    for (size_t k = head; k < len; k++)
        buf[k] = (unsigned char)sss_test_xorshift(&seed);
    return len;
}

/*
 * Close a JSON document that buf[0..n) opened with "{...:": append depth
 * nested empty arrays ("[[...]]") and the final "}", NUL-terminated. The
 * caller's buffer has room. Returns the new length.
 */
static inline size_t sss_test_nest(char *buf, size_t n, int depth)
{
    for (int i = 0; i < depth; i++)
        buf[n++] = '[';
    for (int i = 0; i < depth; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    buf[n] = '\0';
    return n;
}

/* FNV-1a of n bytes, 32 and 64 bits: the checksum a stress record carries. */
static inline uint32_t sss_test_fnv32(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static inline uint64_t sss_test_fnv64(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static inline int sss_test_done(void)
{
    printf("%d passed, %d failed\n", sss_test_passed, sss_test_failed);
    return sss_test_failed ? 1 : 0;
}

#endif
