/* A tiny check macro for the sss-bench unit tests: count failures, exit 1 if any. */
#ifndef SB_CHECK_H
#define SB_CHECK_H

#include <stdio.h>

static int sb_failures;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);          \
            sb_failures++;                                                                     \
        }                                                                                      \
    } while (0)

static inline int sb_check_done(const char *name)
{
    if (sb_failures)
        fprintf(stderr, "%s: %d checks failed\n", name, sb_failures);
    else
        printf("%s: ok\n", name);
    return sb_failures ? 1 : 0;
}

#endif
