/*
 * A tiny assert header for unit tests: each test program counts its checks
 * and ends with the line "N passed, N failed" that CI reads, exiting 0 when
 * nothing failed and 1 otherwise (77 means skipped, for ctest).
 *
 *   CHECK(cond)                 record one check
 *   CHECK_EQ_INT(a, b)          integers, prints both on failure
 *   CHECK_EQ_STR(a, b)          NUL-terminated strings
 *   return sss_test_done();     at the end of main
 */
#ifndef SSS_TEST_H
#define SSS_TEST_H

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

static inline int sss_test_done(void)
{
    printf("%d passed, %d failed\n", sss_test_passed, sss_test_failed);
    return sss_test_failed ? 1 : 0;
}

#endif
